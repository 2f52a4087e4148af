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
use crate::graph::{Edges, GraphSet, LabelKinds};
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
    /// Force on every node (eV/Angstrom; padding: zeros) when the set carries forces; empty
    /// otherwise.
    pub forces: Vec<[f32; 3]>,
    /// Image shift `S` of every edge (`vector = x_receiver - (x_sender + S . cell)`; padding and
    /// fully connected graphs: zeros) when the set carries forces or stress; empty otherwise.
    pub shifts: Vec<[i32; 3]>,
    /// Lattice vectors (rows) of every graph, row-major 3x3 (molecules and padding: zeros),
    /// when the set carries forces or stress; empty otherwise.
    pub cells: Vec<[f32; 9]>,
    /// Stress of every graph, row-major 3x3 (eV/Angstrom^3; unknown and padding: zeros), when
    /// the set carries stress; empty otherwise.
    pub stress: Vec<[f32; 9]>,
    /// 1 where a graph's stress is known, 0 elsewhere (padding included), when the set carries
    /// stress; empty otherwise.
    pub stress_weight: Vec<f32>,
    /// Stored edges' vectors (empty when the graphs are fully connected: see `edge_vectors`).
    stored_vectors: Vec<[f32; 3]>,
    real: Shape,
    padded: Shape,
    n_targets: usize,
    labels: LabelKinds,
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

    /// Which labels beyond the targets the batch carries (those of its set).
    pub fn labels(&self) -> LabelKinds {
        self.labels
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
        let labels = set.labels();
        self.resize_to(padded, t, !matches!(set.edges(), Edges::Full), labels);
        if matches!(set.edges(), Edges::Full) {
            let largest = plan
                .graphs
                .iter()
                .map(|&g| set.node_range(g as usize).len());
            self.full.cover(largest.max().unwrap_or(0));
        }
        let cols = SetColumns::of(set);
        // species, positions, then forces where the set carries them (the same columns as the
        // set's, in its order)
        let mut node_out = [
            RowsOut {
                bytes: bytemuck::cast_slice_mut(&mut self.species),
                row_bytes: 4,
            },
            RowsOut {
                bytes: bytemuck::cast_slice_mut(&mut self.positions),
                row_bytes: 12,
            },
            RowsOut {
                bytes: bytemuck::cast_slice_mut(&mut self.forces),
                row_bytes: 12,
            },
        ];
        let mut graph_out = [RowsOut {
            bytes: bytemuck::cast_slice_mut(&mut self.targets),
            row_bytes: 4 * t,
        }];
        // stored edges: their vectors (and, with labels, image shifts) copied as edge columns;
        // full graphs: none (made on read)
        let mut edge_out = [
            RowsOut {
                bytes: bytemuck::cast_slice_mut(&mut self.stored_vectors),
                row_bytes: 12,
            },
            RowsOut {
                bytes: bytemuck::cast_slice_mut(&mut self.shifts),
                row_bytes: 12,
            },
        ];
        let mut out = Outputs {
            node_rows: &mut node_out[..cols.node_count],
            edge_rows: &mut edge_out[..cols.edge_count],
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
        self.labels = labels;
        self.graph_labels(set, &plan.graphs);
        Ok(())
    }

    /// The per-graph rows of a set with labels (cells; stress and whether it is known), real
    /// graphs first and zeros after: a few rows a graph, written here rather than as columns.
    fn graph_labels(&mut self, set: &GraphSet, graphs: &[u32]) {
        if !self.labels.any() {
            return;
        }
        self.cells.fill([0.0; 9]);
        for (b, &g) in graphs.iter().enumerate() {
            let l = set.cell(g as usize).lattice;
            self.cells[b] = std::array::from_fn(|k| l[k / 3][k % 3] as f32);
        }
        if !self.labels.stress {
            return;
        }
        self.stress.fill([0.0; 9]);
        self.stress_weight.fill(0.0);
        for (b, &g) in graphs.iter().enumerate() {
            if let Some(s) = set.stress(g as usize) {
                self.stress[b] = *s;
                self.stress_weight[b] = 1.0;
            }
        }
    }

    /// Sets every buffer's length to the padded shape (the engine writes every row of it);
    /// allocates only when a buffer grows past its capacity.
    fn resize_to(&mut self, padded: Shape, t: usize, stored_edges: bool, labels: LabelKinds) {
        let some = |yes: bool, n: usize| if yes { n } else { 0 };
        self.forces
            .resize(some(labels.forces, padded.nodes), [0.0; 3]);
        // fully connected graphs (molecules) have no image: their shifts stay zero
        self.shifts.clear();
        self.shifts.resize(some(labels.any(), padded.edges), [0; 3]);
        self.cells
            .resize(some(labels.any(), padded.graphs), [0.0; 9]);
        self.stress
            .resize(some(labels.stress, padded.graphs), [0.0; 9]);
        self.stress_weight
            .resize(some(labels.stress, padded.graphs), 0.0);
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
    /// Species, positions and (the first `node_count` used) forces.
    node_rows: [Rows<'a>; 3],
    node_count: usize,
    graph_rows: [Rows<'a>; 1],
    edges: EdgeSource<'a, u64, u32>,
    /// Vectors and image shifts of stored edges (the first `edge_count` used).
    edge_rows: [Rows<'a>; 2],
    edge_count: usize,
}

impl<'a> SetColumns<'a> {
    fn of(set: &'a GraphSet) -> Self {
        let rows = |bytes: &'a [u8], row_bytes| Rows { bytes, row_bytes };
        let labels = set.labels();
        let (edges, edge_rows, edge_count) = match set.edges() {
            Edges::Full => (EdgeSource::Full, [rows(&[], 12), rows(&[], 12)], 0),
            Edges::Stored {
                offsets,
                senders,
                receivers,
                vectors,
                shifts,
            } => {
                let stored = EdgeSource::Stored {
                    offsets: offsets.as_slice(),
                    senders: senders.as_slice(),
                    receivers: receivers.as_slice(),
                    full: &[],
                };
                let cols = [
                    rows(bytemuck::cast_slice(vectors), 12),
                    rows(bytemuck::cast_slice(shifts), 12),
                ];
                (stored, cols, if labels.any() { 2 } else { 1 })
            }
        };
        SetColumns {
            node_offsets: set.node_offsets(),
            node_rows: [
                rows(bytemuck::cast_slice(set.species()), 4),
                rows(bytemuck::cast_slice(set.positions()), 12),
                rows(bytemuck::cast_slice(set.forces().unwrap_or(&[])), 12),
            ],
            node_count: if labels.forces { 3 } else { 2 },
            graph_rows: [rows(
                bytemuck::cast_slice(set.all_targets()),
                4 * set.n_targets(),
            )],
            edges,
            edge_rows,
            edge_count,
        }
    }

    /// The engine's store over these columns (`t` targets per graph; none: no graph column).
    fn store(&self, t: usize) -> Store<'_, u32, u64, u32> {
        Store {
            node_offsets: self.node_offsets,
            edges: self.edges,
            node_rows: &self.node_rows[..self.node_count],
            edge_rows: &self.edge_rows[..self.edge_count],
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

    /// Two periodic cells with forces, the second with a stress, under a cutoff.
    fn labelled() -> GraphSet {
        use crate::graph::{AtomLabels, LabelKinds};
        let mut b = GraphSetBuilder::new(vec!["energy".into()]).carrying(LabelKinds {
            forces: true,
            stress: true,
        });
        let cell = |a: f64| Cell {
            lattice: [[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]],
            pbc: [true; 3],
        };
        let f1 = [[0.5, -1.0, 2.0]];
        b.push_labelled(
            "one",
            &[29],
            &[[0.1, 0.2, 0.3]],
            Some(cell(2.5)),
            &[-3.0],
            AtomLabels {
                forces: Some(&f1),
                stress: None,
            },
        )
        .unwrap();
        let f2 = [[1.0, 0.0, 0.0], [-1.0, 0.25, 0.0]];
        let s2 = [[0.1, 0.2, 0.3], [0.2, 0.4, 0.5], [0.3, 0.5, 0.6]];
        b.push_labelled(
            "two",
            &[29, 29],
            &[[0.0; 3], [1.4, 1.4, 0.0]],
            Some(cell(2.9)),
            &[-7.0],
            AtomLabels {
                forces: Some(&f2),
                stress: Some(s2),
            },
        )
        .unwrap();
        b.build(&GraphRule::Cutoff { radius: 3.0 }, None).unwrap()
    }

    #[test]
    fn forces_shifts_cells_and_stress_are_collated_and_padding_is_zero() {
        let labelled = labelled();
        let set = &labelled;
        assert_eq!(set.stress(0), None);
        assert!(set.stress(1).is_some());
        let real = Shape::new(
            3,
            set.sizes()[0].edges as usize + set.sizes()[1].edges as usize,
            2,
        );
        let padded = Shape::new(real.nodes + 2, real.edges + 5, 4);
        let mut batch = GraphBatch::new();
        batch.collate(set, &plan(set, &[1, 0], padded)).unwrap();
        assert_eq!(
            batch.forces[..3],
            [[1.0, 0.0, 0.0], [-1.0, 0.25, 0.0], [0.5, -1.0, 2.0]]
        );
        assert!(batch.forces[3..].iter().all(|f| *f == [0.0; 3]));
        assert_eq!(batch.stress_weight, vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(
            batch.stress[0],
            [0.1, 0.2, 0.3, 0.2, 0.4, 0.5, 0.3, 0.5, 0.6]
        );
        assert!(batch.stress[1..].iter().all(|s| *s == [0.0; 9]));
        assert_eq!(batch.cells[0][0], 2.9);
        assert_eq!(batch.cells[1][8], 2.5);
        assert!(batch.cells[2..].iter().all(|c| *c == [0.0; 9]));
        // every edge's vector is rebuilt from positions, its image shift and its graph's cell
        let v = batch.edge_vectors();
        for e in 0..real.edges {
            let (s, r) = (batch.senders[e] as usize, batch.receivers[e] as usize);
            let c = &batch.cells[batch.node_graph[r] as usize];
            let sh = batch.shifts[e];
            for k in 0..3 {
                let image: f32 = (0..3).map(|m| sh[m] as f32 * c[m * 3 + k]).sum();
                let rebuilt = batch.positions[r][k] - batch.positions[s][k] - image;
                assert!(
                    (rebuilt - v[e][k]).abs() < 1e-5,
                    "edge {e}: {rebuilt} vs {}",
                    v[e][k]
                );
            }
        }
        assert!(
            batch.shifts.iter().any(|s| *s != [0; 3]),
            "a periodic image is an edge"
        );
        assert!(batch.shifts[real.edges..].iter().all(|s| *s == [0; 3]));
        // a set without labels collates none
        let plain = self::set();
        batch
            .collate(&plain, &plan(&plain, &[0], Shape::new(8, 10, 4)))
            .unwrap();
        assert!(batch.forces.is_empty() && batch.shifts.is_empty() && batch.cells.is_empty());
    }

    #[test]
    fn labels_are_checked_as_they_are_pushed() {
        use crate::graph::{AtomLabels, LabelKinds};
        let carrying = LabelKinds {
            forces: true,
            stress: true,
        };
        let mut b = GraphSetBuilder::new(vec!["energy".into()]).carrying(carrying);
        let p = [[0.0; 3], [1.0, 0.0, 0.0]];
        let push = |b: &mut GraphSetBuilder, labels: AtomLabels<'_>| {
            b.push_labelled("x", &[1, 1], &p, None, &[0.0], labels)
                .unwrap_err()
                .to_string()
        };
        let e = push(&mut b, AtomLabels::default());
        assert!(e.contains("no forces"), "{e}");
        let e = push(
            &mut b,
            AtomLabels {
                forces: Some(&[[0.0; 3]]),
                stress: None,
            },
        );
        assert!(e.contains("1 force rows for 2 atoms"), "{e}");
        let nan = [[0.0; 3], [f64::NAN, 0.0, 0.0]];
        let e = push(
            &mut b,
            AtomLabels {
                forces: Some(&nan),
                stress: None,
            },
        );
        assert!(e.contains("atom 1") && e.contains("not finite"), "{e}");
        let ok = [[0.0; 3]; 2];
        let e = push(
            &mut b,
            AtomLabels {
                forces: Some(&ok),
                stress: Some([[0.0; 3]; 3]),
            },
        );
        assert!(e.contains("not periodic"), "{e}");
        assert!(b.is_empty(), "nothing refused was kept");
        let mut plain = GraphSetBuilder::new(vec!["energy".into()]);
        let e = push(
            &mut plain,
            AtomLabels {
                forces: Some(&ok),
                stress: None,
            },
        );
        assert!(e.contains("carries none"), "{e}");
    }
}
