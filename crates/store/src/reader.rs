//! [`DiskStore`]: a committed store, memory-mapped, and the `GraphSet` that reads it in place.

use crate::column::MappedColumn;
use crate::manifest::Manifest;
use crate::npy::Element;
use crate::{StoreError, layout, names};
use geobatch_core::Column;
use geobatch_core::graph::{Cell, Edges, GraphParts, GraphSet, GraphSize, StoredEdges};
use std::path::{Path, PathBuf};

/// A store opened for reading: its manifest and its columns, mapped up to the last commit.
pub struct DiskStore {
    dir: PathBuf,
    manifest: Manifest,
    columns: std::collections::HashMap<&'static str, MappedColumn>,
}

impl DiskStore {
    /// Opens the store in `dir`: its manifest, and every column it names checked against it
    /// (type, row width, committed rows present).
    pub fn open(dir: &Path) -> Result<DiskStore, StoreError> {
        let manifest = Manifest::read(dir)?;
        let mut columns = std::collections::HashMap::new();
        for spec in layout::columns(&manifest.meta) {
            let path = dir.join(format!("{}.npy", spec.name));
            let column = MappedColumn::open(&path, &spec, spec.rows.of(&manifest))?;
            columns.insert(spec.name, column);
        }
        Ok(DiskStore {
            dir: dir.to_path_buf(),
            manifest,
            columns,
        })
    }

    /// The store's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Committed structures.
    pub fn len(&self) -> usize {
        self.col::<u32>(names::N_NODE).len()
    }

    /// Whether the store holds no structure.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every structure's atom and edge count, read from the two size columns alone.
    pub fn sizes(&self) -> Vec<GraphSize> {
        let nodes = self.col::<u32>(names::N_NODE);
        let edges = self.col::<u32>(names::N_EDGE);
        nodes
            .iter()
            .zip(edges)
            .map(|(&nodes, &edges)| GraphSize { nodes, edges })
            .collect()
    }

    /// The column `name`'s values (the store keeps it; its element type is `T`).
    fn col<T: Element>(&self, name: &str) -> &[T] {
        self.columns.get(name).map_or(&[], |c| c.values::<T>())
    }

    /// The column `name` as a set's column read in place (empty where the store keeps none).
    fn mapped<T: bytemuck::Pod>(&self, name: &str) -> Result<Column<T>, StoreError> {
        match self.columns.get(name) {
            None => Ok(Column::default()),
            Some(c) => c.column::<T>().map_err(|e| StoreError::Format {
                path: self.file(name),
                message: e.to_string(),
            }),
        }
    }

    /// The whole store as a set: its atom and edge columns (numbers, species, positions, forces,
    /// edges) read in place, so that a batch reads only its own rows from the disk; the
    /// structures' own columns (sizes, cells, targets, ids, stress) held in memory, checked to
    /// agree with each other (a row that does not is named with its file). The species classes
    /// are the store's elements.
    pub fn set(&self) -> Result<GraphSet, StoreError> {
        self.set_classed(&self.manifest.elements)
    }

    /// As [`DiskStore::set`], with the species classes `classes`, which go on from the store's
    /// (the classes of a data set's other splits, written with this one).
    pub fn set_classed(&self, classes: &[u8]) -> Result<GraphSet, StoreError> {
        let m = &self.manifest;
        if !classes.starts_with(&m.elements) {
            return Err(StoreError::Refused(format!(
                "{}: species classes {classes:?} asked of a store that numbers them {:?}",
                self.dir.display(),
                m.elements
            )));
        }
        let (node_offsets, sizes) = self.offsets()?;
        let edges = if m.meta.stored_edges {
            Edges::Stored(StoredEdges {
                offsets: self.edge_offsets()?,
                senders: self.mapped(names::SENDERS)?,
                receivers: self.mapped(names::RECEIVERS)?,
                vectors: self.mapped(names::VECTORS)?,
                shifts: self.mapped(names::SHIFTS)?,
            })
        } else {
            Edges::Full
        };
        let (ids, id_offsets) = self.ids()?;
        let (stress, stress_known) = if m.meta.labels.stress {
            let stress: &[[f32; 9]] = bytemuck::cast_slice(self.col::<f32>(names::STRESS));
            let known = self.col::<u8>(names::STRESS_KNOWN);
            (stress.to_vec(), known.iter().map(|&k| k != 0).collect())
        } else {
            (Vec::new(), Vec::new())
        };
        let cells: &[[[f64; 3]; 3]] = bytemuck::cast_slice(self.col::<f64>(names::CELL));
        let pbc: &[[u8; 3]] = bytemuck::cast_slice(self.col::<u8>(names::PBC));
        GraphSet::from_parts(GraphParts {
            node_offsets,
            atomic_numbers: self.mapped(names::NUMBERS)?,
            species: self.mapped(names::SPECIES)?,
            positions: self.mapped(names::POSITIONS)?,
            cells: cells
                .iter()
                .zip(pbc)
                .map(|(&lattice, p)| Cell {
                    lattice,
                    pbc: p.map(|b| b != 0),
                })
                .collect(),
            targets: self.col::<f32>(names::TARGETS).to_vec(),
            target_names: m.meta.target_names.clone(),
            ids,
            id_offsets,
            edges,
            sizes,
            species_classes: classes.to_vec(),
            labels: m.meta.labels,
            rule: m.meta.rule.clone(),
            forces: self.mapped(names::FORCES)?,
            stress,
            stress_known,
            // counted as the structures were written: the edges are not read through for it
            alone: m.alone.and_then(|a| usize::try_from(a).ok()),
        })
        .map_err(|e| StoreError::Format {
            path: self.dir.join(crate::MANIFEST),
            message: e.to_string(),
        })
    }

