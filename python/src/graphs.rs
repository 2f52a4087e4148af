//! Edges of geometric graphs by geobatch's graph rules (`full`, `cutoff`, `knn`, periodic
//! images where a cell's `pbc` says so), for stores made from positions in Python.

use crate::value_error;
use crate::values::json_of;
use geobatch_core::Cell;
use geobatch_core::GraphRule;
use geobatch_core::graph::non_finite_row;
use geobatch_core::rules::{EdgeCoverage, edge_coverage as edge_coverage_of};
use geobatch_geometry::edges::{build_edges, check_full};
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

/// Senders, receivers and vectors of edges.
type Edges = (Vec<u32>, Vec<u32>, Vec<[f32; 3]>);

/// Edge offsets (graphs + 1), local senders and receivers, and edge vectors (edges x 3) of every
/// graph under `rule` (a graph rule table, as a dict), the GIL released.
#[pyfunction]
#[pyo3(signature = (rule, positions, node_offsets, *, cells = None, pbc = None))]
#[allow(clippy::type_complexity)]
pub fn graph_edges<'py>(
    py: Python<'py>,
    rule: Bound<'py, PyDict>,
    positions: PyReadonlyArray2<'py, f64>,
    node_offsets: PyReadonlyArray1<'py, i64>,
    cells: Option<PyReadonlyArray3<'py, f64>>,
    pbc: Option<PyReadonlyArray2<'py, bool>>,
) -> PyResult<(
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray2<f32>>,
)> {
    let rule: GraphRule = serde_json::from_value(json_of(rule.as_any(), "graph rule")?)
        .map_err(|e| value_error(format!("graph: {e}")))?;
    rule.validate().map_err(value_error)?;
    let pos = positions.as_slice().map_err(value_error)?;
    let offsets = node_offsets.as_slice().map_err(value_error)?;
    let graphs = offsets.len().saturating_sub(1);
    let cells = match &cells {
        Some(c) => Some(c.as_slice().map_err(value_error)?),
        None => None,
    };
    let pbc = match &pbc {
        Some(p) => Some(p.as_slice().map_err(value_error)?),
        None => None,
    };
    if cells.is_some_and(|c| c.len() != graphs * 9) || pbc.is_some_and(|p| p.len() != graphs * 3) {
        return Err(value_error(
            "cells must be (graphs, 3, 3) and pbc (graphs, 3)",
        ));
    }
    // graph `g`'s edges appended to (senders, receivers, vectors)
    let edges_into = |g: usize, out: &mut Edges| -> Result<(), String> {
        let (a, b) = (offsets[g] as usize, offsets[g + 1] as usize);
        let mut cell = Cell::default();
        if let Some(c) = cells {
            for (k, row) in cell.lattice.iter_mut().enumerate() {
                row.copy_from_slice(&c[g * 9 + 3 * k..g * 9 + 3 * k + 3]);
            }
        }
        if let Some(p) = pbc {
            cell.pbc.copy_from_slice(&p[g * 3..g * 3 + 3]);
        }
        let xyz: Vec<[f64; 3]> = pos[3 * a..3 * b]
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        if rule == GraphRule::Full {
            check_full(&xyz, &cell).map_err(|m| format!("graph {g}: {m}"))?;
        }
        build_edges(&rule, &xyz, &cell, &mut out.0, &mut out.1, &mut out.2)
            .map_err(|m| format!("graph {g}: {m}"))
    };
    let (edge_offsets, all) = py
        .detach(|| all_edges(graphs, &edges_into))
        .map_err(value_error)?;
    let (senders, receivers, vectors) = all;
    let e = vectors.len();
    let ints = |v: &[u32]| PyArray1::from_slice(py, bytemuck::cast_slice::<u32, i32>(v));
    let flat = PyArray1::from_slice(py, bytemuck::cast_slice::<[f32; 3], f32>(&vectors));
    Ok((
        PyArray1::from_vec(py, edge_offsets),
        ints(&senders),
        ints(&receivers),
        flat.reshape([e, 3])?,
    ))
}

