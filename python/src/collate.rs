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
//! The crate's only unsafe code is this module and its children (`collate/`): the buffers
//! (`memory.rs`), the addresses taken from the store's arrays (`arrays.rs`), the collation over
//! them (`layout.rs`) and the arrays handed out over a buffer (`hand_out.rs`); each `unsafe` block
//! says what makes it sound.
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
//! The collation itself is `geobatch_gather`'s engine, the one the runner uses: this
//! module makes the NumPy arrays into the engine's slices and its buffers into NumPy arrays. It is
//! the one module of the package with `unsafe` code: slices made from the arrays' addresses, which
//! the collator keeps alive, buffers allocated and freed by hand, and NumPy arrays made over them
//! (each block says what it relies on).
#![allow(unsafe_code)]

use crate::value_error;
use geobatch_core::Shape;
use geobatch_gather::{
    self as gather, EdgeSource, FullPatterns, IndexOut, Outputs, PaddedColumns, RowsOut, Store,
};
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

mod arrays;
mod hand_out;
mod layout;
mod memory;
mod read_ahead;

use self::{arrays::*, hand_out::*, memory::*};
pub use memory::Lease;

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

/// Bytes of an index entry of `index_dtype`: int64, or int32 outside PyG's layout.
fn index_bytes(
    py: Python<'_>,
    index_dtype: &Bound<'_, PyArrayDescr>,
    pyg: bool,
) -> PyResult<usize> {
    if index_dtype.is_equiv_to(&dtype::<i64>(py)) {
        Ok(8)
    } else if index_dtype.is_equiv_to(&dtype::<i32>(py)) && !pyg {
        Ok(4)
    } else if pyg {
        Err(value_error("index_dtype must be int64 for PyG batches"))
    } else {
        Err(value_error("index_dtype must be int32 or int64"))
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
    /// Whether a batch's rows are read ahead before its collation (a store mapped from files).
    read_ahead: bool,
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
        if self.read_ahead {
            // SAFETY: the collator keeps the store's arrays alive and unchanged
            unsafe { self.layout.read_ahead(idx) };
        }
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

#[pymethods]
impl Collator {
    /// A collator over a store (`node_offsets`, optional stored edges, `uint8` row views of the
    /// node, edge and graph arrays with their `(dtype, trailing shape)`) writing batches of
    /// padded shapes up to `capacity = (nodes, edges, graphs)` with `index_dtype` (int32 or
    /// int64) indices, in jraph's layout or PyG's (`pyg`; int64 indices). At most `max_free`
    /// buffers are kept for later batches; `read_ahead` asks the system to read each batch's rows
    /// ahead of its collation (arrays mapped from files). The Python package checks the user's arrays; what is
    /// checked here is what memory safety needs.
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (*, node_offsets, edge_offsets, senders_local, receivers_local, node_src, edge_src, graph_src, node_dtypes, edge_dtypes, graph_dtypes, capacity, index_dtype, pyg, max_free, read_ahead = false))]
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
        read_ahead: bool,
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
        let index_bytes = index_bytes(py, &index_dtype, pyg)?;
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
                read_ahead,
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

    /// Whether each batch's rows are read ahead of its collation.
    #[getter]
    fn get_read_ahead(&self) -> bool {
        self.engine.read_ahead
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
