//! `Collator`: a plan's graphs gathered from a store of concatenated per-graph arrays into padded
//! output arrays, in one of two layouts:
//!
//! - **jraph's** (`pad_with_graphs`, geobatch's own batches): real graphs first; the first padding
//!   graph owns every padding node and edge; padding edges point from and to the first padding
//!   node; padding rows are zero; further padding graphs are empty.
//! - **PyG's** (`geobatch.torch`): the padded shape holds one node more than the plan's; padding
//!   nodes and edges belong to the **last** padding graph (so `batch.max() + 1` is the padded
//!   graph count); padding edges run from the first padding node to the second, so that no
//!   padding edge is a self-loop (stock layers remove self-loops with a data-dependent mask);
//!   `ptr`, `node_mask` and `edge_mask` are written too.
//!
//! Why one long file: it is the crate's only unsafe module, kept whole so that every unsafe
//! block and the checks that make it sound are audited in one place.
//!
//! **Buffers and leases.** Each batch is written into a buffer of its own (one allocation, 64-byte
//! aligned, holding every output array of the batch back to back). The arrays handed to Python
//! are NumPy arrays over that buffer whose base is a `Lease`: the buffer stays theirs for as long
//! as any of them (or anything made from them: a view, a `torch.from_numpy` tensor, a JAX array)
//! is alive, and goes back to the collator's free list when the last one is dropped (or is freed,
//! when the list already holds `max_free` buffers). A loop that drops each batch reuses two
//! buffers; a loop that keeps its batches costs one allocation per kept batch and returns the
//! memory when they are dropped; no collation searches anything.
//!
//! Every store array is seen as rows of bytes (the Python side passes `uint8` views), so any
//! dtype and any trailing shape is a plain row copy. The store arrays' addresses are taken once,
//! when the collator is made, and the collator keeps them alive; a collation checks its indices
//! and shape and runs with the GIL released. A collator may collate from several threads at once
//! (each collation writes its own buffer).
//!
//! The collation itself is core's engine (`geobatch_core::gather`), the one the runner uses: this
//! module makes the NumPy arrays into the engine's slices and its buffers into NumPy arrays. It is
//! the one module of the package with `unsafe` code: slices made from the arrays' addresses, which
//! the collator keeps alive, buffers allocated and freed by hand, and NumPy arrays made over them
//! (each block says what it relies on).
#![allow(unsafe_code)]

use crate::value_error;
use geobatch_core::gather::{self, EdgeSource, FullPatterns, IndexOut, Outputs, RowsOut, Store};
use geobatch_core::shape::Shape;
use numpy::npyffi::{self, NPY_ARRAY_ALIGNED, NPY_ARRAY_C_CONTIGUOUS, NPY_ARRAY_WRITEABLE};
use numpy::{
    PyArray1, PyArray2, PyArrayDescr, PyArrayDescrMethods, PyArrayMethods, PyUntypedArrayMethods,
    dtype,
};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::alloc::Layout as AllocLayout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Nodes, edges and graphs of a batch.
type Counts = (usize, usize, usize);

/// Alignment of a buffer and of every array in it (a cache line; every NumPy dtype's).
const ALIGN: usize = 64;

/// Rows of bytes at a fixed address: a store array.
#[derive(Clone, Copy)]
struct Rows {
    ptr: *const u8,
    rows: usize,
    row_bytes: usize,
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
}

/// Every store address a collation reads.
struct Layout {
    node_offsets: *const i64,
    node_offsets_len: usize,
    /// `None`: every graph fully connected, edges made at collation.
    edges: Option<StoredEdges>,
    node_src: Vec<Rows>,
    edge_src: Vec<Rows>,
    graph_src: Vec<Rows>,
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
struct StoredEdges {
    offsets: *const i64,
    senders: *const i32,
    receivers: *const i32,
    /// The three arrays' lengths (the engine checks that they agree).
    lens: [usize; 3],
    full: Vec<bool>,
}

// SAFETY: the pointers are into NumPy arrays the collator holds references to and never
// writes; they are only read during collations, which write nothing but their own buffer.
unsafe impl Send for Layout {}
// SAFETY: as above: shared references only read.
unsafe impl Sync for Layout {}

/// One output array of a batch: its dtype, trailing shape and bytes per row.
struct Column {
    dtype: Py<PyArrayDescr>,
    trailing: Vec<usize>,
    row_bytes: usize,
}

/// Which layout a collator writes (see the module's text).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Jraph,
    Pyg,
}

