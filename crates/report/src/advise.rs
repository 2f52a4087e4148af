//! `geobatch advise`: which batcher makes N training steps the fastest, predicted from short
//! probes and the exact shape sequence of the N steps, then checked against real runs
//! (docs/advise.md).
//!
//! The cost model, in milliseconds of combined time (batching + update, the study's step time):
//! - a shape's steady time: the mean of the probes' steady steps of that shape (after the warm-up,
//!   not the first step of their shape) when there are at least [`MIN_SAMPLES`], else a
//!   least-squares plane in padded nodes and edges fitted to every steady step of every probe. The
//!   engine sees only the padded arrays, so a shape costs the same whichever batcher made it;
//! - a step that meets a new padded shape after the first step adds the compile cost: the mean
//!   excess over their shape's steady time of such steps, pooled over the probes (seconds on a
//!   shape-specialising engine such as JAX's jit, about zero on geobatch's eager engine);
//! - a warm-up step adds the probes' mean warm-up excess, the first step its own probe's excess
//!   (start-up and the first compile).
//!
//! The shape sequence is not extrapolated: batchers are deterministic for a seed, so planning the
//! N batches without a model (seconds) gives the exact shapes the run will meet.

use crate::ReportError;
use crate::read::Steps;
use crate::stats::mean;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use parquet::arrow::ArrowWriter;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// A padded shape: nodes, edges, graphs.
pub type ShapeKey = [u32; 3];

/// Steady steps of a shape needed before its own mean is trusted over the fitted plane.
pub const MIN_SAMPLES: usize = 3;

/// A mean and how many values it is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sampled {
    /// The mean (0 without samples).
    pub mean: f64,
    /// Samples behind it.
    pub samples: usize,
}

impl Sampled {
    fn of(v: &[f64]) -> Self {
        Sampled {
            mean: if v.is_empty() { 0.0 } else { mean(v) },
            samples: v.len(),
        }
    }
}

/// Steady time as a plane in padded nodes and edges: `ms = a + b nodes + c edges`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plane {
    /// Intercept (ms).
    pub a: f64,
    /// Per padded node (ms).
    pub b: f64,
    /// Per padded edge (ms).
    pub c: f64,
}

impl Plane {
    /// Least squares over `(nodes, edges, ms)`; a line in the one that varies when the two move
    /// together (or only one of them varies), the mean when neither does.
    pub fn fit(points: &[(f64, f64, f64)]) -> Plane {
        let n = points.len() as f64;
        if points.is_empty() {
            return Plane {
                a: 0.0,
                b: 0.0,
                c: 0.0,
            };
        }
        let (mx, my, mt) = points.iter().fold((0.0, 0.0, 0.0), |(x, y, t), p| {
            (x + p.0 / n, y + p.1 / n, t + p.2 / n)
        });
        let (mut sxx, mut syy, mut sxy, mut sxt, mut syt) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(x, y, t) in points {
            let (dx, dy, dt) = (x - mx, y - my, t - mt);
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
            sxt += dx * dt;
            syt += dy * dt;
        }
        let det = sxx * syy - sxy * sxy;
        let (b, c) = if sxx > 0.0 && syy > 0.0 && det > 1e-6 * sxx * syy {
            ((sxt * syy - syt * sxy) / det, (syt * sxx - sxt * sxy) / det)
        } else if syy > 0.0 {
            (0.0, syt / syy)
        } else if sxx > 0.0 {
            (sxt / sxx, 0.0)
        } else {
            (0.0, 0.0)
        };
        Plane {
            a: mt - b * mx - c * my,
            b,
            c,
        }
    }

    /// The plane's time of a shape, never below zero.
    pub fn at(&self, s: ShapeKey) -> f64 {
        (self.a + self.b * f64::from(s[0]) + self.c * f64::from(s[1])).max(0.0)
    }
}

/// Step times of the probes, pooled: what a shape, a compile and the warm-up cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    shapes: HashMap<ShapeKey, Sampled>,
    /// The plane for shapes without [`MIN_SAMPLES`] steady steps.
    pub plane: Plane,
    /// Excess of a step meeting a new shape after the first step (ms).
    pub compile: Sampled,
    /// Excess of a warm-up step (ms).
    pub warmup: Sampled,
}

