//! `Planner`: a registered graph-level batcher built from its config options, planning epochs,
//! rank shares and step sequences from sizes alone.

use crate::value_error;
use crate::values::{json_of, py_of};
use geobatch_core::registry::{self, PluginKind};
use geobatch_core::{BatcherSpec, GraphSize, Quirks, Task};
use geobatch_plans::{self as epoch, Plans};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Names of the registered graph-level batchers, sorted.
#[pyfunction]
pub fn batchers() -> Vec<&'static str> {
    registry::descriptors()
        .into_iter()
        .filter(|d| d.kind == PluginKind::Batcher && d.task == Task::Graph)
        .map(|d| d.name)
        .collect()
}

/// A batcher spec (built from its name and options) and the stream's quirks.
#[pyclass(module = "geobatch._native", frozen)]
pub struct Planner {
    spec: Box<dyn BatcherSpec>,
    quirks: Quirks,
}

/// Nodes and edges per graph, checked once where they enter (`Sizes(array)`, an `(N, 2)`
/// C-contiguous int64 array of counts from 0 to 2^32 - 1): what every plan is made from, so a
/// sampler's plans check nothing again.
#[pyclass(module = "geobatch._native", frozen)]
pub struct Sizes {
    graphs: Vec<GraphSize>,
}

#[pymethods]
impl Sizes {
    /// Checks `sizes` and keeps them.
    #[new]
    fn new(sizes: PyReadonlyArray2<'_, i64>) -> PyResult<Self> {
        let graphs = graph_sizes(contiguous(&sizes)?).map_err(value_error)?;
        Ok(Sizes { graphs })
    }

    /// The number of graphs.
    fn __len__(&self) -> usize {
        self.graphs.len()
    }

    /// The graphs' count and the range of their node and edge counts.
    fn __repr__(&self) -> String {
        let range = |f: fn(&GraphSize) -> u32| {
            let lo = self.graphs.iter().map(f).min().unwrap_or(0);
            let hi = self.graphs.iter().map(f).max().unwrap_or(0);
            format!("{lo}..={hi}")
        };
        format!(
            "Sizes({} graphs, nodes {}, edges {})",
            self.graphs.len(),
            range(|g| g.nodes),
            range(|g| g.edges)
        )
    }

    /// Pickled as the array it was made from (DataLoader workers, spawned processes).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Reduced<'py>> {
        let py = slf.py();
        let flat: Vec<i64> = slf
            .get()
            .graphs
            .iter()
            .flat_map(|g| [i64::from(g.nodes), i64::from(g.edges)])
            .collect();
        let array = PyArray1::from_vec(py, flat).reshape([slf.get().graphs.len(), 2])?;
        Ok((slf.get_type().into_any(), (array,)))
    }
}

/// How a `Sizes` pickles: its class and the array to make it from.
type Reduced<'py> = (Bound<'py, PyAny>, (Bound<'py, PyArray2<i64>>,));

/// Plan arrays: indices, offsets, real (B x 3), padded (B x 3), repeated.
type PlanArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray1<bool>>,
);