/// The one check of a graph rule's edges (`geobatch_core::rules::edge_coverage`, which `run`
/// and `load_dataset` apply too) for a store made from arrays: `None`, or the text of a warning
/// (most atoms alone); `ValueError` when no graph has an edge though some could. `receivers`
/// local to each graph, `edge_offsets` per graph; `periodic`: the graphs are periodic (a lone
/// atom in a cell has its images).
#[pyfunction]
pub fn edge_coverage(
    rule: Bound<'_, PyDict>,
    node_offsets: PyReadonlyArray1<'_, i64>,
    edge_offsets: PyReadonlyArray1<'_, i64>,
    receivers: PyReadonlyArray1<'_, i32>,
    periodic: bool,
) -> PyResult<Option<String>> {
    let rule: GraphRule = serde_json::from_value(json_of(rule.as_any(), "graph rule")?)
        .map_err(|e| value_error(format!("graph: {e}")))?;
    let nodes = node_offsets.as_slice().map_err(value_error)?;
    let eo = edge_offsets.as_slice().map_err(value_error)?;
    let r = receivers.as_slice().map_err(value_error)?;
    let graphs = nodes.len().saturating_sub(1);
    if eo.len() != nodes.len() || eo.last().is_some_and(|&e| e as usize != r.len()) {
        return Err(value_error(
            "edge_offsets must be (graphs + 1,) and end at the edges",
        ));
    }
    let (mut alone, mut atoms, mut could) = (0usize, 0usize, periodic);
    let mut seen = Vec::new();
    for g in 0..graphs {
        let n = (nodes[g + 1] - nodes[g]) as usize;
        if n < 2 && !periodic {
            continue; // a lone atom of a molecule is alone under any rule
        }
        could = true;
        atoms += n;
        seen.clear();
        seen.resize(n, false);
        for &x in &r[eo[g] as usize..eo[g + 1] as usize] {
            if let Some(s) = seen.get_mut(x as usize) {
                *s = true;
            }
        }
        alone += seen.iter().filter(|s| !**s).count();
    }
    match edge_coverage_of(&rule, graphs, atoms, r.len(), alone, could) {
        EdgeCoverage::Fine => Ok(None),
        EdgeCoverage::MostAlone(m) => Ok(Some(m)),
        EdgeCoverage::NoEdge(m) => Err(value_error(m)),
    }
}

/// Raises `ValueError` naming the structure and atom when a per-atom array (`what`: position,
/// force; x y z rows) holds a value that is not finite: the rule every reader of the CLI applies
/// (`geobatch_core::graph::non_finite_row`), for the arrays a user's PyG data bring.
#[pyfunction]
pub fn check_finite_rows(
    what: &str,
    rows: PyReadonlyArray2<'_, f64>,
    node_offsets: PyReadonlyArray1<'_, i64>,
) -> PyResult<()> {
    let v = rows.as_slice().map_err(value_error)?;
    let offsets = node_offsets.as_slice().map_err(value_error)?;
    let rows: &[[f64; 3]] = bytemuck::try_cast_slice(v)
        .map_err(|_| value_error(format!("{what}s must be (atoms, 3)")))?;
    for g in 0..offsets.len().saturating_sub(1) {
        let (a, b) = (offsets[g] as usize, offsets[g + 1] as usize);
        if let Some(m) = rows.get(a..b).and_then(|r| non_finite_row(r, what)) {
            return Err(value_error(format!("structure {g}: {m}")));
        }
    }
    Ok(())
}

/// Checks graphs whose `full` edges are made at collation as the CLI's `full` rule does: two
/// atoms at one position (an edge with no direction) are refused, naming the graph and atoms.
#[pyfunction]
pub fn check_full_graphs(
    py: Python<'_>,
    positions: PyReadonlyArray2<'_, f64>,
    node_offsets: PyReadonlyArray1<'_, i64>,
) -> PyResult<()> {
    let pos = positions.as_slice().map_err(value_error)?;
    let offsets = node_offsets.as_slice().map_err(value_error)?;
    let graphs = offsets.len().saturating_sub(1);
    py.detach(|| {
        (0..graphs).into_par_iter().try_for_each(|g| {
            let (a, b) = (offsets[g] as usize, offsets[g + 1] as usize);
            let xyz: Vec<[f64; 3]> = pos[3 * a..3 * b]
                .chunks_exact(3)
                .map(|c| [c[0], c[1], c[2]])
                .collect();
            check_full(&xyz, &Cell::default()).map_err(|m| format!("graph {g}: {m}"))
        })
    })
    .map_err(value_error)
}

/// Edge offsets and the edges of `graphs` graphs, `edges_into(g, out)` appending graph `g`'s.
/// Graphs in parallel (each large one also searches in parallel), joined in order; the first
/// graph (in order) that fails is the one named. On one thread, straight into the lists.
fn all_edges(
    graphs: usize,
    edges_into: &(dyn Fn(usize, &mut Edges) -> Result<(), String> + Sync),
) -> Result<(Vec<i64>, Edges), String> {
    let mut all: Edges = Default::default();
    let mut eo = Vec::with_capacity(graphs + 1);
    eo.push(0i64);
    if rayon::current_num_threads() == 1 {
        for g in 0..graphs {
            edges_into(g, &mut all)?;
            eo.push(all.0.len() as i64);
        }
        return Ok((eo, all));
    }
    let parts: Vec<_> = (0..graphs)
        .into_par_iter()
        .map(|g| {
            let mut part: Edges = Default::default();
            edges_into(g, &mut part).map(|()| part)
        })
        .collect();
    for part in parts {
        let (gs, gr, gv) = part?;
        all.0.extend_from_slice(&gs);
        all.1.extend_from_slice(&gr);
        all.2.extend_from_slice(&gv);
        eo.push(all.0.len() as i64);
    }
    Ok((eo, all))
}
