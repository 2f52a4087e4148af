//! A data set's three splits as three stores in one folder (`train/`, `validation/`, `test/`),
//! written together with one numbering of species classes so that a model built on the
//! training split's classes reads the other two the same way.

use crate::writer::Classes;
use crate::{DiskStore, Manifest, StoreError, StoreMeta, StoreWriter};
use geobatch_core::SplitName;
use geobatch_core::graph::GraphSet;
use std::path::{Path, PathBuf};

/// The folder of split `s` in a split store at `dir`.
pub fn split_dir(dir: &Path, s: SplitName) -> PathBuf {
    dir.join(s.as_str())
}

/// Writes a data set's splits into `dir/train`, `dir/validation` and `dir/test`, part by
/// part: [`SplitWriter::append`] adds a part of one split, [`SplitWriter::commit`] makes every
/// part appended so far visible.
pub struct SplitWriter {
    writers: [StoreWriter; 3],
    classes: Classes,
}

impl SplitWriter {
    /// Three new, empty stores in `dir` (refused where one already is) for sets described by
    /// `meta`.
    pub fn create(dir: &Path, meta: &StoreMeta) -> Result<SplitWriter, StoreError> {
        let [a, b, c] = SplitName::ALL.map(|s| split_dir(dir, s));
        Ok(SplitWriter {
            writers: [
                StoreWriter::create(&a, meta.clone())?,
                StoreWriter::create(&b, meta.clone())?,
                StoreWriter::create(&c, meta.clone())?,
            ],
            classes: Classes::default(),
        })
    }

    /// Appends `set`'s structures to split `s`.
    pub fn append(&mut self, s: SplitName, set: &GraphSet) -> Result<(), StoreError> {
        self.writers[s as usize].append_with(set, &mut self.classes)
    }

    /// Commits every split's appended structures.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        for w in &mut self.writers {
            w.commit()?;
        }
        Ok(())
    }

    /// Commits what is left; the three splits' manifests.
    pub fn finish(self) -> Result<[Manifest; 3], StoreError> {
        let [a, b, c] = self.writers;
        Ok([a.finish()?, b.finish()?, c.finish()?])
    }
}

/// The three splits of the split store at `dir`, opened, with the species classes they share:
/// each split's elements are the classes met when it was last committed, so each is the start
/// of the longest (stores written apart, numbering their classes each its own way, are
/// refused).
pub fn open_splits(dir: &Path) -> Result<([DiskStore; 3], Vec<u8>), StoreError> {
    let [a, b, c] = SplitName::ALL.map(|s| split_dir(dir, s));
    let stores = [
        DiskStore::open(&a)?,
        DiskStore::open(&b)?,
        DiskStore::open(&c)?,
    ];
    let classes = stores
        .iter()
        .map(|s| &s.manifest().elements)
        .max_by_key(|e| e.len())
        .cloned()
        .unwrap_or_default();
    for (store, s) in stores.iter().zip(SplitName::ALL) {
        let own = &store.manifest().elements;
        if !classes.starts_with(own) {
            return Err(StoreError::Refused(format!(
                "{}: the {s} split numbers its species {own:?}, the others {classes:?}: the \
                 splits were not written together (write them with one `geobatch data store`)",
                dir.display()
            )));
        }
        if store.manifest().meta != stores[0].manifest().meta {
            return Err(StoreError::Refused(format!(
                "{}: the {s} split holds {:?}, the train split {:?}",
                dir.display(),
                store.manifest().meta,
                stores[0].manifest().meta
            )));
        }
    }
    Ok((stores, classes))
}

/// How many structures of each split [`write_dataset`] wrote, and the parts it committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Structures per split (train, validation, test).
    pub graphs: [u64; 3],
    /// Parts committed.
    pub parts: u64,
}

/// Writes the dataset `spec` (loaded with `ctx`) into a new split store at `dir`, a part of
/// about `part` structures at a time where the plugin makes its structures so (each part
/// committed as it comes, so memory holds one part, and a write that fails midway leaves the
/// parts before it readable), else loaded whole first. `done` hears of every committed part.
pub fn write_dataset(
    spec: &dyn geobatch_core::DatasetSpec,
    ctx: &geobatch_core::DatasetContext,
    dir: &Path,
    part: usize,
    done: &mut dyn FnMut(&Written),
) -> Result<Written, StoreError> {
    let mut writer: Option<SplitWriter> = None;
    let mut written = Written::default();
    let mut failed: Option<StoreError> = None;
    let mut each = |s: SplitName, set: &GraphSet| -> geobatch_core::Result<()> {
        let mut step = || -> Result<(), StoreError> {
            let w = match &mut writer {
                Some(w) => w,
                None => writer.insert(SplitWriter::create(dir, &StoreMeta::of(set))?),
            };
            w.append(s, set)?;
            w.commit()
        };
        step().map_err(|e| {
            let message = e.to_string();
            failed = Some(e);
            geobatch_core::Error::invalid(message)
        })?;
        written.graphs[s as usize] += set.len() as u64;
        written.parts += 1;
        done(&written);
        Ok(())
    };
    let made = match spec.for_each_part(ctx, part, &mut each) {
        Some(made) => made,
        None => spec
            .load(ctx)
            .and_then(|d| SplitName::ALL.iter().try_for_each(|&s| each(s, d.split(s)))),
    };
    if let Err(e) = made {
        return Err(failed.unwrap_or_else(|| StoreError::Refused(e.to_string())));
    }
    match writer {
        Some(w) => {
            w.finish()?;
            Ok(written)
        }
        None => Err(StoreError::Refused(format!(
            "{}: the dataset holds no structure to store",
            dir.display()
        ))),
    }
}
