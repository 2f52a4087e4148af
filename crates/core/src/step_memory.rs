//! What a model's training step holds in memory for one padded batch, checked against what this
//! process can have (`geobatch_process::memory`) before the step.

use crate::Shape;
use crate::error::{Error, Result};
use geobatch_process::memory::{gib, memory_limit};

/// What a model's training step holds for one padded batch: its parameters' state and the
/// activations kept for the backward pass, per edge and per node. The runner checks it against
/// [`memory_limit`] for the largest batch its batcher can make (the budget) before the first
/// step, and for every larger padded shape met before that batch is trained on.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMemory {
    /// The model's options and values the estimate depends on (`model.latent = 64, ...`).
    pub sizes: String,
    /// Bytes held whatever the batch: parameters, gradients, optimiser state.
    pub fixed: f64,
    /// Bytes of activations per padded edge.
    pub per_edge: f64,
    /// Bytes of activations per padded node.
    pub per_node: f64,
}

impl StepMemory {
    /// Bytes one step on a batch of `shape` needs.
    pub fn bytes(&self, shape: Shape) -> f64 {
        self.fixed + self.per_edge * shape.edges as f64 + self.per_node * shape.nodes as f64
    }

    /// Refuses a batch of `shape` (`what`: where it comes from, for the message) whose step
    /// this process cannot hold ([`Error::Memory`]).
    pub fn check(&self, shape: Shape, what: &str) -> Result<()> {
        let need = self.bytes(shape);
        match memory_limit() {
            Some((have, which)) if need > have => Err(Error::Memory(format!(
                "{}: a training step on {what} ({} nodes, {} edges) needs about {:.1} GiB \
                 (parameters and optimiser state {:.2} GiB, activations {:.1} GiB), more than \
                 the {:.1} GiB {which}: choose smaller model sizes, a smaller batch_size, or \
                 fewer edges (dataset.graph)",
                self.sizes,
                shape.nodes,
                shape.edges,
                gib(need),
                gib(self.fixed),
                gib(need - self.fixed),
                gib(have)
            ))),
            _ => Ok(()),
        }
    }
}
