//! A batch plan: which graphs go into the next batch and the padded shape it gets.

use crate::Shape;
use crate::graph::GraphSize;

/// The output of a batcher: graph indices (into the split) of the next batch and its padded
/// [`Shape`]. Reused between steps; batchers fill it with [`Plan::clear`] and [`Plan::push`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Graph indices in batch order.
    pub graphs: Vec<u32>,
    /// Real content: summed nodes and edges of `graphs`, and their count.
    pub real: Shape,
    /// Padded shape the batch is collated to.
    pub padded: Shape,
}

impl Plan {
    /// Empties the plan, keeping its capacity.
    #[inline]
    pub fn clear(&mut self) {
        self.graphs.clear();
        self.real = Shape::default();
        self.padded = Shape::default();
    }

    /// Adds a graph to the plan and its size to the real content.
    #[inline]
    pub fn push(&mut self, index: u32, size: GraphSize) {
        self.graphs.push(index);
        self.real.nodes += size.nodes as usize;
        self.real.edges += size.edges as usize;
        self.real.graphs += 1;
    }

    /// Whether the plan holds no graph.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.graphs.is_empty()
    }
}
