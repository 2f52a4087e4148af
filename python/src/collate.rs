//! `Collator`: a plan's graphs gathered from a store of concatenated per-graph arrays into
//! reusable padded output arrays, in the layout of geobatch's own batches (jraph's
//! `pad_with_graphs`): real graphs first; the first padding graph owns every padding node and
//! edge, padding edges point at the first padding node, padding rows are zero, further padding
//! graphs are empty.
//!
//! Every array is seen as rows of bytes (the Python side passes `uint8` views), so any dtype and
//! any trailing shape is a plain row copy. The arrays' addresses are taken once, when the
//! collator is made, and the collator keeps the arrays alive; a collation then checks its
//! indices and the output capacity and runs with the GIL released.
//!
//! The one module of the package with `unsafe` code: raw row copies into arrays whose bounds are
//! checked before each collation (each block says what it relies on).
//!
//! Why one long file: it is the crate's only unsafe module (raw-pointer row copies into the
//! output arrays), kept whole so that every unsafe block and the checks that make it sound are
//! audited in one place.
#![allow(unsafe_code)]

use crate::value_error;
use numpy::{
    PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
    dtype,
};
use pyo3::prelude::*;

/// Nodes, edges and graphs of a batch.
type Counts = (usize, usize, usize);

/// Rows of bytes at a fixed address: a store array or an output array.
#[derive(Clone, Copy)]
struct Rows {
    ptr: *mut u8,
    rows: usize,
    row_bytes: usize,
}

/// A column of integers of one of the index dtypes.
#[derive(Clone, Copy)]
enum Ints {
    I32(*mut i32, usize),
    I64(*mut i64, usize),
}

impl Ints {
    fn len(&self) -> usize {
        match *self {
            Ints::I32(_, n) | Ints::I64(_, n) => n,
        }
    }

    /// Writes `v` at `i` (in bounds by the caller's checks).
    #[inline]
    unsafe fn set(&self, i: usize, v: i64) {
        // SAFETY: the caller keeps `i < len`; the array is alive and exclusively ours to write
        unsafe {
            match *self {
                Ints::I32(p, _) => *p.add(i) = v as i32,
                Ints::I64(p, _) => *p.add(i) = v,
            }
        }
    }

    /// Writes `base + src[k]` at `at + k` for every k, matching the dtype once.
    #[inline]
    unsafe fn offset_copy(&self, at: usize, src: &[i32], base: usize) {
        // SAFETY: as for `set`, for `at..at + src.len()`
        unsafe {
            match *self {
                Ints::I32(p, _) => {
                    let out = std::slice::from_raw_parts_mut(p.add(at), src.len());
                    let base = base as i32;
                    for (o, &x) in out.iter_mut().zip(src) {
                        *o = x + base;
                    }
                }
                Ints::I64(p, _) => {
                    let out = std::slice::from_raw_parts_mut(p.add(at), src.len());
                    let base = base as i64;
                    for (o, &x) in out.iter_mut().zip(src) {
                        *o = i64::from(x) + base;
                    }
                }
            }
        }
    }

    /// Fills `range` with `v`.
    unsafe fn fill(&self, range: std::ops::Range<usize>, v: i64) {
        // SAFETY: as for `set`
        unsafe {
            match *self {
                Ints::I32(p, _) => {
                    std::slice::from_raw_parts_mut(p.add(range.start), range.len()).fill(v as i32)
                }
                Ints::I64(p, _) => {
                    std::slice::from_raw_parts_mut(p.add(range.start), range.len()).fill(v)
                }
            }
        }
    }
}

/// Every address a collation reads or writes.
#[derive(Clone)]
struct Layout {
    graphs: usize,
    node_offsets: *const i64,
    /// `None`: every graph fully connected, edges made at collation.
    edges: Option<StoredEdges>,
    node_src: Vec<Rows>,
    node_out: Vec<Rows>,
    edge_src: Vec<Rows>,
    edge_out: Vec<Rows>,
    graph_src: Vec<Rows>,
    graph_out: Vec<Rows>,
    senders: Ints,
    receivers: Ints,
    node_graph: Ints,
    n_node: Ints,
    n_edge: Ints,
    graph_mask: *mut bool,
    capacity: [usize; 3],
    /// Local (senders, receivers) of a full graph of n nodes, receiver-major, for every n of
    /// the store (full stores only).
    full: Vec<(Vec<i32>, Vec<i32>)>,
}