#[pymethods]
impl Planner {
    /// Builds the batcher `kind` from its `options` (a dict, as the `[batcher]` table of a
    /// config without its `kind`) and checks them.
    #[new]
    #[pyo3(signature = (kind, *, options, quirks = "clean"))]
    fn new(kind: &str, options: &Bound<'_, PyDict>, quirks: &str) -> PyResult<Self> {
        let mut value = json_of(options.as_any(), "batcher options")?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("kind".into(), kind.into());
        }
        let known = batchers();
        if !known.contains(&kind) {
            return Err(value_error(format!(
                "unknown batcher {kind:?}: the graph-level batchers are {}",
                known.join(", ")
            )));
        }
        let spec: Box<dyn BatcherSpec> = serde_json::from_value(value)
            .map_err(|e| value_error(format!("batcher {kind:?}: {e}")))?;
        spec.validate().map_err(value_error)?;
        let quirks = match quirks {
            "clean" => Quirks::Clean,
            "reference" => Quirks::Reference,
            other => {
                return Err(value_error(format!(
                    "quirks = {other:?}: \"clean\" or \"reference\""
                )));
            }
        };
        Ok(Planner { spec, quirks })
    }

    /// The batcher's label in tables (e.g. `static-64`).
    #[getter]
    fn label(&self) -> String {
        self.spec.label()
    }

    /// The configured batch size.
    #[getter]
    fn batch_size(&self) -> usize {
        self.spec.batch_size()
    }

    /// The batcher's options with their defaults (and its `kind`), as a dict.
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.spec).map_err(value_error)?;
        py_of(py, &value)
    }

    /// A warning when the budget given in the options is far from the graphs of `sizes`
    /// (`geobatch_core::batcher::budget_warning`); `None` for an estimated budget or one that fits.
    fn budget_warning(&self, sizes: &Bound<'_, Sizes>) -> Option<String> {
        let budget = self.spec.facts().budget?;
        geobatch_core::batcher::budget_warning(&sizes.get().graphs, budget)
    }

    /// One epoch's plan for one rank (see `geobatch_plans`), the GIL released.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (sizes, *, seed, epoch, rank, world_size, drop_last, shuffle))]
    fn plan_epoch<'py>(
        &self,
        py: Python<'py>,
        sizes: &Bound<'py, Sizes>,
        seed: u64,
        epoch: u64,
        rank: usize,
        world_size: usize,
        drop_last: bool,
        shuffle: bool,
    ) -> PyResult<PlanArrays<'py>> {
        let (spec, quirks, sizes) = (&*self.spec, self.quirks, &sizes.get().graphs);
        let plans = py
            .detach(|| {
                let global = epoch::plan_epoch(spec, sizes, seed, epoch, shuffle, quirks)
                    .map_err(plan_error)?;
                let how = epoch::Dealing {
                    world_size,
                    drop_last,
                    seed,
                    epoch,
                };
                epoch::deal(&global, sizes, rank, how).map_err(plan_error)
            })
            .map_err(value_error)?;
        arrays(py, plans)
    }

    /// The first `steps` batches of the training stream of `seed`, the GIL released.
    #[pyo3(signature = (sizes, *, seed, steps))]
    fn plan_steps<'py>(
        &self,
        py: Python<'py>,
        sizes: &Bound<'py, Sizes>,
        seed: u64,
        steps: usize,
    ) -> PyResult<PlanArrays<'py>> {
        let (spec, quirks, sizes) = (&*self.spec, self.quirks, &sizes.get().graphs);
        let plans = py
            .detach(|| epoch::plan_steps(spec, sizes, seed, quirks, steps).map_err(plan_error))
            .map_err(value_error)?;
        arrays(py, plans)
    }
}

fn contiguous<'a>(sizes: &'a PyReadonlyArray2<'_, i64>) -> PyResult<&'a [i64]> {
    if sizes.shape()[1] != 2 {
        return Err(value_error(format!(
            "sizes must have 2 columns (nodes, edges), got {}",
            sizes.shape()[1]
        )));
    }
    sizes
        .as_slice()
        .map_err(|_| value_error("sizes must be a C-contiguous array"))
}

/// Nodes and edges per graph, each a count that fits a u32.
fn graph_sizes(flat: &[i64]) -> Result<Vec<GraphSize>, String> {
    flat.chunks_exact(2)
        .enumerate()
        .map(|(i, row)| {
            let count = |v: i64| u32::try_from(v).ok();
            match (count(row[0]), count(row[1])) {
                (Some(nodes), Some(edges)) => Ok(GraphSize { nodes, edges }),
                _ => Err(format!(
                    "sizes[{i}] = [{}, {}]: node and edge counts must be from 0 to {}",
                    row[0],
                    row[1],
                    u32::MAX
                )),
            }
        })
        .collect()
}

/// A planning error in the words of a sizes array: a graph too large is named by its row.
fn plan_error(e: geobatch_core::Error) -> String {
    match e {
        geobatch_core::Error::GraphTooLarge {
            index,
            nodes,
            edges,
            budget,
        } => format!(
            "sizes[{index}] = [{nodes}, {edges}]: the graph is larger than the batch budget \
             ({} nodes, {} edges, {} graphs; one node and one graph are kept for padding): raise \
             batch_size or the budget, or use a static batcher",
            budget.nodes, budget.edges, budget.graphs
        ),
        geobatch_core::Error::EmptySplit(_) => "sizes is empty: there is nothing to plan".into(),
        other => other.to_string(),
    }
}

/// Moves the plan's vectors into NumPy arrays (no copy).
fn arrays(py: Python<'_>, p: Plans) -> PyResult<PlanArrays<'_>> {
    let b = p.len();
    Ok((
        PyArray1::from_vec(py, p.indices),
        PyArray1::from_vec(py, p.offsets),
        PyArray1::from_vec(py, p.real).reshape([b, 3])?,
        PyArray1::from_vec(py, p.padded).reshape([b, 3])?,
        PyArray1::from_vec(py, p.repeated),
    ))
}
