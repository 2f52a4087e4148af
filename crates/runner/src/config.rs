//! Experiment configs: TOML in, validated and fully resolved (defaults filled in) out.

use crate::error::RunError;
use geobatch_core::{
    BatcherSpec, DatasetSpec, ModelSpec, OptimizerSpec, Quirks, SinkSpec, SplitName,
};
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
    /// The model plugin and its options (needed by `geobatch run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Box<dyn ModelSpec>>,
    /// The batcher plugin and its options.
    pub batcher: Box<dyn BatcherSpec>,
    /// Options of training (`geobatch run`).
    #[serde(default)]
    pub training: TrainingSection,
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

/// How batches reach the trainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The study's protocol: build the batch, then update; nothing overlaps.
    #[default]
    Serial,
    /// Batches are built on a worker thread into a bounded queue while the trainer computes.
    Prefetch,
}

impl Mode {
    /// The spelling in configs and results.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Serial => "serial",
            Mode::Prefetch => "prefetch",
        }
    }
}

/// The `[training]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSection {
    /// Gradient updates.
    #[serde(default = "default_train_steps")]
    pub steps: u64,
    /// Evaluate every this many steps (0: only at the end).
    #[serde(default)]
    pub eval_every: u64,
    /// Splits evaluated.
    #[serde(default = "default_eval_splits")]
    pub eval_splits: Vec<SplitName>,
    /// Leading steps flagged as warm-up.
    #[serde(default = "default_warmup")]
    pub warmup: u64,
    /// `serial` (the study's protocol) or `prefetch`.
    #[serde(default)]
    pub mode: Mode,
    /// `cpu` or `cuda[:N]`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Adam and the learning-rate schedule.
    #[serde(default)]
    pub optimizer: OptimizerSpec,
    /// Write a checkpoint (parameters, optimiser state, stream position) every this many steps
    /// (0: never); `geobatch run --resume` continues from the last one (serial and prefetch).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Threads of the CPU kernels (default: the cores this process may use). Any count gives
    /// the same bits; only the speed changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

fn default_checkpoint_every() -> u64 {
    0
}

impl Default for TrainingSection {
    fn default() -> Self {
        TrainingSection {
            steps: default_train_steps(),
            eval_every: 0,
            eval_splits: default_eval_splits(),
            warmup: default_warmup(),
            mode: Mode::Serial,
            device: default_device(),
            optimizer: OptimizerSpec::default(),
            checkpoint_every: default_checkpoint_every(),
            threads: None,
        }
    }
}

fn default_train_steps() -> u64 {
    1000
}
fn default_eval_splits() -> Vec<SplitName> {
    vec![SplitName::Validation, SplitName::Test]
}
fn default_device() -> String {
    "cpu".into()
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

/// The default sinks (`parquet` and `console`).
pub fn default_sinks() -> Vec<Box<dyn SinkSpec>> {
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
pub struct Loaded<T> {
    /// File it came from.
    pub path: PathBuf,
    /// The parsed config.
    pub config: T,
    /// The config with every default filled in, as TOML.
    pub resolved: String,
    /// SHA-256 (hex) of `resolved`.
    pub hash: String,
}

/// A graph-level config as loaded.
pub type LoadedConfig = Loaded<ExperimentConfig>;

/// A config that checks its own sections without loading data.
pub trait Validate {
    /// Checks every section; the message names the key.
    fn validate(&self) -> Result<(), String>;

    /// The dataset's resolved source, when the config alone does not name the data (see
    /// `DatasetSpec::source_identity`): it joins the resolved config and so the run identity.
    fn source_identity(&self) -> Result<Option<String>, String> {
        Ok(None)
    }
}

/// What every kind of config says about its runs: the sections all kinds share and the names
/// that identify a run.
pub trait RunConfig: Validate {
    /// The `[experiment]` table.
    fn experiment(&self) -> &ExperimentSection;
    /// The result sinks.
    fn sinks(&self) -> &[Box<dyn SinkSpec>];
    /// Dataset plugin name.
    fn dataset_name(&self) -> &'static str;
    /// Batcher plugin name.
    fn batcher_name(&self) -> &'static str;
    /// Batcher label, e.g. `static-64`.
    fn batcher_label(&self) -> String;
    /// Batcher options as JSON.
    fn batcher_options(&self) -> String;
    /// Batch size as the batcher states it.
    fn batch_size(&self) -> usize;
    /// Model plugin name, when the config has a model.
    fn model_name(&self) -> Option<&'static str>;
}

/// Implements [`RunConfig`] for a config type with the fields `experiment`, `sinks`, `dataset`,
/// `batcher` and `model: Option<_>` (the graph-level and the node-level config).
macro_rules! run_config {
    ($config:ty) => {
        impl $crate::config::RunConfig for $config {
            fn experiment(&self) -> &$crate::config::ExperimentSection {
                &self.experiment
            }
            fn sinks(&self) -> &[Box<dyn geobatch_core::SinkSpec>] {
                &self.sinks
            }
            fn dataset_name(&self) -> &'static str {
                self.dataset.typetag_name()
            }
            fn batcher_name(&self) -> &'static str {
                self.batcher.typetag_name()
            }
            fn batcher_label(&self) -> String {
                self.batcher.label()
            }
            fn batcher_options(&self) -> String {
                serde_json::to_string(&self.batcher).unwrap_or_default()
            }
            fn batch_size(&self) -> usize {
                self.batcher.batch_size()
            }
            fn model_name(&self) -> Option<&'static str> {
                self.model.as_ref().map(|m| m.typetag_name())
            }
        }
    };
}
pub(crate) use run_config;

