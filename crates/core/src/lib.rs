//! geobatch-core: the data model and contracts every geobatch crate shares, and nothing else.
//!
//! * [`GraphSet`]: one dataset split, stored column-wise, with its [`Cell`]s and labels.
//! * [`GraphRule`]: how edges are to be made from positions (`full`, `cutoff`, `knn`).
//! * [`Shape`] / [`Budget`]: padded sizes and limits, with the study's rounding rules in [`rounding`].
//! * [`Plan`] and [`GraphBatch`]: what a batcher chooses and the reused, padded host batch it is
//!   collated into.
//! * [`GraphStream`]: the seeded stream of graph indices shared by every batcher.
//! * The plugin traits ([`Dataset`], [`Batcher`], [`Sink`], [`ModelSpec`] and [`Trainer`]) with
//!   their config traits, one per role for every task (the task is a type: [`task`]), and the
//!   [`registry`] of plugin descriptors that configs read specs through ([`tagged`]);
//!   [`records`]: what runs record; [`World`]: the ranks of a data-parallel run.
//!
//! What is built on them lives in crates named for it: `geobatch-geometry` (sets built from
//! structures, the edges a rule makes), `geobatch-gather` (the collation engine), `geobatch-node`
//! (node-level tasks), `geobatch-potential` (interatomic potentials), `geobatch-plans` (plans from sizes for Python loops), `geobatch-process`
//! (memory, stop signals, progress, console), `geobatch-datafiles` (data files and saved splits).
//! No ML engine lives here.

pub mod batch;
pub mod batch_size;
pub mod batcher;
pub mod cell;
pub mod column;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod graph;
pub mod model;
pub mod plan;
pub mod records;
pub mod registry;
pub mod rounding;
pub mod rules;
pub mod sink;
pub mod split;
pub mod stats;
pub mod step_memory;
pub mod stream;
pub mod tagged;
pub mod targets;
pub mod task;
pub mod world;

pub use batch::GraphBatch;
pub use batch_size::BatchSize;
pub use batcher::{Batcher, BatcherContext, BatcherSpec, GraphDraw};
pub use column::{Column, MappedBytes};
pub use dataset::{Dataset, DatasetContext, DatasetSpec, SplitDataset, SplitName};
pub use engine::{EngineOptions, EngineTable};
pub use error::{Error, Result};
/// Padded sizes, and batching budgets (a shape used as a limit): `geobatch-gather`'s, which
/// collates into them.
pub use geobatch_gather::{Budget, Shape};
/// A plugin's options declared once, on its spec's fields (see `geobatch_macros`).
pub use geobatch_macros::{plugin, plugin_options};
pub use graph::{
    AtomLabels, Cell, Edges, GraphParts, GraphSet, GraphSize, LabelKinds, SizeStats, StoredEdges,
};
pub use model::{
    Batch, Learner, ModelContext, ModelSpec, NamedTensor, OptimizerSpec, Staged, Stager, StepStats,
    Trainer,
};
pub use plan::Plan;
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
pub use task::{GraphBatcherFacts, GraphLevel, TaskType};
pub use world::{Alone, World};

/// The graph-level task's types: what its plugins read and make.
impl TaskType for GraphLevel {
    const TASK: Task = Task::Graph;
    type Dataset = dyn Dataset;
    type BatcherContext<'a> = BatcherContext<'a>;
    type Draw<'a> = GraphDraw<'a>;
    type Plan = Plan;
    type ModelContext = ModelContext;
    type Batch = GraphBatch;
    /// Per real graph and target, graph-major, in target units.
    type Predictions = Vec<f32>;
    type BatcherFacts = task::GraphBatcherFacts;
}
