//! The model plugin contract: a `ModelSpec` builds a `Trainer`; the runner only sees
//! `train_step` and `predict`. Engine, backend and tensors stay inside `geobatch-nn` and the
//! model crates.

use crate::batch::GraphBatch;
use crate::error::Result;
use crate::targets::TargetStats;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// Adam with a staircase exponential learning-rate decay (spec §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    /// Initial learning rate.
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    /// Factor applied every `decay_steps` steps: lr = lr0 x rate^floor(step / decay_steps).
    #[serde(default = "default_decay_rate")]
    pub decay_rate: f64,
    /// Steps between decays.
    #[serde(default = "default_decay_steps")]
    pub decay_steps: u64,
    /// Adam beta 1.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Adam beta 2.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Adam epsilon.
    #[serde(default = "default_eps")]
    pub epsilon: f64,
}

fn default_lr() -> f64 {
    1e-4
}
fn default_decay_rate() -> f64 {
    0.96
}
fn default_decay_steps() -> u64 {
    100_000
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec {
            learning_rate: default_lr(),
            decay_rate: default_decay_rate(),
            decay_steps: default_decay_steps(),
            beta1: default_beta1(),
            beta2: default_beta2(),
            epsilon: default_eps(),
        }
    }
}

impl OptimizerSpec {
    /// The learning rate at `step` (staircase decay).
    pub fn learning_rate_at(&self, step: u64) -> f64 {
        self.learning_rate
            * self
                .decay_rate
                .powi((step / self.decay_steps.max(1)) as i32)
    }
}

/// What a model is built from: what the dataset declares and the run's settings.
#[derive(Debug, Clone)]
pub struct ModelContext {
    /// Number of species classes (one-hot width).
    pub n_species: usize,
    /// Standardisation statistics of every target (from the training split).
    pub target_stats: Vec<TargetStats>,
    /// Seed of the parameter initialisation.
    pub seed: u64,
    /// Device, e.g. `cpu`.
    pub device: String,
    /// Optimiser settings.
    pub optimizer: OptimizerSpec,
}

/// Timing of one training step's phases (ns) and its loss.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepStats {
    /// Training loss: MSE of standardised targets over real graphs.
    pub loss: f32,
    /// Host batch to device tensors.
    pub transfer_ns: u64,
    /// Forward pass and loss.
    pub forward_ns: u64,
    /// Backward pass.
    pub backward_ns: u64,
    /// Optimiser update (and the synchronisation that reads the loss).
    pub optimizer_ns: u64,
}

/// A model being trained.
pub trait Trainer: Send {
    /// One gradient update on a padded batch; `step` drives the learning-rate schedule.
    fn train_step(&mut self, batch: &GraphBatch, step: u64) -> Result<StepStats>;

    /// Predictions for the real graphs of a batch, in target units (de-standardised), graph-major
    /// (`real graphs x targets`), written into `out`.
    fn predict(&mut self, batch: &GraphBatch, out: &mut Vec<f32>) -> Result<()>;

    /// Number of trainable scalars.
    fn parameter_count(&self) -> usize;

    /// Saves parameters and optimiser state into the folder `dir` (which exists).
    fn save(&self, dir: &std::path::Path) -> Result<()>;

    /// Restores parameters and optimiser state saved by [`Trainer::save`].
    fn load(&mut self, dir: &std::path::Path) -> Result<()>;
}

/// Config of a model, registered by name with `#[typetag::serde(name = "...")]`.
#[typetag::serde(tag = "kind")]
pub trait ModelSpec: Debug + Send + Sync {
    /// Checks the options (`geobatch validate`).
    fn validate(&self) -> Result<()>;

    /// Builds the trainer.
    fn build(&self, ctx: &ModelContext) -> Result<Box<dyn Trainer>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staircase_decay() {
        let o = OptimizerSpec::default();
        assert_eq!(o.learning_rate_at(0), 1e-4);
        assert_eq!(o.learning_rate_at(99_999), 1e-4);
        assert!((o.learning_rate_at(100_000) - 0.96e-4).abs() < 1e-18);
        assert!((o.learning_rate_at(2_000_000) - 1e-4 * 0.96f64.powi(20)).abs() < 1e-15);
    }
}