    /// The file of column `name`, for errors.
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.npy"))
    }

    fn bad(&self, name: &str, row: usize, message: String) -> StoreError {
        StoreError::Format {
            path: self.file(name),
            message: format!("structure {row}: {message}"),
        }
    }

    /// Offsets from a structure's count column, its start column checked against them: each
    /// structure starts where the one before ended, and the last ends at `total`.
    fn cumulative(
        &self,
        count: &[u32],
        start: &'static str,
        total: u64,
    ) -> Result<Vec<u64>, StoreError> {
        let starts = self.col::<u64>(start);
        let mut offsets = Vec::with_capacity(count.len() + 1);
        let mut end = 0u64;
        offsets.push(0);
        for (g, (&n, &s)) in count.iter().zip(starts).enumerate() {
            if s != end {
                return Err(self.bad(
                    start,
                    g,
                    format!("starts at row {s}, where the structure before ends at {end}"),
                ));
            }
            end += u64::from(n);
            if end > total {
                return Err(self.bad(
                    start,
                    g,
                    format!("rows {s}..{end} lie outside the {total} the store holds"),
                ));
            }
            offsets.push(end);
        }
        if end != total {
            return Err(StoreError::Format {
                path: self.file(start),
                message: format!("the structures hold {end} rows of the {total} committed"),
            });
        }
        Ok(offsets)
    }

    /// Node offsets (a set's are 32-bit) and sizes; a full graph's edge count is its pairs.
    fn offsets(&self) -> Result<(Vec<u32>, Vec<GraphSize>), StoreError> {
        let n_node = self.col::<u32>(names::N_NODE);
        let offsets = self.cumulative(n_node, names::NODE_START, self.manifest.atoms)?;
        let offsets = offsets
            .into_iter()
            .map(u32::try_from)
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| {
                StoreError::Refused(format!(
                    "{}: {} atoms, more than a set holds ({}); split the data into stores of \
                     fewer atoms",
                    self.dir.display(),
                    self.manifest.atoms,
                    u32::MAX
                ))
            })?;
        let sizes = self.sizes();
        if !self.manifest.meta.stored_edges {
            let pairs = |n: u32| u64::from(n) * u64::from(n.saturating_sub(1));
            if let Some(g) = sizes
                .iter()
                .position(|s| u64::from(s.edges) != pairs(s.nodes))
            {
                return Err(self.bad(
                    names::N_EDGE,
                    g,
                    format!(
                        "{} edges for all pairs of {} atoms",
                        sizes[g].edges, sizes[g].nodes
                    ),
                ));
            }
        }
        Ok((offsets, sizes))
    }

    /// Edge offsets of stored edges.
    fn edge_offsets(&self) -> Result<Vec<u64>, StoreError> {
        let n_edge = self.col::<u32>(names::N_EDGE);
        self.cumulative(n_edge, names::EDGE_START, self.manifest.edges)
    }

    /// The ids, concatenated, and their offsets; an id that is not UTF-8 text is named.
    fn ids(&self) -> Result<(String, Vec<u32>), StoreError> {
        let offsets = self.cumulative(
            self.col::<u32>(names::ID_LEN),
            names::ID_START,
            self.manifest.id_bytes,
        )?;
        let offsets: Vec<u32> = offsets
            .into_iter()
            .map(u32::try_from)
            .collect::<Result<_, _>>()
            .map_err(|_| {
                StoreError::Refused(format!(
                    "{}: ids of {} bytes, more than a set holds",
                    self.dir.display(),
                    self.manifest.id_bytes
                ))
            })?;
        let ids = String::from_utf8(self.col::<u8>(names::IDS).to_vec()).map_err(|e| {
            let at = e.utf8_error().valid_up_to() as u32;
            let g = offsets.partition_point(|&o| o <= at).saturating_sub(1);
            self.bad(names::IDS, g, "its id is not UTF-8 text".into())
        })?;
        Ok((ids, offsets))
    }

    /// Reads every atom and edge row once and checks what a batch relies on: each species
    /// class names the atom's element, positions (and forces) are finite, and every stored
    /// edge joins two atoms of its own structure. The first row that does not is named with
    /// its file. Sets appended by a writer were checked when they were built; this finds a
    /// file damaged since.
    pub fn check(&self) -> Result<(), StoreError> {
        let set = self.set()?;
        let classes = &self.manifest.elements;
        let (numbers, species) = (set.atomic_numbers(), set.species());
        let positions = set.positions();
        for g in 0..set.len() {
            let atoms = set.node_range(g);
            for i in atoms.clone() {
                let class = species[i] as usize;
                if classes.get(class) != Some(&numbers[i]) {
                    return Err(self.bad(
                        names::SPECIES,
                        g,
                        format!(
                            "atom {}: class {class} where its element is {}",
                            i - atoms.start,
                            numbers[i]
                        ),
                    ));
                }
            }
            let non_finite = geobatch_core::graph::non_finite_row;
            if let Some(m) = non_finite(&positions[atoms.clone()], "position") {
                return Err(self.bad(names::POSITIONS, g, m));
            }
            if let Some(m) = set
                .forces()
                .and_then(|f| non_finite(&f[atoms.clone()], "force"))
            {
                return Err(self.bad(names::FORCES, g, m));
            }
            if let Edges::Stored(e) = set.edges() {
                let n = atoms.len() as u32;
                let r = e.range(g);
                for (name, column) in [
                    (names::SENDERS, &e.senders),
                    (names::RECEIVERS, &e.receivers),
                ] {
                    if let Some(i) = column[r.clone()].iter().find(|&&i| i >= n) {
                        return Err(self.bad(
                            name,
                            g,
                            format!("an edge's atom {i} in a structure of {n} atoms"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
