//! The potential as the graph-level kind trains it: a run whose training split carries forces
//! is handed to [`PotentialModel`] (registered with `geobatch_runner::graph_task!`), which trains
//! the config's model as a potential, evaluates it by its own metrics and saves it, once the run
//! is complete, for `predict`.

use crate::evaluate::evaluate_forces;
use crate::predict::{SavedPotential, save};
use crate::setup::{PotentialSetup, loss_without_forces, potential_setup};
use geobatch_core::{Dataset, Error, GraphBatch, GraphSet, Learner, ModelSpec, SplitName, Task};
use geobatch_potential::{Potential, PotentialContext};
use geobatch_runner::train::Drive;
use geobatch_runner::train::graph_model::{GraphModel, GraphTaskEntry, SplitRows, model_context};
use geobatch_runner::{LoadedConfig, RunError};
use std::path::Path;

/// A model trained as a potential, with what it is saved with once the run is complete.
pub struct PotentialModel {
    trainer: Box<dyn geobatch_core::Trainer<Potential>>,
    saved: SavedPotential,
}

impl PotentialModel {
    /// The config's `model` as a potential on `dataset`, whose training split carries forces:
    /// its setup fitted there ([`potential_setup`]); the model's own refusals as a potential
    /// (PaiNN's cutoff beyond the graph's radius) are the config's errors.
    pub fn build(
        loaded: &LoadedConfig,
        dataset: &dyn Dataset,
        model: &dyn ModelSpec,
    ) -> Result<Box<dyn GraphModel>, RunError> {
        let Some(PotentialSetup { spec, setup }) = potential_setup(loaded, dataset, model)? else {
            return Err(RunError::Data(Error::invalid(
                "a potential is trained on a dataset that carries forces",
            )));
        };
        let saved = SavedPotential {
            classes: dataset.species_classes().to_vec(),
            rule: dataset.split(SplitName::Train).rule().clone(),
            setup: setup.clone(),
        };
        let ctx = PotentialContext {
            model: model_context(loaded, dataset, Task::Potential),
            setup,
        };
        let trainer = spec.build(&ctx).map_err(|e| match e {
            Error::Refused(m) => loaded.input_error(&m),
            e => e.into(),
        })?;
        Ok(Box::new(PotentialModel { trainer, saved }))
    }
}

impl Drive<GraphBatch> for PotentialModel {
    fn learner(&mut self) -> &mut dyn Learner {
        self.trainer.as_mut()
    }
    fn learner_ref(&self) -> &dyn Learner {
        self.trainer.as_ref()
    }
}

impl GraphModel for PotentialModel {
    fn evaluate(&mut self, set: &GraphSet, batch_size: usize) -> Result<SplitRows, RunError> {
        let errors = evaluate_forces(self.trainer.as_mut(), set, batch_size)?;
        Ok(SplitRows {
            rows: errors
                .rows
                .into_iter()
                .map(|(name, r, m)| (name.to_string(), r, m))
                .collect(),
            graphs: errors.graphs,
        })
    }

    fn labels(&self) -> Vec<String> {
        crate::evaluate::LABELS.map(String::from).to_vec()
    }

    fn complete(&mut self, run_dir: &Path) -> Result<(), RunError> {
        save(run_dir, self.trainer.as_ref(), &self.saved)
    }
}

geobatch_runner::graph_task!(GraphTaskEntry {
    task: Task::Potential,
    claims: |train| train.labels().forces,
    build: PotentialModel::build,
    unclaimed: loss_without_forces,
});
