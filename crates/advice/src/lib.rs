//! Which batcher makes N training steps the fastest, predicted from short probes and the exact
//! shape sequence of the N steps, then checked against real runs: the cost model of `geobatch
//! advise` (a runner job) and of `geobatch.advise` in Python, pure arithmetic on step times
//! (docs/advise.md).
//!
//! The cost model, in milliseconds of combined time (batching + update, the study's step time):
//! - a shape's steady time: the mean of the probes' steady steps of that shape (after the warm-up,
//!   not the first step of their shape) when there are at least [`MIN_SAMPLES`], else a
//!   least-squares plane in padded nodes and edges fitted to every steady step of every probe. The
//!   engine sees only the padded arrays, so a shape costs the same whichever batcher made it;
//! - a step that meets a new padded shape after the first step adds the compile cost: the mean
//!   excess over their shape's steady time of such steps, pooled over the probes by how many of
//!   the shape's dimensions (nodes, edges, graphs) were new to the run ([`model::new_dims`]:
//!   inductor compiles again only the kernels of new dimensions); seconds on a
//!   shape-specialising engine such as JAX's jit or `torch.compile`, about zero on geobatch's
//!   eager engine;
//! - a warm-up step adds the probes' mean warm-up excess, the first step its own probe's excess
//!   (start-up and the first compile).
//!
//! The shape sequence is not extrapolated: batchers are deterministic for a seed, so planning the
//! N batches without a model (seconds) gives the exact shapes the run will meet.

mod model;
mod render;
#[cfg(test)]
mod tests;

pub use model::{CostModel, MIN_SAMPLES, Plane, Sampled, ShapeKey, new_dims, novelty};

use geobatch_core::records::is_steady;
use geobatch_core::stats::mean;
use std::collections::HashSet;

/// A probe's steps as the cost model reads them, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    /// Combined time of each step (batching + update, ms).
    pub ms: Vec<f64>,
    /// Padded shape of each step.
    pub shape: Vec<ShapeKey>,
    /// Whether each step was the first on its padded shape since the process started (a compile
    /// on a shape-specialising engine).
    pub cold: Vec<bool>,
    /// Whether each step was a warm-up step.
    pub warmup: Vec<bool>,
}

impl Probe {
    /// Steps measured.
    pub fn len(&self) -> usize {
        self.ms.len()
    }

    /// Whether no step was measured.
    pub fn is_empty(&self) -> bool {
        self.ms.is_empty()
    }

    /// Adds a step: its time (ms), padded shape, whether it was cold and a warm-up step.
    pub fn push(&mut self, ms: f64, shape: ShapeKey, cold: bool, warmup: bool) {
        self.ms.push(ms);
        self.shape.push(shape);
        self.cold.push(cold);
        self.warmup.push(warmup);
    }

    /// Whether step `i` is a steady one (neither a warm-up step nor cold: the one definition,
    /// [`geobatch_core::records::is_steady`]).
    pub fn is_steady(&self, i: usize) -> bool {
        is_steady(self.warmup[i], self.cold[i])
    }
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
    /// Its probe's steps.
    pub probe: Probe,
}

/// A validation run's measured total.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Steps it ran (N, or fewer when stopped).
    pub steps: usize,
    /// Sum of their combined times (ms).
    pub total_ms: f64,
    /// The prediction for the same number of steps (ms), the start-up of a new process
    /// included where the run had one.
    pub predicted_ms: f64,
    /// The start-up added to the prediction (ms) where the run was made in a new process of its
    /// own (its first step the framework's start-up and a cold compile); `None`: in the process
    /// that probed.
    pub new_process_ms: Option<f64>,
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
    /// Steady steps of the candidate's own probe; 0: its steady time is the plane fitted to the
    /// other candidates' steady steps, said so wherever it is shown, never as a measurement.
    pub steady_steps: usize,
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
            let probe_shapes: HashSet<&ShapeKey> = c.probe.shape.iter().collect();
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
                steady_steps: (0..c.probe.len()).filter(|&i| c.probe.is_steady(i)).count(),
                shapes: shapes.len(),
                compile_ms: model.compile_total(&c.padded),
                first_ms: first,
                probe: (c.probe.len(), probe_shapes.len()),
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
    /// Records a validation run of `label`: the combined time of each of its steps (ms), in
    /// order (all N, or fewer when it was stopped).
    pub fn check(&mut self, label: &str, measured_ms: &[f64]) {
        self.checked(label, measured_ms, None);
    }

    /// Records a validation run of `label` made in a new process of its own: compared with the
    /// prediction plus `start_up_ms`, what a new process adds to a total (its first step pays
    /// the framework's start-up where a probe's had the framework started).
    pub fn check_new_process(&mut self, label: &str, measured_ms: &[f64], start_up_ms: f64) {
        self.checked(label, measured_ms, Some(start_up_ms));
    }

    fn checked(&mut self, label: &str, measured_ms: &[f64], new_process_ms: Option<f64>) {
        if let Some(r) = self.ranked.iter_mut().find(|r| r.label == label) {
            let n = measured_ms.len().min(r.cumulative.len());
            if n > 0 {
                r.measured = Some(Measured {
                    steps: n,
                    total_ms: measured_ms[..n].iter().sum(),
                    predicted_ms: r.cumulative[n - 1] + new_process_ms.unwrap_or(0.0),
                    new_process_ms,
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
}
