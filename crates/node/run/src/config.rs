//! The node-level config: the graph, the classifier, the training and inference batchers, and
//! the `[training]` and `[batches]` tables of node-level runs.

use geobatch_core::{BatcherSpec, DatasetSpec, ModelSpec, SinkSpec, SplitName};
use geobatch_node::{NodeLevel, NodeOptimizerSpec};
use geobatch_runner::config::{ExperimentSection, Loaded, Mode, Validate, in_table};
use serde::{Deserialize, Serialize};

/// A node-level experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Name, seed and folders.
    pub experiment: ExperimentSection,
    /// The graph (`npz`, `ogb`, `sbm`, ...).
    pub dataset: Box<dyn DatasetSpec<NodeLevel>>,
    /// The classifier (`gcn`, `sage`), for `geobatch run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Box<dyn ModelSpec<NodeLevel>>>,
    /// The training batcher.
    pub batcher: Box<dyn BatcherSpec<NodeLevel>>,
    /// The batcher of batched inference (default: the training batcher's inference variant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference: Option<Box<dyn BatcherSpec<NodeLevel>>>,
    /// Training options.
    #[serde(default)]
    pub training: NodeTraining,
    /// Batching-study options.
    #[serde(default)]
    pub batches: NodeBatches,
    /// Result sinks; `parquet` and `console` when absent.
    #[serde(default = "geobatch_runner::config::default_sinks")]
    pub sinks: Vec<Box<dyn SinkSpec>>,
}

/// Reduce-on-plateau of the learning rate on the validation loss (spec ibmb §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plateau {
    /// Factor applied to the learning rate.
    #[serde(default = "d_factor")]
    pub factor: f64,
    /// Evaluations without improvement before a reduction.
    #[serde(default = "d_patience")]
    pub patience: u64,
    /// Evaluations to wait after a reduction.
    #[serde(default = "d_cooldown")]
    pub cooldown: u64,
    /// Smallest learning rate.
    #[serde(default = "d_min_lr")]
    pub min_lr: f64,
}

fn d_factor() -> f64 {
    0.33
}
fn d_patience() -> u64 {
    30
}
fn d_cooldown() -> u64 {
    10
}
fn d_min_lr() -> f64 {
    1e-4
}

/// The `[training]` table of a node-level config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeTraining {
    /// Epochs (passes over the training batches).
    #[serde(default = "d_epochs")]
    pub epochs: u64,
    /// Evaluate the validation split every this many epochs (0: only at the end).
    #[serde(default = "d_eval_every")]
    pub eval_every: u64,
    /// Leading epochs whose steps are flagged as warm-up.
    #[serde(default = "d_warmup")]
    pub warmup_epochs: u64,
    /// Also predict with the whole graph at once at the end (exact; needs memory for the whole
    /// graph's activations).
    #[serde(default = "d_true")]
    pub full_graph_eval: bool,
    /// Splits evaluated at the end.
    #[serde(default = "d_eval_splits")]
    pub eval_splits: Vec<SplitName>,
    /// `cpu` or `cuda[:N]`.
    #[serde(default = "d_device")]
    pub device: String,
    /// `serial` (batching, then the update) or `prefetch` (batches built on a worker thread while
    /// the trainer computes).
    #[serde(default)]
    pub mode: Mode,
    /// Adam.
    #[serde(default)]
    pub optimizer: NodeOptimizerSpec,
    /// Reduce the learning rate when the validation loss stops falling (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plateau: Option<Plateau>,
    /// Stop after this many evaluations without a better validation accuracy (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<u64>,
    /// Keep the parameters of the best validation accuracy (checked every `eval_every` epochs and
    /// after the last) and evaluate those at the end, as the reference does. With
    /// `eval_every = 0` there is only the last to choose: the last parameters are evaluated.
    #[serde(default = "d_true")]
    pub keep_best: bool,
    /// Write a checkpoint (parameters, optimiser state, best parameters, schedule state) every
    /// this many epochs (0: never); `geobatch run --resume` continues from the last one.
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Threads of the CPU kernels (default: the cores this process may use). Any count gives
    /// the same bits; only the speed changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

fn d_epochs() -> u64 {
    100
}
fn d_eval_every() -> u64 {
    10
}
fn d_warmup() -> u64 {
    1
}
fn d_true() -> bool {
    true
}
fn d_eval_splits() -> Vec<SplitName> {
    vec![SplitName::Validation, SplitName::Test]
}
fn d_device() -> String {
    "cpu".into()
}