/// The padded shape of step `i` of a probe.
fn shape(s: &Steps, i: usize) -> ShapeKey {
    [
        s.padded_nodes[i],
        s.padded_edges[i],
        s.padded_graphs.get(i).copied().unwrap_or(0),
    ]
}

/// Combined time of step `i` of a probe (ms).
fn ms(s: &Steps, i: usize) -> f64 {
    s.combined_ns[i] as f64 / 1e6
}

impl CostModel {
    /// Fits the model to the probes' step records.
    pub fn fit(probes: &[&Steps]) -> CostModel {
        let mut by_shape: HashMap<ShapeKey, Vec<f64>> = HashMap::new();
        let mut points = Vec::new();
        for s in probes {
            for i in (0..s.step.len()).filter(|&i| steady(s, i)) {
                by_shape.entry(shape(s, i)).or_default().push(ms(s, i));
                points.push((
                    f64::from(s.padded_nodes[i]),
                    f64::from(s.padded_edges[i]),
                    ms(s, i),
                ));
            }
        }
        let mut model = CostModel {
            shapes: by_shape
                .into_iter()
                .map(|(k, v)| (k, Sampled::of(&v)))
                .collect(),
            plane: Plane::fit(&points),
            compile: Sampled::default(),
            warmup: Sampled::default(),
        };
        let (mut compile, mut warmup) = (Vec::new(), Vec::new());
        for s in probes {
            for i in 1..s.step.len() {
                let excess = ms(s, i) - model.steady_ms(shape(s, i));
                if s.cold_shape[i] {
                    compile.push(excess);
                } else if s.warmup[i] {
                    warmup.push(excess);
                }
            }
        }
        model.compile = Sampled::of(&compile);
        model.warmup = Sampled::of(&warmup);
        model
    }

    /// Steady time of a padded shape (ms).
    pub fn steady_ms(&self, s: ShapeKey) -> f64 {
        match self.shapes.get(&s) {
            Some(m) if m.samples >= MIN_SAMPLES => m.mean,
            _ => self.plane.at(s),
        }
    }

    /// Excess of a probe's first step over its shape's steady time (ms).
    pub fn first_excess(&self, probe: &Steps) -> f64 {
        if probe.step.is_empty() {
            0.0
        } else {
            ms(probe, 0) - self.steady_ms(shape(probe, 0))
        }
    }

    /// Predicted time of every step of a planned run (ms): `padded` its shapes in order,
    /// `first_excess` the start-up of its first step, `warmup` its warm-up step count.
    pub fn step_times(&self, padded: &[ShapeKey], first_excess: f64, warmup: u64) -> Vec<f64> {
        let mut seen = HashSet::new();
        padded
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let new = seen.insert(s);
                let base = self.steady_ms(s);
                if i == 0 {
                    base + first_excess
                } else if new {
                    base + self.compile.mean
                } else if (i as u64) < warmup {
                    base + self.warmup.mean
                } else {
                    base
                }
            })
            .collect()
    }
}

/// Whether step `i` of a probe is a steady one: not the first, not warm-up, not a cold shape.
fn steady(s: &Steps, i: usize) -> bool {
    i > 0 && !s.cold_shape[i] && !s.warmup[i]
}

/// One candidate batcher: its planned N steps and its probe.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Batcher label (`static-64`).
    pub label: String,
    /// The batcher table as inline TOML.
    pub spec: String,
    /// Padded shapes of the N planned steps, in order.
    pub padded: Vec<ShapeKey>,
    /// Real nodes / padded nodes and real edges / padded edges over the N steps.
    pub fill: (f64, f64),
    /// Mean real graphs per step over the N steps.
    pub graphs_per_step: f64,
    /// The probe's step records.
    pub probe: Steps,
}

/// A validation run's measured total.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Steps it ran (N, or fewer when stopped).
    pub steps: usize,
    /// Sum of their combined times (ms).
    pub total_ms: f64,
    /// The prediction for the same number of steps (ms).
    pub predicted_ms: f64,
}

