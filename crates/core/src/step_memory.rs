//! What a model's training step holds in memory for one padded batch (checked against what this
//! process can have by `geobatch_process::memory::check_step` before the step).

use crate::Shape;

/// What a model's training step holds for one padded batch: its parameters' state and the
/// activations kept for the backward pass, per edge and per node. The runner checks it against
/// the memory this process can have for the largest batch its batcher can make (the budget) before the first
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
}
