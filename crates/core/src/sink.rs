//! The sink plugin contract: where measurements go.

use crate::error::Result;
use crate::records::{EvalRecord, RunEnd, RunInfo, StepRecord};
use crate::registry::{PluginKind, PluginRole, Task};
use std::fmt::Debug;

/// A runtime sink. Lifecycle: [`Sink::start`], any number of [`Sink::step`] and [`Sink::eval`],
/// then [`Sink::finish`], which the runner calls even when the run failed, so that everything
/// recorded so far is readable.
pub trait Sink: Send {
    /// Called once before the first step with the run's identity.
    fn start(&mut self, run: &RunInfo) -> Result<()>;

    /// Called after every step.
    fn step(&mut self, record: &StepRecord) -> Result<()>;

    /// Called after every evaluation.
    fn eval(&mut self, record: &EvalRecord) -> Result<()>;

    /// Called when the evaluations after step `step` (0-based, the last step trained) begin; the
    /// phase ends at the next [`Sink::step`] or [`Sink::finish`]. For display: evaluation time is
    /// not training time.
    fn evaluating(&mut self, _step: u64) -> Result<()> {
        Ok(())
    }

    /// Called once at the end, whatever the outcome.
    fn finish(&mut self, end: &RunEnd) -> Result<()>;

    /// Called when the runner checkpoints: make everything recorded so far durable and return
    /// what [`Sink::resume`] needs to continue from exactly this point.
    fn checkpoint(&mut self) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }

    /// Called after [`Sink::start`] when a run resumes from a checkpoint, with the value that
    /// [`Sink::checkpoint`] returned then; anything recorded after that checkpoint is dropped.
    fn resume(&mut self, _state: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}

/// Config of a sink (sinks serve every task), registered by name with `#[plugin(name = "...")]`.
pub trait SinkSpec: dyn_clone::DynClone + Debug + Send + Sync {
    /// The registered name (`kind = "..."`); written by `#[plugin]`.
    fn plugin_name(&self) -> &'static str;

    /// The spec's options, for writing it back as a table; written by `#[plugin]`.
    fn as_serialize(&self) -> &dyn crate::tagged::ErasedSerialize;

    /// Checks the options.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Builds the runtime sink.
    fn build(&self) -> Result<Box<dyn Sink>>;

    /// The files this sink writes into the run folder (names, or prefixes ending in `*`): a
    /// run folder has one writer per table, so two sinks of a config may not claim the same
    /// file (checked when the config is validated).
    fn files(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Sinks serve every task; they are listed with the graph-level plugins.
impl PluginRole for dyn SinkSpec {
    const KIND: PluginKind = PluginKind::Sink;
    const TASK: Task = Task::Graph;
}

crate::tagged::plugin_serde!(SinkSpec);

/// The first file two sinks of one config would both write, as (first sink, second sink,
/// file), with sinks numbered from 1 in config order (see [`SinkSpec::files`]).
pub fn colliding_files(sinks: &[Box<dyn SinkSpec>]) -> Option<(usize, usize, &'static str)> {
    let overlap = |a: &str, b: &str| match (a.strip_suffix('*'), b.strip_suffix('*')) {
        (Some(pa), Some(pb)) => pa.starts_with(pb) || pb.starts_with(pa),
        (Some(pa), None) => b.starts_with(pa),
        (None, Some(pb)) => a.starts_with(pb),
        (None, None) => a == b,
    };
    for (i, a) in sinks.iter().enumerate() {
        for (j, b) in sinks.iter().enumerate().skip(i + 1) {
            for fa in a.files() {
                if b.files().iter().any(|fb| overlap(fa, fb)) {
                    return Some((i + 1, j + 1, fa));
                }
            }
        }
    }
    None
}