impl Measured {
    /// Prediction error, % of the measured total.
    pub fn error_pct(&self) -> f64 {
        100.0 * (self.predicted_ms - self.measured_or_nan()) / self.measured_or_nan()
    }

    fn measured_or_nan(&self) -> f64 {
        if self.total_ms > 0.0 {
            self.total_ms
        } else {
            f64::NAN
        }
    }
}

/// One ranked candidate.
#[derive(Debug, Clone)]
pub struct Ranked {
    /// Rank by predicted total, from 1.
    pub rank: usize,
    /// Batcher label.
    pub label: String,
    /// The batcher table as inline TOML.
    pub spec: String,
    /// Predicted total of the N steps (ms).
    pub predicted_ms: f64,
    /// Mean steady time of the N steps' shapes (ms).
    pub steady_ms: f64,
    /// Distinct padded shapes of the N steps.
    pub shapes: usize,
    /// Predicted new-shape overhead of the N steps, first step apart (ms).
    pub compile_ms: f64,
    /// The first step's excess (ms).
    pub first_ms: f64,
    /// Probe steps measured and their distinct shapes.
    pub probe: (usize, usize),
    /// Fill of nodes and edges over the N steps.
    pub fill: (f64, f64),
    /// Mean real graphs per step.
    pub graphs_per_step: f64,
    /// Cumulative predicted time after each step (ms).
    pub cumulative: Vec<f64>,
    /// The validation run, when one ran.
    pub measured: Option<Measured>,
}

/// Where one batcher becomes faster than another over the whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossover {
    /// The faster after N steps.
    pub faster: String,
    /// The other.
    pub slower: String,
    /// The run length from which `faster` stays the faster (`None`: from the first step).
    pub after: Option<u64>,
    /// How much longer `slower` takes for the N steps, %.
    pub margin_pct: f64,
}

/// The advice for one config: candidates ranked by predicted total, and their crossovers.
#[derive(Debug, Clone)]
pub struct Advice {
    /// Steps planned.
    pub steps: u64,
    /// The cost model fitted to the probes.
    pub model: CostModel,
    /// Candidates, fastest first.
    pub ranked: Vec<Ranked>,
    /// Every pair of candidates.
    pub crossovers: Vec<Crossover>,
}

/// Ranks `candidates` by the predicted total of `steps` steps (`warmup` warm-up steps).
pub fn advise(candidates: &[Candidate], steps: u64, warmup: u64) -> Advice {
    let model = CostModel::fit(&candidates.iter().map(|c| &c.probe).collect::<Vec<_>>());
    let mut ranked: Vec<Ranked> = candidates
        .iter()
        .map(|c| {
            let first = model.first_excess(&c.probe);
            let times = model.step_times(&c.padded, first, warmup);
            let cumulative: Vec<f64> = times
                .iter()
                .scan(0.0, |acc, t| {
                    *acc += t;
                    Some(*acc)
                })
                .collect();
            let shapes: HashSet<&ShapeKey> = c.padded.iter().collect();
            let probe_shapes: HashSet<ShapeKey> = (0..c.probe.step.len())
                .map(|i| shape(&c.probe, i))
                .collect();
            let steady: Vec<f64> = c.padded.iter().map(|&s| model.steady_ms(s)).collect();
            Ranked {
                rank: 0,
                label: c.label.clone(),
                spec: c.spec.clone(),
                predicted_ms: cumulative.last().copied().unwrap_or(0.0),
                steady_ms: if steady.is_empty() {
                    0.0
                } else {
                    mean(&steady)
                },
                shapes: shapes.len(),
                compile_ms: shapes.len().saturating_sub(1) as f64 * model.compile.mean,
                first_ms: first,
                probe: (c.probe.step.len(), probe_shapes.len()),
                fill: c.fill,
                graphs_per_step: c.graphs_per_step,
                cumulative,
                measured: None,
            }
        })
        .collect();
    ranked.sort_by(|a, b| a.predicted_ms.total_cmp(&b.predicted_ms));
    for (i, r) in ranked.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    let mut crossovers = Vec::new();
    for (i, x) in ranked.iter().enumerate() {
        for y in &ranked[i + 1..] {
            crossovers.push(crossover(x, y));
        }
    }
    Advice {
        steps,
        model,
        ranked,
        crossovers,
    }
}