/// The largest graph a full store may hold: its n (n - 1) edges are made at every collation.
const MAX_FULL_NODES: usize = 2048;

fn full_patterns(largest: usize) -> Vec<(Vec<i32>, Vec<i32>)> {
    (0..=largest)
        .map(|n| {
            let (mut s, mut r) = (Vec::new(), Vec::new());
            for i in 0..n as i32 {
                for j in (0..n as i32).filter(|&j| j != i) {
                    s.push(j);
                    r.push(i);
                }
            }
            (s, r)
        })
        .collect()
}

/// Stored edges: per-graph offsets and local endpoints.
#[derive(Clone, Copy)]
struct StoredEdges {
    offsets: *const i64,
    senders: *const i32,
    receivers: *const i32,
}

// SAFETY: the pointers are into NumPy arrays the collator holds references to; they are only
// dereferenced during `collate`, which the Python side never runs on one collator from two
// threads at once (the collator's method takes `&mut self` through PyO3's borrow checking).
unsafe impl Send for Layout {}
// SAFETY: as above; shared references never write.
unsafe impl Sync for Layout {}

/// Gathers plans from a store into reusable padded outputs (see the module's text).
#[pyclass(module = "geobatch._native")]
pub struct Collator {
    layout: Layout,
    /// A plan copied in by `bind` (indices, offsets, padded shapes), checked once, so that a
    /// batch of it is collated from its number alone.
    bound: Option<BoundPlan>,
    /// The arrays the layout points into, kept alive.
    _keep: Vec<Py<PyAny>>,
}

/// A bound plan's arrays.
struct BoundPlan {
    indices: Vec<i64>,
    offsets: Vec<usize>,
    padded: Vec<[usize; 3]>,
}

/// Address and rows of a C-contiguous `uint8` 2-D array.
fn rows(a: &Bound<'_, PyAny>, what: &str) -> PyResult<Rows> {
    let a = a
        .cast::<PyArray2<u8>>()
        .map_err(|_| value_error(format!("{what}: expected a 2-D uint8 view")))?;
    if !a.is_c_contiguous() {
        return Err(value_error(format!("{what} must be C-contiguous")));
    }
    let shape = a.shape();
    Ok(Rows {
        ptr: a.data(),
        rows: shape[0],
        row_bytes: shape[1],
    })
}

/// Address and length of a C-contiguous int32 or int64 1-D array.
fn ints(a: &Bound<'_, PyAny>, what: &str) -> PyResult<Ints> {
    let u = a
        .cast::<PyUntypedArray>()
        .map_err(|_| value_error(format!("{what}: expected a NumPy array")))?;
    if u.ndim() != 1 || !u.is_c_contiguous() {
        return Err(value_error(format!("{what} must be 1-D and C-contiguous")));
    }
    let py = a.py();
    let dt = u.dtype();
    if dt.is_equiv_to(&dtype::<i32>(py)) {
        let a = a.cast::<PyArray1<i32>>()?;
        Ok(Ints::I32(a.data(), a.len()))
    } else if dt.is_equiv_to(&dtype::<i64>(py)) {
        let a = a.cast::<PyArray1<i64>>()?;
        Ok(Ints::I64(a.data(), a.len()))
    } else {
        Err(value_error(format!("{what} must be int32 or int64")))
    }
}

fn typed<'a, 'py, T: numpy::Element>(
    a: &'a Bound<'py, PyAny>,
    what: &str,
) -> PyResult<&'a Bound<'py, PyArray1<T>>> {
    let a = a.cast::<PyArray1<T>>().map_err(|_| {
        value_error(format!(
            "{what}: expected a 1-D {} array",
            std::any::type_name::<T>()
        ))
    })?;
    if !a.is_c_contiguous() {
        return Err(value_error(format!("{what} must be C-contiguous")));
    }
    Ok(a)
}

