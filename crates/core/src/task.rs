//! A task as a type. What differs between tasks (what a dataset loads, what a batcher is built
//! for and draws from, the plan it fills, what a model is built from and trains on) is the
//! task's associated types, so one trait per plugin role ([`crate::DatasetSpec`],
//! [`crate::BatcherSpec`], [`crate::Batcher`], [`crate::ModelSpec`]) serves every task: a plugin
//! implements the role for its task (`impl BatcherSpec<NodeLevel> for ...`), and another task
//! adds its types, not its own traits.

use crate::batch::GraphBatch;
use crate::batcher::{BatcherContext, GraphDraw};
use crate::dataset::Dataset;
use crate::model::{Batch, ModelContext};
use crate::plan::Plan;
use crate::registry::Task;

/// The data of one task, read by the plugin traits. Implemented by uninhabited marker types:
/// [`GraphLevel`] here, `geobatch_node::NodeLevel` for node classification.
pub trait TaskType: 'static + Send + Sync {
    /// The task's name in listings and descriptors.
    const TASK: Task;
    /// What a dataset loads into.
    type Dataset: ?Sized + Send + Sync;
    /// What a batcher is built for (a split's sizes; a graph and its output nodes).
    type BatcherContext<'a>;
    /// What a batcher draws each plan from.
    type Draw<'a>;
    /// What a batcher fills: the members of one batch and its padded shape.
    type Plan;
    /// What a model is built from.
    type ModelContext;
    /// The collated batch a model trains on.
    type Batch: Batch;
}

/// Graph-level regression over many small graphs (molecules, crystals): the default task of
/// every plugin trait.
#[derive(Debug, Clone, Copy)]
pub enum GraphLevel {}

impl TaskType for GraphLevel {
    const TASK: Task = Task::Graph;
    type Dataset = dyn Dataset;
    type BatcherContext<'a> = BatcherContext<'a>;
    type Draw<'a> = GraphDraw<'a>;
    type Plan = Plan;
    type ModelContext = ModelContext;
    type Batch = GraphBatch;
}