/// The crossover of `faster` (the lower predicted total) and `slower`.
fn crossover(faster: &Ranked, slower: &Ranked) -> Crossover {
    let ahead = |n: usize| faster.cumulative[n] < slower.cumulative[n];
    let n = faster.cumulative.len().min(slower.cumulative.len());
    // the last step at which `faster` was not ahead: it stays ahead from the next one on
    let after = (0..n).rev().find(|&i| !ahead(i)).map(|i| i as u64 + 2);
    Crossover {
        faster: faster.label.clone(),
        slower: slower.label.clone(),
        after: after.filter(|&a| a <= n as u64),
        margin_pct: 100.0 * (slower.predicted_ms / faster.predicted_ms - 1.0),
    }
}

impl Advice {
    /// Records a validation run of `label`: its step records, read back.
    pub fn check(&mut self, label: &str, steps: &Steps) {
        if let Some(r) = self.ranked.iter_mut().find(|r| r.label == label) {
            let n = steps.step.len().min(r.cumulative.len());
            if n > 0 {
                r.measured = Some(Measured {
                    steps: n,
                    total_ms: steps.combined_ns[..n].iter().map(|&t| t as f64 / 1e6).sum(),
                    predicted_ms: r.cumulative[n - 1],
                });
            }
        }
    }

    /// The recommended batcher and the runner-up, as ranked.
    pub fn top_two(&self) -> Vec<&Ranked> {
        self.ranked.iter().take(2).collect()
    }

    /// Among the validated candidates: the measured fastest, and how much slower (%) the
    /// recommended one was than it (0 when it is the fastest).
    pub fn verdict(&self) -> Option<(&str, f64)> {
        let best = self
            .ranked
            .iter()
            .filter_map(|r| r.measured.map(|m| (r, m.total_ms / m.steps as f64)))
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        let first = self.ranked.first()?.measured?;
        let per_step = first.total_ms / first.steps as f64;
        Some((best.0.label.as_str(), 100.0 * (per_step / best.1 - 1.0)))
    }

