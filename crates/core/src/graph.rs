//! Column-wise storage of one dataset split: [`GraphSet`] and its builder.
//!
//! Why one long file: the set and its builder share one private layout (offsets, columns, the
//! exact positions kept while edges are made) and the checks a rule makes of it before the set
//! exists; apart, that layout would be public.

pub use crate::cell::Cell;
use crate::error::{Error, Result};
use crate::rules::{self, GraphRule};
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
    Stored {
        /// Edge offsets per graph (graphs + 1 entries).
        offsets: Vec<u64>,
        /// Sender of each edge, as a node index local to its graph.
        senders: Vec<u32>,
        /// Receiver of each edge, local to its graph; non-decreasing within a graph.
        receivers: Vec<u32>,
        /// Receiver minus sender position, including the periodic image shift (Angstrom).
        vectors: Vec<[f32; 3]>,
        /// The sender's integer lattice translation `S` of every edge (zero in molecules):
        /// `vector = x_receiver - (x_sender + S . lattice)`; kept only in a set with a
        /// potential's labels (empty otherwise).
        shifts: Vec<[i32; 3]>,
    },
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
    atomic_numbers: Vec<u8>,
    species: Vec<u32>,
    positions: Vec<[f32; 3]>,
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
    forces: Vec<[f32; 3]>,
    /// Per-graph stress, row-major 3x3, when carried (zeros where unknown; empty otherwise).
    stress: Vec<[f32; 9]>,
    /// Whether each graph's stress is known (empty when no stress is carried).
    stress_known: Vec<bool>,
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
        self.labels.forces.then_some(self.forces.as_slice())
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
    /// a split keeps each once ([`crate::split::SplitSpec::saved_once`]). One structure with
    /// two different labels is two graphs.
    pub fn content_key(&self, g: usize) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        let r = self.node_range(g);
        eat(&self.atomic_numbers[r.clone()]);
        for p in &self.positions[r] {
            p.iter().for_each(|x| eat(&x.to_bits().to_le_bytes()));
        }
        let cell = self.cell(g);
        cell.lattice
            .iter()
            .flatten()
            .for_each(|x| eat(&x.to_bits().to_le_bytes()));
        eat(&cell.pbc.map(u8::from));
        for t in self.targets(g) {
            eat(&t.to_bits().to_le_bytes());
        }
        h
    }

    /// The edge storage.
    pub fn edges(&self) -> &Edges {
        &self.edges
    }

    /// Nodes that receive no edge (an atom alone under a cutoff), over every graph; 0 for full
    /// graphs of two or more nodes. Receivers are sorted within a graph: one pass.
    pub fn isolated_nodes(&self) -> usize {
        match &self.edges {
            Edges::Full => self.sizes.iter().filter(|s| s.nodes == 1).count(),
            Edges::Stored {
                offsets, receivers, ..
            } => (0..self.len())
                .map(|g| {
                    let r = &receivers[offsets[g] as usize..offsets[g + 1] as usize];
                    let distinct = r.len() - r.windows(2).filter(|w| w[0] == w[1]).count();
                    self.node_range(g).len() - distinct
                })
                .sum(),
        }
    }

    /// Total node count.
    pub fn total_nodes(&self) -> usize {
        self.species.len()
    }

    /// A new set with the graphs at `indices`, in that order (used to cut splits from a pool).
    pub fn subset(&self, indices: &[u32]) -> GraphSet {
        let mut out = GraphSet {
            node_offsets: vec![0],
            atomic_numbers: Vec::new(),
            species: Vec::new(),
            positions: Vec::new(),
            cells: Vec::with_capacity(indices.len()),
            targets: Vec::with_capacity(indices.len() * self.n_targets()),
            target_names: Arc::clone(&self.target_names),
            ids: String::new(),
            id_offsets: vec![0],
            edges: match self.edges {
                Edges::Full => Edges::Full,
                Edges::Stored { .. } => Edges::Stored {
                    offsets: vec![0],
                    senders: Vec::new(),
                    receivers: Vec::new(),
                    vectors: Vec::new(),
                    shifts: Vec::new(),
                },
            },
            sizes: Vec::with_capacity(indices.len()),
            species_classes: Arc::clone(&self.species_classes),
            labels: self.labels,
            rule: self.rule.clone(),
            forces: Vec::new(),
            stress: Vec::new(),
            stress_known: Vec::new(),
        };
        for &g in indices {
            let g = g as usize;
            let nodes = self.node_range(g);
            out.atomic_numbers
                .extend_from_slice(&self.atomic_numbers[nodes.clone()]);
            out.species.extend_from_slice(&self.species[nodes.clone()]);
            out.positions
                .extend_from_slice(&self.positions[nodes.clone()]);
            if self.labels.forces {
                out.forces.extend_from_slice(&self.forces[nodes]);
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
            if let (
                Edges::Stored {
                    offsets,
                    senders,
                    receivers,
                    vectors,
                    shifts,
                },
                Edges::Stored {
                    offsets: o2,
                    senders: s2,
                    receivers: r2,
                    vectors: v2,
                    shifts: i2,
                },
            ) = (&self.edges, &mut out.edges)
            {
                let e = offsets[g] as usize..offsets[g + 1] as usize;
                s2.extend_from_slice(&senders[e.clone()]);
                r2.extend_from_slice(&receivers[e.clone()]);
                v2.extend_from_slice(&vectors[e.clone()]);
                if !shifts.is_empty() {
                    i2.extend_from_slice(&shifts[e]);
                }
                o2.push(s2.len() as u64);
            }
        }
        out
    }
}

