//! Loading a config: parsed, validated, resolved (every default filled in) and hashed; the
//! traits every kind of config implements, and the names of its runs.

use super::overrides::parse_file_with;
use super::schema::{ExperimentConfig, ExperimentSection};
use crate::error::RunError;
use geobatch_core::{PluginKind, SinkSpec, Task};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

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
    /// The batcher's `batch_size`, in its own meaning: graph slots or mean graphs per batch
    /// (graph-level), output nodes or parts per batch (node-level): `BatcherSpec::batch_size`; it
    /// names the run (`bs32`).
    fn batch_size(&self) -> usize;
    /// Model plugin name, when the config has a model.
    fn model_name(&self) -> Option<&'static str>;
}

/// Implements [`RunConfig`] for a config type with the fields `experiment`, `sinks`, `dataset`,
/// `batcher` and `model: Option<_>` (the graph-level and the node-level config).
#[macro_export]
macro_rules! run_config {
    ($config:ty) => {
        impl $crate::config::RunConfig for $config {
            fn experiment(&self) -> &$crate::config::ExperimentSection {
                &self.experiment
            }
            fn sinks(&self) -> &[Box<dyn $crate::config::SinkSpec>] {
                &self.sinks
            }
            fn dataset_name(&self) -> &'static str {
                self.dataset.plugin_name()
            }
            fn batcher_name(&self) -> &'static str {
                self.batcher.plugin_name()
            }
            fn batcher_label(&self) -> String {
                self.batcher.label()
            }
            fn batcher_options(&self) -> String {
                $crate::config::options_json(&self.batcher)
            }
            fn batch_size(&self) -> usize {
                self.batcher.batch_size()
            }
            fn model_name(&self) -> Option<&'static str> {
                self.model.as_ref().map(|m| m.plugin_name())
            }
        }
    };
}

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
        Document::parse(text, path)?.load()
    }

    /// Config text (built in, not a file's) with `KEY=VALUE` overrides applied, parsed and
    /// validated; `path` names it in errors.
    pub fn from_str_with(text: &str, path: &Path, overrides: &[String]) -> Result<Self, RunError> {
        super::overrides::parse_text_with(text, path, overrides, Self::from_str)
    }
}

/// A config's text parsed once: the one parse that decides its kind ([`Document::task`]),
/// refuses a `[sweep]` table and becomes its typed value ([`Document::load`]).
pub struct Document<'t> {
    text: &'t str,
    path: &'t Path,
    root: toml::Spanned<toml::de::DeTable<'t>>,
}

impl<'t> Document<'t> {
    /// Parses config text; `path` names it in errors.
    pub fn parse(text: &'t str, path: &'t Path) -> Result<Self, RunError> {
        let root = toml::de::DeTable::parse(text)
            .map_err(|e| config_error(path, e.to_string().trim_end().to_string()))?;
        Ok(Document { text, path, root })
    }