impl Default for NodeTraining {
    fn default() -> Self {
        NodeTraining {
            epochs: d_epochs(),
            eval_every: d_eval_every(),
            warmup_epochs: d_warmup(),
            full_graph_eval: true,
            eval_splits: d_eval_splits(),
            device: d_device(),
            mode: Mode::Serial,
            optimizer: NodeOptimizerSpec::default(),
            plateau: None,
            early_stopping: None,
            keep_best: true,
            checkpoint_every: 0,
            threads: None,
        }
    }
}

/// The `[batches]` table of a node-level config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeBatches {
    /// Split whose output nodes are batched.
    #[serde(default = "d_split")]
    pub split: SplitName,
    /// Epochs of batches to plan and collate (times exclude the first epoch when there are
    /// more: it pays for first-touch allocations).
    #[serde(default = "d_batch_epochs")]
    pub epochs: u64,
    /// Build the inference variant of the batcher instead.
    #[serde(default)]
    pub inference: bool,
}

fn d_split() -> SplitName {
    SplitName::Train
}
fn d_batch_epochs() -> u64 {
    3
}

impl Default for NodeBatches {
    fn default() -> Self {
        NodeBatches {
            split: d_split(),
            epochs: d_batch_epochs(),
            inference: false,
        }
    }
}

/// A node-level config as loaded.
pub type LoadedNodeConfig = Loaded<NodeConfig>;

impl Validate for NodeConfig {
    fn validate(&self) -> Result<(), String> {
        NodeConfig::validate(self)
    }
}

geobatch_runner::run_config!(NodeConfig);

impl NodeConfig {
    /// Checks every section without loading data.
    pub fn validate(&self) -> Result<(), String> {
        self.experiment.check()?;
        geobatch_runner::config::check_device(&self.training.device)?;
        geobatch_runner::config::check_threads(self.training.threads)?;
        if self.experiment.quirks != geobatch_core::stream::Quirks::Clean {
            return Err(
                "experiment.quirks: the reference quirks belong to the graph-level study's \
                 batchers; a node-level run has none (remove the key)"
                    .into(),
            );
        }
        if self.training.eval_every == 0 {
            let periodic = [
                ("plateau", self.training.plateau.is_some()),
                ("early_stopping", self.training.early_stopping.is_some()),
            ];
            if let Some((key, _)) = periodic.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "training.{key} acts on periodic evaluations, but training.eval_every = 0 \
                     turns them off: set eval_every to at least 1, or remove {key}"
                ));
            }
        }
        in_table("dataset", self.dataset.validate())?;
        in_table("batcher", self.batcher.validate())?;
        if let Some(i) = &self.inference {
            in_table("inference", i.validate())?;
        }
        if let Some(m) = &self.model {
            in_table("model", m.validate())?;
            if let (Some((hops, key)), Some(layers)) = (self.batcher.facts().hops, m.layers())
                && hops < layers
            {
                return Err(format!(
                    "{key} samples {hops} hop(s) but model.layers = {layers}: the outer \
                     {} layer(s) would see no sampled neighbour and train on too little (no \
                     word of it but a lower accuracy); give one fanout per layer",
                    layers - hops
                ));
            }
        }
        geobatch_runner::config::check_rounds("training.epochs", self.training.epochs)?;
        geobatch_runner::config::check_rounds("batches.epochs", self.batches.epochs)?;
        let o = &self.training.optimizer;
        if o.learning_rate.is_nan() || o.learning_rate <= 0.0 || o.weight_decay < 0.0 {
            return Err(
                "training.optimizer: learning_rate must be positive, weight_decay not negative"
                    .into(),
            );
        }
        geobatch_runner::config::check_sinks(&self.sinks)
    }

    /// The batcher of batched inference: `[inference]` as written, or the training batcher's
    /// inference variant.
    /// `slot` keeps a derived variant alive.
    pub(crate) fn inference_spec<'a>(
        &'a self,
        slot: &'a mut Option<Box<dyn BatcherSpec<NodeLevel>>>,
    ) -> &'a dyn BatcherSpec<NodeLevel> {
        match (&self.inference, self.batcher.facts().inference) {
            (Some(s), _) => s.as_ref(),
            (None, Some(derived)) => &**slot.insert(derived),
            (None, None) => self.batcher.as_ref(),
        }
    }
}