/// Per group (node, edge, graph arrays), then the index outputs: the arrays of a batch.
struct Columns {
    node: Vec<Column>,
    edge: Vec<Column>,
    graph: Vec<Column>,
    /// int32 or int64: endpoints, node-to-graph, counts.
    index: Py<PyArrayDescr>,
    index_bytes: usize,
    kind: Kind,
}

/// Where each array of a batch of one padded shape lies in its buffer: (offset, bytes), in the
/// order the arrays are handed out.
fn places(columns: &Columns, (n, e, g): Counts) -> Vec<(usize, usize)> {
    let mut sizes: Vec<usize> = Vec::new();
    sizes.extend(columns.node.iter().map(|c| n * c.row_bytes));
    sizes.extend(columns.edge.iter().map(|c| e * c.row_bytes));
    sizes.extend(columns.graph.iter().map(|c| g * c.row_bytes));
    let i = columns.index_bytes;
    // edge_index (2, e), node_graph, n_node, n_edge, graph_mask
    sizes.extend([2 * e * i, n * i, g * i, g * i, g]);
    if columns.kind == Kind::Pyg {
        // ptr (int64), node_mask, edge_mask
        sizes.extend([(g + 1) * 8, n, e]);
    }
    let mut at = 0;
    sizes
        .into_iter()
        .map(|s| {
            let place = (at, s);
            at += s.div_ceil(ALIGN) * ALIGN;
            place
        })
        .collect()
}

/// The bytes a buffer of shape `shape` needs.
fn buffer_bytes(columns: &Columns, shape: Counts) -> usize {
    places(columns, shape)
        .last()
        .map_or(0, |&(at, s)| at + s)
        .max(ALIGN)
}

/// One allocation holding a batch's arrays, 64-byte aligned and zeroed when made.
struct Buffer {
    ptr: NonNull<u8>,
    bytes: usize,
}

// SAFETY: a buffer is plain memory owned by whoever holds it (a collation, a lease, the free
// list); it is written only by the collation that took it, before any array is made over it.
unsafe impl Send for Buffer {}
// SAFETY: as above.
unsafe impl Sync for Buffer {}

impl Buffer {
    /// A zeroed buffer of `bytes` (at least one cache line); `None` when the allocation fails.
    fn new(bytes: usize) -> Option<Buffer> {
        let layout = AllocLayout::from_size_align(bytes.max(ALIGN), ALIGN).ok()?;
        // SAFETY: the layout has a non-zero size
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        Some(Buffer {
            ptr,
            bytes: layout.size(),
        })
    }

    /// The whole buffer as bytes.
    ///
    /// # Safety
    /// Nothing else reads or writes the buffer while the slice is used (no array has been made
    /// over it yet).
    unsafe fn bytes_mut<'a>(&mut self) -> &'a mut [u8] {
        // SAFETY: the caller's; `bytes` is the allocation's size and it was zeroed when made
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.bytes) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated by `Buffer::new` with this size and alignment
        unsafe {
            std::alloc::dealloc(
                self.ptr.as_ptr(),
                AllocLayout::from_size_align_unchecked(self.bytes, ALIGN),
            )
        }
    }
}

/// A collator's buffers: the free ones, how many are out, how large each is.
struct Pool {
    free: Mutex<Vec<Buffer>>,
    /// The most free buffers kept; one given back beyond them is freed.
    max_free: AtomicUsize,
    /// Buffers out with batches (leased).
    leased: AtomicUsize,
    bytes: usize,
}

impl Pool {
    fn free_list(&self) -> std::sync::MutexGuard<'_, Vec<Buffer>> {
        // a panic while the lock was held cannot leave the list inconsistent (push and pop)
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free buffer, else a new one (`None`: out of memory).
    fn take(&self) -> Option<Buffer> {
        let buffer = self.free_list().pop().or_else(|| Buffer::new(self.bytes))?;
        self.leased.fetch_add(1, Ordering::Relaxed);
        Some(buffer)
    }

    /// A buffer back from its batch: kept for the next one, or freed.
    fn give_back(&self, buffer: Buffer) {
        self.leased.fetch_sub(1, Ordering::Relaxed);
        let mut free = self.free_list();
        if free.len() < self.max_free.load(Ordering::Relaxed) {
            free.push(buffer);
        }
    }
}

