//! Running totals of a training run (losses, step times, shapes, round times): what the
//! summary is made from, saved in every checkpoint so a resumed run reports the whole run.

use geobatch_core::stats::median;
use geobatch_core::{Shape, StepRecord};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Step times of one kind (ns): steady steps (`StepRecord::is_steady`: neither warm-up nor the
/// first step on a shape in this process), the other steps after the warm-up, and the warm-up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Times {
    /// Steady steps (named `timed` in checkpoints, where older ones hold every step after the
    /// warm-up).
    #[serde(rename = "timed")]
    steady: Vec<u64>,
    /// Steps after the warm-up that were the first on their shape.
    #[serde(default)]
    cold: Vec<u64>,
    /// Warm-up steps.
    warmup: Vec<u64>,
}

impl Times {
    fn push(&mut self, r: &StepRecord, ns: u64) {
        if r.is_steady() {
            self.steady.push(ns);
        } else if r.warmup {
            self.warmup.push(ns);
        } else {
            self.cold.push(ns);
        }
    }

    /// Median of the steady steps; where none is steady (every batch a new shape, as node
    /// batches of random samplers), of the steps after the warm-up; else of every step.
    fn median(&self) -> Option<f64> {
        let mut v = [&self.steady, &self.cold, &self.warmup]
            .into_iter()
            .find(|v| !v.is_empty())
            .cloned()
            .unwrap_or_default();
        v.sort_unstable();
        median(&v)
    }
}

/// Running totals of a training run; part of every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    done: u64,
    first: (f64, u64),
    last: (f64, u64),
    window: u64,
    shapes: HashSet<Shape>,
    /// Shapes met since this process started (not checkpointed: a resumed engine starts cold).
    #[serde(skip)]
    warm: HashSet<Shape>,
    batching: Times,
    update: Times,
    wait: Times,
    rounds: Vec<u64>,
    /// Loss of the last step that ran (older checkpoints lack it).
    #[serde(default)]
    latest: Option<f64>,
}

/// Medians of a run's step times (ns).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Medians {
    /// Plan + collate (`None` before the first step).
    pub batching: Option<f64>,
    /// The update (`None` before the first step).
    pub update: Option<f64>,
    /// Wait for a prefetched batch, in prefetch mode.
    pub wait: Option<f64>,
    /// Time of a round (an epoch of node batches), warm-up rounds left out when there are others.
    pub round: Option<f64>,
}

impl Progress {
    /// Totals of a run of `steps` steps (the loss windows are its first and last 10%).
    pub fn new(steps: u64) -> Self {
        Progress {
            done: 0,
            first: (0.0, 0),
            last: (0.0, 0),
            window: (steps / 10).max(1),
            shapes: HashSet::new(),
            warm: HashSet::new(),
            batching: Times::default(),
            update: Times::default(),
            wait: Times::default(),
            rounds: Vec::new(),
            latest: None,
        }
    }

    /// Whether `padded` is seen for the first time in the run, and whether for the first time
    /// since this process started (a resumed run meets its old shapes cold again); remembers it.
    pub fn meet(&mut self, padded: Shape) -> (bool, bool) {
        (self.shapes.insert(padded), self.warm.insert(padded))
    }

    /// Adds a recorded step of a run of `steps` steps.
    pub fn add(&mut self, r: &StepRecord, steps: u64) {
        self.done = r.step + 1;
        let loss = f64::from(r.loss.unwrap_or(f32::NAN));
        self.latest = Some(loss);
        if r.step < self.window {
            self.first = (self.first.0 + loss, self.first.1 + 1);
        }
        if r.step + self.window >= steps {
            self.last = (self.last.0 + loss, self.last.1 + 1);
        }
        self.batching.push(r, r.batching_ns);
        self.update.push(r, r.update_ns.unwrap_or(0));
        if let Some(w) = r.wait_ns {
            self.wait.push(r, w);
        }
    }

    /// Adds the time of a finished round.
    pub fn add_round(&mut self, ns: u64) {
        self.rounds.push(ns);
    }

    /// Steps done.
    pub fn steps(&self) -> u64 {
        self.done
    }

    /// Distinct padded shapes so far.
    pub fn distinct_shapes(&self) -> usize {
        self.shapes.len()
    }

    /// Mean loss of the first and of the last 10% of the planned steps; `None` for a window no
    /// step reached (the last one of a run stopped early).
    pub fn loss_windows(&self) -> (Option<f64>, Option<f64>) {
        let mean = |(sum, n): (f64, u64)| (n > 0).then(|| sum / n as f64);
        (mean(self.first), mean(self.last))
    }

    /// Loss of the last step that ran.
    pub fn latest_loss(&self) -> Option<f64> {
        self.latest
    }

    /// Medians of the step times; rounds before `warmup_rounds` are left out when there are
    /// others.
    pub fn medians(&self, warmup_rounds: u64) -> Medians {
        let skip = usize::try_from(warmup_rounds).unwrap_or(usize::MAX);
        let mut rounds = if self.rounds.len() > skip {
            self.rounds[skip..].to_vec()
        } else {
            self.rounds.clone()
        };
        rounds.sort_unstable();
        Medians {
            batching: self.batching.median(),
            update: self.update.median(),
            wait: self.wait.median(),
            round: median(&rounds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: u64, update_ns: u64, warmup: bool, cold_shape: bool) -> StepRecord {
        StepRecord {
            step,
            update_ns: Some(update_ns),
            warmup,
            cold_shape,
            ..StepRecord::default()
        }
    }

    /// The summary's medians are of the steady steps, as the report's: a warm-up step and the
    /// first step on a shape are left out; with no steady step, the steps after the warm-up.
    #[test]
    fn medians_are_of_the_steady_steps() {
        let mut p = Progress::new(6);
        for r in [
            step(0, 900, true, true),
            step(1, 800, true, false),
            step(2, 700, false, true),
            step(3, 10, false, false),
            step(4, 20, false, false),
            step(5, 30, false, false),
        ] {
            p.add(&r, 6);
        }
        assert_eq!(p.medians(0).update, Some(20.0));
        let mut cold = Progress::new(3);
        for r in [
            step(0, 900, true, true),
            step(1, 40, false, true),
            step(2, 60, false, true),
        ] {
            cold.add(&r, 3);
        }
        assert_eq!(cold.medians(0).update, Some(50.0));
    }
}