    /// A top-level table's value.
    fn top(&self, key: &str) -> Option<&toml::de::DeValue<'t>> {
        self.root
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| v.get_ref())
    }

    /// The task the config describes: the task of its `[dataset]` plugin (graph-level when the
    /// kind is unknown, so the graph-level parser reports the error).
    pub fn task(&self) -> geobatch_core::Task {
        self.top("dataset")
            .and_then(|d| d.get("kind")?.get_ref().as_str())
            .and_then(|kind| {
                geobatch_core::registry::find(geobatch_core::PluginKind::Dataset, kind)
            })
            .map_or(geobatch_core::Task::Graph, |d| d.task)
    }

    /// An error about this config file (exit code 2).
    pub fn error(&self, message: String) -> RunError {
        config_error(self.path, message)
    }

    /// The typed config, validated, resolved (every default filled in) and hashed.
    pub fn load<T: serde::de::DeserializeOwned + Serialize + Validate>(
        self,
    ) -> Result<Loaded<T>, RunError> {
        self.load_edited(|_: &mut T| {})
    }

    /// [`Document::load`] with `edit` made to the typed value before it is validated (a job's
    /// own settings: `--steps`, `--epochs`).
    pub fn load_edited<T: serde::de::DeserializeOwned + Serialize + Validate>(
        self,
        edit: impl FnOnce(&mut T),
    ) -> Result<Loaded<T>, RunError> {
        let path = self.path;
        let mut config = self.typed::<T>()?;
        edit(&mut config);
        Loaded::from_value(config, path)
    }

    /// The typed value (errors name the key path), refusing a `[sweep]` table.
    fn typed<T: serde::de::DeserializeOwned>(self) -> Result<T, RunError> {
        let (text, path) = (self.text, self.path);
        let fail = |message: String| config_error(path, message);
        if self.top("sweep").is_some() {
            return Err(fail(
                "this config has a [sweep] table: run its combinations with `geobatch sweep` \
                 (or remove the table to run the base config)"
                    .into(),
            ));
        }
        let task = self.task();
        let de = toml::Deserializer::from(self.root);
        let config: T = serde_path_to_error::deserialize(de).map_err(|e| {
            let at = Step::of(e.path());
            let mut path = e.path().to_string();
            let mut inner = e.into_inner();
            // the parsed document does not carry its text: the error quotes it from here
            inner.set_input(Some(text));
            let inner = with_range(inner.to_string().trim_end());
            if let Some(key) = key_in_plugin(text, &at, task) {
                path = format!("{path}.{key}");
            }
            if path.is_empty() || path == "." {
                fail(inner)
            } else {
                fail(format!("key `{path}`: {inner}"))
            }
        })?;
        Ok(config)
    }
}

impl<T: Serialize + Validate> Loaded<T> {
    /// A typed config validated, resolved (every default filled in, as TOML) and hashed: what a
    /// config file becomes once parsed, and what an edited config becomes again (`--steps`,
    /// `bench --model`, advise's variants: edited as values, never as text). `path` names it in
    /// errors.
    pub fn from_value(config: T, path: &Path) -> Result<Self, RunError> {
        let fail = |message| config_error(path, message);
        let mut resolved =
            toml::to_string(&config).map_err(|e| fail(format!("cannot resolve config: {e}")))?;
        config.validate().map_err(fail)?;
        if let Some(source) = config.source_identity().map_err(fail)? {
            // a comment: config.toml stays the config as written, and the hash (the run id)
            // changes with the data it ran on
            resolved.push_str(&format!(
                "\n# dataset source, resolved (part of the run identity): {source}\n"
            ));
        }
        let hash = hex(&Sha256::digest(resolved.as_bytes()));
        Ok(Loaded {
            path: path.to_path_buf(),
            config,
            resolved,
            hash,
        })
    }

    /// This config with `edit` made to a copy of its value, loaded again (validated, resolved,
    /// hashed): a job's own settings (`--steps`, advise's probes) change the run it names.
    pub fn edited(&self, edit: impl FnOnce(&mut T)) -> Result<Self, RunError>
    where
        T: Clone,
    {
        let mut config = self.config.clone();
        edit(&mut config);
        Self::from_value(config, &self.path)
    }
}

/// An error about the config file `path` (exit code 2).
fn config_error(path: &Path, message: String) -> RunError {
    RunError::Config {
        file: path.to_path_buf(),
        message,
    }
}

/// `message` with the valid range of the integer type it expects added: `invalid value:
/// integer `-3`, expected usize` ends `(a whole number from 0 to 18446744073709551615)`.
fn with_range(message: &str) -> String {
    let range = [
        ("usize", "0 to 18446744073709551615"),
        ("u64", "0 to 18446744073709551615"),
        ("u32", "0 to 4294967295"),
        ("u16", "0 to 65535"),
        ("u8", "0 to 255"),
        ("i32", "-2147483648 to 2147483647"),
        ("i64", "-9223372036854775808 to 9223372036854775807"),
    ]
    .into_iter()
    .find(|(t, _)| message.ends_with(&format!("expected {t}")));
    match range {
        Some((_, range)) => format!("{message} (a whole number from {range})"),
        None => message.to_string(),
    }
}

