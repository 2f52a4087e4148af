//! Plugin descriptors, collected at link time with `inventory`.
//!
//! Every plugin submits one [`PluginDescriptor`] (with `#[plugin]`): configs read a spec through
//! it (by the `kind` key, [`crate::tagged`]), and `geobatch list`, `geobatch example` and
//! `docs/plugins.md` come from it, so they all have one source.

use serde::Serialize;
use std::fmt;

/// The four kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// A dataset (`[dataset]`).
    Dataset,
    /// A model (`[model]`).
    Model,
    /// A batcher (`[batcher]`).
    Batcher,
    /// A result sink (`[[sinks]]`).
    Sink,
}

impl PluginKind {
    /// All kinds.
    pub const ALL: [PluginKind; 4] = [
        PluginKind::Dataset,
        PluginKind::Model,
        PluginKind::Batcher,
        PluginKind::Sink,
    ];

    /// The spelling used on the command line and in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Dataset => "dataset",
            PluginKind::Model => "model",
            PluginKind::Batcher => "batcher",
            PluginKind::Sink => "sink",
        }
    }

    /// Parses a kind from its spelling (plural accepted).
    pub fn parse(s: &str) -> Option<PluginKind> {
        PluginKind::ALL
            .into_iter()
            .find(|k| s == k.as_str() || s.strip_suffix('s') == Some(k.as_str()))
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One option of a plugin, for documentation.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OptionDoc {
    /// Key in the plugin's table.
    pub name: &'static str,
    /// Type as written in TOML.
    pub ty: &'static str,
    /// What the spec takes when the key is absent.
    pub default: OptionDefault,
    /// What it does.
    pub doc: &'static str,
}

/// An option's documented default: shown from the value the spec takes where it is one, so that
/// the documentation cannot drift from it.
#[derive(Debug, Clone, Copy)]
pub enum OptionDefault {
    /// None: the key must be given.
    Required,
    /// As written in the spec's source: a literal (`64`, `"cutoff"`, `[]`), or words for what
    /// no value says (`none`, `the run's seed`).
    Text(&'static str),
    /// The default value, written as TOML when shown ([`toml_text`]; [`crate::value_default!`]).
    Value(fn() -> String),
}

impl OptionDefault {
    /// Whether the key must be given.
    pub fn is_required(&self) -> bool {
        matches!(self, OptionDefault::Required)
    }
}

impl fmt::Display for OptionDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionDefault::Required => f.write_str("required"),
            OptionDefault::Text(text) => f.write_str(text),
            OptionDefault::Value(shown) => f.write_str(&shown()),
        }
    }
}

impl Serialize for OptionDefault {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `value` as a TOML value (`{ kind = "knn", k = 12 }`, `"auto"`, `0.25`): how a default
/// value is shown.
pub fn toml_text<T: Serialize + ?Sized>(value: &T) -> String {
    // written directly (not through `toml::Value`, whose tables sort their keys): a struct's
    // fields in their order, `kind` first
    let mut text = String::new();
    match value.serialize(toml::ser::ValueSerializer::new(&mut text)) {
        Ok(_) => text,
        Err(e) => format!("(not a TOML value: {e})"),
    }
}

/// The [`OptionDefault::Value`] of an expression (a default function's call, `default_rule()`):
/// a hand-written [`OptionDoc`]'s default shown from the value itself.
#[macro_export]
macro_rules! value_default {
    ($default:expr) => {
        $crate::registry::OptionDefault::Value({
            fn shown() -> ::std::string::String {
                $crate::registry::toml_text(&$default)
            }
            shown
        })
    };
}

/// What a plugin trait is: the kind of plugin its implementations are and the task they serve.
/// Each spec trait implements it for its trait objects (`dyn BatcherSpec<T>`: a batcher of the
/// task `T`), so `#[plugin]` reads both from the trait's type, never from its name, and configs
/// find a spec among the registrations of its role ([`crate::tagged`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plugin trait",
    note = "#[plugin] goes on a spec's impl of a plugin trait: BatcherSpec, DatasetSpec, \
            ModelSpec or SinkSpec (of a task: BatcherSpec<NodeLevel>)"
)]
pub trait PluginRole {
    /// The kind of plugin.
    const KIND: PluginKind;
    /// The task it serves.
    const TASK: Task;
}

/// Which task a plugin serves: many small graphs (molecules, crystals) or one large graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Graph-level regression over many small graphs (the default).
    Graph,
    /// Node classification on one large graph; batches are subgraphs.
    Node,
    /// An interatomic potential: the graph level's data and batches, a model trained on
    /// energies, forces and stresses (models only: `geobatch_potential::Potential`).
    Potential,
}

impl Task {
    /// The spelling in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Graph => "graph",
            Task::Node => "node",
            Task::Potential => "potential",
        }
    }
}