/// Builds a [`GraphSet`] graph by graph, then applies a [`GraphRule`] and assigns species classes.
#[derive(Debug, Default, Clone)]
pub struct GraphSetBuilder {
    node_offsets: Vec<u32>,
    atomic_numbers: Vec<u8>,
    /// Positions as the set keeps them.
    positions: Vec<[f32; 3]>,
    /// Positions in double precision, for finding edges: kept only once a pushed position is not
    /// a float32 (data read as float32, QM9's, needs no copy).
    exact: Option<Vec<[f64; 3]>>,
    cells: Vec<Cell>,
    targets: Vec<f32>,
    target_names: Vec<String>,
    ids: String,
    id_offsets: Vec<u32>,
    labels: LabelKinds,
    forces: Vec<[f32; 3]>,
    stress: Vec<[f32; 9]>,
    stress_known: Vec<bool>,
}

impl GraphSetBuilder {
    /// The builder of a set that carries `labels` (forces on every structure, stress where a
    /// structure has one): structures are then pushed with [`GraphSetBuilder::push_labelled`].
    pub fn carrying(mut self, labels: LabelKinds) -> Self {
        self.labels = labels;
        self
    }

    /// Which labels the set will carry.
    pub fn labels(&self) -> LabelKinds {
        self.labels
    }

    /// [`GraphSetBuilder::push`] with the structure's forces and stress: forces are required
    /// (one finite row per atom) when the set carries them, stress is optional (a finite 3x3 of
    /// a structure periodic along all three lattice vectors). Labels the set does not carry are
    /// refused rather than dropped.
    pub fn push_labelled(
        &mut self,
        id: &str,
        atomic_numbers: &[u8],
        positions: &[[f64; 3]],
        cell: Option<Cell>,
        targets: &[f32],
        labels: AtomLabels<'_>,
    ) -> Result<()> {
        let fail = |message: String| Error::GraphRule {
            graph: id.to_string(),
            message,
        };
        self.check_labels(atomic_numbers.len(), cell.as_ref(), &labels)
            .map_err(fail)?;
        self.push(id, atomic_numbers, positions, cell, targets)?;
        if let Some(f) = labels.forces.filter(|_| self.labels.forces) {
            self.forces
                .extend(f.iter().map(|row| row.map(|x| x as f32)));
        }
        if self.labels.stress {
            let known = labels.stress.is_some();
            let s = labels.stress.unwrap_or_default();
            self.stress
                .push(std::array::from_fn(|k| s[k / 3][k % 3] as f32));
            self.stress_known.push(known);
        }
        Ok(())
    }

