//! The model plugin contract: a `ModelSpec` builds a `Trainer`; the runner only sees
//! `train_step` and `predict`. Engine, backend and tensors stay inside `geobatch-nn` and the
//! model crates.
//!
//! One contract serves both kinds of task: [`Trainer`] is generic over the [`Batch`] it trains
//! on, [`GraphBatch`] (many small graphs, the default) or `geobatch_node::NodeBatch` (a subgraph
//! of one large graph).

use crate::Shape;
use crate::batch::GraphBatch;
use crate::error::{Error, Result};
use crate::registry::{PluginKind, PluginRole, Task};
use crate::targets::TargetStats;
pub use crate::task::Batch;
use crate::task::{GraphLevel, TaskType};
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

impl OptimizerSpec {
    /// Checks the options (`geobatch validate`); messages name the key.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "training.optimizer.{name} = {v}: must be a positive number"
                )))
            }
        };
        positive("learning_rate", self.learning_rate)?;
        positive("decay_rate", self.decay_rate)?;
        if self.decay_rate > 1.0 {
            return Err(Error::invalid(format!(
                "training.optimizer.decay_rate = {}: at most 1 (the learning rate is multiplied by \
                 it every decay_steps steps; above 1 it grows without bound)",
                self.decay_rate
            )));
        }
        positive("epsilon", self.epsilon)?;
        if self.decay_steps == 0 {
            return Err(Error::invalid(
                "training.optimizer.decay_steps must be at least 1",
            ));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::invalid(format!(
                    "training.optimizer.{name} = {b}: must be in [0, 1)"
                )));
            }
        }
        Ok(())
    }
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
    /// How the engine runs a step (GPU variants; [`crate::engine`]).
    pub engine: crate::EngineOptions,
}

/// Timing of one training step's phases (ns) and its loss.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepStats {
    /// Training loss: MSE of standardised targets over real graphs.
    pub loss: f32,
    /// Host batch to device tensors.
    pub transfer_ns: u64,
    /// Forward pass and loss; `None` where the trainer cannot tell the phases apart (a Python
    /// module's step is one call).
    pub forward_ns: Option<u64>,
    /// Backward pass (`None` as for `forward_ns`).
    pub backward_ns: Option<u64>,
    /// Optimiser update and the synchronisation that reads the loss (`None` as for
    /// `forward_ns`).
    pub optimizer_ns: Option<u64>,
}

/// A model parameter by its path in the model (`interactions.0.filter.layers.0.weight`), for
/// comparisons with other engines.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Path of the parameter in the model, dot-separated.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

impl Batch for GraphBatch {
    fn real(&self) -> Shape {
        GraphBatch::real(self)
    }
    fn padded(&self) -> Shape {
        GraphBatch::padded(self)
    }
}

/// A batch's device inputs, made ahead of its step by a [`Stager`] (opaque to the runner).
pub struct Staged(pub Box<dyn std::any::Any + Send>);

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Staged(..)")
    }
}

/// Makes a trainer's device inputs from batches on another thread (the prefetch worker), so
/// that the copy to the device overlaps the previous step (`training.engine.upload = "worker"`).
pub trait Stager<B: Batch = GraphBatch>: Send {
    /// The device inputs of `batch`, for [`Learner::train_staged`].
    fn stage(&mut self, batch: &B) -> Result<Staged>;
}

/// A model being trained on batches of kind `B`: its steps and its state, what the training
/// loop drives whatever the task ([`Trainer`] adds the task's predictions).
pub trait Learner<B: Batch = GraphBatch>: Send {
    /// One gradient update on a batch; `step` drives the learning-rate schedule (and, for models
    /// with dropout, the step's random draws, so a resumed run draws the same).
    fn train_step(&mut self, batch: &B, step: u64) -> Result<StepStats>;

    /// A [`Stager`] that makes this trainer's device inputs on another thread, where the
    /// trainer has one and its options ask for it (`training.engine.upload = "worker"`); `None`
    /// (the default) where each step makes its own.
    fn stager(&self) -> Option<Box<dyn Stager<B>>> {
        None
    }

    /// [`Learner::train_step`] on inputs its [`Learner::stager`] made from `batch`; the step's
    /// transfer phase is then only the hand-over. The default ignores them.
    fn train_staged(&mut self, batch: &B, staged: Staged, step: u64) -> Result<StepStats> {
        drop(staged);
        self.train_step(batch, step)
    }

