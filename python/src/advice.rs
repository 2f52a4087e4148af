//! `advise`: the prediction of `geobatch.advise` from what the Python side measured (each
//! candidate's planned shapes and its probe's step times), made by the one cost model of
//! `geobatch advise` ([`geobatch_advice`]), returned as plain Python values.

use crate::value_error;
use geobatch_advice::{Advice, Candidate, Probe, ShapeKey, advise as rank};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::collections::HashMap;

/// `(N, 3)` shapes as the model's keys; a count beyond 32 bits or below 0 is refused by name.
fn shapes(a: &PyReadonlyArray2<'_, i64>, what: &str) -> PyResult<Vec<ShapeKey>> {
    if a.shape()[1] != 3 {
        return Err(value_error(format!(
            "{what} must be an (N, 3) array of nodes, edges and graphs, got shape {:?}",
            a.shape()
        )));
    }
    let view = a.as_array();
    view.rows()
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut key = [0u32; 3];
            for (k, &v) in r.iter().enumerate() {
                key[k] = u32::try_from(v).map_err(|_| {
                    value_error(format!(
                        "{what}[{i}] = {:?}: counts from 0 to 2^32 - 1",
                        r.to_vec()
                    ))
                })?;
            }
            Ok(key)
        })
        .collect()
}

/// One candidate from its dict: `label`, `spec`, `padded` (N, 3), `fill` (nodes, edges),
/// `graphs_per_step`, and its probe: `probe_ms`, `probe_shape` (K, 3), `probe_cold`,
/// `probe_warmup`.
fn candidate(d: &Bound<'_, PyDict>) -> PyResult<Candidate> {
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        d.get_item(k)?
            .ok_or_else(|| value_error(format!("a candidate needs {k:?}")))
    };
    let label: String = get("label")?.extract()?;
    let ms: Vec<f64> = get("probe_ms")?
        .extract::<PyReadonlyArray1<'_, f64>>()?
        .to_vec()?;
    let shape = shapes(&get("probe_shape")?.extract()?, "probe_shape")?;
    let cold: Vec<bool> = get("probe_cold")?.extract()?;
    let warmup: Vec<bool> = get("probe_warmup")?.extract()?;
    let n = ms.len();
    if shape.len() != n || cold.len() != n || warmup.len() != n {
        return Err(value_error(format!(
            "candidate {label}: the probe's times, shapes, cold and warm-up flags differ in length"
        )));
    }
    if ms.iter().any(|t| !t.is_finite() || *t < 0.0) {
        return Err(value_error(format!(
            "candidate {label}: a probe time is negative or not finite"
        )));
    }
    let mut probe = Probe::default();
    for i in 0..n {
        probe.push(ms[i], shape[i], cold[i], warmup[i]);
    }
    Ok(Candidate {
        spec: get("spec")?.extract()?,
        padded: shapes(&get("padded")?.extract()?, "padded")?,
        fill: get("fill")?.extract()?,
        graphs_per_step: get("graphs_per_step")?.extract()?,
        probe,
        label,
    })
}

