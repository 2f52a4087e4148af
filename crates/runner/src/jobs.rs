//! A config of either task kind and the jobs it runs: what `geobatch run`, `batches`, `validate`,
//! `advise` and `sweep` call. The kind is decided here, once, from the one parse of the config
//! ([`crate::config::Document::task`]): the task of its `[dataset]` plugin, many small graphs or
//! one large graph. What a command line asks ([`Request`]) is checked against it here too, so
//! the CLI branches on no kind.
//!
//! The runner knows the graph-level kind (and the potential, a graph-level config whose dataset
//! carries forces); other kinds register themselves with [`task_kind!`](crate::task_kind) from
//! their own crate (the node-level task: `geobatch-node-run`), so a task lives in one place and
//! the runner names none of them.

use crate::config::{Document, ExperimentConfig, Loaded, RunConfig, parse_file_with};
use crate::error::RunError;
pub use crate::request::Request;
use crate::train::entry::no_model;
use crate::train::{RunSummary, TaskKind, run_train_with};
use geobatch_core::{RunStatus, Task};
use geobatch_datafiles::output::Output;
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// A training run that ended: its rendered summary and its status (complete, or interrupted by
/// the stop flag).
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The summary to print.
    pub summary: String,
    /// How the run ended.
    pub status: RunStatus,
}

