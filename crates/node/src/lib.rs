//! geobatch-node: node-level tasks on one large graph (DESIGN.md §11, spec `ibmb.md`): the graph, plans of
//! output and auxiliary nodes, their collation into induced subgraphs, the plugin contracts and
//! the classification metrics.

pub mod batch;
pub mod contract;
pub mod graph;
pub mod metrics;

pub use batch::{NodeBatch, NodeCollator, NodePlan, NodePredictions};
pub use contract::{
    LoadedGraph, NodeBatcher, NodeBatcherContext, NodeBatcherSpec, NodeDataset, NodeDatasetSpec,
    NodeModelContext, NodeModelSpec, NodeOptimizerSpec,
};
pub use graph::NodeGraph;