/// The owner of one batch's buffer: the base of every NumPy array of the batch. When the last
/// of them is gone, the buffer goes back to its collator (or is freed).
#[pyclass(module = "geobatch._native", frozen)]
pub struct Lease {
    buffer: Option<Buffer>,
    pool: Arc<Pool>,
}

#[pymethods]
impl Lease {
    fn __repr__(&self) -> String {
        format!(
            "Lease({} bytes of a collated batch)",
            self.buffer.as_ref().map_or(0, |b| b.bytes)
        )
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.give_back(buffer);
        }
    }
}

/// A plan copied in by `Collator.bind` (indices, offsets, padded shapes), checked once, so that a
/// batch of it is collated from its number alone. Immutable: collations on several threads may
/// share it.
#[pyclass(module = "geobatch._native", frozen)]
pub struct BoundPlan {
    data: PlanData,
}

/// A bound plan's arrays.
struct PlanData {
    indices: Vec<i64>,
    offsets: Vec<usize>,
    padded: Vec<[usize; 3]>,
}

impl PlanData {
    fn batches(&self) -> usize {
        self.padded.len()
    }
}

#[pymethods]
impl BoundPlan {
    fn __len__(&self) -> usize {
        self.data.batches()
    }

    fn __repr__(&self) -> String {
        format!(
            "BoundPlan({} batches, {} graphs)",
            self.data.batches(),
            self.data.indices.len()
        )
    }
}

/// Gathers plans from a store into padded batches, each in a buffer of its own (see the
/// module's text).
#[pyclass(module = "geobatch._native", frozen)]
pub struct Collator {
    engine: Engine,
    /// The store arrays the layout points into, kept alive.
    _keep: Vec<Py<PyAny>>,
}

/// What a collation needs (no Python: it runs with the GIL released).
struct Engine {
    layout: Layout,
    columns: Columns,
    /// The largest padded shape (of the plan, before PyG's extra node).
    capacity: [usize; 3],
    pool: Arc<Pool>,
}

/// A batch written into its buffer: the buffer, the real and the written (nodes, edges,
/// graphs).
struct Collated {
    buffer: Buffer,
    real: Counts,
    shape: Counts,
}

/// Why a collation failed.
enum Failure {
    /// Bad indices or shapes (a `ValueError`).
    Value(String),
    /// No memory for a buffer of this many bytes (a `MemoryError`).
    Memory(usize),
}

impl Failure {
    fn into_py(self) -> PyErr {
        match self {
            Failure::Value(m) => value_error(m),
            Failure::Memory(bytes) => {
                PyMemoryError::new_err(format!("a batch buffer of {bytes} bytes"))
            }
        }
    }
}

impl Engine {
    /// Collates `idx` padded to `padded` into a buffer of its own (no Python needed: on any
    /// thread, the GIL released).
    fn collate(&self, idx: &[i64], padded: [usize; 3]) -> Result<Collated, Failure> {
        if padded.iter().zip(&self.capacity).any(|(p, c)| p > c) {
            return Err(Failure::Value(format!(
                "padded shape {padded:?} is larger than the collator's capacity {:?}",
                self.capacity
            )));
        }
        let extra = usize::from(self.columns.kind == Kind::Pyg);
        let shape = (padded[0] + extra, padded[1], padded[2]);
        let places = places(&self.columns, shape);
        let mut buffer = self.pool.take().ok_or(Failure::Memory(self.pool.bytes))?;
        // SAFETY: the buffer was just taken: nothing else reads or writes it; the store's
        // arrays are kept alive by the collator (which outlives every collation) and never
        // written
        let result = unsafe {
            let bytes = buffer.bytes_mut();
            self.layout.collate(
                &self.columns,
                self.columns.index_bytes,
                bytes,
                &places,
                idx,
                shape,
            )
        };
        match result {
            Ok(real) => Ok(Collated {
                buffer,
                real,
                shape,
            }),
            Err(e) => {
                self.pool.give_back(buffer);
                Err(Failure::Value(e))
            }
        }
    }

