//! Column-wise storage of one dataset split: [`GraphSet`], its sizes and labels. Sets are built
//! from structures by `geobatch-geometry`'s `GraphSetBuilder`, which hands its columns over as
//! [`GraphParts`].

pub use crate::cell::Cell;

mod in_place;

use crate::column::Column;
use crate::error::{Error, Result};
use crate::rules::GraphRule;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;

/// Node and edge count of one graph, what batchers plan with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GraphSize {
    /// Number of nodes (atoms).
    pub nodes: u32,
    /// Number of directed edges.
    pub edges: u32,
}

/// Mean and largest node and edge counts of a set of graphs: what budgets are sized from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeStats {
    /// Mean nodes per graph.
    pub mean_nodes: f64,
    /// Mean edges per graph.
    pub mean_edges: f64,
    /// Largest node count.
    pub max_nodes: u32,
    /// Largest edge count.
    pub max_edges: u32,
}

impl SizeStats {
    /// The statistics of `sizes`; `None` when there is no graph.
    pub fn of(sizes: &[GraphSize]) -> Option<Self> {
        if sizes.is_empty() {
            return None;
        }
        let n = sizes.len() as f64;
        Some(SizeStats {
            mean_nodes: sizes.iter().map(|s| f64::from(s.nodes)).sum::<f64>() / n,
            mean_edges: sizes.iter().map(|s| f64::from(s.edges)).sum::<f64>() / n,
            max_nodes: sizes.iter().map(|s| s.nodes).max().unwrap_or(0),
            max_edges: sizes.iter().map(|s| s.edges).max().unwrap_or(0),
        })
    }
}

/// How a [`GraphSet`] holds its edges.
#[derive(Debug, Clone, PartialEq)]
pub enum Edges {
    /// Every ordered pair of distinct nodes; generated at collation (fully connected molecules).
    Full,
    /// Edges computed once at load, contiguous per graph and sorted by receiver.
    Stored(StoredEdges),
}

/// Edges computed once at load, contiguous per graph and sorted by receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEdges {
    /// Edge offsets per graph (graphs + 1 entries).
    pub offsets: Vec<u64>,
    /// Sender of each edge, as a node index local to its graph.
    pub senders: Column<u32>,
    /// Receiver of each edge, local to its graph; non-decreasing within a graph.
    pub receivers: Column<u32>,
    /// Receiver minus sender position, including the periodic image shift (Angstrom).
    pub vectors: Column<[f32; 3]>,
    /// The sender's integer lattice translation `S` of every edge (zero in molecules):
    /// `vector = x_receiver - (x_sender + S . lattice)`; kept only in a set with a
    /// potential's labels (empty otherwise).
    pub shifts: Column<[i32; 3]>,
}

impl Default for StoredEdges {
    /// No graph's edges: one offset, 0.
    fn default() -> Self {
        StoredEdges {
            offsets: vec![0],
            senders: Column::default(),
            receivers: Column::default(),
            vectors: Column::default(),
            shifts: Column::default(),
        }
    }
}

impl StoredEdges {
    /// The edge range of graph `g`.
    pub fn range(&self, g: usize) -> std::ops::Range<usize> {
        self.offsets[g] as usize..self.offsets[g + 1] as usize
    }

    /// Whether the columns agree with each other and with `graphs` graphs.
    fn agree(&self, graphs: usize) -> bool {
        let n = self.senders.len();
        self.offsets.len() == graphs + 1
            && self.offsets.last().is_some_and(|&e| e as usize == n)
            && self.receivers.len() == n
            && self.vectors.len() == n
            && (self.shifts.is_empty() || self.shifts.len() == n)
    }

    /// Graph `g`'s edges of `from` appended.
    fn push_graph(&mut self, from: &StoredEdges, g: usize) {
        let e = from.range(g);
        self.senders
            .to_mut()
            .extend_from_slice(&from.senders[e.clone()]);
        self.receivers
            .to_mut()
            .extend_from_slice(&from.receivers[e.clone()]);
        self.vectors
            .to_mut()
            .extend_from_slice(&from.vectors[e.clone()]);
        if !from.shifts.is_empty() {
            self.shifts.to_mut().extend_from_slice(&from.shifts[e]);
        }
        self.offsets.push(self.senders.len() as u64);
    }
}

