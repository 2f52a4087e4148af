//! The two loops of `geobatch.jraph.dynamically_batch` that touch every tuple or every edge:
//! jraph's greedy batching rule over the tuples' sizes, and the batch's senders and receivers
//! made global (each tuple's local endpoints plus its first node) in one pass that also checks
//! them.

use crate::value_error;
use numpy::{PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;

/// jraph's `dynamically_batch` rule over tuples of `nodes`, `edges` and `graphs` each, for a
/// batch of at most `n_node - 1` nodes, `n_edge` edges and `n_graph - 1` graphs: a tuple joins
/// the open batch when it fits, else the batch is closed and the tuple opens the next. Returns
/// the first tuple of every batch (the last one still open) and the first tuple that alone is
/// over the budget, where the rule stops (`None`: none is).
#[pyfunction]
pub fn greedy_batches(
    nodes: PyReadonlyArray1<'_, i64>,
    edges: PyReadonlyArray1<'_, i64>,
    graphs: PyReadonlyArray1<'_, i64>,
    budget: (i64, i64, i64),
) -> PyResult<(Vec<usize>, Option<usize>)> {
    let (n, e, g) = (
        nodes.as_slice().map_err(value_error)?,
        edges.as_slice().map_err(value_error)?,
        graphs.as_slice().map_err(value_error)?,
    );
    if n.len() != e.len() || n.len() != g.len() {
        return Err(value_error(
            "nodes, edges and graphs must have one entry per tuple",
        ));
    }
    let (max_n, max_e, max_g) = (budget.0 - 1, budget.1, budget.2 - 1);
    let mut starts = Vec::new();
    let (mut an, mut ae, mut ag) = (0i64, 0i64, 0i64);
    for k in 0..n.len() {
        let (tn, te, tg) = (n[k], e[k], g[k]);
        if tn > max_n || te > max_e || tg > max_g {
            return Ok((starts, Some(k)));
        }
        if starts.is_empty() || ag + tg > max_g || an + tn > max_n || ae + te > max_e {
            starts.push(k);
            (an, ae, ag) = (tn, te, tg);
        } else {
            (an, ae, ag) = (an + tn, ae + te, ag + tg);
        }
    }
    Ok((starts, None))
}

/// Makes a batch's endpoints global, in place: the rows of `edge_index` (2, padded edges,
/// int64) hold the tuples' local senders and receivers one tuple after the other (`edges` per
/// tuple); each becomes itself plus its tuple's first node in the batch (`nodes` per tuple),
/// checked to lie inside its tuple, and the padding edges go from and to node `sum(nodes)`
/// (jraph's). One pass over the edges; an error names the tuple (its position in the batch).
#[pyfunction]
pub fn offset_edges(
    edge_index: &Bound<'_, PyArray2<i64>>,
    edges: PyReadonlyArray1<'_, i64>,
    nodes: PyReadonlyArray1<'_, i64>,
) -> PyResult<()> {
    let (edges, nodes) = (
        edges.as_slice().map_err(value_error)?,
        nodes.as_slice().map_err(value_error)?,
    );
    if edges.len() != nodes.len() {
        return Err(value_error("one edge count and one node count per tuple"));
    }
    let mut rw = edge_index.try_readwrite().map_err(value_error)?;
    let mut view = rw.as_array_mut();
    let width = view.shape()[1];
    let Some(flat) = view.as_slice_mut() else {
        return Err(value_error("edge_index must be C-contiguous"));
    };
    let (senders, receivers) = flat.split_at_mut(width);
    let (mut at, mut base) = (0usize, 0i64);
    for (k, (&m, &n)) in edges.iter().zip(nodes).enumerate() {
        let m = usize::try_from(m).map_err(|_| value_error(format!("tuple {k}: {m} edges")))?;
        if at + m > width {
            return Err(value_error(format!(
                "the batch's tuples hold more than its {width} edges"
            )));
        }
        for row in [&mut senders[at..at + m], &mut receivers[at..at + m]] {
            let mut ok = true;
            for v in row.iter_mut() {
                ok &= (0..n).contains(v);
                *v += base;
            }
            if !ok {
                return Err(value_error(format!(
                    "tuple {k}: an endpoint outside its {n} nodes"
                )));
            }
        }
        at += m;
        base += n;
    }
    senders[at..].fill(base);
    receivers[at..].fill(base);
    Ok(())
}
