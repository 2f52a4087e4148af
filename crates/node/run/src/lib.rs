//! geobatch-node-run: node-level jobs on one large graph (DESIGN.md §11, spec `ibmb.md`): the config, training
//! through the one training loop (`geobatch_runner::train`), batched and full-graph evaluation, and the
//! batching study.
//!
//! A config is node-level when its `[dataset]` plugin is (see [`geobatch_runner::config::Document::task`]).
//! Records reuse the graph-level schema: a step's `real_graphs` counts its **output nodes**,
//! `real_nodes` its auxiliary nodes (outputs included) and `real_edges` the adjacency entries kept
//! in the induced subgraph (self-loops included); nothing is padded, so `padded_*` equal `real_*`.

pub mod config;
pub mod eval;
pub mod source;
pub mod study;
pub mod train;

pub use config::{LoadedNodeConfig, NodeBatches, NodeConfig, NodeTraining, Plateau};
pub use eval::{NodeEval, evaluate_batched, evaluate_full};
pub use source::NodeSource;
pub use study::{NodeBatchSummary, peak_rss, run_node_batches};
pub use train::{NodeTask, NodeTrainSummary};

geobatch_runner::task_kind!(NodeConfig, [geobatch_core::Task::Node]);

/// References this crate so the linker keeps its registration with the runner
/// (`geobatch_catalog::link` calls it).
pub fn link() {}

use geobatch_core::{Batcher, BatcherSpec, SplitName};
use geobatch_node::{LoadedGraph, NodeBatcherContext, NodeGraph, NodeLevel};
use geobatch_runner::error::RunError;
use std::time::Instant;

pub(crate) fn load_graph(cfg: &NodeConfig) -> Result<(Box<LoadedGraph>, u64), RunError> {
    let t = Instant::now();
    let d = cfg
        .dataset
        .load(&cfg.experiment.dataset_context())
        .map_err(RunError::loading)?;
    Ok((d, t.elapsed().as_nanos() as u64))
}

pub(crate) fn build_batcher(
    spec: &dyn BatcherSpec<NodeLevel>,
    graph: &NodeGraph,
    split: SplitName,
    training: bool,
    seed: u64,
) -> Result<Box<dyn Batcher<NodeLevel>>, RunError> {
    spec.build(&NodeBatcherContext {
        graph,
        outputs: graph.split(split),
        split,
        training,
        seed,
    })
    .map_err(RunError::Data)
}
