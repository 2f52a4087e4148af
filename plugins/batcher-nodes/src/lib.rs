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

use geobatch_core::{OptionDoc, PluginDescriptor, PluginKind, Task};

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
        options: &[
            OptionDoc { name: "outputs_per_batch", ty: "integer", default: "1000", doc: "output nodes per batch (cap, balanced); inference uses inference_scale times more" },
            OptionDoc { name: "topk", ty: "integer", default: "16", doc: "auxiliary nodes per output node (largest PPR entries)" },
            OptionDoc { name: "alpha", ty: "float", default: "0.25", doc: "PPR teleport probability" },
            OptionDoc { name: "eps", ty: "float", default: "2e-4", doc: "push tolerance" },
            OptionDoc { name: "max_aux", ty: "integer", default: "none", doc: "cap auxiliary nodes per batch instead (aux-oriented merge)" },
            OptionDoc { name: "order", ty: "string", default: "\"order\"", doc: ORDER_DOC },
            OptionDoc { name: "inference_scale", ty: "integer", default: "2", doc: "inference batches are this many times larger" },
        ],
        example: "kind = \"ibmb-node\"\noutputs_per_batch = 70\ntopk = 32\neps = 1e-4\n",
    }
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Batcher,
        task: Task::Node,
        name: "ibmb-batch",
        summary: "batch-wise IBMB: graph partition of the outputs, then topic-sensitive PPR auxiliary nodes per batch (fixed batches)",
        options: &[
            OptionDoc { name: "num_parts", ty: "integer", default: "4", doc: "parts of the whole graph for training" },
            OptionDoc { name: "inference_parts", ty: "integer", default: "num_parts / 2", doc: "parts for inference" },
            OptionDoc { name: "expand_ratio", ty: "float", default: "1.0", doc: "auxiliary nodes per batch = ceil(ratio x nodes / num_parts)" },
            OptionDoc { name: "alpha", ty: "float", default: "0.25", doc: "PPR teleport probability" },
            OptionDoc { name: "iters", ty: "integer", default: "50", doc: "power iterations" },
            OptionDoc { name: "partitioner", ty: "string", default: "\"auto\"", doc: "auto (METIS if built with it) | metis | grow" },
            OptionDoc { name: "order", ty: "string", default: "\"order\"", doc: ORDER_DOC },
        ],
        example: "kind = \"ibmb-batch\"\nnum_parts = 8\n",
    }
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Batcher,
        task: Task::Node,
        name: "cluster",
        summary: "Cluster-GCN baseline: partition the graph; a batch is one part's outputs with the part as context",
        options: &[
            OptionDoc { name: "num_parts", ty: "integer", default: "4", doc: "parts for training" },
            OptionDoc { name: "inference_parts", ty: "integer", default: "num_parts / 2", doc: "parts for inference" },
            OptionDoc { name: "partitioner", ty: "string", default: "\"auto\"", doc: "auto | metis | grow" },
            OptionDoc { name: "order", ty: "string", default: "\"rand\"", doc: ORDER_DOC },
        ],
        example: "kind = \"cluster\"\nnum_parts = 8\n",
    }
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Batcher,
        task: Task::Node,
        name: "neighbor",
        summary: "neighbour-sampling baseline: uniform fixed-fanout neighbourhoods of random output batches, resampled every epoch",
        options: &[
            OptionDoc { name: "batch_size", ty: "integer", default: "512", doc: "output nodes per batch" },
            OptionDoc { name: "fanouts", ty: "[integer]", default: "[10, 5]", doc: "neighbours sampled per node per hop" },
            OptionDoc { name: "inference_scale", ty: "integer", default: "2", doc: "inference batches are this many times larger" },
        ],
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
