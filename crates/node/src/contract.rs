//! Plugin contracts of node-level tasks: datasets that are one graph, batchers that plan
//! subgraphs, and trainers that classify output nodes.

use crate::batch::{NodeBatch, NodePlan};
use crate::graph::NodeGraph;
use geobatch_core::dataset::{DatasetContext, SplitName};
use geobatch_core::error::Result;
use geobatch_core::model::Trainer;
use geobatch_core::registry::{PluginKind, PluginRole, Task};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// A loaded node-level dataset: one graph with its node splits.
pub trait NodeDataset: Send + Sync {
    /// The registered name of the dataset plugin.
    fn name(&self) -> &str;
    /// The graph.
    fn graph(&self) -> &NodeGraph;
    /// Where the data came from (file, generator and its settings), for the run's records.
    fn source(&self) -> String;
}

/// A node-level dataset held as a name, a graph and a source line.
#[derive(Debug)]
pub struct LoadedGraph {
    /// Plugin name.
    pub name: String,
    /// The graph.
    pub graph: NodeGraph,
    /// Where it came from.
    pub source: String,
}

impl NodeDataset for LoadedGraph {
    fn name(&self) -> &str {
        &self.name
    }
    fn graph(&self) -> &NodeGraph {
        &self.graph
    }
    fn source(&self) -> String {
        self.source.clone()
    }
}

/// Config of a node-level dataset, registered by name with `#[typetag::serde(name = "...")]`.
#[typetag::serde(tag = "kind")]
pub trait NodeDatasetSpec: dyn_clone::DynClone + Debug + Send + Sync {
    /// Checks the options without loading anything.
    fn validate(&self) -> Result<()>;
    /// Loads (or generates) the graph.
    fn load(&self, ctx: &DatasetContext) -> Result<Box<dyn NodeDataset>>;
}

dyn_clone::clone_trait_object!(NodeDatasetSpec);

/// What a node-level batcher is built for.
#[derive(Debug, Clone, Copy)]
pub struct NodeBatcherContext<'a> {
    /// The whole graph.
    pub graph: &'a NodeGraph,
    /// The output nodes to cover (a split's nodes).
    pub outputs: &'a [u32],
    /// Which split they are, for messages.
    pub split: SplitName,
    /// Training (batches may be reordered or resampled every epoch) or inference (one pass).
    pub training: bool,
    /// The run's seed.
    pub seed: u64,
}

/// A runtime node-level batcher. One epoch is a sequence of plans whose output sets partition
/// the batcher's output nodes (every output exactly once per epoch).
pub trait NodeBatcher: Send + Debug {
    /// Starts epoch `epoch` (0-based): fixes the order (and, for sampling batchers, the samples).
    fn start_epoch(&mut self, epoch: u64) -> Result<()>;
    /// Fills `plan` with the next batch of the epoch (`graph` is the graph the batcher was built
    /// for); `Ok(false)` when the epoch is over.
    fn next_plan(&mut self, graph: &NodeGraph, plan: &mut NodePlan) -> Result<bool>;
    /// Batches per epoch.
    fn batches_per_epoch(&self) -> usize;
    /// Time spent building the batcher (pre-computation: PPR, partitioning, grouping), ns.
    fn precompute_ns(&self) -> u64;
    /// Threads the pre-computation ran on (1 unless it is parallel).
    fn precompute_threads(&self) -> usize {
        1
    }
}

/// Config of a node-level batcher, registered by name with `#[typetag::serde(name = "...")]`.
#[typetag::serde(tag = "kind")]
pub trait NodeBatcherSpec: dyn_clone::DynClone + Debug + Send + Sync {
    /// The number that names the run (`bs70`): output nodes per batch for batchers that cap
    /// them (`ibmb-node`, `neighbor`), the number of parts for partition-based ones (`cluster`,
    /// `ibmb-batch`), 0 for `full` (docs/batching.md, "What batch_size means").
    fn batch_size(&self) -> usize;
    /// A short label for tables and plots (e.g. `ibmb-node-k16`).
    fn label(&self) -> String;
    /// Checks the options without data.
    fn validate(&self) -> Result<()>;
    /// The variant used for inference (the spec's larger inference batches).
    fn for_inference(&self) -> Box<dyn NodeBatcherSpec>;
    /// Builds the runtime batcher (pre-computation happens here and is timed).
    fn build(&self, ctx: &NodeBatcherContext<'_>) -> Result<Box<dyn NodeBatcher>>;

    /// The hops a batch keeps around its output nodes, for batchers that sample them hop by
    /// hop (`neighbor`: one fanout per hop), with the option that sets them; `None` for the
    /// others. A model with more layers than hops is refused: its outer layers would see no
    /// neighbour.
    fn hops(&self) -> Option<(usize, &'static str)> {
        None
    }
}

dyn_clone::clone_trait_object!(NodeBatcherSpec);

/// Adam with optional L2 weight decay, for node-level training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOptimizerSpec {
    /// Learning rate.
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    /// L2 penalty added to the gradients (0: none).
    #[serde(default)]
    pub weight_decay: f64,
}

fn default_lr() -> f64 {
    1e-3
}

impl Default for NodeOptimizerSpec {
    fn default() -> Self {
        NodeOptimizerSpec {
            learning_rate: default_lr(),
            weight_decay: 0.0,
        }
    }
}

/// What a node-level model is built from.
#[derive(Debug, Clone)]
pub struct NodeModelContext {
    /// Input features per node.
    pub n_features: usize,
    /// Classes.
    pub n_classes: usize,
    /// Seed of initialisation and dropout.
    pub seed: u64,
    /// Device, e.g. `cpu`.
    pub device: String,
    /// Optimiser settings.
    pub optimizer: NodeOptimizerSpec,
}

/// Config of a node-level model, registered by name with `#[typetag::serde(name = "...")]`.
#[typetag::serde(tag = "kind")]
pub trait NodeModelSpec: dyn_clone::DynClone + Debug + Send + Sync {
    /// Checks the options.
    fn validate(&self) -> Result<()>;
    /// Builds the trainer.
    fn build(&self, ctx: &NodeModelContext) -> Result<Box<dyn Trainer<NodeBatch>>>;

    /// The model's message-passing layers (hops it reads), where it says; `None` otherwise.
    fn layers(&self) -> Option<usize> {
        None
    }
}

dyn_clone::clone_trait_object!(NodeModelSpec);

impl PluginRole for dyn NodeDatasetSpec {
    const KIND: PluginKind = PluginKind::Dataset;
    const TASK: Task = Task::Node;
}

impl PluginRole for dyn NodeBatcherSpec {
    const KIND: PluginKind = PluginKind::Batcher;
    const TASK: Task = Task::Node;
}

impl PluginRole for dyn NodeModelSpec {
    const KIND: PluginKind = PluginKind::Model;
    const TASK: Task = Task::Node;
}