#[pymethods]
impl Collator {
    /// A collator over a store (`node_offsets`, optional stored edges, row arrays per node, edge
    /// and graph) into outputs of capacity `(nodes, edges, graphs)`. The Python package checks
    /// the shapes; what is checked here is what memory safety needs.
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (node_offsets, edge_offsets, senders_local, receivers_local, node_src, node_out, edge_src, edge_out, graph_src, graph_out, senders, receivers, node_graph, n_node, n_edge, graph_mask))]
    fn new(
        node_offsets: Bound<'_, PyAny>,
        edge_offsets: Option<Bound<'_, PyAny>>,
        senders_local: Option<Bound<'_, PyAny>>,
        receivers_local: Option<Bound<'_, PyAny>>,
        node_src: Vec<Bound<'_, PyAny>>,
        node_out: Vec<Bound<'_, PyAny>>,
        edge_src: Vec<Bound<'_, PyAny>>,
        edge_out: Vec<Bound<'_, PyAny>>,
        graph_src: Vec<Bound<'_, PyAny>>,
        graph_out: Vec<Bound<'_, PyAny>>,
        senders: Bound<'_, PyAny>,
        receivers: Bound<'_, PyAny>,
        node_graph: Bound<'_, PyAny>,
        n_node: Bound<'_, PyAny>,
        n_edge: Bound<'_, PyAny>,
        graph_mask: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        Arrays {
            node_offsets,
            edge_offsets,
            senders_local,
            receivers_local,
            node_src,
            node_out,
            edge_src,
            edge_out,
            graph_src,
            graph_out,
            senders,
            receivers,
            node_graph,
            n_node,
            n_edge,
            graph_mask,
        }
        .collator()
    }

    /// Collates the graphs `indices` padded to `padded` = (nodes, edges, graphs); returns the
    /// real (nodes, edges, graphs). The outputs' first `padded` rows hold the batch.
    fn collate(
        &mut self,
        py: Python<'_>,
        indices: Bound<'_, PyAny>,
        padded: Counts,
    ) -> PyResult<Counts> {
        let idx = typed::<i64>(&indices, "indices")?;
        let ro = idx.readonly();
        let idx = ro.as_slice().map_err(value_error)?;
        self.run(py, idx, [padded.0, padded.1, padded.2])
    }

    /// Copies a plan's arrays (`indices`, `offsets`, `padded`, as `Planner` makes them) into
    /// the collator and checks them once; `collate_bound(b)` then collates its batch `b`.
    fn bind(
        &mut self,
        indices: Bound<'_, PyAny>,
        offsets: Bound<'_, PyAny>,
        padded: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (i, o) = (
            typed::<i64>(&indices, "indices")?,
            typed::<i64>(&offsets, "offsets")?,
        );
        let p = padded
            .cast::<PyArray2<i64>>()
            .map_err(|_| value_error("padded: expected a (batches, 3) int64 array"))?;
        let (ri, ro, rp) = (i.readonly(), o.readonly(), p.readonly());
        let idx = ri.as_slice().map_err(value_error)?;
        let off = ro.as_slice().map_err(value_error)?;
        let pad = rp.as_slice().map_err(value_error)?;
        let batches = off.len().saturating_sub(1);
        if off.first() != Some(&0)
            || off.windows(2).any(|w| w[1] < w[0])
            || off.last().is_some_and(|&z| z as usize != idx.len())
        {
            return Err(value_error(
                "offsets must rise from 0 to the number of indices",
            ));
        }
        if pad.len() != 3 * batches || pad.iter().any(|&x| x < 0) {
            return Err(value_error(
                "padded must hold a non-negative (nodes, edges, graphs) per batch",
            ));
        }
        self.bound = Some(BoundPlan {
            indices: idx.to_vec(),
            offsets: off.iter().map(|&x| x as usize).collect(),
            padded: pad
                .chunks_exact(3)
                .map(|c| [c[0] as usize, c[1] as usize, c[2] as usize])
                .collect(),
        });
        Ok(())
    }

    /// Collates batch `b` of the bound plan; returns the real and the padded (nodes, edges,
    /// graphs).
    fn collate_bound(&mut self, py: Python<'_>, b: usize) -> PyResult<(Counts, Counts)> {
        let plan = self
            .bound
            .as_ref()
            .ok_or_else(|| value_error("no plan is bound: call bind first"))?;
        if b + 1 >= plan.offsets.len() {
            return Err(value_error(format!(
                "batch {b} of a plan of {} batches",
                plan.offsets.len() - 1
            )));
        }
        let shape = plan.padded[b];
        let idx = &plan.indices[plan.offsets[b]..plan.offsets[b + 1]];
        let layout = &self.layout;
        let real = py
            .detach(|| unsafe { layout.collate(idx, shape) })
            .map_err(value_error)?;
        Ok((real, (shape[0], shape[1], shape[2])))
    }
}