/// The key inside a plugin's table where reading it failed. serde's path stops at a plugin's
/// table (the registry reads it through its registered name), so the table at `at` in the config
/// `text` is read again, without its `kind` key, by the plugin it names
/// ([`geobatch_core::PluginDescriptor::first_error`]) to find the key it fails at.
fn key_in_plugin(text: &str, at: &[Step], task: Task) -> Option<String> {
    let root = toml::de::DeTable::parse(text).ok()?.into_inner();
    let mut value: Option<&toml::de::DeValue<'_>> = None;
    for step in at {
        let next = match (step, value) {
            (Step::Key(k), None) => root.get(k.as_str()),
            (Step::Key(k), Some(toml::de::DeValue::Table(t))) => t.get(k.as_str()),
            (Step::Index(i), Some(toml::de::DeValue::Array(a))) => a.get(*i),
            _ => None,
        };
        value = Some(next?.get_ref());
    }
    let Some(toml::de::DeValue::Table(table)) = value else {
        return None;
    };
    let name = table.get("kind")?.get_ref().as_str()?;
    let mut options = table.clone();
    options.remove("kind");
    let options = toml::Spanned::new(0..0, options);
    // the table's kind of plugin by its top-level key (`sinks`, `batcher`, ...), where it says
    let kind = match at.first() {
        Some(Step::Key(top)) => PluginKind::parse(top),
        _ => None,
    };
    key_in_options(
        name,
        kind,
        task,
        |d| {
            let de = toml::Deserializer::from(options.clone());
            (d.first_error)(&mut <dyn erased_serde::Deserializer>::erase(de))
        },
        |key| options.get_ref().contains_key(key),
    )
}

/// The key inside the options of the plugin `name` (of `kind`, for `task`) that its own spec
/// fails at: each such descriptor reads the options again (`first_error_of`). The same entries
/// read in the same order fail at the same key (the wording of the message may differ: a
/// config buffers the table); that key must be one of the options (`has_key`).
fn key_in_options(
    name: &str,
    kind: Option<PluginKind>,
    task: Task,
    first_error_of: impl Fn(
        &geobatch_core::PluginDescriptor,
    ) -> Option<geobatch_core::registry::OptionError>,
    has_key: impl Fn(&str) -> bool,
) -> Option<String> {
    geobatch_core::registry::descriptors()
        .into_iter()
        .filter(|d| d.name == name && kind.is_none_or(|k| d.kind == k))
        .filter(|d| d.task == task || d.kind == PluginKind::Sink)
        .find_map(|d| {
            let found = first_error_of(d)?;
            let first = found.path.split(['.', '[']).next().unwrap_or_default();
            has_key(first).then_some(found.path)
        })
}

/// A plugin spec read from its table as a value (`top`: where a config holds it, `batcher`),
/// not from config text: advise's `--batchers`. Errors name the key inside the table as a
/// config's do (`key `batcher.pad``).
pub fn plugin_from_table<T: serde::de::DeserializeOwned>(
    top: &str,
    table: &toml::Table,
    task: Task,
) -> Result<T, String> {
    toml::Value::Table(table.clone())
        .try_into::<T>()
        .map_err(|e| {
            let message = with_range(e.to_string().trim_end());
            let name = table
                .get("kind")
                .and_then(toml::Value::as_str)
                .unwrap_or_default();
            let mut options = table.clone();
            options.remove("kind");
            let key = key_in_options(
                name,
                PluginKind::parse(top),
                task,
                |d| {
                    let de = toml::Value::Table(options.clone());
                    (d.first_error)(&mut <dyn erased_serde::Deserializer>::erase(de))
                },
                |key| options.contains_key(key),
            );
            match key {
                Some(key) => format!("key `{top}.{key}`: {message}"),
                None => format!("key `{top}`: {message}"),
            }
        })
}

/// One step of a key path: a table's key or an array's index.
enum Step {
    Key(String),
    Index(usize),
}

impl Step {
    /// The steps of serde's path.
    fn of(path: &serde_path_to_error::Path) -> Vec<Step> {
        path.iter()
            .map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Step::Index(*index),
                serde_path_to_error::Segment::Map { key } => Step::Key(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Step::Key(variant.clone()),
                serde_path_to_error::Segment::Unknown => Step::Key(String::new()),
            })
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
