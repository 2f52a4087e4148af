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
//! The collation itself is core's engine (`geobatch_core::gather`), the one the runner uses: this
//! module only makes the NumPy arrays into the engine's slices. It is the one module of the
//! package with `unsafe` code: slices made from the arrays' addresses, which the collator keeps
//! alive (each block says what it relies on).
//!
//! Why one long file: it is the crate's only unsafe module, kept whole so that every unsafe
//! block and the checks that make it sound are audited in one place.
#![allow(unsafe_code)]

use crate::value_error;
use geobatch_core::gather::{self, EdgeSource, FullPatterns, IndexOut, Outputs, RowsOut, Store};
use geobatch_core::shape::Shape;
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

    /// The column as the engine writes it.
    ///
    /// # Safety
    /// The array is alive, not resized, and nobody else reads or writes it meanwhile.
    unsafe fn view<'a>(&self) -> IndexOut<'a> {
        // SAFETY: the caller's; the address and length are the array's own
        unsafe {
            match *self {
                Ints::I32(p, n) => IndexOut::I32(std::slice::from_raw_parts_mut(p, n)),
                Ints::I64(p, n) => IndexOut::I64(std::slice::from_raw_parts_mut(p, n)),
            }
        }
    }
}

impl Rows {
    /// The store column as the engine reads it.
    ///
    /// # Safety
    /// The array is alive and not resized while the view is used.
    unsafe fn view<'a>(&self) -> gather::Rows<'a> {
        gather::Rows {
            // SAFETY: the caller's; `rows * row_bytes` is the array's size
            bytes: unsafe { std::slice::from_raw_parts(self.ptr, self.rows * self.row_bytes) },
            row_bytes: self.row_bytes,
        }
    }

    /// The output column as the engine writes it.
    ///
    /// # Safety
    /// As for `view`, and nobody else reads or writes it meanwhile.
    unsafe fn view_mut<'a>(&self) -> RowsOut<'a> {
        RowsOut {
            // SAFETY: the caller's
            bytes: unsafe { std::slice::from_raw_parts_mut(self.ptr, self.rows * self.row_bytes) },
            row_bytes: self.row_bytes,
        }
    }
}

/// Every address a collation reads or writes.
#[derive(Clone)]
struct Layout {
    node_offsets: *const i64,
    node_offsets_len: usize,
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
    /// Local (senders, receivers) of full graphs, receiver-major, for every n of a full store
    /// and of stored graphs whose edges are their full pattern.
    patterns: FullPatterns,
}

/// The largest graph a full store may hold: its n (n - 1) edges are made at every collation.
const MAX_FULL_NODES: usize = 2048;

/// The largest stored graph whose edges are compared with its full pattern (and collated from
/// it when they are it): the patterns up to it take about 0.7 MB.
const MAX_PATTERN_NODES: usize = 64;

/// Stored edges: per-graph offsets and local endpoints, and which graphs' are their full
/// pattern.
#[derive(Clone)]
struct StoredEdges {
    offsets: *const i64,
    senders: *const i32,
    receivers: *const i32,
    /// The three arrays' lengths (the engine checks that they agree).
    lens: [usize; 3],
    full: Vec<bool>,
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
    #[pyo3(signature = (*, node_offsets, edge_offsets, senders_local, receivers_local, node_src, node_out, edge_src, edge_out, graph_src, graph_out, senders, receivers, node_graph, n_node, n_edge, graph_mask))]
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

    /// Checks what memory safety needs and takes every address a collation uses: dtypes,
    /// contiguity and row widths here, the store's offsets and endpoints by the engine
    /// ([`Store::check`]).
    fn layout(&self) -> PyResult<Layout> {
        let offsets = typed::<i64>(&self.node_offsets, "node_offsets")?;
        // SAFETY: read while the GIL is held and the array is borrowed by `self`
        let node_offsets = unsafe { offsets.as_slice() }.map_err(value_error)?;
        let graphs = node_offsets.len().saturating_sub(1);
        let total_nodes = node_offsets.last().map_or(0, |&n| n.max(0) as usize);
        let edges = self.stored_edges()?;
        let node = Group::of(&self.node_src, &self.node_out, total_nodes, "node arrays")?;
        let edge = match &edges {
            Some(e) => Group::of(&self.edge_src, &self.edge_out, e.lens[1], "edge arrays")?,
            None if self.edge_src.is_empty() => Group::default(),
            None => return Err(value_error("full graphs have no stored edge arrays")),
        };
        let graph = Group::of(&self.graph_src, &self.graph_out, graphs, "graph arrays")?;
        let index = self.index_outputs()?;
        let capacity = index.capacity(&node, &edge, &graph)?;
        let mut layout = Layout {
            patterns: FullPatterns::default(),
            node_offsets: offsets.data(),
            node_offsets_len: node_offsets.len(),
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
        };
        // SAFETY: the arrays are alive (borrowed by `self`) and not written meanwhile
        unsafe { layout.store(|store| store.check()) }.map_err(|e| value_error(e.to_string()))?;
        // checked: the full patterns the collations need (a full store's, and those of stored
        // graphs whose edges are exactly their pattern, which are then not read)
        let full = unsafe { layout.store(full_pattern_flags) };
        let largest = match &full {
            None => Some(largest_full_graph(node_offsets)?),
            Some(flags) => (0..graphs)
                .filter(|&g| flags[g])
                .map(|g| (node_offsets[g + 1] - node_offsets[g]) as usize)
                .max(),
        };
        if let Some(n) = largest {
            layout.patterns.cover(n);
        }
        if let (Some(e), Some(flags)) = (layout.edges.as_mut(), full) {
            e.full = flags;
        }
        Ok(layout)
    }

