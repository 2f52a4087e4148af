//! Fan-out of records to every configured sink.

use geobatch_core::records::{EvalRecord, RunEnd};
use geobatch_core::{Result, RunInfo, Sink, SinkSpec, StepRecord};

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
}
