//! What runs record: run identity, one row per step, one row per evaluation.
//!
//! Units: times are integer nanoseconds from a monotonic clock; counts are plain integers.
//! The Parquet columns are documented in `docs/results-schema.md`.

use crate::Shape;
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
    /// Whether this is the first step on this padded shape since the process started: a new
    /// shape, or the first step on it after a resume. A shape-specialising engine (JAX's `jit`,
    /// `torch.compile`) compiles here; it equals `new_shape` in a run that was not resumed.
    pub cold_shape: bool,
    /// Whether the step belongs to the warm-up.
    pub warmup: bool,
    /// Training loss (standardised MSE over real graphs); training only.
    pub loss: Option<f32>,
    /// The update's phases as the trainer timed them (ns); training only, and the phases after
    /// the transfer only where the trainer tells them apart.
    pub phases: Phases,
}

/// Where an update's time went (ns): `update_ns` holds them and the loop's own overhead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// Host batch to device tensors.
    pub transfer_ns: Option<u64>,
    /// Forward pass and loss.
    pub forward_ns: Option<u64>,
    /// Backward pass.
    pub backward_ns: Option<u64>,
    /// Optimiser update and the synchronisation that reads the loss.
    pub optimizer_ns: Option<u64>,
}

impl Phases {
    /// The phases of a trainer's step.
    pub fn of(stats: &crate::model::StepStats) -> Self {
        Phases {
            transfer_ns: Some(stats.transfer_ns),
            forward_ns: stats.forward_ns,
            backward_ns: stats.backward_ns,
            optimizer_ns: stats.optimizer_ns,
        }
    }
}

/// What making and using one batch cost (ns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepTiming {
    /// Planning.
    pub plan_ns: u64,
    /// Collation.
    pub collate_ns: u64,
    /// The trainer's wait for a prefetched batch (prefetch mode).
    pub wait_ns: Option<u64>,
    /// The update (training only).
    pub update_ns: Option<u64>,
}

impl StepRecord {
    /// The record of step `step` on `batch` with `timing`: batching is planning + collation,
    /// combined is the wait (prefetch) or the batching (serial) plus the update. Not a new (or
    /// cold) shape, not warm-up, no loss or phases: set those with struct update syntax.
    pub fn timed(step: u64, batch: &impl crate::model::Batch, timing: StepTiming) -> Self {
        let batching_ns = timing.plan_ns + timing.collate_ns;
        StepRecord {
            step,
            plan_ns: timing.plan_ns,
            collate_ns: timing.collate_ns,
            batching_ns,
            update_ns: timing.update_ns,
            wait_ns: timing.wait_ns,
            combined_ns: timing.wait_ns.unwrap_or(batching_ns) + timing.update_ns.unwrap_or(0),
            real: batch.real(),
            padded: batch.padded(),
            new_shape: false,
            cold_shape: false,
            warmup: false,
            loss: None,
            phases: Phases::default(),
        }
    }
}

/// Whether a step is a steady one, the one definition every summary uses (`geobatch run`'s and
/// `bench step`'s medians, the report's and `advise`'s): neither a warm-up step nor the first on
/// its padded shape since the process started (a compile on a shape-specialising engine; a run's
/// first step is always such a step).
pub fn is_steady(warmup: bool, cold_shape: bool) -> bool {
    !warmup && !cold_shape
}

impl StepRecord {
    /// Whether this step is a steady one ([`is_steady`]).
    pub fn is_steady(&self) -> bool {
        is_steady(self.warmup, self.cold_shape)
    }
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
    #[serde(with = "lossless")]
    pub rmse: f64,
    /// Mean absolute error, in the target's units (`NaN` for classification).
    #[serde(with = "lossless")]
    pub mae: f64,
    /// Graphs evaluated (output nodes, for node-level tasks).
    pub graphs: u64,
    /// Accuracy over the labelled output nodes (node classification only).
    #[serde(with = "lossless::option")]
    pub accuracy: Option<f64>,
    /// Macro-averaged F1 over classes (node classification only).
    #[serde(with = "lossless::option")]
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

    /// The status a results file spells `s`, if it is one.
    pub fn parse(s: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Complete,
            RunStatus::Failed,
            RunStatus::Interrupted,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
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

/// Floats that survive text formats without JSON's holes: finite values as numbers, `NaN` and
/// the infinities as the strings `"NaN"`, `"inf"` and `"-inf"` (JSON would write `null` and
/// could not read it back; checkpoints hold evaluation records).
mod lossless {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    fn to_repr(v: f64) -> Repr {
        if v.is_finite() {
            Repr::Number(v)
        } else if v.is_nan() {
            Repr::Text("NaN".into())
        } else if v > 0.0 {
            Repr::Text("inf".into())
        } else {
            Repr::Text("-inf".into())
        }
    }

    fn from_repr<E: serde::de::Error>(r: Repr) -> Result<f64, E> {
        match r {
            Repr::Number(v) => Ok(v),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(E::custom(format!("not a number: {other:?}"))),
            },
        }
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        to_repr(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        from_repr(Repr::deserialize(d)?)
    }

    /// The same for optional floats (`None` stays `null`).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            v.map(super::to_repr).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Option::<super::Repr>::deserialize(d)?
                .map(super::from_repr)
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_records_survive_json_with_every_float() {
        for (rmse, acc) in [
            (f64::NAN, Some(0.25)),
            (f64::INFINITY, None),
            (f64::NEG_INFINITY, Some(f64::NAN)),
            (0.1 + 0.2, Some(1.0 / 3.0)),
        ] {
            let r = EvalRecord {
                step: 3,
                split: "validation".into(),
                target: "label".into(),
                rmse,
                mae: rmse,
                graphs: 7,
                accuracy: acc,
                macro_f1: acc,
                inference: None,
                eval_ns: Some(5),
            };
            let back: EvalRecord =
                serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            let bits = |v: f64| if v.is_nan() { u64::MAX } else { v.to_bits() };
            assert_eq!(bits(back.rmse), bits(r.rmse));
            assert_eq!(bits(back.mae), bits(r.mae));
            assert_eq!(back.accuracy.map(bits), acc.map(bits));
            assert_eq!((back.step, back.graphs, back.eval_ns), (3, 7, Some(5)));
        }
    }
}
