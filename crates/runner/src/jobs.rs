//! A config of either task kind and the jobs it runs: what `geobatch run`, `batches`, `validate`
//! and `sweep` call. The kind is the task of the config's `[dataset]` plugin
//! ([`crate::config::task_of`]): many small graphs, or one large graph.

use crate::batches::run_batches_with_plans;
use crate::config::{Loaded, LoadedConfig, RunConfig, parse_file_with, task_of};
use crate::error::RunError;
use crate::node::{LoadedNodeConfig, run_node_batches};
use crate::train::entry::no_model;
use crate::train::{RunSummary, run_train_with};
use geobatch_core::{RunStatus, Task};
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

/// A loaded config of either task kind.
#[derive(Debug)]
pub enum AnyConfig {
    /// Many small graphs (molecules, crystals).
    Graph(LoadedConfig),
    /// One large graph (node classification).
    Node(LoadedNodeConfig),
}

impl AnyConfig {
    /// Reads a config file, applies `KEY=VALUE` overrides, and parses and validates it as the
    /// kind its dataset plugin names.
    pub fn from_file_with(path: &Path, overrides: &[String]) -> Result<Self, RunError> {
        parse_file_with(path, overrides, Self::from_str)
    }

    /// Parses and validates config text; `path` names it in errors.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, RunError> {
        Ok(match task_of(text) {
            Task::Node => AnyConfig::Node(Loaded::from_str(text, path)?),
            Task::Graph => AnyConfig::Graph(Loaded::from_str(text, path)?),
        })
    }

    /// The task kind.
    pub fn task(&self) -> Task {
        match self {
            AnyConfig::Graph(_) => Task::Graph,
            AnyConfig::Node(_) => Task::Node,
        }
    }

    fn config(&self) -> &dyn RunConfig {
        match self {
            AnyConfig::Graph(l) => &l.config,
            AnyConfig::Node(l) => &l.config,
        }
    }

    /// The config with every default filled in, as TOML.
    pub fn resolved(&self) -> &str {
        match self {
            AnyConfig::Graph(l) => &l.resolved,
            AnyConfig::Node(l) => &l.resolved,
        }
    }

    /// The label of the config's batcher.
    pub fn batcher_label(&self) -> String {
        self.config().batcher_label()
    }

    /// Whether the config records anything (`[[sinks]]` is not empty).
    pub fn has_sinks(&self) -> bool {
        !self.config().sinks().is_empty()
    }

    /// Whether the config has a model (`run` trains it; without one, jobs study batching).
    pub fn has_model(&self) -> bool {
        self.config().model_name().is_some()
    }

    /// Refuses a config without a model for training, before anything is made for its run
    /// (without this check, `run` would claim the batching study's folder first).
    pub fn require_model(&self) -> Result<(), RunError> {
        match self {
            _ if self.has_model() => Ok(()),
            AnyConfig::Graph(l) => Err(no_model(l)),
            AnyConfig::Node(l) => Err(no_model(l)),
        }
    }

    /// The folder of the config's run: its training run when it has a model, else its batching
    /// study.
    pub fn run_dir(&self) -> PathBuf {
        match self {
            AnyConfig::Graph(l) => l.run_dir(),
            AnyConfig::Node(l) => l.run_dir(),
        }
    }

    /// One line saying what the config holds (`geobatch validate`).
    pub fn describe(&self) -> String {
        let c = self.config();
        let kind = match self.task() {
            Task::Graph => "",
            Task::Node => "node-level; ",
        };
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
        Ok(match self {
            AnyConfig::Graph(l) => finished(run_train_with(l, None, stop, resume)?),
            AnyConfig::Node(l) => finished(run_train_with(l, None, stop, resume)?),
        })
    }

    /// Runs the batching study and returns the rendered summary.
    pub fn batches(&self, stop: &AtomicBool) -> Result<String, RunError> {
        Ok(match self {
            AnyConfig::Graph(l) => run_batches_with_plans(l, None, None, stop)?.render(),
            AnyConfig::Node(l) => run_node_batches(l, stop)?.render(),
        })
    }
}

/// What a training run of either kind ended with.
fn finished(summary: impl RunSummary) -> Finished {
    Finished {
        summary: summary.render(),
        status: summary.status(),
    }
}