impl Collator {
    fn run(&self, py: Python<'_>, idx: &[i64], padded: [usize; 3]) -> PyResult<Counts> {
        let layout = &self.layout;
        py.detach(|| unsafe { layout.collate(idx, padded) })
            .map_err(value_error)
    }
}

/// The arrays a collator is made from, as `Collator::new` takes them.
struct Arrays<'py> {
    node_offsets: Bound<'py, PyAny>,
    edge_offsets: Option<Bound<'py, PyAny>>,
    senders_local: Option<Bound<'py, PyAny>>,
    receivers_local: Option<Bound<'py, PyAny>>,
    node_src: Vec<Bound<'py, PyAny>>,
    node_out: Vec<Bound<'py, PyAny>>,
    edge_src: Vec<Bound<'py, PyAny>>,
    edge_out: Vec<Bound<'py, PyAny>>,
    graph_src: Vec<Bound<'py, PyAny>>,
    graph_out: Vec<Bound<'py, PyAny>>,
    senders: Bound<'py, PyAny>,
    receivers: Bound<'py, PyAny>,
    node_graph: Bound<'py, PyAny>,
    n_node: Bound<'py, PyAny>,
    n_edge: Bound<'py, PyAny>,
    graph_mask: Bound<'py, PyAny>,
}

/// A group of store arrays (per node, edge or graph) and their outputs, pairwise.
#[derive(Default)]
struct Group {
    src: Vec<Rows>,
    out: Vec<Rows>,
}

/// The index outputs' addresses, and the mask's length.
struct IndexOutputs {
    senders: Ints,
    receivers: Ints,
    node_graph: Ints,
    n_node: Ints,
    n_edge: Ints,
    graph_mask: *mut bool,
    mask_len: usize,
}

