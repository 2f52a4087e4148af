//! The padded host batch, reused between steps, and collation of a [`Plan`] into it.
//!
//! Layout (jraph's `pad_with_graphs`, spec §1.8): real graphs first, concatenated; then the first
//! padding graph owns every padding node and every padding edge; further padding graphs are empty.
//! Padding edges have sender = receiver = the first padding node. Padding features are zero
//! (species class 0, zero positions, zero edge vectors, zero targets). Edges are sorted by receiver
//! across the whole batch, padding edges last.

use crate::error::{Error, Result};
use crate::graph::{Edges, GraphSet};
use crate::plan::Plan;
use crate::shape::Shape;

/// A padded batch on the host. Buffers are reused: once they have grown to the largest shape seen,
/// collation allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct GraphBatch {
    /// Species class index of every node (padding: 0).
    pub species: Vec<u32>,
    /// Position of every node (padding: zeros).
    pub positions: Vec<[f32; 3]>,
    /// Graph index (within the batch) of every node; padding nodes belong to the first padding graph.
    pub node_graph: Vec<u32>,
    /// Absolute sender node of every edge.
    pub senders: Vec<u32>,
    /// Absolute receiver node of every edge (non-decreasing).
    pub receivers: Vec<u32>,
    /// Receiver minus sender position, periodic image shift included (padding: zeros).
    pub edge_vectors: Vec<[f32; 3]>,
    /// Nodes per graph, padded graphs included.
    pub n_node: Vec<u32>,
    /// Edges per graph, padded graphs included.
    pub n_edge: Vec<u32>,
    /// Targets, graph-major (`graphs x n_targets`; padding: zeros).
    pub targets: Vec<f32>,
    /// True for real graphs, false for padding graphs.
    pub graph_mask: Vec<bool>,
    /// Index in the split of every real graph.
    pub graph_index: Vec<u32>,
    real: Shape,
    padded: Shape,
    n_targets: usize,
    full: FullPatterns,
}

/// Local (sender, receiver) lists of fully connected graphs, one per node count, built on first
/// use: collation of `full` graphs then only offsets and gathers.
#[derive(Debug, Clone, Default)]
struct FullPatterns {
    by_size: Vec<(Vec<u32>, Vec<u32>)>,
}

impl FullPatterns {
    fn get(&mut self, n: usize) -> (&[u32], &[u32]) {
        while self.by_size.len() <= n {
            let m = self.by_size.len() as u32;
            let (mut s, mut r) = (Vec::new(), Vec::new());
            for i in 0..m {
                for j in (0..m).filter(|&j| j != i) {
                    s.push(j);
                    r.push(i);
                }
            }
            self.by_size.push((s, r));
        }
        let (s, r) = &self.by_size[n];
        (s, r)
    }
}

impl GraphBatch {
    /// An empty batch; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Real content of the batch.
    pub fn real(&self) -> Shape {
        self.real
    }

    /// Padded shape of the batch (the array lengths).
    pub fn padded(&self) -> Shape {
        self.padded
    }

    /// Targets per graph.
    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// Number of padding graphs (the jraph mask counts trailing empty graphs plus one).
    pub fn padding_graphs(&self) -> usize {
        self.padded.graphs - self.real.graphs
    }

