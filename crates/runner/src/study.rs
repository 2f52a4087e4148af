//! The batching study's loop (`geobatch batches`), shared by graph- and node-level configs:
//! plan and collate the batches of a schedule serially, without a model, and record each one
//! through the sinks. What is summarised from the records is the caller's (see `batches` and
//! `node::study`).

use crate::config::Mode;
use crate::error::RunError;
use crate::policy;
use crate::sinks::SinkSet;
use crate::train::{BatchSource, Flow, Schedule, feed};
use geobatch_core::{Batch, RunInfo, RunStatus, SinkSpec, StepRecord, StepTiming};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What the study's loop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Studied {
    /// Batches recorded.
    pub steps: u64,
    /// Distinct padded shapes.
    pub distinct_shapes: usize,
    /// Complete or interrupted (failures are errors).
    pub status: RunStatus,
}

/// Makes the batches of `schedule` (its steps and warm-up) from `source`, records each through
/// the sinks of `specs` and shows it to `observe`; `stop` ends it early (status
/// `interrupted`). The sinks are finished whatever happens.
pub fn study<S: BatchSource>(
    source: &mut S,
    run: &RunInfo,
    specs: &[Box<dyn SinkSpec>],
    schedule: Schedule,
    stop: &AtomicBool,
    observe: &mut dyn FnMut(&StepRecord, &S::Batch),
) -> Result<Studied, RunError> {
    let mut sinks = SinkSet::build(specs)?;
    policy::record(&run.run_dir, RunStatus::Running, 0)?;
    sinks.start(run)?;
    let started = Instant::now();
    let mut shapes = HashSet::new();
    let (mut steps, mut interrupted) = (0u64, false);
    let outcome = feed(
        Mode::Serial,
        source,
        0..schedule.steps,
        &|_| false,
        None,
        &mut |step, built| {
            if stop.load(Ordering::Relaxed) {
                interrupted = true;
                return Ok(Flow::Stop);
            }
            let timing = StepTiming {
                plan_ns: built.plan_ns,
                collate_ns: built.collate_ns,
                wait_ns: None,
                update_ns: None,
            };
            let new_shape = shapes.insert(built.batch.padded());
            let record = StepRecord {
                new_shape,
                cold_shape: new_shape,
                warmup: schedule.warmup(step),
                ..StepRecord::timed(step, &built.batch, timing)
            };
            observe(&record, &built.batch);
            sinks.step(&record)?;
            steps += 1;
            Ok(Flow::Continue)
        },
    )
    .map(|()| {
        if interrupted {
            RunStatus::Interrupted
        } else {
            RunStatus::Complete
        }
    });
    let closed = sinks.close(outcome, steps, started);
    let recorded = policy::record(
        &run.run_dir,
        closed.as_ref().map_or(RunStatus::Failed, |s| *s),
        steps,
    );
    let status = closed?;
    recorded?;
    Ok(Studied {
        steps,
        distinct_shapes: shapes.len(),
        status,
    })
}
