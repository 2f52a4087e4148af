//! The `store` dataset: the three splits of a disk-backed store written by `geobatch data
//! store` (`PATH/train`, `PATH/validation`, `PATH/test`), for data larger than memory.
//!
//! * `memory = "disk"` (the default): each split's atom and edge columns are read in place
//!   from the memory-mapped files, so that a batch reads only its own rows; the structures'
//!   own columns (sizes, cells, targets, ids) are held in memory (about 100 bytes a structure).
//! * `memory = "ram"`: every column copied into memory at load, as the other datasets hold
//!   theirs: the same structures, classes and batches.
//! * The store's graph rule, split and labels are the ones it was written with; a store whose
//!   writing stopped midway is refused unless `partial = true` (then its committed parts are
//!   read).

use geobatch_core::{
    Dataset, DatasetContext, DatasetSpec, Error, GraphSet, Result, SplitName, plugin_options,
};
use geobatch_store::{DiskStore, StoreError, open_splits};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where a store's columns are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Memory {
    /// Read in place from the mapped files, a batch's rows at a time.
    #[default]
    Disk,
    /// Copied into memory at load.
    Ram,
}

impl Memory {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Memory::Disk => "disk",
            Memory::Ram => "ram",
        }
    }
}

/// Config of a store.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    /// The store's folder.
    #[option(
        ty = "path",
        doc = "the folder `geobatch data store` wrote (train/, validation/, test/)"
    )]
    pub path: PathBuf,
    /// Where the columns are read from.
    #[serde(default)]
    #[option(
        ty = "\"disk\" | \"ram\"",
        doc = "disk: atom and edge columns read in place, a batch's rows at a time; ram: copied into memory at load"
    )]
    pub memory: Memory,
    /// Read a store whose writing stopped midway.
    #[option(
        ty = "bool",
        default = false,
        doc = "read the parts a store committed before its writing stopped"
    )]
    pub partial: bool,
}

/// A store's splits, loaded.
#[derive(Debug)]
pub struct StoreDataset {
    splits: [GraphSet; 3],
    source: String,
}

impl Dataset for StoreDataset {
    fn name(&self) -> &str {
        "store"
    }

    fn split(&self, split: SplitName) -> &GraphSet {
        &self.splits[split as usize]
    }

    fn source(&self) -> String {
        self.source.clone()
    }
}

/// A store's error as the dataset's (the file and row it names kept).
fn failed(e: StoreError) -> Error {
    Error::invalid(e.to_string())
}

/// The splits of `path`, refused when one's writing did not finish and `partial` is off.
fn opened(path: &Path, partial: bool) -> Result<([DiskStore; 3], Vec<u8>)> {
    let train = geobatch_store::split_dir(path, SplitName::Train);
    if !train.join(geobatch_store::MANIFEST).is_file() {
        return Err(Error::invalid(format!(
            "dataset.path = {:?}: no store there (no {}): write one with `geobatch data store \
             CONFIG --out {}`",
            path.display().to_string(),
            train.join(geobatch_store::MANIFEST).display(),
            path.display()
        )));
    }
    let (stores, classes) = open_splits(path).map_err(failed)?;
    if !partial && let Some(s) = stores.iter().find(|s| !s.manifest().finished) {
        return Err(Error::invalid(format!(
            "{}: the store's writing stopped before it finished ({} structures of a split \
             committed): write it again with `geobatch data store --force`, or read what it \
             holds with `partial = true`",
            path.display(),
            s.manifest().graphs
        )));
    }
    Ok((stores, classes))
}

#[geobatch_core::plugin(
    name = "store",
    summary = "a disk-backed store (geobatch data store), read in place a batch at a time: data larger than memory",
    example = "path = \"data/stores/synthetic\"\nmemory = \"disk\"\n"
)]
impl DatasetSpec for StoreSpec {
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn source_identity(&self, _data_dir: &Path) -> Result<Option<String>> {
        // what was committed, split by split: a store written again is another source
        let Ok((stores, _)) = open_splits(&self.path) else {
            return Ok(None); // `load` says why
        };
        let counts: Vec<String> = stores
            .iter()
            .map(|s| {
                let m = s.manifest();
                format!("{}/{}/{}/{}", m.graphs, m.atoms, m.edges, m.commits)
            })
            .collect();
        Ok(Some(format!(
            "{} ({})",
            self.path.display(),
            counts.join(", ")
        )))
    }

    fn load(&self, _ctx: &DatasetContext) -> Result<Box<dyn Dataset>> {
        let (stores, classes) = opened(&self.path, self.partial)?;
        let mut sets = Vec::with_capacity(3);
        for store in &stores {
            let mut set = store.set_classed(&classes).map_err(failed)?;
            if self.memory == Memory::Ram {
                set.copy_in();
            }
            sets.push(set);
        }
        let [train, validation, test]: [GraphSet; 3] = sets
            .try_into()
            .map_err(|_| Error::invalid("a store has three splits"))?;
        Ok(Box::new(StoreDataset {
            splits: [train, validation, test],
            source: format!(
                "store {} (memory = \"{}\")",
                self.path.display(),
                self.memory.as_str()
            ),
        }))
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
