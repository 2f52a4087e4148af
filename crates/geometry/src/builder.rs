//! [`GraphSetBuilder`]: a [`GraphSet`] built graph by graph, then given its edges by a
//! [`GraphRule`] and its species classes.

use crate::edges as rules;
use geobatch_core::graph::non_finite_row;
use geobatch_core::graph::{AtomLabels, Cell, Edges, GraphParts, GraphSet, GraphSize, LabelKinds};
use geobatch_core::{Error, GraphRule, Result};

/// Builds a [`GraphSet`] graph by graph, then applies a [`GraphRule`] and assigns species classes.
#[derive(Debug, Default, Clone)]
pub struct GraphSetBuilder {
    pub(crate) node_offsets: Vec<u32>,
    pub(crate) atomic_numbers: Vec<u8>,
    /// Positions as the set keeps them.
    pub(crate) positions: Vec<[f32; 3]>,
    /// Positions in double precision, for finding edges: kept only once a pushed position is not
    /// a float32 (data read as float32, QM9's, needs no copy).
    pub(crate) exact: Option<Vec<[f64; 3]>>,
    pub(crate) cells: Vec<Cell>,
    pub(crate) targets: Vec<f32>,
    pub(crate) target_names: Vec<String>,
    pub(crate) ids: String,
    pub(crate) id_offsets: Vec<u32>,
    pub(crate) labels: LabelKinds,
    pub(crate) forces: Vec<[f32; 3]>,
    pub(crate) stress: Vec<[f32; 9]>,
    pub(crate) stress_known: Vec<bool>,
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
                if let Some(m) = non_finite_row(f, "force") {
                    return Err(m);
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
        if let Some(m) = non_finite_row(positions, "position") {
            return Err(m);
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
        if self.labels.forces {
            // a set with forces is a potential's: its rule must be smooth in the positions
            rule.smooth_cutoff()?;
        }
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
        GraphSet::from_parts(GraphParts {
            node_offsets: self.node_offsets,
            atomic_numbers: self.atomic_numbers.into(),
            species: species.into(),
            positions: self.positions.into(),
            cells: self.cells,
            targets: self.targets,
            target_names: self.target_names,
            ids: self.ids,
            id_offsets: self.id_offsets,
            edges,
            sizes,
            species_classes: classes,
            labels: self.labels,
            rule: rule.clone(),
            forces: self.forces.into(),
            stress: self.stress,
            stress_known: self.stress_known,
            alone: None,
        })
    }

    /// The id of graph `g`.
    pub(crate) fn id_of(&self, g: usize) -> String {
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
    pub(crate) fn exact_positions(&self, g: usize) -> std::borrow::Cow<'_, [[f64; 3]]> {
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
