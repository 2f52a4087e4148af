//! Where training batches come from: a [`BatchSource`] plans and collates them one after
//! another, and [`feed`] hands them to the update either serially (the study's protocol: batch,
//! then update, nothing overlapped) or from a worker thread (prefetch). Both modes make the same
//! batches in the same order, so they train the same bits.

use crate::config::Mode;
use crate::error::RunError;
use crate::world::Share;
use geobatch_core::{Batch, Error, Staged, Stager};
use std::ops::Range;
use std::sync::mpsc;
use std::time::Instant;

/// Makes the batches of one job: graph batches from a stream of graph indices, or node batches
/// epoch after epoch.
pub trait BatchSource: Send {
    /// The kind of batch made.
    type Batch: Batch;
    /// Batches the prefetch queue may hold ahead of the trainer.
    const QUEUE: usize;
    /// Plans the next batch without collating it: half of [`BatchSource::next`], and alone it
    /// replays the source to the step where a stop signal ended the run, for its checkpoint.
    fn skip(&mut self) -> Result<(), Error>;
    /// Collates the plan the last [`BatchSource::skip`] made into `batch` (reused between steps).
    fn collate(&mut self, batch: &mut Self::Batch) -> Result<(), Error>;
    /// Plans and collates the next batch into `batch`; returns the planning and collation
    /// times (ns).
    fn next(&mut self, batch: &mut Self::Batch) -> Result<(u64, u64), Error> {
        let t0 = Instant::now();
        self.skip()?;
        let t1 = Instant::now();
        self.collate(batch)?;
        Ok(((t1 - t0).as_nanos() as u64, t1.elapsed().as_nanos() as u64))
    }
    /// Where the source stands (taken between two batches), for a checkpoint.
    fn position(&self) -> Result<serde_json::Value, Error>;
    /// Goes back to a position returned by [`BatchSource::position`].
    fn restore(&mut self, position: serde_json::Value) -> Result<(), Error>;
}

/// One batch and what making it cost.
#[derive(Debug)]
pub struct Built<B> {
    /// The batch (this rank's first of the step, in a shared step).
    pub batch: B,
    /// This rank's other batches of the step, in a shared step ([`Share::own`] above 1).
    pub more: Vec<B>,
    /// Planning time (ns).
    pub plan_ns: u64,
    /// Collation time (ns).
    pub collate_ns: u64,
    /// Time the trainer waited for it (prefetch mode), ns.
    pub wait_ns: Option<u64>,
    /// The source's position right after this batch, taken when a checkpoint follows it.
    pub position: Option<serde_json::Value>,
    /// The trainer's device inputs of this batch, made by its stager on the prefetch worker
    /// (`training.engine.upload = "worker"`); taken by the step.
    pub staged: Option<Staged>,
}

/// Whether to go on after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Take the next batch.
    Continue,
    /// Stop here.
    Stop,
}

/// What [`feed`] hands each batch to: the step and its batch; says whether to go on.
pub type OnBatch<'f, B> = dyn FnMut(u64, &mut Built<B>) -> Result<Flow, RunError> + 'f;

/// Plans, without collating, the plans of a whole step (every rank's share of it): what a stop
/// signal's checkpoint replays step by step.
pub fn skip_step<S: BatchSource>(source: &mut S, share: Share) -> Result<(), Error> {
    skip_others(source, share.total()).map(|_| ())
}

/// Plans `n` plans of other ranks; returns the time taken (ns).
fn skip_others<S: BatchSource>(source: &mut S, n: usize) -> Result<u64, Error> {
    let t = Instant::now();
    for _ in 0..n {
        source.skip()?;
    }
    Ok(t.elapsed().as_nanos() as u64)
}

