//! geobatch's own datasets (QM9, synthetic, AFLOW, CIF collections, mlearn, extended XYZ, ASE
//! databases), loaded by their plugins as the runner loads them and handed to Python as arrays
//! of a store, a potential's labels (forces, stress, image shifts) included.

use crate::value_error;
use crate::values::json_of;
use geobatch_core::graph::{Edges, StoredEdges};
use geobatch_core::registry::{self, PluginKind};
use geobatch_core::rules::EdgeCoverage;
use geobatch_core::{DatasetContext, DatasetSpec, GraphSet, SplitName, Task};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// Names of the registered graph-level datasets, sorted.
#[pyfunction]
pub fn dataset_kinds() -> Vec<&'static str> {
    registry::descriptors()
        .into_iter()
        .filter(|d| d.kind == PluginKind::Dataset && d.task == Task::Graph)
        .map(|d| d.name)
        .collect()
}

/// The `[dataset]` table and `[experiment]` seed and data folder of a geobatch config file.
fn from_config(path: &str) -> PyResult<(serde_json::Value, Option<u64>, Option<PathBuf>)> {
    let text = std::fs::read_to_string(path).map_err(|e| value_error(format!("{path}: {e}")))?;
    let table: toml::Table = toml::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| value_error(format!("{path}: {e}")))?;
    let dataset = table
        .get("dataset")
        .ok_or_else(|| value_error(format!("{path}: no [dataset] table")))?;
    let experiment = table.get("experiment");
    let seed = experiment
        .and_then(|e| e.get("seed"))
        .and_then(|s| s.as_integer())
        .and_then(|s| u64::try_from(s).ok());
    let data_dir = experiment
        .and_then(|e| e.get("data_dir"))
        .and_then(|s| s.as_str())
        .map(PathBuf::from);
    let value = serde_json::to_value(dataset).map_err(value_error)?;
    Ok((value, seed, data_dir))
}

/// Loads a dataset (the GIL released) from a config file's `[dataset]` table or from a table
/// given as a dict, with the seed and data folder given or else the config's (else 42 and `data`).
/// Returns a dict: name, source, target names and units, species classes, and per split the
/// store's arrays (node offsets, atomic numbers, species classes, positions, targets, cells, pbc,
/// ids, and the stored edges, or `full` for graphs whose every pair of atoms is an edge; with a
/// potential's labels also forces, stress with its mask, and the edges' image shifts).
#[pyfunction]
#[pyo3(signature = (*, config = None, table = None, seed = None, data_dir = None))]
pub fn load_dataset<'py>(
    py: Python<'py>,
    config: Option<String>,
    table: Option<Bound<'py, PyDict>>,
    seed: Option<u64>,
    data_dir: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let (value, cfg_seed, cfg_dir) = match (config, table) {
        (Some(path), None) => from_config(&path)?,
        (None, Some(table)) => (json_of(table.as_any(), "dataset options")?, None, None),
        _ => return Err(value_error("give a config file or a dataset table")),
    };
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    let known = dataset_kinds();
    if !known.contains(&kind.as_str()) {
        return Err(value_error(format!(
            "unknown dataset {kind:?}: the graph-level datasets are {}",
            known.join(", ")
        )));
    }
    let spec: Box<dyn DatasetSpec> = serde_json::from_value(value.clone())
        .map_err(|e| value_error(format!("dataset {kind:?}: {e}")))?;
    spec.validate().map_err(value_error)?;
    if let Some(marker) = read_in_place(py, &kind, &value)? {
        return Ok(marker);
    }
    let ctx = DatasetContext {
        seed: seed.or(cfg_seed).unwrap_or(DatasetContext::DEFAULT_SEED),
        data_dir: data_dir
            .or(cfg_dir)
            .unwrap_or_else(|| DatasetContext::DEFAULT_DATA_DIR.into()),
    };
    let dataset = py
        .detach(|| spec.load(&ctx).map_err(|e| e.to_string()))
        .map_err(value_error)?;
    // the graph rule's edges, checked as `geobatch run` checks them (one rule, both doors)
    match dataset.split(SplitName::Train).edge_coverage() {
        EdgeCoverage::Fine => {}
        EdgeCoverage::MostAlone(m) => {
            let warning = py.get_type::<pyo3::exceptions::PyUserWarning>();
            PyErr::warn(
                py,
                &warning,
                &std::ffi::CString::new(format!("graph, on the train split: {m}"))
                    .unwrap_or_default(),
                2,
            )?;
        }
        EdgeCoverage::NoEdge(m) => {
            return Err(value_error(format!("graph, on the train split: {m}")));
        }
    }
    let out = PyDict::new(py);
    out.set_item("name", dataset.name())?;
    out.set_item("source", dataset.source())?;
    out.set_item("target_names", dataset.target_names().to_vec())?;
    out.set_item("target_units", dataset.target_units())?;
    out.set_item(
        "species_classes",
        PyArray1::from_slice(py, dataset.species_classes()),
    )?;
    let splits = PyDict::new(py);
    for split in SplitName::ALL {
        splits.set_item(split.as_str(), store(py, dataset.split(split))?)?;
    }
    out.set_item("splits", splits)?;
    Ok(out)
}

