//! [`StoreWriter`]: sets appended to a store part by part, each part committed whole, so that
//! the memory an import needs is one part's, whatever the store's size.

use crate::column::ColumnWriter;
use crate::manifest::{MANIFEST, Manifest, StoreMeta};
use crate::npy::Element;
use crate::{StoreError, layout, names};
use geobatch_core::graph::{Edges, GraphSet};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Writes a store: [`StoreWriter::append`] adds a set's structures, [`StoreWriter::commit`]
/// makes them visible to readers; structures appended after the last commit are not seen.
pub struct StoreWriter {
    dir: PathBuf,
    columns: HashMap<&'static str, ColumnWriter>,
    manifest: Manifest,
    /// The species classes met so far.
    classes: Classes,
}

/// Species classes numbered in the order their elements are first met, so that appending
/// never renumbers one; shared by the stores of one data set's splits ([`crate::SplitWriter`]).
#[derive(Debug, Clone)]
pub struct Classes {
    class_of: [u32; 256],
    elements: Vec<u8>,
}

impl Default for Classes {
    fn default() -> Self {
        Classes {
            class_of: [u32::MAX; 256],
            elements: Vec::new(),
        }
    }
}

impl Classes {
    /// Element `z`'s class, the next one where it is met first.
    fn class(&mut self, z: u8) -> u32 {
        let c = &mut self.class_of[usize::from(z)];
        if *c == u32::MAX {
            *c = self.elements.len() as u32;
            self.elements.push(z);
        }
        *c
    }

    /// The elements met, class by class.
    pub fn elements(&self) -> &[u8] {
        &self.elements
    }
}

impl StoreWriter {
    /// A new, empty store in `dir` (created; refused where a store already is) for sets
    /// described by `meta`.
    pub fn create(dir: &Path, meta: StoreMeta) -> Result<StoreWriter, StoreError> {
        if dir.join(MANIFEST).exists() {
            return Err(StoreError::Refused(format!(
                "{}: a store is already there (remove it, or write the new one elsewhere)",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let mut columns = HashMap::new();
        for spec in layout::columns(&meta) {
            let path = dir.join(format!("{}.npy", spec.name));
            columns.insert(spec.name, ColumnWriter::create(path, &spec)?);
        }
        let manifest = Manifest::empty(meta);
        manifest.write(dir)?;
        Ok(StoreWriter {
            dir: dir.to_path_buf(),
            columns,
            manifest,
            classes: Classes::default(),
        })
    }

    /// Appends every structure of `set`, which must be described as the store is, numbering
    /// species with `classes` (shared with other stores) instead of the store's own.
    pub fn append_with(&mut self, set: &GraphSet, classes: &mut Classes) -> Result<(), StoreError> {
        std::mem::swap(&mut self.classes, classes);
        let done = self.append(set);
        std::mem::swap(&mut self.classes, classes);
        done
    }

    /// Appends every structure of `set`, which must be described as the store is.
    pub fn append(&mut self, set: &GraphSet) -> Result<(), StoreError> {
        let found = StoreMeta::of(set);
        if found != self.manifest.meta {
            return Err(StoreError::Refused(format!(
                "{}: a set described as {found:?} appended to a store of {:?}",
                self.dir.display(),
                self.manifest.meta
            )));
        }
        let m = &mut self.manifest;
        let mut put = Put(&mut self.columns);
        let (mut atoms, mut edges, mut ids) = (m.atoms, m.edges, m.id_bytes);
        for (g, size) in set.sizes().iter().enumerate() {
            let nodes = set.node_range(g);
            let cell = set.cell(g);
            let id = set.id(g).as_bytes();
            put.rows(names::N_NODE, &[size.nodes])?;
            put.rows(names::N_EDGE, &[size.edges])?;
            put.rows(names::NODE_START, &[atoms])?;
            put.rows(names::EDGE_START, &[edges])?;
            put.rows(names::ID_START, &[ids])?;
            let id_len = u32::try_from(id.len()).map_err(|_| {
                StoreError::Refused(format!("structure {g}: an id of {} bytes", id.len()))
            })?;
            put.rows(names::ID_LEN, &[id_len])?;
            put.rows(names::CELL, cell.lattice.as_flattened())?;
            put.rows(names::PBC, &cell.pbc.map(u8::from))?;
            put.rows(names::TARGETS, set.targets(g))?;
            put.rows(names::IDS, id)?;
            if m.meta.labels.stress {
                let (all, known) = set.all_stress();
                put.rows(names::STRESS, &all[g])?;
                put.rows(names::STRESS_KNOWN, &[u8::from(known[g])])?;
            }
            let numbers = &set.atomic_numbers()[nodes.clone()];
            put.rows(names::NUMBERS, numbers)?;
            let species: Vec<u32> = numbers.iter().map(|&z| self.classes.class(z)).collect();
            put.rows(names::SPECIES, &species)?;
            put.rows(
                names::POSITIONS,
                set.positions()[nodes.clone()].as_flattened(),
            )?;
            if let Some(f) = set.forces() {
                put.rows(names::FORCES, f[nodes.clone()].as_flattened())?;
            }
            if let Edges::Stored(e) = set.edges() {
                let r = e.range(g);
                put.rows(names::SENDERS, &e.senders[r.clone()])?;
                put.rows(names::RECEIVERS, &e.receivers[r.clone()])?;
                put.rows(names::VECTORS, e.vectors[r.clone()].as_flattened())?;
                if m.meta.shifts {
                    put.rows(names::SHIFTS, e.shifts[r.clone()].as_flattened())?;
                }
                edges += r.len() as u64;
            }
            atoms += nodes.len() as u64;
            ids += id.len() as u64;
        }
        m.graphs += set.len() as u64;
        m.alone = m.alone.map(|a| a + set.alone_atoms() as u64);
        m.elements = self.classes.elements.clone();
        (m.atoms, m.edges, m.id_bytes) = (atoms, edges, ids);
        Ok(())
    }

    /// Makes every structure appended so far visible to readers, durably: the columns first,
    /// then the manifest that counts them.
    pub fn commit(&mut self) -> Result<&Manifest, StoreError> {
        for column in self.columns.values_mut() {
            column.commit()?;
        }
        let m = &mut self.manifest;
        m.commits += 1;
        m.write(&self.dir)?;
        Ok(&self.manifest)
    }

    /// Commits what is left and returns the store's manifest.
    pub fn finish(mut self) -> Result<Manifest, StoreError> {
        self.manifest.finished = true;
        self.commit()?;
        Ok(self.manifest)
    }
}

/// The columns of a store being written, by name.
struct Put<'a>(&'a mut HashMap<&'static str, ColumnWriter>);

impl Put<'_> {
    /// Appends `values` (whole rows) to column `name`, which the store keeps.
    fn rows<T: Element>(&mut self, name: &str, values: &[T]) -> Result<(), StoreError> {
        match self.0.get_mut(name) {
            Some(c) => c.push(values),
            None => Err(StoreError::Refused(format!(
                "a {name} column appended to a store that does not keep one"
            ))),
        }
    }
}