    /// Batch `b` of a bound plan.
    fn collate_batch(&self, plan: &PlanData, b: usize) -> Result<Collated, Failure> {
        if b >= plan.batches() {
            return Err(Failure::Value(format!(
                "batch {b} of a plan of {} batches",
                plan.batches()
            )));
        }
        let idx = &plan.indices[plan.offsets[b]..plan.offsets[b + 1]];
        self.collate(idx, plan.padded[b])
    }
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

/// An output column of a store array: its dtype and trailing shape, checked against its rows.
fn column(src: &Rows, spec: &Bound<'_, PyAny>, what: &str, k: usize) -> PyResult<Column> {
    let (dt, trailing): (Bound<'_, PyArrayDescr>, Vec<usize>) = spec.extract().map_err(|_| {
        value_error(format!(
            "{what} array {k}: expected (dtype, trailing shape)"
        ))
    })?;
    let row_bytes = trailing
        .iter()
        .try_fold(dt.itemsize(), |a, &d| a.checked_mul(d))
        .ok_or_else(|| value_error(format!("{what} array {k}: rows too large")))?;
    if dt.has_object() || row_bytes != src.row_bytes {
        return Err(value_error(format!(
            "{what} array {k}: rows of {} bytes, its dtype and trailing shape make {row_bytes} \
             (object dtypes are refused)",
            src.row_bytes
        )));
    }
    Ok(Column {
        dtype: dt.unbind(),
        trailing,
        row_bytes,
    })
}

