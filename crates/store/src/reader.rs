//! [`DiskStore`]: a committed store, memory-mapped; a batch's structures read as a `GraphSet`.

use crate::column::MappedColumn;
use crate::manifest::Manifest;
use crate::npy::Element;
use crate::{StoreError, layout, names};
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

    /// The `rows`th structures (in that order) as an in-memory set, with `classes` as its
    /// species classes (default: the store's elements). Only their rows are read; a row whose
    /// data contradicts the store (out of its columns, an id that is not text, a position that
    /// is not finite) is an error naming the file and the structure's row.
    pub fn read(&self, rows: &[u32], classes: Option<&[u8]>) -> Result<GraphSet, StoreError> {
        let classes = classes.unwrap_or(&self.manifest.elements).to_vec();
        let mut class_of = [u32::MAX; 256];
        for (i, &z) in classes.iter().enumerate() {
            class_of[usize::from(z)] = i as u32;
        }
        let mut parts = self.empty_parts(classes);
        for &row in rows {
            self.push_row(&mut parts, row as usize, &class_of)?;
        }
        GraphSet::from_parts(parts).map_err(|e| StoreError::Format {
            path: self.dir.clone(),
            message: e.to_string(),
        })
    }

    fn empty_parts(&self, classes: Vec<u8>) -> GraphParts {
        let meta = &self.manifest.meta;
        GraphParts {
            node_offsets: vec![0],
            atomic_numbers: Vec::new(),
            species: Vec::new(),
            positions: Vec::new(),
            cells: Vec::new(),
            targets: Vec::new(),
            target_names: meta.target_names.clone(),
            ids: String::new(),
            id_offsets: vec![0],
            edges: if meta.stored_edges {
                Edges::Stored(StoredEdges::default())
            } else {
                Edges::Full
            },
            sizes: Vec::new(),
            species_classes: classes,
            labels: meta.labels,
            rule: meta.rule.clone(),
            forces: Vec::new(),
            stress: Vec::new(),
            stress_known: Vec::new(),
        }
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

    /// Row `g`'s range in a per-atom (or per-edge, per-byte) column of `total` rows.
    fn range(
        &self,
        start: &str,
        g: usize,
        n: u64,
        total: u64,
    ) -> Result<std::ops::Range<usize>, StoreError> {
        let s = self.col::<u64>(start)[g];
        match s.checked_add(n) {
            Some(end) if end <= total => Ok(s as usize..end as usize),
            _ => Err(self.bad(
                start,
                g,
                format!("rows {s}..{s}+{n} lie outside the {total} the store holds"),
            )),
        }
    }

    fn push_row(
        &self,
        p: &mut GraphParts,
        g: usize,
        class_of: &[u32; 256],
    ) -> Result<(), StoreError> {
        if g >= self.len() {
            return Err(StoreError::Refused(format!(
                "{}: structure {g} asked of a store of {}",
                self.dir.display(),
                self.len()
            )));
        }
        let n_node = self.col::<u32>(names::N_NODE)[g];
        let n_edge = self.col::<u32>(names::N_EDGE)[g];
        self.push_atoms(p, g, n_node, class_of)?;
        self.push_structure(p, g)?;
        if let Edges::Stored(e) = &mut p.edges {
            self.push_edges(e, g, n_node, n_edge)?;
        }
        p.sizes.push(GraphSize {
            nodes: n_node,
            edges: n_edge,
        });
        Ok(())
    }

    /// Structure `g`'s atoms: numbers, species classes, positions, forces.
    fn push_atoms(
        &self,
        p: &mut GraphParts,
        g: usize,
        n_node: u32,
        class_of: &[u32; 256],
    ) -> Result<(), StoreError> {
        let m = &self.manifest;
        let atoms = self.range(names::NODE_START, g, u64::from(n_node), m.atoms)?;
        let numbers = &self.col::<u8>(names::NUMBERS)[atoms.clone()];
        for &z in numbers {
            let class = class_of[usize::from(z)];
            if class == u32::MAX {
                return Err(self.bad(
                    names::NUMBERS,
                    g,
                    format!("element {z} is not a species class"),
                ));
            }
            p.species.push(class);
        }
        p.atomic_numbers.extend_from_slice(numbers);
        let positions: &[[f32; 3]] = bytemuck::cast_slice(self.col::<f32>(names::POSITIONS));
        let positions = &positions[atoms.clone()];
        if let Some(i) = positions
            .iter()
            .position(|r| r.iter().any(|x| !x.is_finite()))
        {
            return Err(self.bad(
                names::POSITIONS,
                g,
                format!("atom {i}'s position is not finite"),
            ));
        }
        p.positions.extend_from_slice(positions);
        if m.meta.labels.forces {
            let forces: &[[f32; 3]] = bytemuck::cast_slice(self.col::<f32>(names::FORCES));
            p.forces.extend_from_slice(&forces[atoms]);
        }
        p.node_offsets.push(p.atomic_numbers.len() as u32);
        Ok(())
    }

    /// Structure `g`'s own fields: cell, targets, stress, id.
    fn push_structure(&self, p: &mut GraphParts, g: usize) -> Result<(), StoreError> {
        let m = &self.manifest;
        let cells: &[[[f64; 3]; 3]] = bytemuck::cast_slice(self.col::<f64>(names::CELL));
        let pbc: &[[u8; 3]] = bytemuck::cast_slice(self.col::<u8>(names::PBC));
        p.cells.push(Cell {
            lattice: cells[g],
            pbc: pbc[g].map(|b| b != 0),
        });
        let t = m.meta.target_names.len();
        p.targets
            .extend_from_slice(&self.col::<f32>(names::TARGETS)[g * t..(g + 1) * t]);
        if m.meta.labels.stress {
            let stress: &[[f32; 9]] = bytemuck::cast_slice(self.col::<f32>(names::STRESS));
            p.stress.push(stress[g]);
            p.stress_known
                .push(self.col::<u8>(names::STRESS_KNOWN)[g] != 0);
        }
        let id_len = u64::from(self.col::<u32>(names::ID_LEN)[g]);
        let bytes = self.range(names::ID_START, g, id_len, m.id_bytes)?;
        let id = std::str::from_utf8(&self.col::<u8>(names::IDS)[bytes])
            .map_err(|_| self.bad(names::IDS, g, "its id is not UTF-8 text".into()))?;
        p.ids.push_str(id);
        p.id_offsets.push(p.ids.len() as u32);
        Ok(())
    }

    /// Structure `g`'s stored edges, their atoms checked to lie in the structure.
    fn push_edges(
        &self,
        e: &mut StoredEdges,
        g: usize,
        n_node: u32,
        n_edge: u32,
    ) -> Result<(), StoreError> {
        let m = &self.manifest;
        let r = self.range(names::EDGE_START, g, u64::from(n_edge), m.edges)?;
        let local = |name: &str| -> Result<&[u32], StoreError> {
            let v = &self.col::<u32>(name)[r.clone()];
            match v.iter().find(|&&i| i >= n_node) {
                Some(i) => Err(self.bad(
                    name,
                    g,
                    format!("an edge's atom {i} in a structure of {n_node}"),
                )),
                None => Ok(v),
            }
        };
        e.senders.extend_from_slice(local(names::SENDERS)?);
        e.receivers.extend_from_slice(local(names::RECEIVERS)?);
        let vectors: &[[f32; 3]] = bytemuck::cast_slice(self.col::<f32>(names::VECTORS));
        e.vectors.extend_from_slice(&vectors[r.clone()]);
        if m.meta.shifts {
            let shifts: &[[i32; 3]] = bytemuck::cast_slice(self.col::<i32>(names::SHIFTS));
            e.shifts.extend_from_slice(&shifts[r]);
        }
        e.offsets.push(e.senders.len() as u64);
        Ok(())
    }
}
