//! geobatch-node: node-level tasks on one large graph (DESIGN.md §11, spec `ibmb.md`): the graph, plans of
//! output and auxiliary nodes, their collation into induced subgraphs, the task as a type for
//! the plugin traits ([`NodeLevel`]) and the classification metrics.

pub mod batch;
pub mod contract;
pub mod graph;
pub mod metrics;

pub use batch::{NodeBatch, NodeCollator, NodePlan, NodePredictions};
pub use contract::{
    LoadedGraph, NodeBatcherContext, NodeBatcherFacts, NodeLevel, NodeModelContext,
    NodeOptimizerSpec,
};
pub use graph::NodeGraph;
