//! What runs record: run identity, one row per step, one row per evaluation.
//!
//! Units: times are integer nanoseconds from a monotonic clock; counts are plain integers.
//! The Parquet columns are documented in `docs/results-schema.md`.

use crate::shape::Shape;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Identity and environment of one run, repeated in every results file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunInfo {
    /// Experiment name (results folder).
    pub experiment: String,
    /// Run id, unique within the experiment; derived from the resolved config hash.
    pub run_id: String,
    /// Folder of this run's results.
    pub run_dir: PathBuf,
    /// What ran: `batches` (batching study) or `train`.
    pub job: String,
    /// Dataset plugin name.
    pub dataset: String,
    /// Where the dataset came from (file, fixture, generator).
    pub dataset_source: String,
    /// Model plugin name, when the job trains one.
    pub model: Option<String>,
    /// Batcher plugin name.
    pub batcher: String,
    /// Batcher label, e.g. `static-64`.
    pub batcher_label: String,
    /// Batcher options as JSON.
    pub batcher_options: String,
    /// Batch size.
    pub batch_size: u32,
    /// Run seed.
    pub seed: u64,
    /// `clean` or `reference`.
    pub quirks: String,
    /// `serial` or `prefetch`.
    pub mode: String,
    /// Device, e.g. `cpu`.
    pub device: String,
    /// Threads the run may use (training, prefetching, parallel pre-computation).
    pub threads: u32,
    /// Host name.
    pub host: String,
    /// CPU model name.
    pub cpu: String,
    /// Git revision of the source tree, when known.
    pub git_revision: Option<String>,
    /// geobatch version.
    pub version: String,
    /// Start time, seconds since the Unix epoch.
    pub started_at: i64,
    /// SHA-256 (hex) of the resolved config.
    pub config_hash: String,
    /// Planned number of steps.
    pub planned_steps: u64,
    /// Fixed padded shape of a budgeted batcher.
    pub budget: Option<Shape>,
    /// The step a resumed run continues from (`None` for a fresh run).
    pub resumed_from: Option<u64>,
}

/// One step: a batch built (and, when training, an update).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step number, from 0.
    pub step: u64,
    /// Planning time (ns).
    pub plan_ns: u64,
    /// Collation time (ns).
    pub collate_ns: u64,
    /// Batching time = everything done on the host to make the batch (ns).
    pub batching_ns: u64,
    /// Update time: transfer, forward, backward, optimiser, synchronisation (ns); training only.
    pub update_ns: Option<u64>,
    /// Time the trainer waited for a prefetched batch (ns); prefetch mode only.
    pub wait_ns: Option<u64>,
    /// Batching + update (ns).
    pub combined_ns: u64,
    /// Real content.
    pub real: Shape,
    /// Padded shape.
    pub padded: Shape,
    /// Whether this padded shape appears for the first time in the run.
    pub new_shape: bool,
    /// Whether the step belongs to the warm-up.
    pub warmup: bool,
    /// Training loss (standardised MSE over real graphs); training only.
    pub loss: Option<f32>,
}

/// One evaluation of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Training step after which the evaluation ran.
    pub step: u64,
    /// Split name.
    pub split: String,
    /// Target name.
    pub target: String,
    /// Root mean squared error, in the target's units (`NaN` for classification).
    pub rmse: f64,
    /// Mean absolute error, in the target's units (`NaN` for classification).
    pub mae: f64,
    /// Graphs evaluated (output nodes, for node-level tasks).
    pub graphs: u64,
    /// Accuracy over the labelled output nodes (node classification only).
    pub accuracy: Option<f64>,
    /// Macro-averaged F1 over classes (node classification only).
    pub macro_f1: Option<f64>,
    /// How predictions were made (node classification only): `full` (the whole graph at once) or
    /// the label of the batcher whose inference batches were used.
    pub inference: Option<String>,
    /// Wall time of the evaluation (ns), when measured.
    pub eval_ns: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Still running (written at start).
    Running,
    /// Finished every planned step.
    Complete,
    /// Stopped by an error.
    Failed,
    /// Stopped by the user.
    Interrupted,
}

impl RunStatus {
    /// The spelling in results files.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// The end of a run, as sinks are told.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// Final status.
    pub status: RunStatus,
    /// Steps recorded.
    pub steps: u64,
    /// Wall time of the run (ns).
    pub wall_ns: u64,
    /// Error message of a failed run.
    pub message: Option<String>,
}
