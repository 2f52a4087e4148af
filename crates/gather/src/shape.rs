//! Padded batch shapes and batching budgets.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The (nodes, edges, graphs) triple of a batch, real or padded.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, PartialOrd, Ord,
)]
pub struct Shape {
    /// Number of nodes.
    pub nodes: usize,
    /// Number of directed edges.
    pub edges: usize,
    /// Number of graphs.
    pub graphs: usize,
}

impl Shape {
    /// A shape from its three counts.
    #[inline]
    pub const fn new(nodes: usize, edges: usize, graphs: usize) -> Self {
        Shape {
            nodes,
            edges,
            graphs,
        }
    }

    /// Whether a padded shape `self` can hold `real` content under the jraph rules
    /// (nodes and graphs strictly larger, edges at least as many).
    pub fn can_pad(&self, real: &Shape) -> bool {
        self.nodes > real.nodes && self.edges >= real.edges && self.graphs > real.graphs
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({} nodes, {} edges, {} graphs)",
            self.nodes, self.edges, self.graphs
        )
    }
}

/// A batching budget: the padded shape every batch of a budgeted batcher gets.
///
/// The real content of a batch may use at most `nodes - 1` nodes, `edges` edges and
/// `graphs - 1` graphs, so that one node and one graph are always left for padding.
pub type Budget = Shape;

impl Shape {
    /// Whether `real` content respects this shape used as a budget.
    #[inline]
    pub fn admits(&self, real: &Shape) -> bool {
        real.nodes < self.nodes && real.edges <= self.edges && real.graphs < self.graphs
    }
}