    /// One update of a data-parallel step or an accumulating one (`training.accumulate`): this
    /// rank's share of the step's batches (`batches`, at least one), each batch's loss gradient
    /// summed here and over every rank of `world`, divided by the step's batch count over all
    /// ranks, then one optimiser step, so every rank keeps the same parameters. The stats' loss
    /// is the mean of every batch's loss over all ranks; the phases are this rank's, summed over
    /// its batches, the sum over ranks in the optimiser's. Models that cannot say refuse.
    fn train_shared(
        &mut self,
        batches: &[&B],
        step: u64,
        world: &dyn crate::world::World,
    ) -> Result<StepStats> {
        let _ = (batches, step, world);
        Err(Error::invalid(
            "this model cannot share a step between batches or ranks (training.accumulate above \
             1, or several ranks)",
        ))
    }

    /// Number of trainable scalars.
    fn parameter_count(&self) -> usize;

    /// The model's parameters by path, for comparisons with other engines (`geobatch bench
    /// step --dump`); models that cannot say refuse.
    fn parameters(&self) -> Result<Vec<NamedTensor>> {
        Err(Error::invalid("this model does not export its parameters"))
    }

    /// Saves parameters, optimiser state and the parameters kept by [`Learner::keep_best`] into
    /// the folder `dir` (which exists).
    fn save(&self, dir: &std::path::Path) -> Result<()>;

    /// Restores what [`Learner::save`] saved.
    fn load(&mut self, dir: &std::path::Path) -> Result<()>;

    /// Sets the learning rate, for schedules driven by the runner (the node-level plateau).
    /// Models whose rate follows their own schedule refuse.
    fn set_learning_rate(&mut self, _lr: f64) -> Result<()> {
        Err(Error::invalid(
            "this model's learning rate follows its own schedule",
        ))
    }

    /// Remembers the current parameters (in memory) as the best so far.
    fn keep_best(&mut self) -> Result<()>;

    /// Goes back to the parameters last remembered by [`Learner::keep_best`]; false when none
    /// were.
    fn restore_best(&mut self) -> Result<bool>;
}

/// A model being trained for the task `T`: a [`Learner`] of its batches that predicts what the
/// task predicts ([`TaskType::Predictions`]).
pub trait Trainer<T: TaskType = GraphLevel>: Learner<T::Batch> {
    /// Predictions for the batch, written into `out`: for graph batches the real graphs'
    /// targets in target units (de-standardised), graph-major (`real graphs x targets`); for a
    /// potential the real graphs' energies, forces and stresses in the dataset's units; for node
    /// batches the class of every output node and the summed negative log-likelihood of the
    /// labelled ones.
    fn predict(&mut self, batch: &T::Batch, out: &mut T::Predictions) -> Result<()>;
}

/// Config of a model for the task `T`, registered by name with `#[plugin(name = "...")]`.
pub trait ModelSpec<T: TaskType = GraphLevel>: dyn_clone::DynClone + Debug + Send + Sync {
    /// The registered name (`kind = "..."`); written by `#[plugin]`.
    fn plugin_name(&self) -> &'static str;

    /// The spec's options, for writing it back as a table; written by `#[plugin]`.
    fn as_serialize(&self) -> &dyn crate::tagged::ErasedSerialize;

    /// Checks the options (`geobatch validate`).
    fn validate(&self) -> Result<()>;

    /// Builds the trainer (a potential's also checks that the model can be a smooth potential
    /// on the context's graphs and stresses: `geobatch_potential::PotentialContext`).
    fn build(&self, ctx: &T::ModelContext) -> Result<Box<dyn Trainer<T>>>;

    /// What one training step holds per padded batch, for models whose activations grow with
    /// the batch (checked by the runner against this process's memory before the step
    /// allocates it); `None` when the model does not say (a Python module's).
    fn step_memory(&self) -> Option<crate::step_memory::StepMemory> {
        None
    }

    /// The model's message-passing layers (hops it reads), where it says; `None` otherwise.
    /// A node-level model with more layers than its batcher's hops is refused.
    fn layers(&self) -> Option<usize> {
        None
    }
}

impl<T: TaskType> PluginRole for dyn ModelSpec<T> {
    const KIND: PluginKind = PluginKind::Model;
    const TASK: Task = T::TASK;
}

crate::tagged::plugin_serde!(ModelSpec<T>);

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