impl Arrays<'_> {
    /// The collator over these arrays, once they are checked; it keeps them alive.
    fn collator(self) -> PyResult<Collator> {
        let layout = self.layout()?;
        Ok(Collator {
            bound: None,
            layout,
            _keep: self.keep(),
        })
    }

    /// Checks what memory safety needs and takes every address a collation uses.
    fn layout(&self) -> PyResult<Layout> {
        let offsets = typed::<i64>(&self.node_offsets, "node_offsets")?;
        let node_offsets_slice = unsafe { offsets.as_slice() }.map_err(value_error)?;
        let graphs = node_offsets_slice.len().saturating_sub(1);
        let total_nodes = check_offsets(node_offsets_slice, "node_offsets")?;
        let edges = self.stored_edges(node_offsets_slice)?;
        let total_edges = match &edges {
            // SAFETY: checked above: edge_offsets has graphs + 1 entries
            Some(e) => (unsafe { *e.offsets.add(graphs) }) as usize,
            None => 0,
        };
        let node = Group::of(&self.node_src, &self.node_out, total_nodes, "node arrays")?;
        let edge = if edges.is_some() {
            Group::of(&self.edge_src, &self.edge_out, total_edges, "edge arrays")?
        } else if self.edge_src.is_empty() {
            Group::default()
        } else {
            return Err(value_error("full graphs have no stored edge arrays"));
        };
        let graph = Group::of(&self.graph_src, &self.graph_out, graphs, "graph arrays")?;
        let index = self.index_outputs()?;
        let capacity = index.capacity(&node, &edge, &graph)?;
        let full = if edges.is_none() {
            full_graph_patterns(node_offsets_slice)?
        } else {
            Vec::new()
        };
        Ok(Layout {
            full,
            graphs,
            node_offsets: offsets.data(),
            edges,
            node_src: node.src,
            node_out: node.out,
            edge_src: edge.src,
            edge_out: edge.out,
            graph_src: graph.src,
            graph_out: graph.out,
            senders: index.senders,
            receivers: index.receivers,
            node_graph: index.node_graph,
            n_node: index.n_node,
            n_edge: index.n_edge,
            graph_mask: index.graph_mask,
            capacity,
        })
    }

    /// The stored edges, checked against `node_offsets`: `edge_offsets`, `senders_local` and
    /// `receivers_local` together, or none of them (full graphs).
    fn stored_edges(&self, node_offsets: &[i64]) -> PyResult<Option<StoredEdges>> {
        match (
            &self.edge_offsets,
            &self.senders_local,
            &self.receivers_local,
        ) {
            (None, None, None) => Ok(None),
            (Some(eo), Some(s), Some(r)) => checked_edges(node_offsets, eo, s, r).map(Some),
            _ => Err(value_error(
                "edge_offsets, senders and receivers go together (or none: full graphs)",
            )),
        }
    }

    /// The addresses of the index outputs (int32 or int64, and the bool mask).
    fn index_outputs(&self) -> PyResult<IndexOutputs> {
        let senders = ints(&self.senders, "senders output")?;
        let receivers = ints(&self.receivers, "receivers output")?;
        let node_graph = ints(&self.node_graph, "node_graph output")?;
        let n_node = ints(&self.n_node, "n_node output")?;
        let n_edge = ints(&self.n_edge, "n_edge output")?;
        let mask = typed::<bool>(&self.graph_mask, "graph_mask output")?;
        Ok(IndexOutputs {
            senders,
            receivers,
            node_graph,
            n_node,
            n_edge,
            graph_mask: mask.data(),
            mask_len: mask.len(),
        })
    }

    /// Every array, to be kept alive by the collator (stored edges first).
    fn keep(self) -> Vec<Py<PyAny>> {
        let mut keep: Vec<Py<PyAny>> = Vec::new();
        keep.extend(
            [self.edge_offsets, self.senders_local, self.receivers_local]
                .into_iter()
                .flatten()
                .map(Bound::unbind),
        );
        keep.push(self.node_offsets.unbind());
        for a in self
            .node_src
            .into_iter()
            .chain(self.node_out)
            .chain(self.edge_src)
            .chain(self.edge_out)
            .chain(self.graph_src)
            .chain(self.graph_out)
            .chain([
                self.senders,
                self.receivers,
                self.node_graph,
                self.n_node,
                self.n_edge,
                self.graph_mask,
            ])
        {
            keep.push(a.unbind());
        }
        keep
    }
}