/// A plugin's self-description.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PluginDescriptor {
    /// Kind of plugin.
    pub kind: PluginKind,
    /// The task it serves (sinks serve every task and say `Graph`).
    pub task: Task,
    /// Registered name (the `kind = "..."` value).
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Options with defaults.
    pub options: &'static [OptionDoc],
    /// An example TOML table body (without the table header), valid as written.
    pub example: &'static str,
    /// Where reading this plugin's options from a table (its `kind` key left out) first fails:
    /// [`first_error`] of the spec's type. A plugin's table is read through its registered
    /// name, so a config's error path stops at the table; this names the key in it.
    #[serde(skip)]
    pub first_error: fn(&mut dyn erased_serde::Deserializer<'_>) -> Option<OptionError>,
    /// Reads the spec from its options (`kind` left out), boxed as its role's trait object:
    /// what a config's `kind = "..."` finds ([`crate::tagged::spec_from`]).
    #[serde(skip)]
    pub deserialize: fn(SpecOptions) -> Result<AnySpec, SpecError>,
}

/// A plugin's options as read from its table, `kind` left out.
pub type SpecOptions = toml::Value;

/// Why a plugin's options did not read.
pub type SpecError = toml::de::Error;

/// A spec read by its registration, boxed as the trait object its role names
/// (`Box<Box<dyn BatcherSpec<T>>>` as `Any`), for [`crate::tagged::spec_from`] to take back.
pub type AnySpec = Box<dyn std::any::Any>;

/// Where reading a plugin's options failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The dotted key path inside the plugin's table (`nodes.max`, `targets[0]`); empty or
    /// `.` for the table itself.
    pub path: String,
    /// The error's message.
    pub message: String,
}

/// The first error reading `T` from `de`, with the key path inside `T` where it happened;
/// `None` when `T` reads.
pub fn first_error<T: serde::de::DeserializeOwned>(
    de: &mut dyn erased_serde::Deserializer<'_>,
) -> Option<OptionError> {
    serde_path_to_error::deserialize::<_, T>(de)
        .err()
        .map(|e| OptionError {
            path: e.path().to_string(),
            message: e.into_inner().to_string(),
        })
}

inventory::collect!(PluginDescriptor);

/// The link-time collection `#[plugin]` submits descriptors through, so that a plugin crate
/// needs no dependency of its own on it.
#[doc(hidden)]
pub use inventory;

/// Every registered descriptor, sorted by kind, name, then task (graph first).
pub fn descriptors() -> Vec<&'static PluginDescriptor> {
    let mut all: Vec<_> = inventory::iter::<PluginDescriptor>.into_iter().collect();
    all.sort_by_key(|d| (d.kind, d.name, d.task));
    all
}

/// The descriptor of one plugin (the graph-level one of a name registered for both tasks).
pub fn find(kind: PluginKind, name: &str) -> Option<&'static PluginDescriptor> {
    descriptors()
        .into_iter()
        .find(|d| d.kind == kind && d.name == name)
}

/// Registered names of one kind, sorted, each once (a name may serve both tasks).
pub fn names(kind: PluginKind) -> Vec<&'static str> {
    let mut names: Vec<_> = descriptors()
        .into_iter()
        .filter(|d| d.kind == kind)
        .map(|d| d.name)
        .collect();
    names.dedup();
    names
}

/// The TOML table header a plugin kind lives under in an experiment config.
pub fn table_header(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Dataset => "[dataset]",
        PluginKind::Model => "[model]",
        PluginKind::Batcher => "[batcher]",
        PluginKind::Sink => "[[sinks]]",
    }
}

/// What `geobatch data import` is asked to do.
#[derive(Debug, Clone)]
pub struct ImportArgs {
    /// The source: a file or folder in one of the provider's input formats.
    pub source: std::path::PathBuf,
    /// The file to write.
    pub out: std::path::PathBuf,
    /// Import only the first `limit` records (for fixtures).
    pub limit: Option<usize>,
    /// Show progress bars.
    pub progress: bool,
}

/// What `geobatch data fetch NAME` passes to a provider.
#[derive(Debug, Clone)]
pub struct FetchArgs {
    /// The data folder the provider writes below.
    pub data_dir: std::path::PathBuf,
    /// Show progress bars.
    pub progress: bool,
    /// Another source address than the provider's default (a mirror, a test server).
    pub url: Option<String>,
    /// Records per request, for providers that page.
    pub page_size: Option<usize>,
    /// Stop after this many requests (a later fetch continues), for providers that page.
    pub max_pages: Option<usize>,
    /// Replace a store that is already there but is not what this fetch makes.
    pub force: bool,
}

/// A dataset's fetch and import commands (`geobatch data fetch NAME`, `geobatch data import NAME PATH`),
/// registered with `inventory` by the dataset plugin.
#[derive(Debug, Clone, Copy)]
pub struct DataProvider {
    /// Dataset name, as on the command line.
    pub name: &'static str,
    /// One line about the sources it reads.
    pub summary: &'static str,
    /// Where `import` writes by default, below the data folder.
    pub default_out: &'static str,
    /// Fetches the data into a data folder (idempotent) and returns a report; `None` when the data
    /// cannot be fetched by geobatch.
    pub fetch: Option<fn(args: &FetchArgs) -> crate::Result<String>>,
    /// Imports a source into geobatch's format and returns a report.
    pub import: fn(args: &ImportArgs) -> crate::Result<String>,
}

inventory::collect!(DataProvider);

/// Every registered data provider, sorted by name.
pub fn data_providers() -> Vec<&'static DataProvider> {
    let mut all: Vec<_> = inventory::iter::<DataProvider>.into_iter().collect();
    all.sort_by_key(|d| d.name);
    all
}