#[pymethods]
impl Collator {
    /// A collator over a store (`node_offsets`, optional stored edges, `uint8` row views of the
    /// node, edge and graph arrays with their `(dtype, trailing shape)`) writing batches of
    /// padded shapes up to `capacity = (nodes, edges, graphs)` with `index_dtype` (int32 or
    /// int64) indices, in jraph's layout or PyG's (`pyg`; int64 indices). At most `max_free`
    /// buffers are kept for later batches. The Python package checks the user's arrays; what is
    /// checked here is what memory safety needs.
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (*, node_offsets, edge_offsets, senders_local, receivers_local, node_src, edge_src, graph_src, node_dtypes, edge_dtypes, graph_dtypes, capacity, index_dtype, pyg, max_free))]
    fn new(
        py: Python<'_>,
        node_offsets: Bound<'_, PyAny>,
        edge_offsets: Option<Bound<'_, PyAny>>,
        senders_local: Option<Bound<'_, PyAny>>,
        receivers_local: Option<Bound<'_, PyAny>>,
        node_src: Vec<Bound<'_, PyAny>>,
        edge_src: Vec<Bound<'_, PyAny>>,
        graph_src: Vec<Bound<'_, PyAny>>,
        node_dtypes: Vec<Bound<'_, PyAny>>,
        edge_dtypes: Vec<Bound<'_, PyAny>>,
        graph_dtypes: Vec<Bound<'_, PyAny>>,
        capacity: Counts,
        index_dtype: Bound<'_, PyArrayDescr>,
        pyg: bool,
        max_free: usize,
    ) -> PyResult<Self> {
        let arrays = Arrays {
            node_offsets,
            edge_offsets,
            senders_local,
            receivers_local,
            node_src,
            edge_src,
            graph_src,
        };
        let layout = arrays.layout()?;
        let group =
            |src: &[Rows], specs: &[Bound<'_, PyAny>], what: &str| -> PyResult<Vec<Column>> {
                if src.len() != specs.len() {
                    return Err(value_error(format!("{what}: one (dtype, shape) per array")));
                }
                src.iter()
                    .zip(specs)
                    .enumerate()
                    .map(|(k, (s, spec))| column(s, spec, what, k))
                    .collect()
            };
        let index_bytes = if index_dtype.is_equiv_to(&dtype::<i64>(py)) {
            8
        } else if index_dtype.is_equiv_to(&dtype::<i32>(py)) && !pyg {
            4
        } else {
            return Err(value_error(if pyg {
                "index_dtype must be int64 for PyG batches".to_string()
            } else {
                "index_dtype must be int32 or int64".to_string()
            }));
        };
        let columns = Columns {
            node: group(&layout.node_src, &node_dtypes, "node arrays")?,
            edge: group(&layout.edge_src, &edge_dtypes, "edge arrays")?,
            graph: group(&layout.graph_src, &graph_dtypes, "graph arrays")?,
            index: index_dtype.unbind(),
            index_bytes,
            kind: if pyg { Kind::Pyg } else { Kind::Jraph },
        };
        let (cn, ce, cg) = capacity;
        if cn == 0 || cg == 0 {
            return Err(value_error(
                "capacity must hold at least one node and one graph (padding)",
            ));
        }
        let extra = usize::from(pyg);
        let bytes = checked_bytes(&columns, (cn + extra, ce, cg))?;
        Ok(Collator {
            engine: Engine {
                layout,
                columns,
                capacity: [cn, ce, cg],
                pool: Arc::new(Pool {
                    free: Mutex::new(Vec::new()),
                    max_free: AtomicUsize::new(max_free),
                    leased: AtomicUsize::new(0),
                    bytes,
                }),
            },
            _keep: arrays.keep(),
        })
    }

    /// Collates the graphs `indices` padded to `padded` = (nodes, edges, graphs); returns the
    /// real (nodes, edges, graphs) and the batch's arrays (see `Collator.arrays`).
    fn collate<'py>(
        &self,
        py: Python<'py>,
        indices: Bound<'py, PyAny>,
        padded: Counts,
    ) -> PyResult<(Counts, Bound<'py, PyTuple>)> {
        let idx = typed::<i64>(&indices, "indices")?;
        let ro = idx.readonly();
        let idx = ro.as_slice().map_err(value_error)?;
        let engine = &self.engine;
        let collated = py
            .detach(|| engine.collate(idx, [padded.0, padded.1, padded.2]))
            .map_err(Failure::into_py)?;
        self.hand_out(py, collated)
    }

    /// Copies a plan's arrays (`indices`, `offsets`, `padded`, as `Planner` makes them) and
    /// checks them once: `collate_bound(plan, b)` then collates its batch `b`.
    fn bind(
        &self,
        indices: Bound<'_, PyAny>,
        offsets: Bound<'_, PyAny>,
        padded: Bound<'_, PyAny>,
    ) -> PyResult<BoundPlan> {
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
        Ok(BoundPlan {
            data: PlanData {
                indices: idx.to_vec(),
                offsets: off.iter().map(|&x| x as usize).collect(),
                padded: pad
                    .chunks_exact(3)
                    .map(|c| [c[0] as usize, c[1] as usize, c[2] as usize])
                    .collect(),
            },
        })
    }

    /// Collates batch `b` of a bound plan; returns the real and the padded (nodes, edges,
    /// graphs) and the batch's arrays.
    fn collate_bound<'py>(
        &self,
        py: Python<'py>,
        plan: &Bound<'py, BoundPlan>,
        b: usize,
    ) -> PyResult<(Counts, Counts, Bound<'py, PyTuple>)> {
        let data = &plan.get().data;
        if b >= data.batches() {
            return Err(value_error(format!(
                "batch {b} of a plan of {} batches",
                data.batches()
            )));
        }
        let engine = &self.engine;
        let collated = py
            .detach(|| engine.collate_batch(data, b))
            .map_err(Failure::into_py)?;
        let p = data.padded[b];
        let (real, arrays) = self.hand_out(py, collated)?;
        Ok((real, (p[0], p[1], p[2]), arrays))
    }

    /// Buffers out with batches that are still alive.
    #[getter]
    fn leased(&self) -> usize {
        self.engine.pool.leased.load(Ordering::Relaxed)
    }

    /// Free buffers kept for the next batches.
    #[getter]
    fn free(&self) -> usize {
        self.engine.pool.free_list().len()
    }

    /// Bytes of one buffer (every array of a batch of the largest shape).
    #[getter]
    fn buffer_bytes(&self) -> usize {
        self.engine.pool.bytes
    }

    /// The most free buffers kept (beyond them a buffer given back is freed).
    #[getter]
    fn get_max_free(&self) -> usize {
        self.engine.pool.max_free.load(Ordering::Relaxed)
    }

    #[setter]
    fn set_max_free(&self, value: usize) {
        self.engine.pool.max_free.store(value, Ordering::Relaxed);
        let mut free = self.engine.pool.free_list();
        free.truncate(value);
    }

    fn __repr__(&self) -> String {
        format!(
            "_native.Collator(capacity={:?}, {} layout, {} leased, {} free, {} bytes each)",
            self.engine.capacity,
            if self.engine.columns.kind == Kind::Pyg {
                "PyG"
            } else {
                "jraph"
            },
            self.leased(),
            self.free(),
            self.engine.pool.bytes
        )
    }
}

