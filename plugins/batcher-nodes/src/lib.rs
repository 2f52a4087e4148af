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

pub use baselines::{ClusterSpec, FullSpec, NeighborSpec};
pub use ibmb::{IbmbBatchSpec, IbmbNodeSpec};
pub use order::Order;
pub use partition::Partitioner;

const ORDER_DOC: &str = "fixed | rand | order (max-distance cycle of label histograms) | sample";

/// Referenced by `geobatch-catalog` so the linker keeps this crate's plugin registrations.
pub fn link() {}
