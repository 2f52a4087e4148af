//! When things happen in a run: its steps, rounds, evaluations, checkpoints and warm-up.

/// When things happen in a run. Evaluation, checkpoints and warm-up count **rounds**: one step
/// for graph-level tasks, one epoch of node batches for node-level ones.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Steps of the whole run.
    pub steps: u64,
    /// Steps per round (at least 1).
    pub per_round: u64,
    /// Evaluate every this many rounds (0: only at the end).
    pub eval_every: u64,
    /// Checkpoint every this many rounds (0: never).
    pub checkpoint_every: u64,
    /// Leading rounds whose steps are flagged as warm-up.
    pub warmup: u64,
}

/// A point of a run's schedule: right after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// Steps done.
    pub steps: u64,
    /// Rounds done.
    pub rounds: u64,
    /// Whether this is the end of the run's last step.
    pub last: bool,
}

impl Schedule {
    fn rounds_after(&self, step: u64) -> u64 {
        (step + 1) / self.per_round.max(1)
    }

    /// Whether step `step` belongs to the warm-up.
    pub fn warmup(&self, step: u64) -> bool {
        step / self.per_round.max(1) < self.warmup
    }

    /// Whether step `step` ends a round.
    pub fn ends_round(&self, step: u64) -> bool {
        (step + 1).is_multiple_of(self.per_round.max(1))
    }

    /// The point right after step `step`.
    pub fn after(&self, step: u64) -> Point {
        Point {
            steps: step + 1,
            rounds: self.rounds_after(step),
            last: step + 1 == self.steps,
        }
    }

    /// Whether a periodic evaluation follows step `step` (the last step's is the task's finish).
    pub fn evaluates_after(&self, step: u64) -> bool {
        self.ends_round(step)
            && self.eval_every > 0
            && self.rounds_after(step).is_multiple_of(self.eval_every)
            && step + 1 < self.steps
    }

    /// Whether a checkpoint follows step `step` (never after the last).
    pub fn checkpoints_after(&self, step: u64) -> bool {
        self.ends_round(step)
            && self.checkpoint_every > 0
            && self
                .rounds_after(step)
                .is_multiple_of(self.checkpoint_every)
            && step + 1 < self.steps
    }
}
