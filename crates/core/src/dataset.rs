//! The dataset plugin contract.

use crate::error::Result;
use crate::graph::GraphSet;
use crate::registry::{PluginKind, PluginRole, Task};
use crate::targets::TargetStats;
use crate::task::{GraphLevel, TaskType};
use serde::{Deserialize, Serialize};
use std::fmt::{self, Debug};
use std::path::PathBuf;

/// The three splits of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitName {
    /// Training split.
    Train,
    /// Validation split.
    Validation,
    /// Test split.
    Test,
}

impl SplitName {
    /// All splits in order.
    pub const ALL: [SplitName; 3] = [SplitName::Train, SplitName::Validation, SplitName::Test];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Validation => "validation",
            SplitName::Test => "test",
        }
    }
}

impl fmt::Display for SplitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a dataset is loaded with.
#[derive(Debug, Clone)]
pub struct DatasetContext {
    /// The run's seed (splits and synthetic generation derive from it unless the spec fixes one).
    pub seed: u64,
    /// Folder where fetched and imported data lives (`data/` by default).
    pub data_dir: PathBuf,
}

impl DatasetContext {
    /// The seed of a config that names none (`experiment.seed`).
    pub const DEFAULT_SEED: u64 = 42;
    /// The data folder of a config that names none (`experiment.data_dir`).
    pub const DEFAULT_DATA_DIR: &'static str = "data";
}

/// A loaded dataset: three [`GraphSet`] splits sharing species classes and targets.
pub trait Dataset: Send + Sync {
    /// The registered name of the dataset plugin.
    fn name(&self) -> &str;

    /// One split.
    fn split(&self, split: SplitName) -> &GraphSet;

    /// Where the data came from (a file, a fixture, a generator), for the run's records.
    fn source(&self) -> String {
        self.name().to_string()
    }

    /// Atomic number of each species class, in first-seen order.
    fn species_classes(&self) -> &[u8] {
        self.split(SplitName::Train).species_classes()
    }

    /// Target column names.
    fn target_names(&self) -> &[String] {
        self.split(SplitName::Train).target_names()
    }

    /// Units of the targets, one per target name (empty strings when unknown).
    fn target_units(&self) -> Vec<String> {
        vec![String::new(); self.target_names().len()]
    }

    /// Standardisation statistics of every target, from the training split.
    fn target_stats(&self) -> Vec<TargetStats> {
        TargetStats::of(self.split(SplitName::Train))
    }
}

/// Config of a dataset of the task `T`, registered by name with `#[plugin(name = "...")]`.
pub trait DatasetSpec<T: TaskType = GraphLevel>: dyn_clone::DynClone + Debug + Send + Sync {
    /// The registered name (`kind = "..."`); written by `#[plugin]`.
    fn plugin_name(&self) -> &'static str;

    /// The spec's options, for writing it back as a table; written by `#[plugin]`.
    fn as_serialize(&self) -> &dyn crate::tagged::ErasedSerialize;

    /// Checks the options without loading anything (`geobatch validate`).
    fn validate(&self) -> Result<()>;

    /// Loads (or generates) the dataset.
    fn load(&self, ctx: &DatasetContext) -> Result<Box<T::Dataset>>;

    /// Where the data comes from, resolved, when the config alone does not say (a `source =
    /// "auto"` that depends on what was fetched into `data_dir`, a file whose content may
    /// change): a path and a content fingerprint. It is part of the run identity, so runs on
    /// different data never share a run folder. `None` when the config says it all.
    fn source_identity(&self, _data_dir: &std::path::Path) -> Result<Option<String>> {
        Ok(None)
    }

    /// Makes the dataset a part at a time, handing each split's structures to `each` in sets
    /// of about `part` as they are made: what writes a store larger than memory (`geobatch
    /// data store`). `None` where the plugin cannot (its dataset is then loaded whole).
    fn for_each_part(
        &self,
        _ctx: &DatasetContext,
        _part: usize,
        _each: &mut dyn FnMut(SplitName, &GraphSet) -> Result<()>,
    ) -> Option<Result<()>> {
        None
    }
}

impl<T: TaskType> PluginRole for dyn DatasetSpec<T> {
    const KIND: PluginKind = PluginKind::Dataset;
    const TASK: Task = T::TASK;
}

crate::tagged::plugin_serde!(DatasetSpec<T>);

/// A dataset held as three ready splits: what most dataset plugins load into.
#[derive(Debug)]
pub struct SplitDataset {
    /// Plugin name.
    pub name: String,
    /// Train, validation and test splits, sharing species classes and targets.
    pub splits: [GraphSet; 3],
    /// Unit of every target.
    pub units: Vec<String>,
    /// Where the data came from, with what was skipped while reading it.
    pub source: String,
}

impl Dataset for SplitDataset {
    fn name(&self) -> &str {
        &self.name
    }

    fn split(&self, split: SplitName) -> &GraphSet {
        &self.splits[split as usize]
    }

    fn target_units(&self) -> Vec<String> {
        self.units.clone()
    }

    fn source(&self) -> String {
        self.source.clone()
    }
}

/// Refuses a list that names one item twice (`key` names the option): a target or split listed
/// twice would be trained or reported twice over.
pub fn check_unique<T: PartialEq + fmt::Display>(key: &str, items: &[T]) -> Result<()> {
    for (i, a) in items.iter().enumerate() {
        if items[..i].contains(a) {
            return Err(crate::Error::invalid(format!(
                "{key} names {a} twice: list each once"
            )));
        }
    }
    Ok(())
}