    /// Why a structure's labels cannot join the set, if they cannot.
    fn check_labels(
        &self,
        atoms: usize,
        cell: Option<&Cell>,
        labels: &AtomLabels<'_>,
    ) -> std::result::Result<(), String> {
        match (self.labels.forces, labels.forces) {
            (true, None) => return Err("no forces, but the set carries forces".into()),
            (false, Some(_)) => {
                return Err("forces given, but the set carries none (ask for them)".into());
            }
            (true, Some(f)) if f.len() != atoms => {
                return Err(format!("{} force rows for {atoms} atoms", f.len()));
            }
            (true, Some(f)) => {
                if let Some(i) = f.iter().position(|r| r.iter().any(|x| !x.is_finite())) {
                    return Err(format!("the force on atom {i} is {:?}, not finite", f[i]));
                }
            }
            (false, None) => {}
        }
        let Some(s) = labels.stress else {
            return Ok(());
        };
        if !self.labels.stress {
            return Err("a stress given, but the set carries none (ask for it)".into());
        }
        if s.iter().flatten().any(|x| !x.is_finite()) {
            return Err(format!("the stress {s:?} is not finite"));
        }
        if cell.is_none_or(|c| c.pbc != [true; 3]) {
            return Err(
                "a stress on a structure that is not periodic along all three lattice vectors \
                 (stress is the energy's derivative by a strain of the cell per volume)"
                    .into(),
            );
        }
        Ok(())
    }

    /// A builder for graphs with the given target columns.
    pub fn new(target_names: Vec<String>) -> Self {
        GraphSetBuilder {
            node_offsets: vec![0],
            id_offsets: vec![0],
            target_names,
            ..Default::default()
        }
    }

    /// Number of graphs pushed so far.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether no graph was pushed.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Adds one graph. Atomic numbers must be 1..=118, positions finite (in float32's range: the
    /// set stores them so), and `targets` must have one value per target column. Edges are found
    /// from the positions and the cell as given, in double precision. A set that carries forces
    /// takes its structures through [`GraphSetBuilder::push_labelled`].
    pub fn push(
        &mut self,
        id: &str,
        atomic_numbers: &[u8],
        positions: &[[f64; 3]],
        cell: Option<Cell>,
        targets: &[f32],
    ) -> Result<()> {
        self.check(atomic_numbers, positions, cell.as_ref(), targets)
            .map_err(|message| Error::GraphRule {
                graph: id.to_string(),
                message,
            })?;
        self.atomic_numbers.extend_from_slice(atomic_numbers);
        let narrow = positions.iter().map(|p| p.map(|x| x as f32));
        match &mut self.exact {
            Some(exact) => exact.extend_from_slice(positions),
            None if positions
                .iter()
                .flatten()
                .any(|&x| f64::from(x as f32) != x) =>
            {
                let mut exact: Vec<[f64; 3]> =
                    self.positions.iter().map(|p| p.map(f64::from)).collect();
                exact.extend_from_slice(positions);
                self.exact = Some(exact);
            }
            None => {}
        }
        self.positions.extend(narrow);
        self.node_offsets.push(self.atomic_numbers.len() as u32);
        self.cells.push(cell.unwrap_or_default());
        self.targets.extend_from_slice(targets);
        self.ids.push_str(id);
        self.id_offsets.push(self.ids.len() as u32);
        Ok(())
    }