/// Which labels beyond the per-graph targets a set carries (DESIGN.md §16).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelKinds {
    /// Per-atom forces (eV/Angstrom), on every structure.
    pub forces: bool,
    /// Per-structure stress (eV/Angstrom^3, ASE's sign), where a structure has one.
    pub stress: bool,
}

impl LabelKinds {
    /// Whether any label beyond the targets is carried.
    pub fn any(self) -> bool {
        self.forces || self.stress
    }
}

/// Why the per-atom rows `rows` (positions, forces: x y z) of structure `what` cannot be used,
/// if they cannot: the first atom with a value that is not finite, named. One rule for every
/// reader and both doors (a NaN force reaching a batch makes the whole loss NaN).
pub fn non_finite_row<T: Copy + Into<f64>>(rows: &[[T; 3]], what: &str) -> Option<String> {
    let i = rows
        .iter()
        .position(|r| r.iter().any(|&x| !x.into().is_finite()))?;
    let r: [f64; 3] = rows[i].map(Into::into);
    Some(format!("the {what} of atom {i} is {r:?}, not finite"))
}

/// One structure's force and stress labels as a reader gives them (ASE's units and signs: forces
/// in eV/Angstrom, stress in eV/Angstrom^3 as `(1/V) dE/d(strain)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AtomLabels<'a> {
    /// The force on every atom.
    pub forces: Option<&'a [[f64; 3]]>,
    /// The 3x3 stress of a periodic structure.
    pub stress: Option<[[f64; 3]; 3]>,
}

/// One dataset split held column-wise: no heap object per graph.
#[derive(Debug, Clone)]
pub struct GraphSet {
    node_offsets: Vec<u32>,
    atomic_numbers: Column<u8>,
    species: Column<u32>,
    positions: Column<[f32; 3]>,
    cells: Vec<Cell>,
    targets: Vec<f32>,
    target_names: Arc<Vec<String>>,
    ids: String,
    id_offsets: Vec<u32>,
    edges: Edges,
    sizes: Vec<GraphSize>,
    species_classes: Arc<Vec<u8>>,
    labels: LabelKinds,
    /// The rule the edges were made by.
    rule: GraphRule,
    /// Per-atom forces when carried (empty otherwise).
    forces: Column<[f32; 3]>,
    /// Per-graph stress, row-major 3x3, when carried (zeros where unknown; empty otherwise).
    stress: Vec<[f32; 9]>,
    /// Whether each graph's stress is known (empty when no stress is carried).
    stress_known: Vec<bool>,
    /// [`GraphSet::alone_atoms`] where known without reading the edges (a store's manifest).
    alone: Option<usize>,
}

/// A set's columns handed over whole by the code that built them (`geobatch-geometry`'s
/// `GraphSetBuilder`); [`GraphSet::from_parts`] checks that they agree.
#[derive(Debug, Clone)]
pub struct GraphParts {
    /// Node offsets per graph (graphs + 1 entries, from 0).
    pub node_offsets: Vec<u32>,
    /// Atomic number of every node.
    pub atomic_numbers: Column<u8>,
    /// Species class of every node (its atomic number's place in `species_classes`).
    pub species: Column<u32>,
    /// Position of every node (Angstrom).
    pub positions: Column<[f32; 3]>,
    /// Cell of every graph.
    pub cells: Vec<Cell>,
    /// Targets, `target_names.len()` per graph.
    pub targets: Vec<f32>,
    /// Names of the target columns.
    pub target_names: Vec<String>,
    /// Graph ids, concatenated.
    pub ids: String,
    /// Id offsets per graph (graphs + 1 entries, from 0).
    pub id_offsets: Vec<u32>,
    /// The edges.
    pub edges: Edges,
    /// Node and edge count of every graph.
    pub sizes: Vec<GraphSize>,
    /// Atomic number of each species class.
    pub species_classes: Vec<u8>,
    /// Which labels the set carries.
    pub labels: LabelKinds,
    /// The rule the edges were made by.
    pub rule: GraphRule,
    /// Per-atom forces when carried (empty otherwise).
    pub forces: Column<[f32; 3]>,
    /// Per-graph stress, row-major 3x3, when carried (empty otherwise).
    pub stress: Vec<[f32; 9]>,
    /// Whether each graph's stress is known (empty when no stress is carried).
    pub stress_known: Vec<bool>,
    /// [`GraphSet::alone_atoms`] where the builder knows it (a store counted it when it was
    /// written): a set read in place is then not read through to count it.
    pub alone: Option<usize>,
}