/// A loaded config of some kind, as [`AnyConfig`] holds it (object-safe; one implementation,
/// for every [`TaskKind`]).
trait Jobs: std::fmt::Debug {
    fn task(&self) -> Task;
    fn described_as(&self) -> &'static str;
    fn config(&self) -> &dyn RunConfig;
    fn resolved(&self) -> &str;
    fn run_dir(&self) -> PathBuf;
    fn no_model(&self) -> RunError;
    fn train(&self, stop: &AtomicBool, resume: bool) -> Result<Finished, RunError>;
    fn study(
        &self,
        steps: Option<u64>,
        plans: Option<&Output>,
        stop: &AtomicBool,
    ) -> Result<String, RunError>;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<K: TaskKind> Jobs for Loaded<K> {
    fn task(&self) -> Task {
        K::TASK
    }
    fn described_as(&self) -> &'static str {
        K::DESCRIBED_AS
    }
    fn config(&self) -> &dyn RunConfig {
        &self.config
    }
    fn resolved(&self) -> &str {
        &self.resolved
    }
    fn run_dir(&self) -> PathBuf {
        Loaded::run_dir(self)
    }
    fn no_model(&self) -> RunError {
        no_model(self)
    }
    fn train(&self, stop: &AtomicBool, resume: bool) -> Result<Finished, RunError> {
        let summary = run_train_with(self, None, stop, resume)?;
        Ok(Finished {
            summary: summary.render(),
            status: summary.status(),
        })
    }
    fn study(
        &self,
        steps: Option<u64>,
        plans: Option<&Output>,
        stop: &AtomicBool,
    ) -> Result<String, RunError> {
        K::study(self, steps, plans, stop)
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// A loaded config of either task kind, its kind decided once, when it was parsed.
#[derive(Debug)]
pub struct AnyConfig(Box<dyn Jobs>);

impl AnyConfig {
    /// Reads a config file, applies `KEY=VALUE` overrides, and parses and validates it as the
    /// kind its dataset plugin names.
    pub fn from_file_with(path: &Path, overrides: &[String]) -> Result<Self, RunError> {
        Self::open(path, overrides, Request::AsWritten)
    }

    /// Reads a config file once, applies `KEY=VALUE` overrides and what `request` sets, decides
    /// its kind and refuses a request the kind cannot do ([`RunError::Usage`]), then types and
    /// validates it as that kind.
    pub fn open(path: &Path, overrides: &[String], request: Request) -> Result<Self, RunError> {
        parse_file_with(path, overrides, |text, path| {
            Self::parse(Document::parse(text, path)?, request)
        })
    }

    /// Parses and validates config text; `path` names it in errors.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, RunError> {
        Self::parse(Document::parse(text, path)?, Request::AsWritten)
    }

    /// The config of `doc`, typed as its kind once `request` is found possible for that kind.
    fn parse(doc: Document<'_>, request: Request) -> Result<Self, RunError> {
        let task = doc.task();
        let kind = inventory::iter::<KindEntry>
            .into_iter()
            .find(|k| k.tasks.contains(&task))
            .ok_or_else(|| {
                let crate_name = match task {
                    Task::Node => "`geobatch-node-run`, the catalog's `task-node` feature",
                    _ => "the crate of its task kind",
                };
                doc.error(format!(
                    "the dataset's task ({}) has no runner in this build: link {crate_name}",
                    task.as_str()
                ))
            })?;
        (kind.open)(doc, request)
    }

    /// `doc` typed as the kind `K`, with what `request` sets made to its value, once `request`
    /// is found possible for `K` (what [`task_kind!`](crate::task_kind) registers).
    pub fn typed<K: TaskKind + serde::de::DeserializeOwned + serde::Serialize>(
        doc: Document<'_>,
        request: Request,
    ) -> Result<Self, RunError> {
        if let Some(why) = K::refusal(request) {
            return Err(RunError::Usage(why.to_string()));
        }
        let loaded = doc.load_edited(|config: &mut K| {
            if let Some(n) = request.rounds() {
                config.set_rounds(n);
            }
        })?;
        Ok(AnyConfig(Box::new(loaded)))
    }

    /// The config as the kind `K` loaded it, or `None` when it is of another kind
    /// (`into_loaded::<ExperimentConfig>()` after a [`Request::Advise`]).
    pub fn into_loaded<K: TaskKind>(self) -> Option<Loaded<K>> {
        self.0.into_any().downcast::<Loaded<K>>().ok().map(|b| *b)
    }

    /// The task kind.
    pub fn task(&self) -> Task {
        self.0.task()
    }

    /// The config with every default filled in, as TOML.
    pub fn resolved(&self) -> &str {
        self.0.resolved()
    }

    /// The label of the config's batcher.
    pub fn batcher_label(&self) -> String {
        self.0.config().batcher_label()
    }

    /// Whether the config records anything (`[[sinks]]` is not empty).
    pub fn has_sinks(&self) -> bool {
        !self.0.config().sinks().is_empty()
    }

    /// Whether the config has a model (`run` trains it; without one, jobs study batching).
    pub fn has_model(&self) -> bool {
        self.0.config().model_name().is_some()
    }

    /// Refuses a config without a model for training, before anything is made for its run
    /// (without this check, `run` would claim the batching study's folder first).
    pub fn require_model(&self) -> Result<(), RunError> {
        if self.has_model() {
            Ok(())
        } else {
            Err(self.0.no_model())
        }
    }

    /// The folder of the config's run: its training run when it has a model, else its batching
    /// study.
    pub fn run_dir(&self) -> PathBuf {
        self.0.run_dir()
    }

    /// One line saying what the config holds (`geobatch validate`).
    pub fn describe(&self) -> String {
        let c = self.0.config();
        let kind = self.0.described_as();
        format!(
            "{kind}experiment {:?}, dataset {}, batcher {} with batch_size {}, model {}, {} sink(s)",
            c.experiment().name,
            c.dataset_name(),
            c.batcher_label(),
            c.batch_size(),
            c.model_name().unwrap_or("none"),
            c.sinks().len()
        )
    }

    /// Trains the config's model (continuing from its checkpoint with `resume`) and returns the
    /// rendered summary and how the run ended.
    pub fn train(&self, stop: &AtomicBool, resume: bool) -> Result<Finished, RunError> {
        self.0.train(stop, resume)
    }

    /// Runs the batching study and returns the rendered summary: `steps` batches (default
    /// `[batches] steps`) and their plans written to `plans`, for a graph-level config (a
    /// node-level one was refused them by [`Request::Batches`]).
    pub fn batches(
        &self,
        steps: Option<u64>,
        plans: Option<&Output>,
        stop: &AtomicBool,
    ) -> Result<String, RunError> {
        self.0.study(steps, plans, stop)
    }
}

/// A task kind in the runner's registry: the configs whose dataset serves one of `tasks` are
/// opened by `open` ([`AnyConfig::typed`] of the kind). Registered with
/// [`task_kind!`](crate::task_kind).
pub struct KindEntry {
    /// The tasks whose configs this kind reads.
    pub tasks: &'static [Task],
    /// Types and validates a config as the kind.
    pub open: fn(Document<'_>, Request) -> Result<AnyConfig, RunError>,
}

inventory::collect!(KindEntry);

/// Registers a config type (a [`TaskKind`]) as the kind of the configs whose dataset serves one
/// of the given tasks: `task_kind!(NodeConfig, [Task::Node])`.
#[macro_export]
macro_rules! task_kind {
    ($kind:ty, [$($task:expr),+ $(,)?]) => {
        $crate::jobs::inventory::submit! {
            $crate::jobs::KindEntry {
                tasks: &[$($task),+],
                open: $crate::jobs::AnyConfig::typed::<$kind>,
            }
        }
    };
}

#[doc(hidden)]
pub use geobatch_core::registry::inventory;

// a potential is a graph-level config whose dataset carries forces
crate::task_kind!(ExperimentConfig, [Task::Graph, Task::Potential]);

#[cfg(test)]
mod tests {
    use super::*;

    /// This test build of the runner is not the one the catalog's task crates register with
    /// (they link the runner's library): it is a build without the node-level kind, whose
    /// configs are then refused by name, not read as graph-level ones.
    #[test]
    fn a_task_without_a_registered_kind_is_refused_by_name() {
        geobatch_catalog::link();
        let text = "[experiment]\nname = \"n\"\n[dataset]\nkind = \"sbm\"\nnodes = 300\n\
                    [batcher]\nkind = \"cluster\"\nnum_parts = 4\n";
        let e = AnyConfig::from_str(text, Path::new("n.toml")).expect_err("no node-level kind");
        let msg = e.to_string();
        assert!(
            matches!(e, RunError::Config { .. })
                && msg.starts_with("n.toml: ")
                && msg.contains("task (node) has no runner in this build")
                && msg.contains("geobatch-node-run"),
            "{msg}"
        );
        let graph = "[experiment]\nname = \"g\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 40\n\
                     [batcher]\nkind = \"static\"\nbatch_size = 4\n";
        let c = AnyConfig::from_str(graph, Path::new("g.toml")).expect("the runner's own kind");
        assert_eq!(c.task(), Task::Graph);
    }
}