run_config!(ExperimentConfig);

impl<T: RunConfig> Loaded<T> {
    /// What names this config's runs.
    pub fn names(&self) -> crate::identity::RunNames<'_> {
        let c = &self.config;
        crate::identity::RunNames {
            experiment: c.experiment(),
            dataset: c.dataset_name().to_string(),
            batcher: c.batcher_name().to_string(),
            batcher_label: c.batcher_label(),
            batcher_options: c.batcher_options(),
            batch_size: c.batch_size(),
            resolved: &self.resolved,
            hash: &self.hash,
        }
    }

    /// The folder of this config's run: its training run when it has a model, else its
    /// batching study.
    pub fn run_dir(&self) -> PathBuf {
        let model = self.config.model_name();
        let job = if model.is_some() { "train" } else { "batches" };
        let e = self.config.experiment();
        e.results_dir
            .join(&e.name)
            .join(self.names().run_id(job, model))
    }

    /// An input error about this config (exit code 2).
    pub fn input_error(&self, message: &str) -> RunError {
        RunError::Config {
            file: self.path.clone(),
            message: message.to_string(),
        }
    }
}

impl Validate for ExperimentConfig {
    fn validate(&self) -> Result<(), String> {
        ExperimentConfig::validate(self)
    }

    fn source_identity(&self) -> Result<Option<String>, String> {
        self.dataset
            .source_identity(&self.experiment.data_dir)
            .map_err(|e| format!("[dataset]: {e}"))
    }
}

impl<T: serde::de::DeserializeOwned + Serialize + Validate> Loaded<T> {
    /// Reads, parses and validates a config file.
    pub fn from_file(path: &Path) -> Result<Self, RunError> {
        Self::from_file_with(path, &[])
    }

    /// Reads a config file, applies `KEY=VALUE` overrides (dotted keys, TOML values; a value that
    /// is not valid TOML is taken as a string), then parses and validates it.
    pub fn from_file_with(path: &Path, overrides: &[String]) -> Result<Self, RunError> {
        parse_file_with(path, overrides, Self::from_str)
    }

    /// Parses and validates config text; `path` names it in errors.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, RunError> {
        let (config, mut resolved, mut hash) = parse_resolved::<T>(text, path)?;
        let fail = |message| RunError::Config {
            file: path.to_path_buf(),
            message,
        };
        config.validate().map_err(fail)?;
        if let Some(source) = config.source_identity().map_err(fail)? {
            // a comment: config.toml stays the config as written, and the hash (the run id)
            // changes with the data it ran on
            resolved.push_str(&format!(
                "\n# dataset source, resolved (part of the run identity): {source}\n"
            ));
            hash = hex(&Sha256::digest(resolved.as_bytes()));
        }
        Ok(Loaded {
            path: path.to_path_buf(),
            config,
            resolved,
            hash,
        })
    }
}

