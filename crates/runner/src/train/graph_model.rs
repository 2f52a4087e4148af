//! The graph-level kind's models: the dataset's per-graph targets trained by the config's model
//! ([`TargetModel`]), or a task that trains the graph level's data its own way, from a crate of
//! its own ([`GraphTaskEntry`]: the potential, in `geobatch-potential-run`). The kind drives,
//! evaluates and completes either through [`GraphModel`] and knows no task but its own.

use super::Drive;
use crate::config::LoadedConfig;
use crate::error::RunError;
use crate::evaluate::{SplitErrors, evaluate};
use geobatch_core::registry::inventory;
use geobatch_core::{
    Dataset, GraphBatch, GraphSet, Learner, ModelContext, ModelSpec, SplitName, Task, Trainer,
};
use std::path::Path;

/// What one split's evaluation gives: a (label, RMSE, MAE) row per label and the graphs
/// evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitRows {
    /// One row per label, in the task's order and units.
    pub rows: Vec<(String, f64, f64)>,
    /// Graphs evaluated.
    pub graphs: u64,
}

/// A model the graph-level kind trains: its learner, its evaluation of a split, and what it
/// keeps once the run is complete.
pub trait GraphModel: Drive<GraphBatch> + Send {
    /// The errors of every graph of `set` once (the exact evaluator's batches of `batch_size`).
    fn evaluate(&mut self, set: &GraphSet, batch_size: usize) -> Result<SplitRows, RunError>;
    /// The labels [`GraphModel::evaluate`] gives rows of (what `training.keep_best` may name).
    fn labels(&self) -> Vec<String>;
    /// What the task keeps in `run_dir` once the run is complete (a potential: its model, for
    /// `predict`); nothing for the per-graph targets.
    fn complete(&mut self, run_dir: &Path) -> Result<(), RunError>;
}

/// The config's model trained on the dataset's per-graph targets.
pub struct TargetModel {
    trainer: Box<dyn Trainer>,
    targets: Vec<String>,
}

impl Drive<GraphBatch> for TargetModel {
    fn learner(&mut self) -> &mut dyn Learner {
        self.trainer.as_mut()
    }
    fn learner_ref(&self) -> &dyn Learner {
        self.trainer.as_ref()
    }
}

impl GraphModel for TargetModel {
    fn evaluate(&mut self, set: &GraphSet, batch_size: usize) -> Result<SplitRows, RunError> {
        let SplitErrors { rmse, mae, graphs } = evaluate(self.trainer.as_mut(), set, batch_size)?;
        let rows = self
            .targets
            .iter()
            .enumerate()
            .map(|(k, name)| (name.clone(), rmse[k], mae[k]))
            .collect();
        Ok(SplitRows { rows, graphs })
    }

    fn labels(&self) -> Vec<String> {
        self.targets.clone()
    }

    fn complete(&mut self, _run_dir: &Path) -> Result<(), RunError> {
        Ok(())
    }
}

/// How a task builds the run's model from the config, the dataset and the config's model.
pub type BuildModel =
    fn(&LoadedConfig, &dyn Dataset, &dyn ModelSpec) -> Result<Box<dyn GraphModel>, RunError>;

/// A task trained on the graph level's data by a trainer of its own, registered by its crate
/// with [`graph_task!`](crate::graph_task): the graph-level kind hands it every run whose training
/// split it claims, and trains the per-graph targets otherwise.
pub struct GraphTaskEntry {
    /// The task.
    pub task: Task,
    /// Whether the task trains on this training split (the potential: it carries forces).
    pub claims: fn(&GraphSet) -> bool,
    /// The run's model for the task.
    pub build: BuildModel,
    /// The config's refusal when the task does not claim the split, if it has one (the
    /// potential: `[training.loss]` without forces would weigh nothing).
    pub unclaimed: fn(&LoadedConfig) -> Result<(), RunError>,
}

inventory::collect!(GraphTaskEntry);

/// Registers a task of the graph level's data: `graph_task!(GraphTaskEntry { .. })`.
#[macro_export]
macro_rules! graph_task {
    ($entry:expr) => {
        $crate::jobs::inventory::submit! { $entry }
    };
}

/// The config's `model` built on `dataset`: by the registered task that claims the training
/// split (a potential where it carries forces), on its per-graph targets otherwise.
pub fn graph_model(
    loaded: &LoadedConfig,
    dataset: &dyn Dataset,
    model: &dyn ModelSpec,
) -> Result<Box<dyn GraphModel>, RunError> {
    let train = dataset.split(SplitName::Train);
    let mut claimed = None;
    for entry in inventory::iter::<GraphTaskEntry> {
        if (entry.claims)(train) {
            claimed.get_or_insert(entry);
        } else {
            (entry.unclaimed)(loaded)?;
        }
    }
    if let Some(entry) = claimed {
        return (entry.build)(loaded, dataset, model);
    }
    if train.labels().forces {
        return Err(loaded.input_error(
            "the training split carries forces, which no task of this build trains: link \
             `geobatch-potential-run`, the catalog's `task-potential` feature",
        ));
    }
    Ok(Box::new(TargetModel {
        trainer: model.build(&model_context(loaded, dataset, Task::Graph))?,
        targets: dataset.target_names().to_vec(),
    }))
}

/// What the config's model is built from on `dataset` for `task`: its species classes and
/// target statistics, the run's seed, device, optimiser and engine (resolved for the task).
pub fn model_context(loaded: &LoadedConfig, dataset: &dyn Dataset, task: Task) -> ModelContext {
    let cfg = &loaded.config;
    ModelContext {
        n_species: dataset.species_classes().len(),
        target_stats: dataset.target_stats(),
        seed: cfg.experiment.seed,
        device: cfg.training.device.clone(),
        optimizer: cfg.training.optimizer.clone(),
        engine: cfg.engine(task),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::graph_source::load_dataset;

    /// This test build of the runner is not the one `geobatch-potential-run` registers with (it
    /// links the runner's library): a build without the potential, in which a training split
    /// with forces is refused by name, never trained on its energies alone as per-graph targets.
    #[test]
    fn forces_without_a_registered_potential_are_refused_by_name() {
        geobatch_catalog::link();
        let text = "[experiment]\nname = \"p\"\n[dataset]\nkind = \"synthetic\"\n\
                    family = \"molecules\"\ngraphs = 12\nlabels = \"morse\"\n\
                    [model]\nkind = \"schnet\"\nlatent = 8\n\
                    [batcher]\nkind = \"static\"\nbatch_size = 4\n";
        let loaded = LoadedConfig::from_str(text, Path::new("p.toml")).unwrap();
        let dataset = load_dataset(&loaded).unwrap();
        assert!(dataset.split(SplitName::Train).labels().forces);
        let model = loaded.config.model.as_deref().unwrap();
        let Err(e) = graph_model(&loaded, dataset.as_ref(), model) else {
            panic!("a split with forces trained without a potential");
        };
        let msg = e.to_string();
        assert!(
            matches!(e, RunError::Config { .. })
                && msg.starts_with("p.toml: ")
                && msg.contains("carries forces, which no task of this build trains")
                && msg.contains("geobatch-potential-run"),
            "{msg}"
        );
    }
}