    /// The stored edges' arrays: `edge_offsets`, `senders_local` and
    /// `receivers_local` together, or none of them (full graphs).
    fn stored_edges(&self) -> PyResult<Option<StoredEdges>> {
        match (
            &self.edge_offsets,
            &self.senders_local,
            &self.receivers_local,
        ) {
            (None, None, None) => Ok(None),
            (Some(eo), Some(s), Some(r)) => edge_arrays(eo, s, r).map(Some),
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

/// The stored edges' addresses (their offsets and endpoints are checked with the rest of the
/// store by the engine; which graphs' edges are their full pattern is found after that).
fn edge_arrays(
    eo: &Bound<'_, PyAny>,
    s: &Bound<'_, PyAny>,
    r: &Bound<'_, PyAny>,
) -> PyResult<StoredEdges> {
    let eo_a = typed::<i64>(eo, "edge_offsets")?;
    // SAFETY: read while the GIL is held and the arrays are borrowed by the caller
    let eo_s = unsafe { eo_a.as_slice() }.map_err(value_error)?;
    let (s_a, r_a) = (typed::<i32>(s, "senders")?, typed::<i32>(r, "receivers")?);
    let (ss, rs) = unsafe { (s_a.as_slice(), r_a.as_slice()) };
    let (ss, rs) = (ss.map_err(value_error)?, rs.map_err(value_error)?);
    Ok(StoredEdges {
        offsets: eo_a.data(),
        senders: s_a.data(),
        receivers: r_a.data(),
        lens: [eo_s.len(), ss.len(), rs.len()],
        full: Vec::new(),
    })
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

/// Per stored graph, whether its edges are exactly its full pattern (`None`: a full store).
fn full_pattern_flags(store: &Store<'_, i64, i64, i32>) -> Option<Vec<bool>> {
    match store.edges {
        EdgeSource::Full => None,
        EdgeSource::Stored {
            offsets,
            senders,
            receivers,
            ..
        } => Some(gather::full_pattern_graphs(
            store.node_offsets,
            offsets,
            senders,
            receivers,
            MAX_PATTERN_NODES,
        )),
    }
}

/// The largest graph of a full store; one over `MAX_FULL_NODES` nodes is refused.
fn largest_full_graph(node_offsets: &[i64]) -> PyResult<usize> {
    let largest = node_offsets
        .windows(2)
        .map(|w| (w[1] - w[0]).max(0) as usize)
        .max()
        .unwrap_or(0);
    if largest > MAX_FULL_NODES {
        return Err(value_error(format!(
            "a full graph of {largest} nodes would have {} edges made at every collation: \
             store its edges (edge_index) instead (at most {MAX_FULL_NODES} nodes)",
            largest * (largest - 1)
        )));
    }
    Ok(largest)
}

impl Layout {
    /// Calls `f` with the engine's view of the store.
    ///
    /// # Safety
    /// The store's arrays are alive and not resized meanwhile.
    unsafe fn store<T>(&self, f: impl FnOnce(&Store<'_, i64, i64, i32>) -> T) -> T {
        // SAFETY: the caller's; every length is the array's own
        unsafe {
            let node_offsets = std::slice::from_raw_parts(self.node_offsets, self.node_offsets_len);
            let node_rows: Vec<_> = self.node_src.iter().map(|r| r.view()).collect();
            let edge_rows: Vec<_> = self.edge_src.iter().map(|r| r.view()).collect();
            let graph_rows: Vec<_> = self.graph_src.iter().map(|r| r.view()).collect();
            let edges = match &self.edges {
                None => EdgeSource::Full,
                Some(e) => EdgeSource::Stored {
                    offsets: std::slice::from_raw_parts(e.offsets, e.lens[0]),
                    senders: std::slice::from_raw_parts(e.senders, e.lens[1]),
                    receivers: std::slice::from_raw_parts(e.receivers, e.lens[2]),
                    full: &e.full,
                },
            };
            f(&Store {
                node_offsets,
                edges,
                node_rows: &node_rows,
                edge_rows: &edge_rows,
                graph_rows: &graph_rows,
            })
        }
    }

    /// The collation, by the engine ([`gather::collate`]).
    ///
    /// # Safety
    /// The layout's arrays are alive and not resized; nobody else reads or writes the outputs
    /// meanwhile.
    unsafe fn collate(&self, indices: &[i64], padded: [usize; 3]) -> Result<Counts, String> {
        // SAFETY: the caller's
        unsafe {
            let mut node_out: Vec<_> = self.node_out.iter().map(|r| r.view_mut()).collect();
            let mut edge_out: Vec<_> = self.edge_out.iter().map(|r| r.view_mut()).collect();
            let mut graph_out: Vec<_> = self.graph_out.iter().map(|r| r.view_mut()).collect();
            let mut out = Outputs {
                node_rows: &mut node_out,
                edge_rows: &mut edge_out,
                graph_rows: &mut graph_out,
                senders: self.senders.view(),
                receivers: self.receivers.view(),
                node_graph: self.node_graph.view(),
                n_node: self.n_node.view(),
                n_edge: self.n_edge.view(),
                graph_mask: std::slice::from_raw_parts_mut(self.graph_mask, self.capacity[2]),
            };
            let padded = Shape::new(padded[0], padded[1], padded[2]);
            self.store(|store| gather::collate(store, &self.patterns, indices, padded, &mut out))
                .map(|r| (r.nodes, r.edges, r.graphs))
                .map_err(|e| e.to_string())
        }
    }
}
