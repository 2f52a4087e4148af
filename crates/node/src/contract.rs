//! The node-level task as a type ([`NodeLevel`]) and its data: datasets that are one graph,
//! batchers that plan subgraphs of it, and trainers that classify output nodes.

use crate::batch::{NodeBatch, NodePlan, NodePredictions};
use crate::graph::NodeGraph;
use geobatch_core::dataset::SplitName;
use geobatch_core::registry::Task;
use geobatch_core::task::TaskType;
use serde::{Deserialize, Serialize};

/// What a node-level dataset loads into: one graph (with its node splits), its plugin's name and
/// where it came from.
#[derive(Debug)]
pub struct LoadedGraph {
    /// Plugin name.
    pub name: String,
    /// The graph.
    pub graph: NodeGraph,
    /// Where it came from.
    pub source: String,
}

impl LoadedGraph {
    /// The registered name of the dataset plugin.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The graph.
    pub fn graph(&self) -> &NodeGraph {
        &self.graph
    }
    /// Where the data came from (file, generator and its settings), for the run's records.
    pub fn source(&self) -> String {
        self.source.clone()
    }
}

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

/// Node classification on one large graph, where batches are subgraphs: the task's types,
/// read by the plugin traits (`impl BatcherSpec<NodeLevel> for ...`).
#[derive(Debug, Clone, Copy)]
pub enum NodeLevel {}

impl TaskType for NodeLevel {
    const TASK: Task = Task::Node;
    type Dataset = LoadedGraph;
    type BatcherContext<'a> = NodeBatcherContext<'a>;
    type Draw<'a> = &'a NodeGraph;
    type Plan = NodePlan;
    type ModelContext = NodeModelContext;
    type Batch = NodeBatch;
    type Predictions = NodePredictions;
    type BatcherFacts = NodeBatcherFacts;
}

/// What a node-level batcher's config tells its task beyond its batches.
#[derive(Debug, Default)]
pub struct NodeBatcherFacts {
    /// The variant used for inference where it differs (larger inference batches, fixed
    /// order); `None`: the spec itself.
    pub inference: Option<Box<dyn geobatch_core::BatcherSpec<NodeLevel>>>,
    /// The hops a batch keeps around its output nodes, for batchers that sample them hop by
    /// hop (`neighbor`: one fanout per hop), with the option that sets them. A model with more
    /// layers than hops is refused: its outer layers would see no neighbour.
    pub hops: Option<(usize, &'static str)>,
}

impl NodeBatcherFacts {
    /// The facts of a batcher whose inference variant is `spec` (and that keeps no hop count).
    pub fn inferring(spec: impl geobatch_core::BatcherSpec<NodeLevel> + 'static) -> Self {
        NodeBatcherFacts {
            inference: Some(Box::new(spec)),
            hops: None,
        }
    }
}