/// Checks the stored edges (one offset per graph + 1, never decreasing, endpoints for every
/// edge, each inside its graph) and takes their addresses.
fn checked_edges(
    node_offsets: &[i64],
    eo: &Bound<'_, PyAny>,
    s: &Bound<'_, PyAny>,
    r: &Bound<'_, PyAny>,
) -> PyResult<StoredEdges> {
    let graphs = node_offsets.len().saturating_sub(1);
    let eo_a = typed::<i64>(eo, "edge_offsets")?;
    let eo_s = unsafe { eo_a.as_slice() }.map_err(value_error)?;
    if eo_s.len() != graphs + 1 {
        return Err(value_error(
            "edge_offsets must have one entry per graph + 1",
        ));
    }
    let total = check_offsets(eo_s, "edge_offsets")?;
    let (s_a, r_a) = (typed::<i32>(s, "senders")?, typed::<i32>(r, "receivers")?);
    if s_a.len() != total || r_a.len() != total {
        return Err(value_error(format!(
            "senders and receivers must hold the {total} stored edges"
        )));
    }
    let (ss, rs) = unsafe { (s_a.as_slice(), r_a.as_slice()) };
    let (ss, rs) = (ss.map_err(value_error)?, rs.map_err(value_error)?);
    check_endpoints(node_offsets, eo_s, ss, rs)?;
    Ok(StoredEdges {
        offsets: eo_a.data(),
        senders: s_a.data(),
        receivers: r_a.data(),
    })
}

/// Checks that every stored edge's local endpoints lie inside its graph's nodes.
fn check_endpoints(
    node_offsets: &[i64],
    edge_offsets: &[i64],
    ss: &[i32],
    rs: &[i32],
) -> PyResult<()> {
    let graphs = node_offsets.len().saturating_sub(1);
    for g in 0..graphs {
        let n = node_offsets[g + 1] - node_offsets[g];
        let e = edge_offsets[g] as usize..edge_offsets[g + 1] as usize;
        if let Some(k) = e
            .clone()
            .find(|&k| !(0..n).contains(&i64::from(ss[k])) || !(0..n).contains(&i64::from(rs[k])))
        {
            return Err(value_error(format!(
                "edge {k} of graph {g} has an endpoint outside the graph's {n} nodes"
            )));
        }
    }
    Ok(())
}