/// The advice as dicts and lists: `ranked` (fastest first), `crossovers`, `model`, `verdict`
/// and `markdown` (the text `geobatch advise` prints, under `title`).
fn as_python<'py>(py: Python<'py>, a: &Advice, title: &str) -> PyResult<Bound<'py, PyDict>> {
    let ranked = PyList::empty(py);
    for r in &a.ranked {
        let d = PyDict::new(py);
        d.set_item("rank", r.rank)?;
        d.set_item("label", &r.label)?;
        d.set_item("spec", &r.spec)?;
        d.set_item("predicted_s", r.predicted_ms / 1e3)?;
        d.set_item("steady_ms", r.steady_ms)?;
        d.set_item("steady_steps", r.steady_steps)?;
        d.set_item("shapes", r.shapes)?;
        d.set_item("new_shape_s", r.compile_ms / 1e3)?;
        d.set_item("first_step_s", r.first_ms / 1e3)?;
        d.set_item("probe_steps", r.probe.0)?;
        d.set_item("probe_shapes", r.probe.1)?;
        d.set_item("fill_nodes", r.fill.0)?;
        d.set_item("fill_edges", r.fill.1)?;
        d.set_item("graphs_per_step", r.graphs_per_step)?;
        d.set_item(
            "cumulative_s",
            PyArray1::from_iter(py, r.cumulative.iter().map(|t| t / 1e3)),
        )?;
        let m = r.measured;
        d.set_item("measured_steps", m.map(|m| m.steps))?;
        d.set_item("measured_s", m.map(|m| m.total_ms / 1e3))?;
        d.set_item("predicted_same_steps_s", m.map(|m| m.predicted_ms / 1e3))?;
        d.set_item("error_pct", m.map(|m| m.error_pct()))?;
        d.set_item(
            "measured_in",
            m.map(|m| match m.new_process_ms {
                Some(_) => "a new process",
                None => "this process",
            }),
        )?;
        ranked.append(d)?;
    }
    let crossovers = PyList::empty(py);
    for c in &a.crossovers {
        let d = PyDict::new(py);
        d.set_item("faster", &c.faster)?;
        d.set_item("slower", &c.slower)?;
        d.set_item("faster_after_steps", c.after)?;
        d.set_item("margin_pct", c.margin_pct)?;
        crossovers.append(d)?;
    }
    let model = PyDict::new(py);
    model.set_item("new_shape_ms", a.model.compile.mean)?;
    model.set_item("new_shape_samples", a.model.compile.samples)?;
    // by how many dimensions of the shape were new to its run: (mean ms, samples) for 0 to 3
    let by_new: Vec<(f64, usize)> = a
        .model
        .compile_by_new
        .iter()
        .map(|c| (c.mean, c.samples))
        .collect();
    model.set_item("new_shape_ms_by_new_dims", by_new)?;
    model.set_item("warmup_ms", a.model.warmup.mean)?;
    model.set_item("warmup_samples", a.model.warmup.samples)?;
    let p = a.model.plane;
    model.set_item("plane_ms", (p.a, p.b, p.c))?;
    let out = PyDict::new(py);
    out.set_item("steps", a.steps)?;
    out.set_item("ranked", ranked)?;
    out.set_item("crossovers", crossovers)?;
    out.set_item("model", model)?;
    out.set_item("verdict", a.verdict().map(|(l, pct)| (l.to_string(), pct)))?;
    out.set_item("markdown", a.render(title))?;
    Ok(out)
}

/// Ranks `candidates` by the predicted total of `steps` steps (`warmup` of them warm-up steps)
/// and checks the prediction against the validation runs in `measured` (label: each step's
/// combined time in ms, in order) and in `measured_new_process` (runs made each in a new
/// process of its own, compared with the prediction plus `new_process_ms`).
#[pyfunction]
#[pyo3(signature = (*, candidates, steps, warmup, measured, title, measured_new_process = HashMap::new(), new_process_ms = 0.0))]
#[allow(clippy::too_many_arguments)]
pub fn advise<'py>(
    py: Python<'py>,
    candidates: Vec<Bound<'py, PyDict>>,
    steps: u64,
    warmup: u64,
    measured: HashMap<String, PyReadonlyArray1<'py, f64>>,
    title: &str,
    measured_new_process: HashMap<String, PyReadonlyArray1<'py, f64>>,
    new_process_ms: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let candidates = candidates
        .iter()
        .map(candidate)
        .collect::<PyResult<Vec<_>>>()?;
    if candidates.is_empty() {
        return Err(value_error("no candidate to advise on"));
    }
    let mut a = rank(&candidates, steps, warmup);
    for (label, ms) in measured {
        a.check(&label, ms.as_slice()?);
    }
    for (label, ms) in measured_new_process {
        a.check_new_process(&label, ms.as_slice()?, new_process_ms);
    }
    as_python(py, &a, title)
}
