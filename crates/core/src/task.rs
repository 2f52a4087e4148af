//! A task as a type. What differs between tasks (what a dataset loads, what a batcher is built
//! for and draws from, the plan it fills, what a model is built from and trains on) is the
//! task's associated types, so one trait per plugin role ([`crate::DatasetSpec`],
//! [`crate::BatcherSpec`], [`crate::Batcher`], [`crate::ModelSpec`]) serves every task: a plugin
//! implements the role for its task (`impl BatcherSpec<NodeLevel> for ...`), and another task
//! adds its types, not its own traits.

use crate::registry::Task;
use geobatch_gather::Shape;

/// The data of one task, read by the plugin traits. Implemented by uninhabited marker types:
/// [`GraphLevel`] here, `geobatch_potential::Potential` (graph-level data, a model trained on
/// energies, forces and stresses), `geobatch_node::NodeLevel` for node classification.
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
    /// What a trainer predicts for one batch ([`crate::Trainer::predict`]).
    type Predictions: Default + Send;
    /// What a batcher's config tells its task beyond the batches it builds
    /// ([`crate::BatcherSpec::facts`]): a graph batcher's budget given by hand, a node batcher's
    /// inference variant and the hops it keeps.
    type BatcherFacts: Default;
}

/// What a graph-level batcher's config tells its task beyond its batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphBatcherFacts {
    /// The budget given by hand in the options, if any (checked against the data's sizes by
    /// [`crate::batcher::budget_warning`]); estimated budgets are not.
    pub budget: Option<crate::Budget>,
}

/// Graph-level regression over many small graphs (molecules, crystals): the default task of
/// every plugin trait (its types are given where the crate puts its parts together, `lib.rs`).
#[derive(Debug, Clone, Copy)]
pub enum GraphLevel {}

/// What the runner knows of any batch a trainer takes.
pub trait Batch: Default + Send + 'static {
    /// Real content: nodes, edges, graphs (node batches: local nodes, kept adjacency entries,
    /// output nodes).
    fn real(&self) -> Shape;
    /// Padded shape (equal to [`Batch::real`] for unpadded batches).
    fn padded(&self) -> Shape;
}
