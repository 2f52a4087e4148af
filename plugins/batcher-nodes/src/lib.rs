//! Node-level batchers on one large graph (spec `ibmb.md`): a batch is a set of output nodes plus
//! the auxiliary nodes kept as their receptive field; the runner collates it into the induced
//! subgraph.
//!
//! * `ibmb-node`: node-wise influence-based mini-batching (PPR push per output, top-k auxiliary
//!   nodes, outputs grouped by PPR affinity under a size cap).
//! * `ibmb-batch`: batch-wise IBMB (graph partition of the outputs, topic-sensitive PPR per batch).
//! * `cluster`: Cluster-GCN (partition, no expansion).
//! * `neighbor`: uniform fixed-fanout neighbour sampling, resampled every epoch.
//! * `full`: one batch with every output node and the whole graph (full-batch reference).
//!
//! Partitioning uses METIS with the `metis` feature, otherwise a pure-Rust graph-growing
//! partitioner ([`partition`]).

pub mod baselines;
pub mod fixed;
pub mod grouping;
pub mod ibmb;
pub mod order;
pub mod partition;
pub mod ppr;

use geobatch_core::{PluginDescriptor, PluginKind, Task};

pub use baselines::{ClusterSpec, FullSpec, NeighborSpec};
pub use ibmb::{IbmbBatchSpec, IbmbNodeSpec};
pub use order::Order;
pub use partition::Partitioner;

const ORDER_DOC: &str = "fixed | rand | order (max-distance cycle of label histograms) | sample";

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Batcher,
        task: Task::Node,
        name: "ibmb-node",
        summary: "node-wise IBMB: PPR push per output node, top-k auxiliary nodes, outputs grouped by PPR affinity (fixed batches)",
        options: IbmbNodeSpec::OPTIONS,
        example: "kind = \"ibmb-node\"\noutputs_per_batch = 70\ntopk = 32\neps = 1e-4\n",
    }
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Batcher,
        task: Task::Node,
        name: "ibmb-batch",
        summary: "batch-wise IBMB: graph partition of the outputs, then topic-sensitive PPR auxiliary nodes per batch (fixed batches)",
        options: IbmbBatchSpec::OPTIONS,
        example: "kind = \"ibmb-batch\"\nnum_parts = 8\n",
    }
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Batcher,
        task: Task::Node,
        name: "cluster",
        summary: "Cluster-GCN baseline: partition the graph; a batch is one part's outputs with the part as context",
        options: ClusterSpec::OPTIONS,
        example: "kind = \"cluster\"\nnum_parts = 8\n",
    }
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Batcher,
        task: Task::Node,
        name: "neighbor",
        summary: "neighbour-sampling baseline: uniform fixed-fanout neighbourhoods of random output batches, resampled every epoch",
        options: NeighborSpec::OPTIONS,
        example: "kind = \"neighbor\"\nbatch_size = 256\nfanouts = [10, 5]\n",
    }
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Batcher,
        task: Task::Node,
        name: "full",
        summary: "full-batch reference: one batch with every output node and the whole graph",
        options: &[],
        example: "kind = \"full\"\n",
    }
}

/// Referenced by `geobatch-catalog` so the linker keeps this crate's plugin registrations.
pub fn link() {}