/// Reads a config file and applies `KEY=VALUE` overrides (see [`apply_override`]); returns the
/// text to parse and whether it was rewritten.
pub fn read_with_overrides(path: &Path, overrides: &[String]) -> Result<(String, bool), RunError> {
    let fail = |message: String| RunError::Config {
        file: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(if e.kind() == std::io::ErrorKind::InvalidData {
            "a binary file, not TOML text (it is not UTF-8): a config is a TOML text file".into()
        } else {
            format!("cannot read: {e}")
        })
    })?;
    // a byte-order mark (some Windows editors write one) is not part of the config
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    if overrides.is_empty() {
        return Ok((text, false));
    }
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| fail(e.to_string().trim_end().to_string()))?;
    for o in overrides {
        apply_override(&mut table, o).map_err(|m| fail(format!("--set {o}: {m}")))?;
    }
    let text = toml::to_string(&table).map_err(|e| fail(e.to_string()))?;
    Ok((text, true))
}

/// Reads a config file, applies `KEY=VALUE` overrides (see [`read_with_overrides`]) and parses
/// the text with `parse`; errors from parsing rewritten text say that line numbers refer to it.
pub fn parse_file_with<T>(
    path: &Path,
    overrides: &[String],
    parse: impl FnOnce(&str, &Path) -> Result<T, RunError>,
) -> Result<T, RunError> {
    let (text, rewritten) = read_with_overrides(path, overrides)?;
    let r = parse(&text, path);
    if rewritten {
        r.map_err(after_overrides)
            .map_err(|e| hint_kind_override(e, overrides))
    } else {
        r
    }
}

/// An unknown option after `--set TABLE.kind=...`: the table kept the old kind's options, which
/// the new kind does not take; says how to replace the whole table.
fn hint_kind_override(e: RunError, overrides: &[String]) -> RunError {
    let kind_set = overrides.iter().find_map(|o| {
        let key = o.split('=').next()?.trim();
        key.strip_suffix(".kind")
    });
    match (e, kind_set) {
        (RunError::Config { file, message }, Some(table)) if message.contains("unknown field") => {
            RunError::Config {
                file,
                message: format!(
                    "{message}\n(--set {table}.kind=... keeps the other options of [{table}], \
                     which belong to the old kind: replace the whole table instead, e.g. \
                     --set '{table}={{kind=\"NAME\", OPTION=VALUE}}')"
                ),
            }
        }
        (e, _) => e,
    }
}

/// Notes that line numbers refer to the rewritten config in an error from parsing it.
pub fn after_overrides(e: RunError) -> RunError {
    match e {
        RunError::Config { file, message } => RunError::Config {
            file,
            message: format!("{message}\n(line numbers refer to the config after --set)"),
        },
        other => other,
    }
}

/// Parses config text into `T` (errors name the key path), refuses a `[sweep]` table, and returns
/// the value with its resolved TOML (every default filled in) and that text's SHA-256.
pub fn parse_resolved<T: serde::de::DeserializeOwned + Serialize>(
    text: &str,
    path: &Path,
) -> Result<(T, String, String), RunError> {
    let fail = |message: String| RunError::Config {
        file: path.to_path_buf(),
        message,
    };
    let de =
        toml::Deserializer::parse(text).map_err(|e| fail(e.to_string().trim_end().to_string()))?;
    if toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("sweep")) {
        return Err(fail(
            "this config has a [sweep] table: run its combinations with `geobatch sweep` \
             (or remove the table to run the base config)"
                .into(),
        ));
    }
    let config: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let (path, inner) = name_the_key(text, path, inner.trim_end());
        let inner = inner.as_str();
        if path.is_empty() || path == "." {
            fail(inner.to_string())
        } else {
            fail(format!("key `{path}`: {inner}"))
        }
    })?;
    let resolved =
        toml::to_string(&config).map_err(|e| fail(format!("cannot resolve config: {e}")))?;
    let hash = hex(&Sha256::digest(resolved.as_bytes()));
    Ok((config, resolved, hash))
}