    /// The advice as Markdown: the ranked table, the crossovers, the validation.
    pub fn render(&self, title: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Advice: {title}, {} steps\n", self.steps);
        let _ = writeln!(
            s,
            "| rank | batcher | predicted total s | steady ms/step | shapes | new-shape s | first step s | fill nodes / edges | graphs/step | probe steps (shapes) |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.ranked {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.2} | {} | {:.1} | {:.2} | {:.3} / {:.3} | {:.2} | {} ({}) |",
                r.rank,
                r.label,
                r.predicted_ms / 1e3,
                r.steady_ms,
                r.shapes,
                r.compile_ms / 1e3,
                (r.first_ms / 10.0).round() / 100.0 + 0.0,
                r.fill.0,
                r.fill.1,
                r.graphs_per_step,
                r.probe.0,
                r.probe.1
            );
        }
        let m = &self.model;
        let _ = writeln!(
            s,
            "\nCost of a new padded shape: {:.1} ms (mean of {} steps); warm-up excess {:.1} ms per step ({} steps).",
            m.compile.mean, m.compile.samples, m.warmup.mean, m.warmup.samples
        );
        if m.compile.samples == 0 && self.ranked.iter().any(|r| r.shapes > 1) {
            let _ = writeln!(
                s,
                "No probe met a second shape: the new-shape cost is taken as 0 (probe longer, or add a batcher with many shapes)."
            );
        }
        if let Some(best) = self.ranked.first() {
            let _ = write!(s, "\nRecommended: **{}**", best.label);
            if let Some(c) = self.crossovers.iter().find(|c| c.faster == best.label) {
                let _ = write!(
                    s,
                    " (runner-up {} takes {:.1}% longer)",
                    c.slower, c.margin_pct
                );
            }
            let _ = writeln!(s, ".");
        }
        let _ = writeln!(s, "\nCrossovers (cumulative predicted time):");
        for c in &self.crossovers {
            let _ = match c.after {
                Some(n) => writeln!(
                    s,
                    "- {} overtakes {} after ~{n} steps ({:.1}% faster at {})",
                    c.faster, c.slower, c.margin_pct, self.steps
                ),
                None => writeln!(
                    s,
                    "- {} is faster than {} from the first step ({:.1}% at {})",
                    c.faster, c.slower, c.margin_pct, self.steps
                ),
            };
        }
        let checked: Vec<&Ranked> = self
            .ranked
            .iter()
            .filter(|r| r.measured.is_some())
            .collect();
        if !checked.is_empty() {
            let _ = writeln!(
                s,
                "\nValidation (real runs):\n\n| batcher | steps | predicted s | measured s | error % |\n|---|---|---|---|---|"
            );
            for r in checked {
                if let Some(m) = r.measured {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {:.1} | {:.1} | {:+.1} |",
                        r.label,
                        m.steps,
                        m.predicted_ms / 1e3,
                        m.total_ms / 1e3,
                        m.error_pct()
                    );
                }
            }
            match self.verdict() {
                Some((fastest, behind)) if behind > 0.0 => {
                    let _ = writeln!(
                        s,
                        "\nMeasured fastest: {fastest}; the recommended batcher took {behind:.1}% longer per step than it."
                    );
                }
                Some((fastest, _)) => {
                    let _ = writeln!(s, "\nMeasured fastest: {fastest}, the recommended batcher.");
                }
                None => {}
            }
        }
        s
    }

    /// Writes `advice.parquet` (a row per candidate) and `crossovers.parquet` (a row per pair).
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        let r = &self.ranked;
        let f = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
        let u = |v: Vec<u64>| Arc::new(UInt64Array::from(v)) as ArrayRef;
        let t = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
        let opt = |g: &dyn Fn(&Measured) -> f64| {
            Arc::new(Float64Array::from(
                r.iter()
                    .map(|x| x.measured.as_ref().map(g))
                    .collect::<Vec<_>>(),
            )) as ArrayRef
        };
        let advice = RecordBatch::try_from_iter([
            ("rank", u(r.iter().map(|x| x.rank as u64).collect())),
            ("batcher", t(r.iter().map(|x| x.label.clone()).collect())),
            (
                "batcher_table",
                t(r.iter().map(|x| x.spec.clone()).collect()),
            ),
            ("steps", u(r.iter().map(|_| self.steps).collect())),
            (
                "predicted_total_s",
                f(r.iter().map(|x| x.predicted_ms / 1e3).collect()),
            ),
            ("steady_ms", f(r.iter().map(|x| x.steady_ms).collect())),
            (
                "distinct_shapes",
                u(r.iter().map(|x| x.shapes as u64).collect()),
            ),
            (
                "new_shape_s",
                f(r.iter().map(|x| x.compile_ms / 1e3).collect()),
            ),
            (
                "compile_ms_per_shape",
                f(r.iter().map(|_| self.model.compile.mean).collect()),
            ),
            (
                "first_step_s",
                f(r.iter().map(|x| x.first_ms / 1e3).collect()),
            ),
            ("fill_nodes", f(r.iter().map(|x| x.fill.0).collect())),
            ("fill_edges", f(r.iter().map(|x| x.fill.1).collect())),
            (
                "graphs_per_step",
                f(r.iter().map(|x| x.graphs_per_step).collect()),
            ),
            (
                "probe_steps",
                u(r.iter().map(|x| x.probe.0 as u64).collect()),
            ),
            (
                "probe_shapes",
                u(r.iter().map(|x| x.probe.1 as u64).collect()),
            ),
            ("measured_steps", opt(&|m| m.steps as f64)),
            ("measured_total_s", opt(&|m| m.total_ms / 1e3)),
            ("predicted_same_steps_s", opt(&|m| m.predicted_ms / 1e3)),
            ("error_pct", opt(&Measured::error_pct)),
        ])
        .map_err(|e| write_error(dir, e.to_string()))?;
        let c = &self.crossovers;
        let crossovers = RecordBatch::try_from_iter([
            ("steps", u(c.iter().map(|_| self.steps).collect())),
            ("faster", t(c.iter().map(|x| x.faster.clone()).collect())),
            ("slower", t(c.iter().map(|x| x.slower.clone()).collect())),
            (
                "faster_after_steps",
                Arc::new(UInt64Array::from(
                    c.iter().map(|x| x.after).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            ("margin_pct", f(c.iter().map(|x| x.margin_pct).collect())),
        ])
        .map_err(|e| write_error(dir, e.to_string()))?;
        write_parquet(&dir.join("advice.parquet"), &advice)?;
        write_parquet(&dir.join("crossovers.parquet"), &crossovers)
    }
}

fn write_error(path: &Path, message: String) -> ReportError {
    ReportError::Write {
        path: path.to_path_buf(),
        message,
    }
}

/// Writes one record batch as a Parquet file (to a temporary name, then renamed).
fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), ReportError> {
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| write_error(&tmp, e.to_string()))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), None)
        .map_err(|e| write_error(&tmp, e.to_string()))?;
    w.write(batch)
        .map_err(|e| write_error(&tmp, e.to_string()))?;
    w.close().map_err(|e| write_error(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| write_error(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe whose steps have shapes `shapes` and times `ms`, warm-up the first `warmup`.
    fn probe(shapes: &[ShapeKey], ms: &[f64], warmup: usize) -> Steps {
        let mut seen = HashSet::new();
        let mut s = Steps::default();
        for (i, (sh, t)) in shapes.iter().zip(ms).enumerate() {
            s.step.push(i as u64);
            s.batching_ns.push(0);
            s.combined_ns.push((t * 1e6) as u64);
            s.real_nodes.push(sh[0]);
            s.padded_nodes.push(sh[0]);
            s.real_edges.push(sh[1]);
            s.padded_edges.push(sh[1]);
            s.real_graphs.push(sh[2]);
            s.padded_graphs.push(sh[2]);
            let new = seen.insert(*sh);
            s.new_shape.push(new);
            s.cold_shape.push(new);
            s.warmup.push(i < warmup);
        }
        s
    }

    /// An engine whose steady step costs 1 ms + 0.01 ms per node + 0.001 ms per edge and whose
    /// new shapes cost `compile` ms more.
    fn engine(shapes: &[ShapeKey], compile: f64) -> Vec<f64> {
        let mut seen = HashSet::new();
        shapes
            .iter()
            .map(|s| {
                let base = 1.0 + 0.01 * f64::from(s[0]) + 0.001 * f64::from(s[1]);
                base + if seen.insert(*s) { compile } else { 0.0 }
            })
            .collect()
    }

    fn cand(
        label: &str,
        probe_shapes: &[ShapeKey],
        planned: &[ShapeKey],
        compile: f64,
    ) -> Candidate {
        Candidate {
            label: label.into(),
            spec: format!("kind = {label:?}"),
            padded: planned.to_vec(),
            fill: (1.0, 1.0),
            graphs_per_step: 1.0,
            probe: probe(probe_shapes, &engine(probe_shapes, compile), 0),
        }
    }

    #[test]
    fn the_plane_recovers_a_linear_cost_and_degrades_to_a_line_or_a_mean() {
        let pts: Vec<(f64, f64, f64)> = [
            (64.0, 500.0),
            (128.0, 900.0),
            (192.0, 2100.0),
            (64.0, 700.0),
        ]
        .iter()
        .map(|&(x, y)| (x, y, 1.0 + 0.01 * x + 0.001 * y))
        .collect();
        let p = Plane::fit(&pts);
        assert!(
            (p.a - 1.0).abs() < 1e-9 && (p.b - 0.01).abs() < 1e-12 && (p.c - 0.001).abs() < 1e-12
        );
        // nodes and edges move together: a line in edges alone still predicts the points
        let line: Vec<(f64, f64, f64)> = [1.0, 2.0, 3.0]
            .iter()
            .map(|&k| (64.0 * k, 640.0 * k, 5.0 * k))
            .collect();
        let l = Plane::fit(&line);
        assert!((l.at([128, 1280, 1]) - 10.0).abs() < 1e-9);
        let flat = Plane::fit(&[(64.0, 640.0, 3.0), (64.0, 640.0, 5.0)]);
        assert!((flat.at([0, 0, 0]) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn predicted_totals_add_the_compile_of_every_new_shape_and_rank_by_them() {
        let a: ShapeKey = [128, 1024, 33];
        let (b, c, d) = ([64, 512, 33], [192, 1536, 33], [256, 2048, 33]);
        // "many": three shapes in its probe, four in its planned run; "one": a single shape
        let many_probe = [b, b, c, b, c, d, b, c, d, d, b, c];
        let many_plan = [b, c, d, b, [320, 2560, 33], c, b, d, b, c];
        let one = [a; 12];
        let compile = 50.0;
        let adv = advise(
            &[
                cand("many", &many_probe, &many_plan, compile),
                cand("one", &one, &[a; 10], compile),
            ],
            10,
            0,
        );
        // the model recovers the compile cost from "many"'s probe
        assert!(
            (adv.model.compile.mean - compile).abs() < 1e-3,
            "{:?}",
            adv.model.compile
        );
        let truth = |p: &[ShapeKey]| engine(p, compile).iter().sum::<f64>();
        let many = adv
            .ranked
            .iter()
            .find(|r| r.label == "many")
            .expect("ranked");
        // the unseen shape [320, 2560] comes from the plane, exactly for a linear engine; the
        // first step's excess is the probe's (a compile too)
        assert!(
            (many.predicted_ms - truth(&many_plan)).abs() < 1e-3,
            "{} vs {}",
            many.predicted_ms,
            truth(&many_plan)
        );
        assert_eq!(many.shapes, 4);
        // one shape, fewer compiles: faster over 10 steps
        assert_eq!(adv.ranked[0].label, "one");
        assert_eq!(adv.crossovers.len(), 1);
    }

    #[test]
    fn crossovers_name_the_step_from_which_the_faster_stays_ahead() {
        let rank = |label: &str, steps: &[f64]| Ranked {
            rank: 0,
            label: label.into(),
            spec: String::new(),
            predicted_ms: steps.iter().sum(),
            steady_ms: 0.0,
            shapes: 1,
            compile_ms: 0.0,
            first_ms: 0.0,
            probe: (0, 0),
            fill: (1.0, 1.0),
            graphs_per_step: 1.0,
            cumulative: steps
                .iter()
                .scan(0.0, |acc, t| {
                    *acc += t;
                    Some(*acc)
                })
                .collect(),
            measured: None,
        };
        // "compiled": 10 ms to start, then 1 ms; "eager": 3 ms per step. Totals 10+n-1 vs 3n:
        // equal at n = 4.5, so "compiled" is ahead from step 5 on
        let compiled = rank("compiled", &[10.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let eager = rank("eager", &[3.0; 8]);
        let c = crossover(&compiled, &eager);
        assert_eq!(c.after, Some(5));
        assert!((c.margin_pct - 100.0 * (24.0 / 17.0 - 1.0)).abs() < 1e-9);
        // ahead from the first step
        assert_eq!(crossover(&eager, &rank("slow", &[4.0; 8])).after, None);
    }

    #[test]
    fn validation_compares_like_with_like_and_files_are_readable() {
        let s: ShapeKey = [64, 512, 9];
        let mut adv = advise(&[cand("x", &[s; 6], &[s; 20], 0.0)], 20, 0);
        // a run stopped after 8 steps is compared with the prediction for 8 steps
        let measured = probe(&[s; 8], &[1.0 + 0.64 + 0.512; 8], 0);
        adv.check("x", &measured);
        let m = adv.ranked[0].measured.expect("checked");
        assert_eq!(m.steps, 8);
        assert!(m.error_pct().abs() < 1e-6, "{}", m.error_pct());
        assert_eq!(adv.verdict().map(|v| v.0.to_string()), Some("x".into()));
        let dir = tempfile::tempdir().expect("tempdir");
        adv.write(dir.path()).expect("written");
        let file = std::fs::File::open(dir.path().join("advice.parquet")).expect("file");
        let rows: usize =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.build())
                .expect("reader")
                .map(|b| b.expect("batch").num_rows())
                .sum();
        assert_eq!(rows, 1);
        assert!(adv.render("t").contains("| x | 8 |"));
    }
}
