//! Fan-out of records to every configured sink.

use crate::error::RunError;
use geobatch_core::records::{EvalRecord, RunEnd};
use geobatch_core::{Result, RunInfo, RunStatus, Sink, SinkSpec, StepRecord};
use std::time::Instant;

/// The sinks of one run, called in config order.
pub struct SinkSet {
    sinks: Vec<Box<dyn Sink>>,
}

impl SinkSet {
    /// Builds every sink of a config.
    pub fn build(specs: &[Box<dyn SinkSpec>]) -> Result<Self> {
        Ok(SinkSet {
            sinks: specs.iter().map(|s| s.build()).collect::<Result<_>>()?,
        })
    }

    /// Starts every sink.
    pub fn start(&mut self, run: &RunInfo) -> Result<()> {
        self.sinks.iter_mut().try_for_each(|s| s.start(run))
    }

    /// Records a step in every sink.
    pub fn step(&mut self, record: &StepRecord) -> Result<()> {
        self.sinks.iter_mut().try_for_each(|s| s.step(record))
    }

    /// Records an evaluation in every sink.
    pub fn eval(&mut self, record: &EvalRecord) -> Result<()> {
        self.sinks.iter_mut().try_for_each(|s| s.eval(record))
    }

    /// Tells every sink that evaluations after `step` begin (see [`Sink::evaluating`]).
    pub fn evaluating(&mut self, step: u64) -> Result<()> {
        self.sinks.iter_mut().try_for_each(|s| s.evaluating(step))
    }

    /// Asks every sink for its resume state (see [`Sink::checkpoint`]).
    pub fn checkpoint(&mut self) -> Result<Vec<serde_json::Value>> {
        self.sinks.iter_mut().map(|s| s.checkpoint()).collect()
    }

    /// Hands every sink its resume state from a checkpoint.
    pub fn resume(&mut self, states: &[serde_json::Value]) -> Result<()> {
        if states.len() != self.sinks.len() {
            return Err(geobatch_core::Error::invalid(format!(
                "the checkpoint has {} sink states but the config has {} sinks",
                states.len(),
                self.sinks.len()
            )));
        }
        self.sinks
            .iter_mut()
            .zip(states)
            .try_for_each(|(s, v)| s.resume(v))
    }

    /// Finishes every sink, even when one fails; returns the first error.
    pub fn finish(&mut self, end: &RunEnd) -> Result<()> {
        let mut first = Ok(());
        for s in &mut self.sinks {
            let r = s.finish(end);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// Ends a run in every sink: with `outcome`'s status, or `failed` and its message when it
    /// is an error; `steps` were recorded since `started`. Returns the outcome (its error
    /// first), then the sinks' first error.
    pub fn close(
        &mut self,
        outcome: std::result::Result<RunStatus, RunError>,
        steps: u64,
        started: Instant,
    ) -> std::result::Result<RunStatus, RunError> {
        let end = RunEnd {
            status: *outcome.as_ref().unwrap_or(&RunStatus::Failed),
            steps,
            wall_ns: started.elapsed().as_nanos() as u64,
            message: outcome.as_ref().err().map(ToString::to_string),
        };
        let finished = self.finish(&end);
        let status = outcome?;
        finished?;
        Ok(status)
    }
}