/// A wrong type or value found inside a plugin's table (serde only knows the table: the
/// plugin's options are read through its registered name) is named by its dotted key, found by
/// its value, and an integer's valid range is added: `key `batcher`: invalid value: integer
/// `-3`, expected usize` becomes `key `batcher.batch_size`: ... (a whole number from 0 to ...)`.
fn name_the_key(text: &str, path: String, inner: &str) -> (String, String) {
    let mut inner = inner.to_string();
    if let Some(range) = ["usize", "u64", "u32", "u16", "u8", "i64", "i32"]
        .iter()
        .find(|t| inner.ends_with(&format!("expected {t}")))
        .map(|t| match *t {
            "usize" | "u64" => "a whole number from 0 to 18446744073709551615".to_string(),
            "u32" => "a whole number from 0 to 4294967295".to_string(),
            "u16" => "a whole number from 0 to 65535".to_string(),
            "u8" => "a whole number from 0 to 255".to_string(),
            "i32" => "a whole number from -2147483648 to 2147483647".to_string(),
            _ => "a whole number from -9223372036854775808 to 9223372036854775807".to_string(),
        })
    {
        inner.push_str(&format!(" ({range})"));
    }
    // the value the message quotes: `string "32"`, `integer `-3``, `floating point `inf``
    let quoted = inner
        .split_once("invalid type: ")
        .or_else(|| inner.split_once("invalid value: "))
        .and_then(|(_, rest)| rest.split_once(", expected"))
        .map(|(v, _)| v.to_string());
    let Some(quoted) = quoted else {
        return (path, inner);
    };
    let literal = quoted
        .split_once(' ')
        .map_or(quoted.as_str(), |(_, v)| v)
        .trim_start_matches("point ")
        .trim_matches('`')
        .to_string();
    let Ok(doc) = text.parse::<toml::Table>() else {
        return (path, inner);
    };
    let mut at: Option<&toml::Value> = None;
    for (i, part) in path.split('.').enumerate() {
        let next = match (i, at) {
            (0, _) => doc.get(part),
            (_, Some(toml::Value::Table(t))) => t.get(part),
            (_, Some(toml::Value::Array(a))) => part.parse::<usize>().ok().and_then(|n| a.get(n)),
            _ => None,
        };
        at = next;
    }
    let Some(toml::Value::Table(table)) = at else {
        return (path, inner);
    };
    fn leaves<'a>(t: &'a toml::Table, prefix: &str, out: &mut Vec<(String, &'a toml::Value)>) {
        for (k, v) in t {
            let key = format!("{prefix}.{k}");
            match v {
                toml::Value::Table(sub) => leaves(sub, &key, out),
                other => out.push((key, other)),
            }
        }
    }
    let mut all = Vec::new();
    leaves(table, &path, &mut all);
    let matching: Vec<&String> = all
        .iter()
        .filter(|(_, v)| {
            let shown = v.to_string();
            shown == literal || shown.trim_matches('"') == literal.trim_matches('"')
        })
        .map(|(k, _)| k)
        .collect();
    match matching.as_slice() {
        [one] => ((*one).clone(), inner),
        _ => (path, inner),
    }
}

/// The task a config describes: the task of its `[dataset]` plugin (graph-level when the kind is
/// unknown, so the graph-level parser reports the error).
pub fn task_of(text: &str) -> geobatch_core::Task {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| {
            let kind = t.get("dataset")?.get("kind")?.as_str()?.to_string();
            geobatch_core::registry::find(geobatch_core::PluginKind::Dataset, &kind).map(|d| d.task)
        })
        .unwrap_or(geobatch_core::Task::Graph)
}