/// The key of one labelled structure ([`GraphSet::content_key`]): its atomic numbers, float32
/// positions bit for bit, cell, periodicity and targets (FNV-1a, 64 bit). One rule for every
/// reader that keeps each structure once: a reader that has not built its set yet (an import)
/// keys its structures by it too.
pub fn content_key_of(numbers: &[u8], positions: &[[f32; 3]], cell: &Cell, targets: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(numbers);
    for p in positions {
        p.iter().for_each(|x| eat(&x.to_bits().to_le_bytes()));
    }
    cell.lattice
        .iter()
        .flatten()
        .for_each(|x| eat(&x.to_bits().to_le_bytes()));
    eat(&cell.pbc.map(u8::from));
    for t in targets {
        eat(&t.to_bits().to_le_bytes());
    }
    h
}

impl GraphSet {
    /// The set of these columns, once their lengths agree (a builder's slip is an error here,
    /// not a wrong batch later).
    pub fn from_parts(p: GraphParts) -> Result<GraphSet> {
        let graphs = p.cells.len();
        let atoms = p.atomic_numbers.len();
        let edges_agree = match &p.edges {
            Edges::Full => true,
            Edges::Stored(e) => e.agree(graphs),
        };
        let agree = p.node_offsets.len() == graphs + 1
            && p.node_offsets.last().is_some_and(|&n| n as usize == atoms)
            && p.species.len() == atoms
            && p.positions.len() == atoms
            && p.targets.len() == graphs * p.target_names.len()
            && p.id_offsets.len() == graphs + 1
            && p.id_offsets
                .last()
                .is_some_and(|&n| n as usize == p.ids.len())
            && p.sizes.len() == graphs
            && (!p.labels.forces || p.forces.len() == atoms)
            && (!p.labels.stress || (p.stress.len() == graphs && p.stress_known.len() == graphs))
            && edges_agree;
        if !agree {
            return Err(Error::invalid(format!(
                "a graph set's columns do not agree ({graphs} graphs, {atoms} atoms): a bug in \
                 the code that built it"
            )));
        }
        Ok(GraphSet {
            node_offsets: p.node_offsets,
            atomic_numbers: p.atomic_numbers,
            species: p.species,
            positions: p.positions,
            cells: p.cells,
            targets: p.targets,
            target_names: Arc::new(p.target_names),
            ids: p.ids,
            id_offsets: p.id_offsets,
            edges: p.edges,
            sizes: p.sizes,
            species_classes: Arc::new(p.species_classes),
            labels: p.labels,
            rule: p.rule,
            forces: p.forces,
            stress: p.stress,
            stress_known: p.stress_known,
            alone: p.alone,
        })
    }
}

impl GraphSet {
    /// The graph rule the set's edges were made by.
    pub fn rule(&self) -> &GraphRule {
        &self.rule
    }

    /// Which labels beyond the targets the set carries.
    pub fn labels(&self) -> LabelKinds {
        self.labels
    }

    /// The force on every atom (eV/Angstrom), when the set carries forces.
    pub fn forces(&self) -> Option<&[[f32; 3]]> {
        self.labels.forces.then_some(&*self.forces)
    }

