//! geobatch-core: the data model and contracts every geobatch crate shares.
//!
//! * [`GraphSet`]: one dataset split, stored column-wise.
//! * [`GraphRule`]: how edges are to be made from positions (`full`, `cutoff`, `knn`); the
//!   edges themselves, and sets built from structures, are `geobatch-geometry`'s.
//! * [`Shape`] / [`Budget`]: padded sizes and limits, with the study's rounding rules in [`rounding`].
//! * [`Plan`] and [`GraphBatch`]: what a batcher chooses and the reused, padded host batch it is
//!   collated into.
//! * [`GraphStream`]: the seeded stream of graph indices shared by every batcher.
//! * Plans from sizes alone (an epoch, N steps, a rank's share), for Python loops, are
//!   `geobatch-plans`'s.
//! * The plugin traits ([`Dataset`], [`Batcher`], [`Sink`]) with their config traits and the
//!   [`registry`] of plugin descriptors.
//!
//! * [`potential`]: what a potential (energy, forces, stress) is trained with and predicts.
//! * Node-level tasks on one large graph (IBMB and its baselines) are `geobatch-node`'s, on these
//!   same contracts' shared parts ([`Trainer`], [`Batch`], the registry).
//!
//! No ML engine lives here.

pub mod batch;
pub mod batcher;
pub mod cell;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod graph;
pub mod model;
pub mod plan;
pub mod potential;
pub mod records;
pub mod registry;
pub mod rounding;
pub mod rules;
pub mod sink;
pub mod split;
pub mod stats;
pub mod step_memory;
pub mod stream;
pub mod targets;

pub use batch::GraphBatch;
pub use batcher::{Batcher, BatcherContext, BatcherSpec};
pub use dataset::{Dataset, DatasetContext, DatasetSpec, SplitDataset, SplitName};
pub use engine::EngineOptions;
pub use error::{Error, Result};
/// Padded sizes, and batching budgets (a shape used as a limit): `geobatch-gather`'s, which
/// collates into them.
pub use geobatch_gather::{Budget, Shape};
/// A plugin's options declared once, on its spec's fields (see `geobatch_macros`).
pub use geobatch_macros::{plugin, plugin_options};
pub use graph::{AtomLabels, Cell, Edges, GraphParts, GraphSet, GraphSize, LabelKinds, SizeStats};
pub use model::{
    Batch, ModelContext, ModelSpec, NamedTensor, OptimizerSpec, Staged, Stager, StepStats, Trainer,
};
pub use plan::Plan;
pub use potential::{ForceContext, ForcePredictions, LossWeights};
pub use records::{EvalRecord, Phases, RunEnd, RunInfo, RunStatus, StepRecord, StepTiming};
pub use registry::{
    DataProvider, FetchArgs, ImportArgs, OptionDefault, OptionDoc, PluginDescriptor, PluginKind,
    Task,
};
pub use rules::GraphRule;
pub use sink::{Sink, SinkSpec};
pub use split::{Amount, SplitSpec};
pub use stream::{GraphStream, Quirks, StreamMode};
pub use targets::TargetStats;