    /// Collates `plan` over `set` into this batch, padding to `plan.padded`.
    pub fn collate(&mut self, set: &GraphSet, plan: &Plan) -> Result<()> {
        let (real, padded) = (plan.real, plan.padded);
        if !padded.can_pad(&real) {
            return Err(Error::PaddingTooSmall { real, padded });
        }
        let t = set.n_targets();
        self.real = real;
        self.padded = padded;
        self.n_targets = t;
        for v in [
            &mut self.species,
            &mut self.node_graph,
            &mut self.senders,
            &mut self.receivers,
        ] {
            v.clear();
        }
        for v in [&mut self.n_node, &mut self.n_edge, &mut self.graph_index] {
            v.clear();
        }
        self.positions.clear();
        self.edge_vectors.clear();
        self.targets.clear();
        self.graph_mask.clear();

        let positions = set.positions();
        for (b, &g) in plan.graphs.iter().enumerate() {
            let g = g as usize;
            let nodes = set.node_range(g);
            let n = nodes.len();
            let offset = self.species.len() as u32;
            self.species
                .extend_from_slice(&set.species()[nodes.clone()]);
            self.positions.extend_from_slice(&positions[nodes.clone()]);
            self.node_graph.extend(std::iter::repeat_n(b as u32, n));
            let size = set.sizes()[g];
            match set.edges() {
                Edges::Full => {
                    let (ps, pr) = self.full.get(n);
                    let p = &positions[nodes];
                    self.senders.extend(ps.iter().map(|&j| j + offset));
                    self.receivers.extend(pr.iter().map(|&i| i + offset));
                    self.edge_vectors.extend(ps.iter().zip(pr).map(|(&j, &i)| {
                        let (a, b) = (p[i as usize], p[j as usize]);
                        [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
                    }));
                }
                Edges::Stored {
                    offsets,
                    senders,
                    receivers,
                    vectors,
                } => {
                    let e = offsets[g] as usize..offsets[g + 1] as usize;
                    self.senders
                        .extend(senders[e.clone()].iter().map(|s| s + offset));
                    self.receivers
                        .extend(receivers[e.clone()].iter().map(|r| r + offset));
                    self.edge_vectors.extend_from_slice(&vectors[e]);
                }
            }
            self.n_node.push(size.nodes);
            self.n_edge.push(size.edges);
            self.targets.extend_from_slice(set.targets(g));
            self.graph_mask.push(true);
            self.graph_index.push(g as u32);
        }
        debug_assert_eq!(self.species.len(), real.nodes);
        debug_assert_eq!(self.senders.len(), real.edges);

        // Padding: the first padding graph takes every padding node and edge.
        let (pad_nodes, pad_edges) = (padded.nodes - real.nodes, padded.edges - real.edges);
        let first_pad_node = real.nodes as u32;
        self.species.resize(padded.nodes, 0);
        self.positions.resize(padded.nodes, [0.0; 3]);
        self.node_graph.resize(padded.nodes, real.graphs as u32);
        self.senders.resize(padded.edges, first_pad_node);
        self.receivers.resize(padded.edges, first_pad_node);
        self.edge_vectors.resize(padded.edges, [0.0; 3]);
        self.n_node.push(pad_nodes as u32);
        self.n_edge.push(pad_edges as u32);
        self.n_node.resize(padded.graphs, 0);
        self.n_edge.resize(padded.graphs, 0);
        self.targets.resize(padded.graphs * t, 0.0);
        self.graph_mask.resize(padded.graphs, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphSetBuilder, GraphSize};
    use crate::rules::GraphRule;

    fn set() -> GraphSet {
        let mut b = GraphSetBuilder::new(vec!["y".into()]);
        b.push("a", &[6, 1], &[[0.0; 3], [1.0, 0.0, 0.0]], None, &[1.5])
            .unwrap();
        b.push(
            "b",
            &[1, 1, 8],
            &[[0.0; 3], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            None,
            &[-2.0],
        )
        .unwrap();
        b.build(&GraphRule::Full, None).unwrap()
    }

    fn plan(set: &GraphSet, graphs: &[u32], padded: Shape) -> Plan {
        let mut p = Plan::default();
        for &g in graphs {
            p.push(g, set.sizes()[g as usize]);
        }
        p.padded = padded;
        p
    }

    #[test]
    fn jraph_padding_layout() {
        let set = set();
        let mut batch = GraphBatch::new();
        batch
            .collate(&set, &plan(&set, &[1, 0], Shape::new(8, 10, 4)))
            .unwrap();
        assert_eq!(batch.real(), Shape::new(5, 8, 2));
        assert_eq!(batch.n_node, vec![3, 2, 3, 0]);
        assert_eq!(batch.n_edge, vec![6, 2, 2, 0]);
        assert_eq!(batch.node_graph, vec![0, 0, 0, 1, 1, 2, 2, 2]);
        assert_eq!(batch.species, vec![1, 1, 2, 0, 1, 0, 0, 0]);
        // graph 0 (split graph 1) edges, then graph 1 with node offset 3, then padding on node 5
        assert_eq!(batch.receivers, vec![0, 0, 1, 1, 2, 2, 3, 4, 5, 5]);
        assert_eq!(batch.senders, vec![1, 2, 0, 2, 0, 1, 4, 3, 5, 5]);
        assert_eq!(batch.edge_vectors[7], [1.0, 0.0, 0.0]);
        assert_eq!(batch.edge_vectors[9], [0.0; 3]);
        assert_eq!(batch.targets, vec![-2.0, 1.5, 0.0, 0.0]);
        assert_eq!(batch.graph_mask, vec![true, true, false, false]);
        assert_eq!(batch.graph_index, vec![1, 0]);
        assert_eq!(batch.padding_graphs(), 2);
    }

    #[test]
    fn padding_must_be_strict_for_nodes_and_graphs_only() {
        let set = set();
        let mut batch = GraphBatch::new();
        assert!(
            batch
                .collate(&set, &plan(&set, &[0], Shape::new(2, 2, 2)))
                .is_err()
        );
        assert!(
            batch
                .collate(&set, &plan(&set, &[0], Shape::new(3, 1, 2)))
                .is_err()
        );
        assert!(
            batch
                .collate(&set, &plan(&set, &[0], Shape::new(3, 2, 1)))
                .is_err()
        );
        batch
            .collate(&set, &plan(&set, &[0], Shape::new(3, 2, 2)))
            .unwrap();
        assert_eq!(batch.n_edge, vec![2, 0]);
        assert_eq!(batch.n_node, vec![2, 1]);
    }

    #[test]
    fn reuse_does_not_reallocate() {
        let set = set();
        let mut batch = GraphBatch::new();
        let p = plan(&set, &[0, 1], Shape::new(64, 64, 3));
        batch.collate(&set, &p).unwrap();
        let (ptr, cap) = (batch.senders.as_ptr(), batch.senders.capacity());
        batch
            .collate(&set, &plan(&set, &[1], Shape::new(64, 64, 3)))
            .unwrap();
        batch.collate(&set, &p).unwrap();
        assert_eq!(
            (batch.senders.as_ptr(), batch.senders.capacity()),
            (ptr, cap)
        );
        let _ = GraphSize::default();
    }
}
