//! The padded host batch, reused between steps, and collation of a [`Plan`] into it.
//!
//! Layout (jraph's `pad_with_graphs`, spec §1.8): real graphs first, concatenated; then the first
//! padding graph owns every padding node and every padding edge; further padding graphs are empty.
//! Padding edges have sender = receiver = the first padding node. Padding features are zero
//! (species class 0, zero positions, zero edge vectors, zero targets). Edges are sorted by receiver
//! across the whole batch, padding edges last.
//!
//! Edge vectors are carried only where they are data: a set that stores its edges (periodic image
//! shifts) has them copied at collation; fully connected graphs' vectors are the positions'
//! differences, made where they are read ([`GraphBatch::edge_vectors`]), so the batching step writes
//! no per-edge geometry for them (as the study's reference batch holds no vectors, and PyG's
//! models make distances from `pos`).

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::gather::{self, EdgeSource, FullPatterns, IndexOut, Outputs, Rows, RowsOut, Store};
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
    /// Stored edges' vectors (empty when the graphs are fully connected: see `edge_vectors`).
    stored_vectors: Vec<[f32; 3]>,
    real: Shape,
    padded: Shape,
    n_targets: usize,
    full: FullPatterns,
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

    /// Receiver minus sender position of every edge, periodic image shift included (padding:
    /// zeros): the stored vectors, borrowed, or for fully connected graphs made from the positions
    /// (bit for bit what a collation that wrote them would have written).
    pub fn edge_vectors(&self) -> Cow<'_, [[f32; 3]]> {
        if self.stored_vectors.len() == self.senders.len() {
            return Cow::Borrowed(&self.stored_vectors);
        }
        let p = &self.positions;
        let made = self
            .senders
            .iter()
            .zip(&self.receivers)
            .map(|(&s, &r)| {
                let (a, b) = (p[r as usize], p[s as usize]);
                [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
            })
            .collect();
        Cow::Owned(made)
    }

    /// Collates `plan` over `set` into this batch, padding to `plan.padded`, through the one
    /// collation engine ([`gather::collate`]).
    pub fn collate(&mut self, set: &GraphSet, plan: &Plan) -> Result<()> {
        let (real, padded) = (plan.real, plan.padded);
        if !padded.can_pad(&real) {
            return Err(Error::PaddingTooSmall { real, padded });
        }
        let t = set.n_targets();
        self.resize_to(padded, t, !matches!(set.edges(), Edges::Full));
        if matches!(set.edges(), Edges::Full) {
            let largest = plan
                .graphs
                .iter()
                .map(|&g| set.node_range(g as usize).len());
            self.full.cover(largest.max().unwrap_or(0));
        }
        let cols = SetColumns::of(set);
        let mut node_out = [
            RowsOut {
                bytes: bytemuck::cast_slice_mut(&mut self.species),
                row_bytes: 4,
            },
            RowsOut {
                bytes: bytemuck::cast_slice_mut(&mut self.positions),
                row_bytes: 12,
            },
        ];
        let mut graph_out = [RowsOut {
            bytes: bytemuck::cast_slice_mut(&mut self.targets),
            row_bytes: 4 * t,
        }];
        // stored edges: their vectors copied as an edge column; full graphs: none (made on read)
        let mut edge_out = cols.edge_rows.map(|_| {
            [RowsOut {
                bytes: bytemuck::cast_slice_mut(&mut self.stored_vectors),
                row_bytes: 12,
            }]
        });
        let mut out = Outputs {
            node_rows: &mut node_out,
            edge_rows: edge_out.as_mut().map_or(&mut [], |r| r.as_mut_slice()),
            graph_rows: if t == 0 { &mut [] } else { &mut graph_out },
            senders: IndexOut::U32(&mut self.senders),
            receivers: IndexOut::U32(&mut self.receivers),
            node_graph: IndexOut::U32(&mut self.node_graph),
            n_node: IndexOut::U32(&mut self.n_node),
            n_edge: IndexOut::U32(&mut self.n_edge),
            graph_mask: &mut self.graph_mask,
        };
        let collated = gather::collate(&cols.store(t), &self.full, &plan.graphs, padded, &mut out)?;
        debug_assert_eq!(collated, real);
        self.graph_index.clear();
        self.graph_index.extend_from_slice(&plan.graphs);
        self.real = real;
        self.padded = padded;
        self.n_targets = t;
        Ok(())
    }

    /// Sets every buffer's length to the padded shape (the engine writes every row of it);
    /// allocates only when a buffer grows past its capacity.
    fn resize_to(&mut self, padded: Shape, t: usize, stored_edges: bool) {
        self.species.resize(padded.nodes, 0);
        self.positions.resize(padded.nodes, [0.0; 3]);
        self.node_graph.resize(padded.nodes, 0);
        self.senders.resize(padded.edges, 0);
        self.receivers.resize(padded.edges, 0);
        self.stored_vectors
            .resize(if stored_edges { padded.edges } else { 0 }, [0.0; 3]);
        self.n_node.resize(padded.graphs, 0);
        self.n_edge.resize(padded.graphs, 0);
        self.targets.resize(padded.graphs * t, 0.0);
        self.graph_mask.resize(padded.graphs, false);
    }
}