impl Group {
    /// The addresses of `src` and `out`, pairwise: every store array has `rows_in` rows as
    /// wide as its output's.
    fn of(
        src: &[Bound<'_, PyAny>],
        out: &[Bound<'_, PyAny>],
        rows_in: usize,
        what: &str,
    ) -> PyResult<Group> {
        if src.len() != out.len() {
            return Err(value_error(format!("{what}: as many outputs as arrays")));
        }
        let mut s = Vec::new();
        let mut o = Vec::new();
        for (k, (a, b)) in src.iter().zip(out).enumerate() {
            let (ra, rb) = (rows(a, what)?, rows(b, what)?);
            if ra.rows != rows_in || ra.row_bytes != rb.row_bytes {
                return Err(value_error(format!(
                    "{what} array {k}: {} rows of {} bytes, output rows of {} bytes; expected {rows_in} rows",
                    ra.rows, ra.row_bytes, rb.row_bytes
                )));
            }
            s.push(ra);
            o.push(rb);
        }
        Ok(Group { src: s, out: o })
    }
}

impl IndexOutputs {
    /// The outputs' capacity (nodes, edges, graphs): every output must share it.
    fn capacity(&self, node: &Group, edge: &Group, graph: &Group) -> PyResult<[usize; 3]> {
        let capacity = [self.node_graph.len(), self.senders.len(), self.n_node.len()];
        if self.receivers.len() != capacity[1]
            || self.n_edge.len() != capacity[2]
            || self.mask_len != capacity[2]
            || node.out.iter().any(|r| r.rows != capacity[0])
            || edge.out.iter().any(|r| r.rows != capacity[1])
            || graph.out.iter().any(|r| r.rows != capacity[2])
        {
            return Err(value_error(
                "outputs must share one capacity per count (nodes, edges, graphs)",
            ));
        }
        Ok(capacity)
    }
}

/// The edge patterns of full graphs up to the store's largest; a graph over `MAX_FULL_NODES`
/// nodes is refused.
fn full_graph_patterns(node_offsets: &[i64]) -> PyResult<Vec<(Vec<i32>, Vec<i32>)>> {
    let largest = node_offsets
        .windows(2)
        .map(|w| (w[1] - w[0]) as usize)
        .max()
        .unwrap_or(0);
    if largest > MAX_FULL_NODES {
        return Err(value_error(format!(
            "a full graph of {largest} nodes would have {} edges made at every collation: \
             store its edges (edge_index) instead (at most {MAX_FULL_NODES} nodes)",
            largest * (largest - 1)
        )));
    }
    Ok(full_patterns(largest))
}

/// Checks that offsets start at 0 and never decrease; returns the total.
fn check_offsets(o: &[i64], what: &str) -> PyResult<usize> {
    if o.first() != Some(&0) {
        return Err(value_error(format!("{what} must start at 0")));
    }
    if let Some(k) = o.windows(2).position(|w| w[1] < w[0]) {
        return Err(value_error(format!("{what} decreases at graph {k}")));
    }
    Ok(*o.last().unwrap_or(&0) as usize)
}

impl Layout {
    /// Nodes and edges of graph `g`.
    #[inline]
    unsafe fn counts(&self, g: usize) -> (usize, usize, usize, usize) {
        // SAFETY: g < graphs, offsets have graphs + 1 entries
        unsafe {
            let n0 = *self.node_offsets.add(g) as usize;
            let n = *self.node_offsets.add(g + 1) as usize - n0;
            match &self.edges {
                Some(e) => {
                    let e0 = *e.offsets.add(g) as usize;
                    (n0, n, e0, *e.offsets.add(g + 1) as usize - e0)
                }
                None => (n0, n, 0, n * n.saturating_sub(1)),
            }
        }
    }

    /// Asks the CPU to start loading the first cache lines of graph `g`'s rows (its nodes', its
    /// edges' and its own), so that the copies of the graphs before it overlap the misses: a
    /// plan's graphs lie at random places in a large store, and waiting for each one's first
    /// lines in turn is most of a collation's time otherwise.
    ///
    /// # Safety
    /// `g < graphs`.
    unsafe fn prefetch(&self, g: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let ahead = |p: *const u8, bytes: usize| {
                // every line of the graph's rows (up to 16 KiB a block: a QM9 molecule's edges
                // are about 1.2 KiB an array); the hardware prefetcher neither starts on a run
                // this short nor crosses a page
                for at in (0..bytes.min(16 << 10)).step_by(64) {
                    // SAFETY: a prefetch never faults; the address is inside the row block
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(at).cast()) };
                }
            };
            // SAFETY: g < graphs (the caller's)
            let (n0, n, e0, m) = unsafe { self.counts(g) };
            for s in &self.node_src {
                ahead(s.ptr.wrapping_add(n0 * s.row_bytes), n * s.row_bytes);
            }
            for s in &self.graph_src {
                ahead(s.ptr.wrapping_add(g * s.row_bytes), s.row_bytes);
            }
            if let Some(e) = &self.edges {
                for s in &self.edge_src {
                    ahead(s.ptr.wrapping_add(e0 * s.row_bytes), m * s.row_bytes);
                }
                ahead(e.senders.wrapping_add(e0).cast(), m * 4);
                ahead(e.receivers.wrapping_add(e0).cast(), m * 4);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = g;
    }

    /// The collation (see the module's text).
    ///
    /// # Safety
    /// The layout's arrays are alive and not resized; nobody else writes the outputs meanwhile.
    unsafe fn collate(&self, indices: &[i64], padded: [usize; 3]) -> Result<Counts, String> {
        let (mut nodes, mut edges) = (0usize, 0usize);
        for (b, &g) in indices.iter().enumerate() {
            if g < 0 || g as usize >= self.graphs {
                return Err(format!(
                    "indices[{b}] = {g}: the store holds graphs 0..{}",
                    self.graphs
                ));
            }
            let (_, n, _, m) = unsafe { self.counts(g as usize) };
            nodes += n;
            edges += m;
        }
        let real = [nodes, edges, indices.len()];
        if !(padded[0] > nodes && padded[1] >= edges && padded[2] > indices.len()) {
            return Err(format!(
                "padded shape {padded:?} cannot hold the batch's {real:?} (nodes, edges, graphs): \
                 it needs more nodes and graphs, and at least as many edges"
            ));
        }
        if (0..3).any(|k| padded[k] > self.capacity[k]) {
            return Err(format!(
                "padded shape {padded:?} is larger than the outputs' capacity {:?}",
                self.capacity
            ));
        }
        unsafe { self.write(indices, padded, real) };
        Ok((nodes, edges, indices.len()))
    }

    /// Writes the batch; every bound was checked by `collate`.
    unsafe fn write(&self, indices: &[i64], padded: [usize; 3], real: [usize; 3]) {
        let copy_rows = |src: &Rows, dst: &Rows, from: usize, to: usize, n: usize| {
            let b = src.row_bytes;
            // SAFETY: from + n <= src.rows (offsets checked), to + n <= capacity
            unsafe {
                std::ptr::copy_nonoverlapping(src.ptr.add(from * b), dst.ptr.add(to * b), n * b)
            };
        };
        let zero_rows = |dst: &Rows, from: usize, to: usize| {
            let b = dst.row_bytes;
            // SAFETY: to <= capacity
            unsafe { std::ptr::write_bytes(dst.ptr.add(from * b), 0, (to - from) * b) };
        };
        let (mut at_n, mut at_e) = (0usize, 0usize);
        const AHEAD: usize = 2;
        for &g in indices.iter().take(AHEAD) {
            // SAFETY: every index was checked by `collate`
            unsafe { self.prefetch(g as usize) };
        }
        for (b, &g) in indices.iter().enumerate() {
            if let Some(&next) = indices.get(b + AHEAD) {
                // SAFETY: as above
                unsafe { self.prefetch(next as usize) };
            }
            let g = g as usize;
            let (n0, n, e0, m) = unsafe { self.counts(g) };
            for (s, d) in self.node_src.iter().zip(&self.node_out) {
                copy_rows(s, d, n0, at_n, n);
            }
            unsafe { self.node_graph.fill(at_n..at_n + n, b as i64) };
            let (ls, lr): (&[i32], &[i32]) = match &self.edges {
                Some(e) => {
                    for (s, d) in self.edge_src.iter().zip(&self.edge_out) {
                        copy_rows(s, d, e0, at_e, m);
                    }
                    // SAFETY: e0 + m <= stored edges (offsets checked at construction)
                    unsafe {
                        (
                            std::slice::from_raw_parts(e.senders.add(e0), m),
                            std::slice::from_raw_parts(e.receivers.add(e0), m),
                        )
                    }
                }
                // every ordered pair of distinct nodes, receiver-major (as geobatch's QM9)
                None => (&self.full[n].0, &self.full[n].1),
            };
            unsafe {
                self.senders.offset_copy(at_e, ls, at_n);
                self.receivers.offset_copy(at_e, lr, at_n);
            }
            for (s, d) in self.graph_src.iter().zip(&self.graph_out) {
                copy_rows(s, d, g, b, 1);
            }
            unsafe {
                self.n_node.set(b, n as i64);
                self.n_edge.set(b, m as i64);
                *self.graph_mask.add(b) = true;
            }
            at_n += n;
            at_e += m;
        }
        // padding: the first padding graph owns every padding node and edge
        let [pn, pe, pg] = padded;
        let rg = real[2];
        for d in &self.node_out {
            zero_rows(d, at_n, pn);
        }
        for d in &self.edge_out {
            zero_rows(d, at_e, pe);
        }
        for d in &self.graph_out {
            zero_rows(d, rg, pg);
        }
        unsafe {
            self.node_graph.fill(at_n..pn, rg as i64);
            self.senders.fill(at_e..pe, at_n as i64);
            self.receivers.fill(at_e..pe, at_n as i64);
            self.n_node.set(rg, (pn - at_n) as i64);
            self.n_edge.set(rg, (pe - at_e) as i64);
            self.n_node.fill(rg + 1..pg, 0);
            self.n_edge.fill(rg + 1..pg, 0);
            std::slice::from_raw_parts_mut(self.graph_mask.add(rg), pg - rg).fill(false);
        }
    }
}