    /// Why a structure cannot join the set, if it cannot: atoms, positions, cell and targets
    /// checked before anything is appended.
    fn check(
        &self,
        atomic_numbers: &[u8],
        positions: &[[f64; 3]],
        cell: Option<&Cell>,
        targets: &[f32],
    ) -> std::result::Result<(), String> {
        if atomic_numbers.is_empty() {
            return Err("graph has no atoms".into());
        }
        if atomic_numbers.len() != positions.len() {
            return Err(format!(
                "{} atomic numbers but {} positions",
                atomic_numbers.len(),
                positions.len()
            ));
        }
        if let Some(z) = atomic_numbers.iter().find(|&&z| z == 0 || z > 118) {
            return Err(format!("atomic number {z} is not an element"));
        }
        if positions.iter().flatten().any(|x| !x.is_finite()) {
            return Err("a position is not a finite number".into());
        }
        if let Some(x) = positions
            .iter()
            .flatten()
            .find(|&&x| !(x as f32).is_finite())
        {
            return Err(format!(
                "a position ({x:e} Angstrom) is beyond float32's range"
            ));
        }
        if targets.len() != self.target_names.len() {
            return Err(format!(
                "{} target values for {} target columns",
                targets.len(),
                self.target_names.len()
            ));
        }
        if let Some((k, v)) = targets.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(format!(
                "target {} is {v}, not a finite number",
                self.target_names[k]
            ));
        }
        if let Some(c) = cell {
            if c.lattice.iter().flatten().any(|x| !x.is_finite()) {
                return Err("the cell is not finite".into());
            }
            if c.is_periodic()
                && let Err(m) = crate::neighbors::check_cell(&c.lattice, c.pbc)
            {
                return Err(m);
            }
        }
        Ok(())
    }

    /// Applies `rule` to every graph and assigns species classes in first-seen order
    /// (or with the given class list, for splits that must share a dataset's classes).
    pub fn build(self, rule: &GraphRule, classes: Option<&[u8]>) -> Result<GraphSet> {
        let classes: Vec<u8> = match classes {
            Some(c) => c.to_vec(),
            None => {
                let mut seen = Vec::new();
                for &z in &self.atomic_numbers {
                    if !seen.contains(&z) {
                        seen.push(z);
                    }
                }
                seen
            }
        };
        let species = species_of(&self.atomic_numbers, &classes)?;
        let (edges, sizes) = match rule {
            GraphRule::Full => {
                self.no_periodic_cell()?;
                self.no_atoms_at_one_position()?;
                (Edges::Full, self.full_sizes()?)
            }
            _ => self.stored_edges(rule)?,
        };
        if self.labels.forces && self.forces.len() != self.atomic_numbers.len() {
            return Err(Error::invalid(format!(
                "the set carries forces, but {} of its {} atoms have none (structures pushed \
                 without their labels)",
                self.atomic_numbers.len() - self.forces.len(),
                self.atomic_numbers.len()
            )));
        }
        if self.labels.stress && self.stress.len() != self.cells.len() {
            return Err(Error::invalid(
                "the set carries stress, but some structures were pushed without their labels",
            ));
        }
        Ok(GraphSet {
            node_offsets: self.node_offsets,
            atomic_numbers: self.atomic_numbers,
            species,
            positions: self.positions,
            cells: self.cells,
            targets: self.targets,
            target_names: Arc::new(self.target_names),
            ids: self.ids,
            id_offsets: self.id_offsets,
            edges,
            sizes,
            species_classes: Arc::new(classes),
            labels: self.labels,
            rule: rule.clone(),
            forces: self.forces,
            stress: self.stress,
            stress_known: self.stress_known,
        })
    }

    /// The id of graph `g`.
    fn id_of(&self, g: usize) -> String {
        self.ids[self.id_offsets[g] as usize..self.id_offsets[g + 1] as usize].to_string()
    }

    /// Refuses a periodic graph under `full`, which ignores periodicity: the data's periodic
    /// images would be left out without a word.
    fn no_periodic_cell(&self) -> Result<()> {
        let Some(g) = self.cells.iter().position(Cell::is_periodic) else {
            return Ok(());
        };
        let yes_no = |p: bool| if p { "T" } else { "F" };
        let pbc: Vec<&str> = self.cells[g].pbc.iter().map(|&p| yes_no(p)).collect();
        Err(Error::GraphRule {
            graph: self.id_of(g),
            message: format!(
                "periodic (pbc = \"{}\") but the graph rule is {{ kind = \"full\" }}, which joins \
                 the atoms of the cell as listed and none of their periodic images (a 1-atom \
                 cell would have no edge): use {{ kind = \"cutoff\", radius = 5.0 }} or \
                 {{ kind = \"knn\", k = 12 }} for periodic structures (a molecule stored with \
                 pbc in a box: write it with pbc = \"F F F\")",
                pbc.join(" ")
            ),
        })
    }

    /// Refuses a graph with two atoms at one position (closer than
    /// [`rules::MIN_EDGE_LENGTH`]): in a full graph they are an edge with no direction, which no
    /// structure means (a duplicated atom). The rules that store edges check their own; this
    /// is every pair of every graph (QM9: about 20 million, told apart by x in a few milliseconds).
    fn no_atoms_at_one_position(&self) -> Result<()> {
        let min2 = rules::MIN_EDGE_LENGTH * rules::MIN_EDGE_LENGTH;
        let first = (0..self.cells.len()).find(|&g| {
            let nodes = self.node_offsets[g] as usize..self.node_offsets[g + 1] as usize;
            match &self.exact {
                Some(exact) => rules::two_at_one_position(&exact[nodes], min2),
                None => rules::two_at_one_position(&self.positions[nodes], min2),
            }
        });
        let Some(g) = first else {
            return Ok(());
        };
        let p = self.exact_positions(g);
        let close =
            |a: &[f64; 3], b: &[f64; 3]| (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>() < min2;
        let (i, j) = (0..p.len())
            .flat_map(|i| (i + 1..p.len()).map(move |j| (i, j)))
            .find(|&(i, j)| close(&p[i], &p[j]))
            .unwrap_or((0, 0));
        Err(Error::GraphRule {
            graph: self.id_of(g),
            message: rules::at_one_position(i, j),
        })
    }

    /// Graph `g`'s positions in double precision (as pushed).
    fn exact_positions(&self, g: usize) -> std::borrow::Cow<'_, [[f64; 3]]> {
        let nodes = self.node_offsets[g] as usize..self.node_offsets[g + 1] as usize;
        match &self.exact {
            Some(exact) => std::borrow::Cow::Borrowed(&exact[nodes]),
            None => self.positions[nodes]
                .iter()
                .map(|p| p.map(f64::from))
                .collect(),
        }
    }

    /// Every graph's size when every ordered pair of atoms is an edge.
    fn full_sizes(&self) -> Result<Vec<GraphSize>> {
        (0..self.cells.len())
            .map(|g| {
                let n = self.node_offsets[g + 1] - self.node_offsets[g];
                let e = n as u64 * (n as u64 - 1);
                u32::try_from(e)
                    .map(|edges| GraphSize { nodes: n, edges })
                    .map_err(|_| Error::GraphRule {
                        graph: self.id_of(g),
                        message: format!("{n} atoms give too many edges for a full graph"),
                    })
            })
            .collect()
    }
}

/// The species class of every atom: its atomic number's place in `classes`.
fn species_of(atomic_numbers: &[u8], classes: &[u8]) -> Result<Vec<u32>> {
    let mut lookup = [u32::MAX; 256];
    for (i, &z) in classes.iter().enumerate() {
        lookup[z as usize] = i as u32;
    }
    atomic_numbers
        .iter()
        .map(|&z| match lookup[z as usize] {
            u32::MAX => Err(Error::invalid(format!(
                "atomic number {z} is not among the dataset's species classes {classes:?}"
            ))),
            c => Ok(c),
        })
        .collect()
}

mod stored;

#[cfg(test)]
mod tests;