/// Sets a dotted `key=value` in a TOML table, creating intermediate tables.
pub fn apply_override(table: &mut toml::Table, spec: &str) -> Result<(), String> {
    let (key, value) = spec.split_once('=').ok_or("expected KEY=VALUE")?;
    let (key, value) = (key.trim(), value.trim());
    let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("bad key {key:?}"));
    }
    let (last, path) = parts.split_last().ok_or("empty key")?;
    let mut t = table;
    for (i, p) in path.iter().enumerate() {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is not a table", parts[..=i].join(".")))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ExperimentConfig {
    /// Checks every section and plugin's options without loading data. Messages name the key.
    pub fn validate(&self) -> Result<(), String> {
        check_experiment(&self.experiment)?;
        if self.batches.steps == 0 {
            return Err("batches.steps must be at least 1".into());
        }
        if self.training.steps == 0 {
            return Err("training.steps must be at least 1".into());
        }
        check_device(&self.training.device)?;
        check_threads(self.training.threads)?;
        geobatch_core::dataset::check_unique("training.eval_splits", &self.training.eval_splits)
            .map_err(|e| e.to_string())?;
        self.training
            .optimizer
            .validate()
            .map_err(|e| e.to_string())?;
        if let Some(m) = &self.model {
            m.validate().map_err(|e| format!("[model] {e}"))?;
        }
        self.dataset
            .validate()
            .map_err(|e| format!("[dataset] {e}"))?;
        self.batcher
            .validate()
            .map_err(|e| format!("[batcher] {e}"))?;
        let bs = self.batcher.batch_size();
        if bs > geobatch_core::batcher::MAX_BATCH_SIZE {
            return Err(format!(
                "batcher.batch_size = {bs}: at most {} (and at most the training split's graphs + 1, checked when the data is loaded)",
                geobatch_core::batcher::MAX_BATCH_SIZE
            ));
        }
        check_sinks(&self.sinks)
    }
}

/// Checks every sink's options, and that no two sinks write the same file of the run folder
/// (one writer per table: two `parquet` sinks would write the same part files twice over).
pub fn check_sinks(sinks: &[Box<dyn SinkSpec>]) -> Result<(), String> {
    for (i, s) in sinks.iter().enumerate() {
        s.validate()
            .map_err(|e| format!("[[sinks]] #{}: {e}", i + 1))?;
    }
    if let Some((a, b, file)) = geobatch_core::sink::colliding_files(sinks) {
        return Err(format!(
            "[[sinks]] #{a} ({}) and #{b} ({}) would both write {file} in the run folder: a run \
             folder has one writer per table; keep one of them",
            sinks[a - 1].typetag_name(),
            sinks[b - 1].typetag_name()
        ));
    }
    Ok(())
}

/// Checks the `[experiment]` table.
pub fn check_experiment(e: &ExperimentSection) -> Result<(), String> {
    let name = &e.name;
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.+".contains(c);
    if name.is_empty() || !name.chars().all(plain) || name.starts_with('.') {
        return Err(format!(
            "experiment.name = {name:?}: must be a folder name of letters, digits and - _ . + \
             (no slashes, spaces or quotes)"
        ));
    }
    Ok(())
}

/// Checks `training.threads`: at least one, at most [`MAX_THREADS`].
pub fn check_threads(threads: Option<usize>) -> Result<(), String> {
    match threads {
        Some(0) => Err(
            "training.threads = 0: at least 1 (leave the key out to use every core this process \
             may use)"
                .into(),
        ),
        Some(t) if t > MAX_THREADS => Err(format!("training.threads = {t}: at most {MAX_THREADS}")),
        _ => Ok(()),
    }
}

/// Most kernel threads a run may ask for.
pub const MAX_THREADS: usize = 1024;

/// Checks a `training.device` value.
pub fn check_device(device: &str) -> Result<(), String> {
    let cuda_index = device
        .strip_prefix("cuda:")
        .map(|n| n.parse::<usize>().is_ok());
    if !(device == "cpu" || device == "cuda" || cuda_index == Some(true)) {
        return Err(format!(
            "training.device = {device:?}: expected \"cpu\", \"cuda\" or \"cuda:N\""
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_set_dotted_keys_with_toml_values() {
        let mut t: toml::Table =
            toml::from_str("[batcher]\nkind = \"static\"\nbatch_size = 4\n").unwrap();
        apply_override(&mut t, "batcher.batch_size=64").unwrap();
        apply_override(&mut t, "batcher.pad = pow2").unwrap();
        apply_override(&mut t, "dataset.graph.k=6").unwrap();
        assert_eq!(t["batcher"]["batch_size"].as_integer(), Some(64));
        assert_eq!(t["batcher"]["pad"].as_str(), Some("pow2"));
        assert_eq!(t["dataset"]["graph"]["k"].as_integer(), Some(6));
        assert!(
            apply_override(&mut t, "batcher.kind.x=1")
                .unwrap_err()
                .contains("`batcher.kind` is not a table")
        );
        assert!(apply_override(&mut t, "nothing").is_err());
        assert!(apply_override(&mut t, "a..b=1").is_err());
    }
}
