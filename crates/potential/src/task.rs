//! The potential as a task: its [`TaskType`] (the graph level's data and batches, its own
//! models, context and predictions), what its models are built from and what they predict.

use crate::setup::ForceContext;
use geobatch_core::registry::{PluginKind, Task};
use geobatch_core::task::{GraphLevel, TaskType};
use geobatch_core::{Error, ModelContext, ModelSpec, Result};

/// An interatomic potential as a task: it reads the graph level's datasets, batchers and batches
/// (a dataset that carries forces), and its models (`impl ModelSpec<Potential>`, registered by
/// name beside their graph-level registration) are built from a [`PotentialContext`] and predict
/// [`ForcePredictions`].
#[derive(Debug, Clone, Copy)]
pub enum Potential {}

impl TaskType for Potential {
    const TASK: Task = Task::Potential;
    type Dataset = <GraphLevel as TaskType>::Dataset;
    type BatcherContext<'a> = <GraphLevel as TaskType>::BatcherContext<'a>;
    type Draw<'a> = <GraphLevel as TaskType>::Draw<'a>;
    type Plan = <GraphLevel as TaskType>::Plan;
    type ModelContext = PotentialContext;
    type Batch = <GraphLevel as TaskType>::Batch;
    type Predictions = ForcePredictions;
    type BatcherFacts = <GraphLevel as TaskType>::BatcherFacts;
}

/// What a potential's model is built from: what every model is ([`ModelContext`]: species,
/// seed, device, optimiser, engine) and the potential's setup fitted on the training split.
#[derive(Debug, Clone)]
pub struct PotentialContext {
    /// The model's context (its target statistics are the total energy's).
    pub model: ModelContext,
    /// Reference energies, scale, spreads, cutoff, loss weights and whether stresses train.
    pub setup: ForceContext,
}

impl PotentialContext {
    /// Whether the loss trains stresses: the training split has them and their weight is not 0.
    pub fn trains_stress(&self) -> bool {
        self.setup.stress && self.setup.weights.stress() > 0.0
    }
}

/// The config's model `spec` as the potential's model of the same name and options (a dataset
/// that carries forces trains a potential; `predict` rebuilds one); refused, naming the models
/// that are potentials, when its plugin registers none.
pub fn potential_of(spec: &dyn ModelSpec) -> Result<Box<dyn ModelSpec<Potential>>> {
    let name = spec.plugin_name();
    let potentials: Vec<_> = geobatch_core::registry::descriptors()
        .into_iter()
        .filter(|d| d.kind == PluginKind::Model && d.task == Task::Potential)
        .collect();
    let Some(found) = potentials.iter().find(|d| d.name == name) else {
        return Err(Error::Refused(format!(
            "model.kind = {name:?} does not train as a potential (energy from the positions, \
             forces as its negative gradient): use {}",
            potentials
                .iter()
                .map(|d| format!("{:?}", d.name))
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    };
    let unread = |e: &dyn std::fmt::Display| {
        Error::invalid(format!("model.kind = {name:?} read as a potential: {e}"))
    };
    let options = toml::Value::try_from(spec.as_serialize()).map_err(|e| unread(&e))?;
    (found.deserialize)(options)
        .map_err(|e| unread(&e))?
        .downcast::<Box<dyn ModelSpec<Potential>>>()
        .map(|spec| *spec)
        .map_err(|_| unread(&"its registration reads another type"))
}

/// What a potential predicts for a batch's real graphs, in the dataset's units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForcePredictions {
    /// Total energy of every real graph (eV).
    pub energy: Vec<f64>,
    /// Force on every real atom (eV/Angstrom), in batch order.
    pub forces: Vec<[f32; 3]>,
    /// Stress of every real graph (eV/Angstrom^3, row-major 3x3; zeros where not periodic in
    /// three directions); empty when the model predicts no stress (a direct force head).
    pub stress: Vec<[f32; 9]>,
}