/// Makes this rank's batches of `step` (`share`; the first into `batch`), with the source's
/// position after the whole step when `mark(step)` (a checkpoint follows that step). The plans
/// of other ranks are planned, not collated; their time counts as this rank's planning.
fn make<S: BatchSource>(
    source: &mut S,
    mut batch: S::Batch,
    step: u64,
    mark: &dyn Fn(u64) -> bool,
    share: Share,
) -> Result<Built<S::Batch>, Error> {
    let mut plan_ns = skip_others(source, share.before)?;
    let (p, mut collate_ns) = source.next(&mut batch)?;
    plan_ns += p;
    let mut more = Vec::with_capacity(share.own.saturating_sub(1));
    for _ in 1..share.own {
        let mut b = S::Batch::default();
        let (p, c) = source.next(&mut b)?;
        plan_ns += p;
        collate_ns += c;
        more.push(b);
    }
    plan_ns += skip_others(source, share.after)?;
    let position = if mark(step) {
        Some(source.position()?)
    } else {
        None
    };
    Ok(Built {
        batch,
        more,
        plan_ns,
        collate_ns,
        wait_ns: None,
        position,
        staged: None,
    })
}

/// Hands the batches of `steps` to `f` in order until `f` says stop or fails.
///
/// Serial: each batch is made, then `f` runs. Prefetch: a worker thread makes batches into a
/// queue of [`BatchSource::QUEUE`] while `f` runs, batches are recycled through a return
/// channel, and the time `f`'s side waited for each batch is recorded in [`Built::wait_ns`].
/// `mark(step)` says which batches carry the source's position (those a checkpoint follows):
/// the worker is ahead of the trainer, so the position is taken when the batch is made. A
/// `stager` (prefetch only) turns each batch into the trainer's device inputs on the worker too,
/// into [`Built::staged`].
pub fn feed<S: BatchSource>(
    mode: Mode,
    source: &mut S,
    steps: Range<u64>,
    mark: &(dyn Fn(u64) -> bool + Sync),
    stager: Option<Box<dyn Stager<S::Batch>>>,
    f: &mut OnBatch<'_, S::Batch>,
) -> Result<(), RunError> {
    feed_shared(mode, source, steps, mark, stager, Share::of(0, 1, 1), f)
}

/// [`feed`] of this rank's `share` of every step: a step's plans of other ranks are planned and
/// not collated, and a share of several batches is handed over as one [`Built`] (its
/// [`Built::more`]). The stager, when given, is used only where steps are not shared.
pub fn feed_shared<S: BatchSource>(
    mode: Mode,
    source: &mut S,
    steps: Range<u64>,
    mark: &(dyn Fn(u64) -> bool + Sync),
    stager: Option<Box<dyn Stager<S::Batch>>>,
    share: Share,
    f: &mut OnBatch<'_, S::Batch>,
) -> Result<(), RunError> {
    // a shared step makes its device inputs in the step (Learner::train_shared)
    let stager = stager.filter(|_| !share.shared());
    match mode {
        Mode::Serial => {
            let mut spare = S::Batch::default();
            for step in steps {
                let mut built = make(source, spare, step, mark, share)?;
                if f(step, &mut built)? == Flow::Stop {
                    break;
                }
                spare = built.batch;
            }
            Ok(())
        }
        // The receiver is dropped when the closure returns, before the scope joins the worker,
        // so a worker blocked on a full queue wakes up with an error and ends.
        Mode::Prefetch => std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Result<Built<S::Batch>, Error>>(S::QUEUE);
            let (back_tx, back_rx) = mpsc::channel::<S::Batch>();
            let worker_steps = steps.clone();
            let mut stager = stager;
            scope.spawn(move || {
                for step in worker_steps {
                    let spare = back_rx.try_recv().unwrap_or_default();
                    let item = make(source, spare, step, mark, share).and_then(|mut built| {
                        if let Some(stager) = stager.as_mut() {
                            built.staged = Some(stager.stage(&built.batch)?);
                        }
                        Ok(built)
                    });
                    let failed = item.is_err();
                    if tx.send(item).is_err() || failed {
                        return;
                    }
                }
            });
            for step in steps {
                let t = Instant::now();
                let Ok(item) = rx.recv() else {
                    return Err(Error::invalid("the batching thread stopped").into());
                };
                let mut built = item?;
                built.wait_ns = Some(t.elapsed().as_nanos() as u64);
                if f(step, &mut built)? == Flow::Stop {
                    break;
                }
                let _ = back_tx.send(built.batch);
            }
            Ok(())
        }),
    }
}