/// The bytes of a buffer of `shape`, or an error when they overflow.
fn checked_bytes(columns: &Columns, (n, e, g): Counts) -> PyResult<usize> {
    // every array's bytes are at most (rows + 1) x the widest row, so this bounds the sum
    let widest = columns
        .node
        .iter()
        .chain(&columns.edge)
        .chain(&columns.graph)
        .map(|c| c.row_bytes)
        .fold(2 * columns.index_bytes + 8, usize::max);
    let arrays = columns.node.len() + columns.edge.len() + columns.graph.len() + 8;
    n.checked_add(e)
        .and_then(|x| x.checked_add(g))
        .and_then(|x| x.checked_add(2))
        .and_then(|x| x.checked_mul(widest))
        .and_then(|x| x.checked_mul(arrays))
        .ok_or_else(|| value_error("capacity is too large"))?;
    Ok(buffer_bytes(columns, (n, e, g)))
}

impl Collator {
    /// The arrays of a collated batch, which own its buffer through their lease.
    fn hand_out<'py>(
        &self,
        py: Python<'py>,
        collated: Collated,
    ) -> PyResult<(Counts, Bound<'py, PyTuple>)> {
        let Collated {
            buffer,
            real,
            shape,
        } = collated;
        let places = places(&self.engine.columns, shape);
        let data = buffer.ptr.as_ptr();
        let lease = Bound::new(
            py,
            Lease {
                buffer: Some(buffer),
                pool: self.engine.pool.clone(),
            },
        )?;
        let arrays = self.arrays(py, &lease, data, &places, shape)?;
        Ok((real, PyTuple::new(py, arrays)?))
    }

    /// The NumPy arrays of a collated buffer, each with `lease` as its base, in the order of
    /// `places`: the node, edge and graph arrays, `edge_index` (2, edges), `node_graph`,
    /// `n_node`, `n_edge`, `graph_mask`, and for PyG `ptr`, `node_mask`, `edge_mask`.
    fn arrays<'py>(
        &self,
        py: Python<'py>,
        lease: &Bound<'py, Lease>,
        data: *mut u8,
        places: &[(usize, usize)],
        (n, e, g): Counts,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let c = &self.engine.columns;
        let index = c.index.bind(py);
        let (b, i64_) = (dtype::<bool>(py), dtype::<i64>(py));
        let mut specs: Vec<(&Bound<'py, PyArrayDescr>, Vec<usize>)> = Vec::new();
        for (group, rows) in [(&c.node, n), (&c.edge, e), (&c.graph, g)] {
            for col in group {
                let mut dims = vec![rows];
                dims.extend(&col.trailing);
                specs.push((col.dtype.bind(py), dims));
            }
        }
        specs.extend([
            (index, vec![2, e]),
            (index, vec![n]),
            (index, vec![g]),
            (index, vec![g]),
            (&b, vec![g]),
        ]);
        let pyg = c.kind == Kind::Pyg;
        if pyg {
            specs.extend([(&i64_, vec![g + 1]), (&b, vec![n]), (&b, vec![e])]);
        }
        // PyG's batches have no n_node and n_edge (ptr says it): `None` in their place
        let skipped = specs.len() - if pyg { 6 } else { 3 };
        specs
            .into_iter()
            .zip(places)
            .enumerate()
            .map(|(k, ((dt, dims), &(at, _)))| {
                if pyg && (k == skipped || k == skipped + 1) {
                    return Ok(py.None().into_bound(py));
                }
                // SAFETY: `at` and the array's bytes lie inside the lease's buffer (`places`
                // made the buffer's size), which the lease owns and which lives as long as the
                // array (its base)
                unsafe { array_over(py, lease, dt, &dims, data.add(at)) }
            })
            .collect()
    }
}

/// A writable C-contiguous NumPy array of `dtype` and `dims` over `data`, whose base is `base`.
///
/// # Safety
/// `data` points to at least the array's bytes, aligned for the dtype, owned by `base` for as
/// long as `base` lives.
unsafe fn array_over<'py>(
    py: Python<'py>,
    base: &Bound<'py, Lease>,
    dtype: &Bound<'py, PyArrayDescr>,
    dims: &[usize],
    data: *mut u8,
) -> PyResult<Bound<'py, PyAny>> {
    let mut dims: Vec<npyffi::npy_intp> = dims.iter().map(|&d| d as npyffi::npy_intp).collect();
    // SAFETY: NewFromDescr steals the dtype reference it is given (a new one); SetBaseObject
    // steals the base reference (a new one) and the array keeps it
    unsafe {
        let ptr = npyffi::PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            dtype.clone().into_dtype_ptr(),
            dims.len() as std::os::raw::c_int,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            data.cast(),
            NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_WRITEABLE | NPY_ARRAY_ALIGNED,
            std::ptr::null_mut(),
        );
        let array = Bound::from_owned_ptr_or_err(py, ptr)?;
        let rc = npyffi::PY_ARRAY_API.PyArray_SetBaseObject(
            py,
            ptr.cast(),
            base.clone().into_any().into_ptr(),
        );
        if rc < 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(array)
    }
}

