//! Running totals of a training run (losses, step times, shapes, round times): what the
//! summary is made from, saved in every checkpoint so a resumed run reports the whole run.

use geobatch_core::stats::median;
use geobatch_core::{Shape, StepRecord};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Step times of one kind (ns), steady steps apart (`StepRecord::is_steady`: neither warm-up nor
/// the first step on a shape in this process).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Times {
    /// Steady steps (named `timed` in checkpoints).
    #[serde(rename = "timed")]
    steady: Vec<u64>,
    /// The other steps (named `warmup` in checkpoints).
    #[serde(rename = "warmup")]
    other: Vec<u64>,
}

impl Times {
    fn push(&mut self, steady: bool, ns: u64) {
        if steady {
            self.steady.push(ns);
        } else {
            self.other.push(ns);
        }
    }

    /// Median of the steady steps, or of every step when none was steady.
    fn median(&self) -> Option<f64> {
        let mut v = if self.steady.is_empty() {
            self.other.clone()
        } else {
            self.steady.clone()
        };
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
        let steady = r.is_steady();
        self.batching.push(steady, r.batching_ns);
        self.update.push(steady, r.update_ns.unwrap_or(0));
        if let Some(w) = r.wait_ns {
            self.wait.push(steady, w);
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