/// For a disk-backed store read in place (`kind = "store"`, `memory = "disk"`), what the
/// package maps itself (`geobatch.disk`): the store's path and whether a partial one is read.
fn read_in_place<'py>(
    py: Python<'py>,
    kind: &str,
    value: &serde_json::Value,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let memory = value
        .get("memory")
        .and_then(|m| m.as_str())
        .unwrap_or("disk");
    if kind != "store" || memory != "disk" {
        return Ok(None);
    }
    let out = PyDict::new(py);
    out.set_item("store", value.get("path").and_then(|p| p.as_str()))?;
    let partial = value.get("partial").and_then(|p| p.as_bool());
    out.set_item("partial", partial.unwrap_or(false))?;
    Ok(Some(out))
}

/// One split's arrays.
fn store<'py>(py: Python<'py>, set: &GraphSet) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let n = set.len();
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0i64);
    for s in set.sizes() {
        offsets.push(offsets[offsets.len() - 1] + i64::from(s.nodes));
    }
    d.set_item("node_offsets", PyArray1::from_vec(py, offsets))?;
    d.set_item(
        "atomic_numbers",
        PyArray1::from_slice(py, set.atomic_numbers()),
    )?;
    let species: Vec<i32> = set.species().iter().map(|&s| s as i32).collect();
    d.set_item("species", PyArray1::from_vec(py, species))?;
    let positions: Vec<f32> = set.positions().iter().flatten().copied().collect();
    d.set_item(
        "positions",
        PyArray1::from_vec(py, positions).reshape([set.total_nodes(), 3])?,
    )?;
    d.set_item(
        "targets",
        PyArray1::from_slice(py, set.all_targets()).reshape([n, set.n_targets()])?,
    )?;
    let mut cells: Vec<f64> = Vec::with_capacity(n * 9);
    let mut pbc: Vec<bool> = Vec::with_capacity(n * 3);
    for g in 0..n {
        let c = set.cell(g);
        cells.extend(c.lattice.iter().flatten());
        pbc.extend(c.pbc);
    }
    d.set_item("cells", PyArray1::from_vec(py, cells).reshape([n, 3, 3])?)?;
    d.set_item("pbc", PyArray1::from_vec(py, pbc).reshape([n, 3])?)?;
    d.set_item("ids", (0..n).map(|g| set.id(g)).collect::<Vec<_>>())?;
    labels(py, set, &d)?;
    match set.edges() {
        Edges::Full => d.set_item("full", true)?,
        Edges::Stored(e) => {
            let StoredEdges {
                offsets,
                senders,
                receivers,
                vectors,
                shifts,
            } = e;
            d.set_item("full", false)?;
            let offsets: Vec<i64> = offsets.iter().map(|&o| o as i64).collect();
            d.set_item("edge_offsets", PyArray1::from_vec(py, offsets))?;
            let s: Vec<i32> = senders.iter().map(|&x| x as i32).collect();
            let r: Vec<i32> = receivers.iter().map(|&x| x as i32).collect();
            d.set_item("senders", PyArray1::from_vec(py, s))?;
            d.set_item("receivers", PyArray1::from_vec(py, r))?;
            let v: Vec<f32> = vectors.iter().flatten().copied().collect();
            d.set_item(
                "edge_vectors",
                PyArray1::from_vec(py, v).reshape([vectors.len(), 3])?,
            )?;
            if set.labels().forces {
                let s: Vec<i32> = shifts.iter().flatten().copied().collect();
                d.set_item(
                    "cell_offsets",
                    PyArray1::from_vec(py, s).reshape([shifts.len(), 3])?,
                )?;
            }
        }
    }
    Ok(d)
}

/// A potential's labels of one split: per-atom `forces`, per-graph `stress` (3 x 3, zero where
/// unknown) with `stress_mask`, as the set carries them.
fn labels<'py>(py: Python<'py>, set: &GraphSet, d: &Bound<'py, PyDict>) -> PyResult<()> {
    if let Some(forces) = set.forces() {
        let f: Vec<f32> = forces.iter().flatten().copied().collect();
        d.set_item(
            "forces",
            PyArray1::from_vec(py, f).reshape([forces.len(), 3])?,
        )?;
    }
    if set.labels().stress {
        let n = set.len();
        let mut stress = Vec::with_capacity(n * 9);
        let mut known = Vec::with_capacity(n);
        for g in 0..n {
            let s = set.stress(g);
            known.push(s.is_some());
            stress.extend(s.copied().unwrap_or([0.0; 9]));
        }
        d.set_item("stress", PyArray1::from_vec(py, stress).reshape([n, 3, 3])?)?;
        d.set_item("stress_mask", PyArray1::from_vec(py, known))?;
    }
    Ok(())
}