/// The store arrays a collator is made from, as `Collator::new` takes them.
struct Arrays<'py> {
    node_offsets: Bound<'py, PyAny>,
    edge_offsets: Option<Bound<'py, PyAny>>,
    senders_local: Option<Bound<'py, PyAny>>,
    receivers_local: Option<Bound<'py, PyAny>>,
    node_src: Vec<Bound<'py, PyAny>>,
    edge_src: Vec<Bound<'py, PyAny>>,
    graph_src: Vec<Bound<'py, PyAny>>,
}

impl Arrays<'_> {
    /// Checks what memory safety needs and takes every address a collation reads: dtypes,
    /// contiguity and row widths here, the store's offsets and endpoints by the engine
    /// ([`Store::check`]).
    fn layout(&self) -> PyResult<Layout> {
        let offsets = typed::<i64>(&self.node_offsets, "node_offsets")?;
        // SAFETY: read while the GIL is held and the array is borrowed by `self`
        let node_offsets = unsafe { offsets.as_slice() }.map_err(value_error)?;
        let graphs = node_offsets.len().saturating_sub(1);
        let edges = self.stored_edges()?;
        if edges.is_none() && !self.edge_src.is_empty() {
            return Err(value_error("full graphs have no stored edge arrays"));
        }
        let all = |v: &[Bound<'_, PyAny>], what: &str| -> PyResult<Vec<Rows>> {
            v.iter().map(|a| rows(a, what)).collect()
        };
        let mut layout = Layout {
            patterns: FullPatterns::default(),
            node_offsets: offsets.data(),
            node_offsets_len: node_offsets.len(),
            edges,
            node_src: all(&self.node_src, "node arrays")?,
            edge_src: all(&self.edge_src, "edge arrays")?,
            graph_src: all(&self.graph_src, "graph arrays")?,
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

    /// Every store array, to be kept alive by the collator.
    fn keep(self) -> Vec<Py<PyAny>> {
        [self.edge_offsets, self.senders_local, self.receivers_local]
            .into_iter()
            .flatten()
            .chain([self.node_offsets])
            .chain(self.node_src)
            .chain(self.edge_src)
            .chain(self.graph_src)
            .map(Bound::unbind)
            .collect()
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
    let (s_a, r_a) = (typed::<i32>(s, "senders")?, typed::<i32>(r, "receivers")?);
    Ok(StoredEdges {
        offsets: eo_a.data(),
        senders: s_a.data(),
        receivers: r_a.data(),
        lens: [eo_a.len(), s_a.len(), r_a.len()],
        full: Vec::new(),
    })
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

/// The output columns of one group, from the next of `parts`.
fn rows_out<'a>(
    group: &[Column],
    parts: &mut std::vec::IntoIter<&'a mut [u8]>,
) -> Vec<RowsOut<'a>> {
    group
        .iter()
        .zip(parts.by_ref())
        .map(|(c, bytes)| RowsOut {
            bytes,
            row_bytes: c.row_bytes,
        })
        .collect()
}

/// Splits `bytes` into the arrays at `places` (offsets rising, each inside `bytes`).
fn carve<'a>(mut bytes: &'a mut [u8], places: &[(usize, usize)]) -> Vec<&'a mut [u8]> {
    let mut out = Vec::with_capacity(places.len());
    let mut at = 0;
    for &(start, len) in places {
        let (_, rest) = std::mem::take(&mut bytes).split_at_mut(start - at);
        let (this, rest) = rest.split_at_mut(len);
        out.push(this);
        bytes = rest;
        at = start + len;
    }
    out
}

/// An index column over its bytes (64-byte aligned, a whole number of entries).
fn index_out(bytes: &mut [u8], index_bytes: usize) -> IndexOut<'_> {
    if index_bytes == 8 {
        IndexOut::I64(bytemuck::cast_slice_mut(bytes))
    } else {
        IndexOut::I32(bytemuck::cast_slice_mut(bytes))
    }
}