    /// Graph `g`'s stress (eV/Angstrom^3, row-major 3x3), when the set carries stress and `g`
    /// has one.
    pub fn stress(&self, g: usize) -> Option<&[f32; 9]> {
        (self.labels.stress && self.stress_known[g]).then(|| &self.stress[g])
    }

    /// Every graph's stress (zeros where unknown) and whether it is known: empty slices when
    /// the set carries no stress.
    pub fn all_stress(&self) -> (&[[f32; 9]], &[bool]) {
        (&self.stress, &self.stress_known)
    }

    /// Graphs whose stress is known (0 when the set carries none).
    pub fn stress_count(&self) -> usize {
        self.stress_known.iter().filter(|&&k| k).count()
    }

    /// Number of graphs.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// Whether the set holds no graph.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Every graph's (nodes, edges), without touching features.
    pub fn sizes(&self) -> &[GraphSize] {
        &self.sizes
    }

    /// Node index range of graph `g` in the node columns.
    pub fn node_range(&self, g: usize) -> Range<usize> {
        self.node_offsets[g] as usize..self.node_offsets[g + 1] as usize
    }

    /// Node offsets per graph (graphs + 1 entries): graph `g` holds nodes `[g]..[g + 1]`.
    pub fn node_offsets(&self) -> &[u32] {
        &self.node_offsets
    }

    /// Species class index of every node (classes in first-seen order, see [`Self::species_classes`]).
    pub fn species(&self) -> &[u32] {
        &self.species
    }

    /// Atomic number of every node.
    pub fn atomic_numbers(&self) -> &[u8] {
        &self.atomic_numbers
    }

    /// Position of every node (Angstrom).
    pub fn positions(&self) -> &[[f32; 3]] {
        &self.positions
    }

    /// Cell of graph `g` (all-zero and non-periodic for molecules).
    pub fn cell(&self, g: usize) -> &Cell {
        &self.cells[g]
    }

    /// Atomic number of each species class, in the order classes were first seen in the dataset.
    pub fn species_classes(&self) -> &[u8] {
        &self.species_classes
    }

    /// Names of the target columns.
    pub fn target_names(&self) -> &[String] {
        &self.target_names
    }

    /// Number of targets per graph.
    pub fn n_targets(&self) -> usize {
        self.target_names.len()
    }

    /// Targets of graph `g`.
    pub fn targets(&self, g: usize) -> &[f32] {
        let t = self.n_targets();
        &self.targets[g * t..(g + 1) * t]
    }

    /// All targets, graph-major.
    pub fn all_targets(&self) -> &[f32] {
        &self.targets
    }

    /// String id of graph `g`.
    pub fn id(&self, g: usize) -> &str {
        &self.ids[self.id_offsets[g] as usize..self.id_offsets[g + 1] as usize]
    }

    /// A key of graph `g` (its atoms, positions bit for bit, cell, periodicity and targets;
    /// FNV-1a, 64 bit): equal for copies of one labelled structure, whatever their ids, so that
    /// a split keeps each once (`geobatch_datafiles::splits::saved_once`). One structure with
    /// two different labels is two graphs.
    pub fn content_key(&self, g: usize) -> u64 {
        let r = self.node_range(g);
        content_key_of(
            &self.atomic_numbers[r.clone()],
            &self.positions[r],
            self.cell(g),
            self.targets(g),
        )
    }

    /// The edge storage.
    pub fn edges(&self) -> &Edges {
        &self.edges
    }

    /// Nodes that receive no edge (an atom alone under a cutoff), over every graph; 0 for full
    /// graphs of two or more nodes. Receivers are sorted within a graph: one pass.
    pub fn isolated_nodes(&self) -> usize {
        (0..self.len()).map(|g| self.isolated_in(g)).sum()
    }

