//! The loops of `geobatch.jraph.dynamically_batch` that touch every tuple or every edge:
//! jraph's greedy batching rule over the tuples' sizes, the batch's senders and receivers made
//! global (each tuple's local endpoints plus its first node) in one pass that also checks them,
//! and the batch's padding, written by the collation engine's own ([`geobatch_gather::pad`]).

use crate::value_error;
use geobatch_gather::{IndexOut, PaddedColumns, RowsOut, Shape};
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadwriteArray1, PyReadwriteArray2,
};
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
/// checked to lie inside its tuple (the padding edges after them are [`pad_batch`]'s). One pass
/// over the edges; an error names the tuple (its position in the batch).
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
    Ok(())
}

/// A count column of a batch: jraph's `n_node` or `n_edge`, `int32` or `int64` as the tuples'.
enum Counts<'py> {
    I32(PyReadwriteArray1<'py, i32>),
    I64(PyReadwriteArray1<'py, i64>),
}

impl<'py> Counts<'py> {
    fn of(a: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        if let Ok(a) = a.cast::<PyArray1<i64>>() {
            return Ok(Counts::I64(a.try_readwrite().map_err(value_error)?));
        }
        if let Ok(a) = a.cast::<PyArray1<i32>>() {
            return Ok(Counts::I32(a.try_readwrite().map_err(value_error)?));
        }
        Err(value_error(format!("{name}: an int32 or int64 vector")))
    }

    fn column(&mut self) -> PyResult<IndexOut<'_>> {
        Ok(match self {
            Counts::I32(a) => IndexOut::I32(a.as_slice_mut().map_err(value_error)?),
            Counts::I64(a) => IndexOut::I64(a.as_slice_mut().map_err(value_error)?),
        })
    }
}

/// Each array borrowed for writing (NumPy's borrow checker refuses an array given twice).
fn writable<'py>(arrays: &[Bound<'py, PyArray2<u8>>]) -> PyResult<Vec<PyReadwriteArray2<'py, u8>>> {
    arrays
        .iter()
        .map(|a| a.try_readwrite().map_err(value_error))
        .collect()
}

/// Every column of a kind as rows of bytes (each array `(rows, row bytes)`, C-contiguous).
fn byte_rows<'a>(arrays: &'a mut [PyReadwriteArray2<'_, u8>]) -> PyResult<Vec<RowsOut<'a>>> {
    arrays
        .iter_mut()
        .map(|a| {
            let row_bytes = a.as_array().shape()[1];
            let bytes = a.as_slice_mut().map_err(value_error)?;
            Ok(RowsOut { bytes, row_bytes })
        })
        .collect()
}

/// Pads a batch of joined tuples in place in jraph's layout, the collation engine's
/// ([`geobatch_gather::pad`]): `real` and `padded` are (nodes, edges, graphs); the feature
/// arrays come per kind as bytes (`a.reshape(len(a), -1).view(np.uint8)`); `edge_index` holds
/// the senders and receivers (2, padded edges), `n_node` and `n_edge` the counts (int32 or
/// int64). Zero rows after the real ones, the padding edges from and to the first padding node,
/// the first padding graph's counts, zeros after them.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // the columns of a GraphsTuple, one argument each
pub fn pad_batch(
    real: (usize, usize, usize),
    padded: (usize, usize, usize),
    node_rows: Vec<Bound<'_, PyArray2<u8>>>,
    edge_rows: Vec<Bound<'_, PyArray2<u8>>>,
    graph_rows: Vec<Bound<'_, PyArray2<u8>>>,
    edge_index: &Bound<'_, PyArray2<i64>>,
    n_node: &Bound<'_, PyAny>,
    n_edge: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let (mut nodes, mut edges, mut graphs) = (
        writable(&node_rows)?,
        writable(&edge_rows)?,
        writable(&graph_rows)?,
    );
    let mut rw = edge_index.try_readwrite().map_err(value_error)?;
    let width = rw.as_array().shape()[1];
    let Ok(flat) = rw.as_slice_mut() else {
        return Err(value_error("edge_index must be C-contiguous"));
    };
    let (senders, receivers) = flat.split_at_mut(width);
    let (mut n_node, mut n_edge) = (Counts::of(n_node, "n_node")?, Counts::of(n_edge, "n_edge")?);
    let mut padding = PaddedColumns {
        node_rows: &mut byte_rows(&mut nodes)?,
        edge_rows: &mut byte_rows(&mut edges)?,
        graph_rows: &mut byte_rows(&mut graphs)?,
        senders: IndexOut::I64(senders),
        receivers: IndexOut::I64(receivers),
        n_node: n_node.column()?,
        n_edge: n_edge.column()?,
    };
    let shape = |(n, e, g): (usize, usize, usize)| Shape::new(n, e, g);
    geobatch_gather::pad(shape(real), shape(padded), &mut padding).map_err(value_error)
}
