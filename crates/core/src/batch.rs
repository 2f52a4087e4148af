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

use crate::Shape;
use crate::error::Result;
use crate::graph::{Edges, GraphSet, LabelKinds};
use crate::plan::Plan;
use geobatch_gather::{
    self as gather, EdgeSource, FullPatterns, IndexOut, Outputs, PaddedColumns, Rows, RowsOut,
    Store,
};

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
            return Err(geobatch_gather::Error::PaddingTooSmall { real, padded }.into());
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
            columns: PaddedColumns {
                node_rows: &mut node_out[..cols.node_count],
                edge_rows: &mut edge_out[..cols.edge_count],
                graph_rows: if t == 0 { &mut [] } else { &mut graph_out },
                senders: IndexOut::U32(&mut self.senders),
                receivers: IndexOut::U32(&mut self.receivers),
                n_node: IndexOut::U32(&mut self.n_node),
                n_edge: IndexOut::U32(&mut self.n_edge),
            },
            node_graph: IndexOut::U32(&mut self.node_graph),
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
            Edges::Stored(e) => {
                let stored = EdgeSource::Stored {
                    offsets: &e.offsets,
                    senders: &e.senders,
                    receivers: &e.receivers,
                    full: &[],
                };
                let cols = [
                    rows(bytemuck::cast_slice(&e.vectors), 12),
                    rows(bytemuck::cast_slice(&e.shifts), 12),
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