/// Writes `v` into entries `range` of an index column.
fn fill(column: &mut IndexOut<'_>, range: std::ops::Range<usize>, v: usize) {
    match column {
        IndexOut::U32(o) => o[range].fill(v as u32),
        IndexOut::I32(o) => o[range].fill(v as i32),
        IndexOut::I64(o) => o[range].fill(v as i64),
    }
}

/// Entry `i` of an index column.
fn get(column: &IndexOut<'_>, i: usize) -> usize {
    match column {
        IndexOut::U32(o) => o[i] as usize,
        IndexOut::I32(o) => o[i] as usize,
        IndexOut::I64(o) => o[i] as usize,
    }
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

    /// The collation of `indices` into `bytes` (a buffer laid out by `places` for `shape`), by
    /// the engine ([`gather::collate`]), then PyG's layout where asked.
    ///
    /// # Safety
    /// The store's arrays are alive and not resized.
    unsafe fn collate(
        &self,
        columns: &Columns,
        index_bytes: usize,
        bytes: &mut [u8],
        places: &[(usize, usize)],
        indices: &[i64],
        (pn, pe, pg): Counts,
    ) -> Result<Counts, String> {
        let mut parts = carve(bytes, places).into_iter();
        let mut node_out = rows_out(&columns.node, &mut parts);
        let mut edge_out = rows_out(&columns.edge, &mut parts);
        let mut graph_out = rows_out(&columns.graph, &mut parts);
        let mut next = || parts.next().unwrap_or_default();
        let edge_index = next();
        let (s, r) = edge_index.split_at_mut(pe * index_bytes);
        let (node_graph, n_node, n_edge, mask) = (next(), next(), next(), next());
        mask.fill(0);
        // SAFETY: bool's valid values are 0 and 1, and every byte of `mask` is 0
        let graph_mask =
            unsafe { std::slice::from_raw_parts_mut(mask.as_mut_ptr().cast::<bool>(), mask.len()) };
        let mut out = Outputs {
            node_rows: &mut node_out,
            edge_rows: &mut edge_out,
            graph_rows: &mut graph_out,
            senders: index_out(s, index_bytes),
            receivers: index_out(r, index_bytes),
            node_graph: index_out(node_graph, index_bytes),
            n_node: index_out(n_node, index_bytes),
            n_edge: index_out(n_edge, index_bytes),
            graph_mask,
        };
        let padded = Shape::new(pn, pe, pg);
        // SAFETY: the caller's
        let real = unsafe {
            self.store(|store| gather::collate(store, &self.patterns, indices, padded, &mut out))
        }
        .map_err(|e| e.to_string())?;
        let real = (real.nodes, real.edges, real.graphs);
        if columns.kind == Kind::Pyg {
            if pn < real.0 + 2 {
                return Err(format!(
                    "padded nodes {} cannot hold the batch's {} nodes and a padding node",
                    pn - 1,
                    real.0
                ));
            }
            let (ptr, node_mask, edge_mask) = (next(), next(), next());
            pyg_layout(&mut out, real, (pn, pe, pg), ptr, node_mask, edge_mask);
        }
        Ok(real)
    }
}

/// PyG's layout over a batch the engine wrote in jraph's (see the module's text): padding edges
/// from the first padding node to the second, padding nodes and edges in the last graph, `ptr`
/// and the masks. The padded shape holds at least two padding nodes (one more than the plan's).
fn pyg_layout(
    out: &mut Outputs<'_, '_>,
    (rn, re, rg): Counts,
    (pn, pe, pg): Counts,
    ptr: &mut [u8],
    node_mask: &mut [u8],
    edge_mask: &mut [u8],
) {
    fill(&mut out.receivers, re..pe, rn + 1);
    let last = pg - 1;
    if last != rg {
        fill(&mut out.node_graph, rn..pn, last);
        fill(&mut out.n_node, rg..rg + 1, 0);
        fill(&mut out.n_edge, rg..rg + 1, 0);
        fill(&mut out.n_node, last..pg, pn - rn);
        fill(&mut out.n_edge, last..pg, pe - re);
    }
    let ptr: &mut [i64] = bytemuck::cast_slice_mut(ptr);
    let mut at = 0usize;
    ptr[0] = 0;
    for (i, p) in ptr[1..].iter_mut().enumerate() {
        at += get(&out.n_node, i);
        *p = at as i64;
    }
    node_mask[..rn].fill(1);
    node_mask[rn..].fill(0);
    edge_mask[..re].fill(1);
    edge_mask[re..].fill(0);
}
