//! The timed update of one step, every training loop's (`train`'s and `bench step`'s).

use super::{Built, Progress};
use crate::error::RunError;
use geobatch_core::{Batch, Learner, Phases, StepRecord, StepStats, StepTiming};
use std::time::Instant;

/// One timed update on a built batch, the step of every training loop (`train`'s and `bench
/// step`'s): the trainer's step and its record, the padded shape met in `progress`. A shared
/// step (several batches, or ranks of a world) is one [`Learner::train_shared`]; its record
/// holds the sums of this rank's batches' sizes, and its shape is cold when any batch's is.
pub(crate) fn timed_update<B: Batch>(
    trainer: &mut dyn Learner<B>,
    built: &mut Built<B>,
    step: u64,
    warmup: bool,
    progress: &mut Progress,
) -> Result<(StepRecord, StepStats), RunError> {
    let world = crate::world::current();
    let t = Instant::now();
    let stats = if !built.more.is_empty() || world.size() > 1 {
        let batches: Vec<&B> = std::iter::once(&built.batch)
            .chain(built.more.iter())
            .collect();
        trainer.train_shared(&batches, step, world)?
    } else {
        match built.staged.take() {
            Some(staged) => trainer.train_staged(&built.batch, staged, step)?,
            None => trainer.train_step(&built.batch, step)?,
        }
    };
    let timing = StepTiming {
        plan_ns: built.plan_ns,
        collate_ns: built.collate_ns,
        wait_ns: built.wait_ns,
        update_ns: Some(t.elapsed().as_nanos() as u64),
    };
    let (mut new_shape, mut cold_shape) = progress.meet(built.batch.padded());
    let mut record = StepRecord::timed(step, &built.batch, timing);
    for b in &built.more {
        let (new, cold) = progress.meet(b.padded());
        new_shape |= new;
        cold_shape |= cold;
        record.real = add(record.real, b.real());
        record.padded = add(record.padded, b.padded());
    }
    let record = StepRecord {
        new_shape,
        cold_shape,
        warmup,
        loss: Some(stats.loss),
        phases: Phases::of(&stats),
        ..record
    };
    Ok((record, stats))
}

/// Two batches' sizes together.
fn add(a: geobatch_core::Shape, b: geobatch_core::Shape) -> geobatch_core::Shape {
    geobatch_core::Shape {
        nodes: a.nodes + b.nodes,
        edges: a.edges + b.edges,
        graphs: a.graphs + b.graphs,
    }
}
