//! The graph-level config's schema: its tables, their defaults, and its checks.

use super::checks::{
    check_accumulate, check_device, check_experiment_name, check_keep_best, check_rounds,
    check_sinks, check_threads, in_table,
};
use geobatch_core::{
    BatcherSpec, DatasetSpec, EngineTable, ModelSpec, OptimizerSpec, Quirks, SinkSpec, SplitName,
};
use geobatch_potential::LossWeights;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One experiment: a dataset, a batcher, sinks and the job options.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

impl ExperimentSection {
    /// Checks the table (its name is a folder name).
    pub fn check(&self) -> Result<(), String> {
        check_experiment_name(&self.name)
    }

    /// What a dataset plugin is loaded with: this experiment's seed and data folder.
    pub fn dataset_context(&self) -> geobatch_core::DatasetContext {
        geobatch_core::DatasetContext {
            seed: self.seed,
            data_dir: self.data_dir.clone(),
        }
    }
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
    /// How the engine runs a step: the GPU variants (`[training.engine]`; the options written,
    /// each other one its device's default when the run starts; left out of a resolved config
    /// while none is written).
    #[serde(default, skip_serializing_if = "EngineTable::is_empty")]
    pub engine: EngineTable,
    /// Weights of a potential's energy, force and stress terms (`[training.loss]`), for datasets
    /// that carry forces; the defaults (1, 1, 1) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossWeights>,
    /// Batches each process trains on per step, their gradients averaged before one update
    /// (default 1). A world of W ranks takes W x this many batches a step; one process with
    /// `accumulate = W` takes the same batches per step as W ranks with 1 (docs/distributed.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accumulate: Option<usize>,
    /// Keep the parameters of the periodic evaluation with the lowest validation MAE of this
    /// label (a dataset target, or a potential's `energy_per_atom_meV`, `forces_meV_per_A`,
    /// `stress_meV_per_A3`) and give the final evaluation those (model selection on the
    /// validation split); none: the last step's parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_best: Option<String>,
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
            engine: EngineTable::default(),
            loss: None,
            accumulate: None,
            keep_best: None,
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
    geobatch_core::DatasetContext::DEFAULT_SEED
}
fn default_results() -> PathBuf {
    "results".into()
}
fn default_data() -> PathBuf {
    geobatch_core::DatasetContext::DEFAULT_DATA_DIR.into()
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

impl ExperimentConfig {
    /// The engine options this run uses on its device for `task` ([`EngineTable::resolve`]:
    /// a potential defaults otherwise). A device the build cannot parse is refused later, when the
    /// trainer is built.
    pub fn engine(&self, task: geobatch_core::Task) -> geobatch_core::EngineOptions {
        let device = geobatch_core::engine::DeviceKind::parse(&self.training.device)
            .unwrap_or(geobatch_core::engine::DeviceKind::Cpu);
        self.training.engine.resolve(device, task)
    }

    /// Checks every section and plugin's options without loading data. Messages name the key.
    pub fn validate(&self) -> Result<(), String> {
        self.experiment.check()?;
        check_rounds("batches.steps", self.batches.steps)?;
        check_rounds("training.steps", self.training.steps)?;
        check_device(&self.training.device)?;
        check_threads(self.training.threads)?;
        check_accumulate(self.training.accumulate)?;
        check_keep_best(&self.training)?;
        self.training.engine.check()?;
        geobatch_core::dataset::check_unique("training.eval_splits", &self.training.eval_splits)
            .map_err(|e| e.to_string())?;
        self.training
            .optimizer
            .validate()
            .map_err(|e| e.to_string())?;
        if let Some(w) = &self.training.loss {
            w.validate().map_err(|e| e.to_string())?;
        }
        if let Some(m) = &self.model {
            in_table("model", m.validate())?;
        }
        in_table("dataset", self.dataset.validate())?;
        in_table("batcher", self.batcher.validate())?;
        check_sinks(&self.sinks)
    }
}