    /// Nodes of graph `g` that receive no edge (receivers are sorted within a graph: one pass).
    fn isolated_in(&self, g: usize) -> usize {
        match &self.edges {
            Edges::Full => usize::from(self.sizes[g].nodes == 1),
            Edges::Stored(e) => {
                let r = &e.receivers[e.range(g)];
                let distinct = r.len() - r.windows(2).filter(|w| w[0] == w[1]).count();
                self.node_range(g).len() - distinct
            }
        }
    }

    /// Whether graph `g` could have an edge (two atoms or more, or a periodic cell); a lone
    /// atom of a molecule is alone under any rule.
    fn could_have_edges(&self, g: usize) -> bool {
        self.sizes[g].nodes > 1 || self.cell(g).is_periodic()
    }

    /// Atoms of graphs that could have an edge which receive none (the graph rule leaves them
    /// alone): counted from the edges, or as the builder knew it.
    pub fn alone_atoms(&self) -> usize {
        self.alone.unwrap_or_else(|| {
            (0..self.len())
                .filter(|&g| self.could_have_edges(g))
                .map(|g| self.isolated_in(g))
                .sum()
        })
    }

    /// What the set's graph rule leaves a model ([`crate::rules::edge_coverage`]).
    /// Atoms of graphs that could have an edge are counted ([`GraphSet::alone_atoms`]).
    pub fn edge_coverage(&self) -> crate::rules::EdgeCoverage {
        let edges: usize = self.sizes.iter().map(|s| s.edges as usize).sum();
        let could: Vec<usize> = (0..self.len())
            .filter(|&g| self.could_have_edges(g))
            .collect();
        let atoms: usize = could.iter().map(|&g| self.sizes[g].nodes as usize).sum();
        crate::rules::edge_coverage(
            &self.rule,
            self.len(),
            atoms,
            edges,
            self.alone_atoms(),
            !could.is_empty(),
        )
    }

    /// Total node count.
    pub fn total_nodes(&self) -> usize {
        self.species.len()
    }

    /// A new set with the graphs at `indices`, in that order (used to cut splits from a pool).
    pub fn subset(&self, indices: &[u32]) -> GraphSet {
        let mut out = GraphSet {
            node_offsets: vec![0],
            atomic_numbers: Column::default(),
            species: Column::default(),
            positions: Column::default(),
            cells: Vec::with_capacity(indices.len()),
            targets: Vec::with_capacity(indices.len() * self.n_targets()),
            target_names: Arc::clone(&self.target_names),
            ids: String::new(),
            id_offsets: vec![0],
            edges: match self.edges {
                Edges::Full => Edges::Full,
                Edges::Stored(_) => Edges::Stored(StoredEdges::default()),
            },
            sizes: Vec::with_capacity(indices.len()),
            species_classes: Arc::clone(&self.species_classes),
            labels: self.labels,
            rule: self.rule.clone(),
            forces: Column::default(),
            stress: Vec::new(),
            stress_known: Vec::new(),
            alone: None,
        };
        for &g in indices {
            let g = g as usize;
            let nodes = self.node_range(g);
            out.atomic_numbers
                .to_mut()
                .extend_from_slice(&self.atomic_numbers[nodes.clone()]);
            out.species
                .to_mut()
                .extend_from_slice(&self.species[nodes.clone()]);
            out.positions
                .to_mut()
                .extend_from_slice(&self.positions[nodes.clone()]);
            if self.labels.forces {
                out.forces.to_mut().extend_from_slice(&self.forces[nodes]);
            }
            if self.labels.stress {
                out.stress.push(self.stress[g]);
                out.stress_known.push(self.stress_known[g]);
            }
            out.node_offsets.push(out.species.len() as u32);
            out.cells.push(self.cells[g]);
            out.targets.extend_from_slice(self.targets(g));
            out.ids.push_str(self.id(g));
            out.id_offsets.push(out.ids.len() as u32);
            out.sizes.push(self.sizes[g]);
            if let (Edges::Stored(from), Edges::Stored(to)) = (&self.edges, &mut out.edges) {
                to.push_graph(from, g);
            }
        }
        out
    }
}
