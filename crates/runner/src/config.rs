//! Experiment configs: TOML in, validated and fully resolved (defaults filled in) out.

use crate::error::RunError;
use geobatch_core::{BatcherSpec, DatasetSpec, Quirks, SinkSpec, SplitName};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One experiment: a dataset, a batcher, sinks and the job options.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Name, seed and folders.
    pub experiment: ExperimentSection,
    /// The dataset plugin (`kind = "..."`) and its options.
    pub dataset: Box<dyn DatasetSpec>,
    /// The batcher plugin and its options.
    pub batcher: Box<dyn BatcherSpec>,
    /// Options of the batching study (`geobatch batches`).
    #[serde(default)]
    pub batches: BatchesSection,
    /// Result sinks; `parquet` and `console` when absent.
    #[serde(default = "default_sinks")]
    pub sinks: Vec<Box<dyn SinkSpec>>,
}

/// The `[experiment]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// Experiment name: the results folder under `results_dir`.
    pub name: String,
    /// Seed of the data order, splits and (later) parameters.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `clean` (default) or `reference` (the reference implementation's stream quirks).
    #[serde(default)]
    pub quirks: Quirks,
    /// Where results go (relative to the working directory).
    #[serde(default = "default_results")]
    pub results_dir: PathBuf,
    /// Where fetched and imported data lives (relative to the working directory).
    #[serde(default = "default_data")]
    pub data_dir: PathBuf,
}

/// The `[batches]` table: the batching-only study.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchesSection {
    /// Batches to plan and collate.
    #[serde(default = "default_steps")]
    pub steps: u64,
    /// Leading batches flagged as warm-up and left out of the time statistics.
    #[serde(default = "default_warmup")]
    pub warmup: u64,
    /// Split whose (repeating, shuffled) stream is batched.
    #[serde(default = "default_split")]
    pub split: SplitName,
}

impl Default for BatchesSection {
    fn default() -> Self {
        BatchesSection {
            steps: default_steps(),
            warmup: default_warmup(),
            split: default_split(),
        }
    }
}

fn default_seed() -> u64 {
    42
}
fn default_results() -> PathBuf {
    "results".into()
}
fn default_data() -> PathBuf {
    "data".into()
}
fn default_steps() -> u64 {
    1000
}
fn default_warmup() -> u64 {
    10
}
fn default_split() -> SplitName {
    SplitName::Train
}

/// Sinks used when a config names none.
pub const DEFAULT_SINKS: &str = "[[sinks]]\nkind = \"parquet\"\n[[sinks]]\nkind = \"console\"\n";

fn default_sinks() -> Vec<Box<dyn SinkSpec>> {
    #[derive(Deserialize)]
    struct S {
        sinks: Vec<Box<dyn SinkSpec>>,
    }
    // Falls back to no sink when a build links neither default sink plugin.
    toml::from_str::<S>(DEFAULT_SINKS)
        .map(|s| s.sinks)
        .unwrap_or_default()
}

/// A config as loaded: the parsed value, its resolved TOML and that text's hash.
#[derive(Debug)]
pub struct LoadedConfig {
    /// File it came from.
    pub path: PathBuf,
    /// The parsed config.
    pub config: ExperimentConfig,
    /// The config with every default filled in, as TOML.
    pub resolved: String,
    /// SHA-256 (hex) of `resolved`.
    pub hash: String,
}

impl LoadedConfig {
    /// Reads, parses and validates a config file.
    pub fn from_file(path: &Path) -> Result<Self, RunError> {
        let text = std::fs::read_to_string(path).map_err(|e| RunError::Config {
            file: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_str(&text, path)
    }

    /// Parses and validates config text; `path` names it in errors.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, RunError> {
        let fail = |message: String| RunError::Config {
            file: path.to_path_buf(),
            message,
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| fail(e.to_string().trim_end().to_string()))?;
        let config: ExperimentConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let inner = inner.trim_end();
            if path.is_empty() || path == "." {
                fail(inner.to_string())
            } else {
                fail(format!("key `{path}`: {inner}"))
            }
        })?;
        config.validate().map_err(fail)?;
        let resolved =
            toml::to_string(&config).map_err(|e| fail(format!("cannot resolve config: {e}")))?;
        let hash = hex(&Sha256::digest(resolved.as_bytes()));
        Ok(LoadedConfig {
            path: path.to_path_buf(),
            config,
            resolved,
            hash,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ExperimentConfig {
    /// Checks every section and plugin's options without loading data. Messages name the key.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.experiment.name;
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(format!(
                "experiment.name = {name:?}: must be a non-empty folder name without slashes"
            ));
        }
        if self.batches.steps == 0 {
            return Err("batches.steps must be at least 1".into());
        }
        self.dataset
            .validate()
            .map_err(|e| format!("[dataset] {e}"))?;
        self.batcher
            .validate()
            .map_err(|e| format!("[batcher] {e}"))?;
        for (i, s) in self.sinks.iter().enumerate() {
            s.validate()
                .map_err(|e| format!("[[sinks]] #{}: {e}", i + 1))?;
        }
        Ok(())
    }
}