/// A graph set's columns as the collation engine reads them: species and positions per node,
/// targets per graph, and the edges (full, or stored with their vectors as an edge column).
struct SetColumns<'a> {
    node_offsets: &'a [u32],
    node_rows: [Rows<'a>; 2],
    graph_rows: [Rows<'a>; 1],
    edges: EdgeSource<'a, u64, u32>,
    edge_rows: Option<[Rows<'a>; 1]>,
}

impl<'a> SetColumns<'a> {
    fn of(set: &'a GraphSet) -> Self {
        let rows = |bytes: &'a [u8], row_bytes| Rows { bytes, row_bytes };
        let (edges, edge_rows) = match set.edges() {
            Edges::Full => (EdgeSource::Full, None),
            Edges::Stored {
                offsets,
                senders,
                receivers,
                vectors,
            } => {
                let stored = EdgeSource::Stored {
                    offsets: offsets.as_slice(),
                    senders: senders.as_slice(),
                    receivers: receivers.as_slice(),
                    full: &[],
                };
                (stored, Some([rows(bytemuck::cast_slice(vectors), 12)]))
            }
        };
        SetColumns {
            node_offsets: set.node_offsets(),
            node_rows: [
                rows(bytemuck::cast_slice(set.species()), 4),
                rows(bytemuck::cast_slice(set.positions()), 12),
            ],
            graph_rows: [rows(
                bytemuck::cast_slice(set.all_targets()),
                4 * set.n_targets(),
            )],
            edges,
            edge_rows,
        }
    }

    /// The engine's store over these columns (`t` targets per graph; none: no graph column).
    fn store(&self, t: usize) -> Store<'_, u32, u64, u32> {
        Store {
            node_offsets: self.node_offsets,
            edges: self.edges,
            node_rows: &self.node_rows,
            edge_rows: self.edge_rows.as_ref().map_or(&[], |r| r.as_slice()),
            graph_rows: if t == 0 { &[] } else { &self.graph_rows },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Cell, GraphSetBuilder, GraphSize};
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
        assert_eq!(batch.edge_vectors()[7], [1.0, 0.0, 0.0]);
        assert_eq!(batch.edge_vectors()[9], [0.0; 3]);
        assert_eq!(batch.targets, vec![-2.0, 1.5, 0.0, 0.0]);
        assert_eq!(batch.graph_mask, vec![true, true, false, false]);
        assert_eq!(batch.graph_index, vec![1, 0]);
        assert_eq!(batch.padding_graphs(), 2);
    }

    #[test]
    fn full_graphs_vectors_are_made_from_positions_stored_ones_are_copied() {
        let set = set();
        let mut batch = GraphBatch::new();
        batch
            .collate(&set, &plan(&set, &[1, 0], Shape::new(8, 10, 4)))
            .unwrap();
        assert!(
            batch.stored_vectors.is_empty(),
            "full graphs write no vectors"
        );
        let made = batch.edge_vectors();
        for e in 0..10 {
            let (s, r) = (batch.senders[e] as usize, batch.receivers[e] as usize);
            let (a, b) = (batch.positions[r], batch.positions[s]);
            assert_eq!(made[e], [a[0] - b[0], a[1] - b[1], a[2] - b[2]]);
        }
        // one atom in a 2 A cubic cell: its only neighbours within 2.5 A are its own images,
        // whose vectors are the image shifts (zero from the positions alone)
        let mut b = GraphSetBuilder::new(vec!["y".into()]);
        let lattice = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]];
        b.push(
            "x",
            &[6],
            &[[0.5; 3]],
            Some(Cell::periodic(lattice)),
            &[1.0],
        )
        .unwrap();
        let periodic = b.build(&GraphRule::Cutoff { radius: 2.5 }, None).unwrap();
        let m = periodic.sizes()[0].edges as usize;
        assert_eq!(m, 6);
        batch
            .collate(&periodic, &plan(&periodic, &[0], Shape::new(2, m + 2, 2)))
            .unwrap();
        let stored = batch.edge_vectors();
        assert!(matches!(stored, Cow::Borrowed(_)));
        let mut lengths: Vec<f32> = stored[..m]
            .iter()
            .map(|v| v.iter().map(|x| x * x).sum::<f32>().sqrt())
            .collect();
        lengths.dedup();
        assert_eq!(lengths, vec![2.0]);
        assert_eq!(stored[m..], [[0.0; 3]; 2]);
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
