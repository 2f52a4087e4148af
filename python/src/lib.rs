//! `geobatch._native`, the extension module of geobatch's Python package: the registered
//! batchers planning from sizes (an epoch, N steps, a rank's share), geobatch's datasets as
//! arrays, collation of a plan into reusable padded arrays, and the advice's prediction from
//! probes measured in a user's own loop. The pure-Python package around it
//! (`python/geobatch`) checks arguments and gives the user-facing classes; docs/python.md.

mod advice;
mod collate;
mod datasets;
mod graphs;
mod jraph;
mod planner;
mod values;

use pyo3::prelude::*;

/// The module: classes and functions the Python package wraps.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    geobatch_catalog::link();
    m.add_class::<planner::Planner>()?;
    m.add_class::<planner::Sizes>()?;
    m.add_function(wrap_pyfunction!(planner::batchers, m)?)?;
    m.add_class::<collate::Collator>()?;
    m.add_class::<collate::BoundPlan>()?;
    m.add_class::<collate::Lease>()?;
    m.add_function(wrap_pyfunction!(datasets::load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::dataset_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(graphs::graph_edges, m)?)?;
    m.add_function(wrap_pyfunction!(graphs::check_full_graphs, m)?)?;
    m.add_function(wrap_pyfunction!(graphs::edge_coverage, m)?)?;
    m.add_function(wrap_pyfunction!(graphs::check_finite_rows, m)?)?;
    m.add_function(wrap_pyfunction!(jraph::greedy_batches, m)?)?;
    m.add_function(wrap_pyfunction!(jraph::offset_edges, m)?)?;
    m.add_function(wrap_pyfunction!(jraph::pad_batch, m)?)?;
    m.add_function(wrap_pyfunction!(memory_limit, m)?)?;
    m.add_function(wrap_pyfunction!(advice::advise, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // the data folder a config that names none reads (`experiment.data_dir`), one definition
    m.add(
        "DEFAULT_DATA_DIR",
        geobatch_core::DatasetContext::DEFAULT_DATA_DIR,
    )?;
    Ok(())
}

/// Bytes this process may still allocate and which limit says so (the machine's available
/// memory, `ulimit -v`, the cgroup's), as the runner bounds its sizes; `None` where no limit can
/// be read.
#[pyfunction]
fn memory_limit() -> Option<(f64, &'static str)> {
    geobatch_process::memory::memory_limit()
}

/// A Python `ValueError` with a message.
pub(crate) fn value_error(e: impl std::fmt::Display) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(e.to_string())
}
