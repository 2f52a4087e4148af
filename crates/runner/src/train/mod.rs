//! Training, written once for every kind of task (DESIGN.md §7, §11): batches of many small
//! graphs ([`graph`]) and node batches of one large graph (the node task's own crate,
//! `geobatch-node-run`) start at the same entry point ([`entry::run_train`], each kind a [`TaskKind`]) and go through the same loop, whose
//! phases are the functions of this module:
//!
//! 1. **resume** ([`train`]): a checkpoint, when asked for, restores the trainer, the batch
//!    source's position, the task's state, the running totals and the sinks;
//! 2. **start**: the sinks get the run's identity;
//! 3. **plan and collate** ([`feed()`]): serial or prefetch, the same batches in both modes;
//! 4. **update** and **record** (`RunLoop::update`): the timed gradient update and one
//!    [`StepRecord`] per step to every sink; a non-finite or exploding loss stops the run;
//! 5. **evaluate** ([`TaskHooks::evaluate`]) and **checkpoint** (`RunLoop::checkpoint`) at round ends
//!    (a round is a step for graph-level tasks and an epoch of node batches for node-level ones);
//! 6. **finish**: the task's final evaluation ([`TaskHooks::finish`]), every sink finished whatever
//!    happened ([`SinkSet::close`]), the checkpoint dropped once the run is complete.

pub mod checkpoint;
pub mod entry;
pub mod feed;
pub mod graph;
pub mod graph_model;
pub mod graph_source;
pub mod progress;
pub mod schedule;
mod update;

pub use checkpoint::STATE_FILE;
pub use entry::{RunSummary, TaskKind, run_train, run_train_with};
pub use feed::{BatchSource, Built, Flow, feed, feed_shared};
pub use graph::{LOSS_LIMIT, TrainSummary};
pub use progress::{Medians, Progress};
pub use schedule::{Point, Schedule};
pub(crate) use update::timed_update;

use crate::config::Mode;
use crate::error::RunError;
use crate::policy;
use crate::sinks::SinkSet;
use crate::world::Share;
use checkpoint::CheckpointState;
use geobatch_core::{Batch, Error, Learner, RunInfo, RunStatus, SinkSpec, TaskType, Trainer};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What the loop drives of a task's model: its steps and state ([`Learner`]); the task's hooks
/// read the rest (its predictions).
pub trait Drive<B: Batch> {
    /// The model's steps and state.
    fn learner(&mut self) -> &mut dyn Learner<B>;
    /// As [`Drive::learner`], to read (checkpoints, the parameter count).
    fn learner_ref(&self) -> &dyn Learner<B>;
}

/// A task's trainer is driven as its learner.
impl<T: TaskType> Drive<T::Batch> for dyn Trainer<T> {
    fn learner(&mut self) -> &mut dyn Learner<T::Batch> {
        self
    }
    fn learner_ref(&self) -> &dyn Learner<T::Batch> {
        self
    }
}

/// What a kind of task (core's [`geobatch_core::Task`]) adds to the loop: its evaluations and
/// the state they keep.
pub trait TaskHooks {
    /// The batches it trains on.
    type Batch: Batch;
    /// The model it trains and evaluates: a task's trainer (`dyn Trainer<T>`), or one of the
    /// tasks a kind's data decides between (`dyn crate::train::graph_model::GraphModel`).
    type Model: ?Sized + Drive<Self::Batch>;

    /// A periodic evaluation after round `at.rounds` (never after the last step: that one is
    /// [`TaskHooks::finish`]'s). [`Flow::Stop`] ends training early (early stopping).
    fn evaluate(
        &mut self,
        trainer: &mut Self::Model,
        at: Point,
        sinks: &mut SinkSet,
    ) -> Result<Flow, RunError>;

    /// The final evaluation once training is over: after the last step, or at `at` after an
    /// early stop.
    fn finish(
        &mut self,
        trainer: &mut Self::Model,
        at: Point,
        sinks: &mut SinkSet,
    ) -> Result<(), RunError>;

    /// The task's own state, for a checkpoint.
    fn state(&self) -> Result<serde_json::Value, RunError> {
        Ok(serde_json::Value::Null)
    }

    /// Restores a state saved by [`TaskHooks::state`]; the trainer is already restored.
    fn restore(
        &mut self,
        _state: serde_json::Value,
        _trainer: &mut Self::Model,
    ) -> Result<(), RunError> {
        Ok(())
    }
}

/// Everything a training run is made of, built by a task kind's entry point.
pub struct Job<'a, S: BatchSource, M: ?Sized> {
    /// The run's identity (its folder exists).
    pub run: RunInfo,
    /// The config's sinks.
    pub sinks: &'a [Box<dyn SinkSpec>],
    /// Where batches come from.
    pub source: S,
    /// The model being trained.
    pub trainer: Box<M>,
    /// Steps, rounds, evaluation, checkpoints, warm-up.
    pub schedule: Schedule,
    /// Serial or prefetch.
    pub mode: Mode,
    /// Continue from the run's checkpoint when it has one.
    pub resume: bool,
    /// This rank's share of each step's batches (one batch of one process: not shared).
    pub share: Share,
}

/// How a training run ended.
#[derive(Debug)]
pub struct Ended {
    /// Complete (also after an early stop) or interrupted; failures are errors.
    pub status: RunStatus,
    /// Running totals of the whole run (a resumed run's included).
    pub progress: Progress,
    /// The run's results folder.
    pub run_dir: PathBuf,
}

/// Where a run starts: its first step, its running totals and its sinks' states (a resumed
/// run's from its checkpoint).
struct Resumed {
    start: u64,
    progress: Progress,
    sink_states: Option<Vec<serde_json::Value>>,
}

impl Resumed {
    /// A run from its first step.
    fn fresh(steps: u64) -> Self {
        Resumed {
            start: 0,
            progress: Progress::new(steps),
            sink_states: None,
        }
    }
}

/// Restores the trainer, the batch source and the task from the checkpoint in `ckpt` (finishing
/// a swap a kill interrupted first).
fn resume_from<S, T>(
    ckpt: &Path,
    source: &mut S,
    trainer: &mut T::Model,
    task: &mut T,
) -> Result<Resumed, RunError>
where
    S: BatchSource,
    T: TaskHooks<Batch = S::Batch>,
{
    checkpoint::recover(ckpt)?;
    let state = checkpoint::read(ckpt)?;
    trainer.learner().load(ckpt)?;
    source.restore(state.source)?;
    task.restore(state.task, trainer)?;
    geobatch_process::errln!("resuming from the checkpoint at step {}", state.step);
    Ok(Resumed {
        start: state.step,
        progress: state.progress,
        sink_states: Some(state.sinks),
    })
}

/// A resumed run's recorded steps (its kept `steps-*.parquet` parts, when it writes them) are
/// steps `0..start`, `start` the step its checkpoint continues at: a checkpoint edited by hand
/// or copied from another run would otherwise leave a hole or a repeat in a run that ends
/// complete.
fn steps_before(run_dir: &Path, start: u64) -> Result<(), RunError> {
    if !run_dir.join("run.parquet").is_file() {
        return Ok(());
    }
    let run = geobatch_results::read::read_run(run_dir)
        .map_err(|e| RunError::Core(geobatch_core::Error::Refused(e.to_string())))?;
    let steps = &run.steps.step;
    let hole = steps.iter().enumerate().find(|&(i, &s)| s != i as u64);
    if steps.len() as u64 == start && hole.is_none() {
        return Ok(());
    }
    Err(RunError::Core(geobatch_core::Error::Refused(format!(
        "{}: its checkpoint continues at step {start}, but its steps-*.parquet files hold {} \
         ({}): a checkpoint or part not of this run; --restart runs it again",
        run_dir.display(),
        steps.len(),
        match hole {
            Some((i, s)) => format!("step {s} where step {i} belongs"),
            None => format!("steps 0..{}", steps.len()),
        }
    ))))
}

/// Where a run starts: its checkpoint when it resumes and has one, else step 0 (and any stale
/// checkpoint removed).
fn starting_point<S, T>(
    resume: bool,
    run_dir: &Path,
    source: &mut S,
    trainer: &mut T::Model,
    task: &mut T,
    schedule: &Schedule,
) -> Result<Resumed, RunError>
where
    S: BatchSource,
    T: TaskHooks<Batch = S::Batch>,
{
    let ckpt = checkpoint::folder(run_dir);
    if resume && checkpoint::exists(run_dir) {
        resume_from(&ckpt, source, trainer, task)
    } else {
        if leads() {
            checkpoint::discard(&ckpt)?;
        }
        Ok(Resumed::fresh(schedule.steps))
    }
}

/// Finishes the sinks with the loop's `outcome` and records how the run ended (failed when the
/// sinks could not be closed); a complete run's checkpoint is removed.
fn close(
    sinks: &mut SinkSet,
    outcome: Result<RunStatus, RunError>,
    steps: u64,
    started: Instant,
    run_dir: &Path,
) -> Result<RunStatus, RunError> {
    let closed = sinks.close(outcome, steps, started);
    if !leads() {
        return closed;
    }
    let ended = closed.as_ref().map_or(RunStatus::Failed, |s| *s);
    let recorded = policy::record(run_dir, ended, steps);
    let status = closed?;
    recorded?;
    if status == RunStatus::Complete {
        checkpoint::discard(&checkpoint::folder(run_dir))?;
    }
    Ok(status)
}

/// Whether this process writes the run's records (results, checkpoints, its status): the one
/// process of a run, or rank 0 of a data-parallel world.
fn leads() -> bool {
    crate::world::current().rank() == 0
}

/// The run's sinks, started at step `start` with the run recorded running; a resumed run's
/// (`states`: its checkpoint's) continue from their saved states over the steps it kept. Ranks
/// other than the leader record nothing: their sinks are none.
fn open_sinks(
    specs: &[Box<dyn SinkSpec>],
    run: &RunInfo,
    start: u64,
    states: Option<&[serde_json::Value]>,
) -> Result<SinkSet, RunError> {
    if !leads() {
        return Ok(SinkSet::build(&[])?);
    }
    let mut sinks = SinkSet::build(specs)?;
    policy::record(&run.run_dir, RunStatus::Running, start)?;
    sinks.start(run)?;
    if let Some(states) = states {
        sinks.resume(states)?;
        steps_before(&run.run_dir, start)?;
    }
    Ok(sinks)
}

/// Runs a training job through its phases (see the module docs). `stop` ends it early (Ctrl-C)
/// with status `interrupted`; the sinks are finished in every case.
pub fn train<S, T>(
    job: Job<'_, S, T::Model>,
    task: &mut T,
    stop: &AtomicBool,
) -> Result<Ended, RunError>
where
    S: BatchSource,
    T: TaskHooks<Batch = S::Batch>,
{
    let Job {
        run,
        sinks: specs,
        mut source,
        mut trainer,
        schedule,
        mode,
        resume,
        share,
    } = job;
    let ckpt = checkpoint::folder(&run.run_dir);
    let Resumed {
        start,
        progress,
        sink_states,
    } = starting_point(
        resume,
        &run.run_dir,
        &mut source,
        trainer.as_mut(),
        task,
        &schedule,
    )?;
    let run = RunInfo {
        resumed_from: sink_states.as_ref().map(|_| start),
        ..run
    };
    // where the source stands at the first step: a stop signal's checkpoint replays the plans
    // from here (or from the last checkpoint) to the step where the run stopped
    let anchor = (start, source.position()?);
    let mut sinks = open_sinks(specs, &run, start, sink_states.as_deref())?;
    let started = Instant::now();
    let mut steps = RunLoop {
        trainer: trainer.as_mut(),
        task,
        sinks: &mut sinks,
        progress,
        schedule,
        ckpt: &ckpt,
        stop,
        interrupted: None,
        stopped_at: None,
        round_start: Instant::now(),
        anchor,
        share,
    };
    let stager = match mode {
        Mode::Prefetch => steps.trainer.learner().stager(),
        Mode::Serial => None,
    };
    let fed = feed_shared(
        mode,
        &mut source,
        start..schedule.steps,
        &|s| schedule.checkpoints_after(s),
        stager,
        share,
        &mut |step, built| steps.step(step, built),
    );
    let outcome = fed
        .and_then(|()| steps.finish())
        .and_then(|status| steps.checkpoint_on_stop(&mut source).map(|()| status));
    let RunLoop { progress, .. } = steps;
    let status = close(&mut sinks, outcome, progress.steps(), started, &run.run_dir)?;
    Ok(Ended {
        status,
        progress,
        run_dir: run.run_dir,
    })
}

/// The state of the loop while it runs.
struct RunLoop<'r, T: TaskHooks> {
    trainer: &'r mut T::Model,
    task: &'r mut T,
    sinks: &'r mut SinkSet,
    progress: Progress,
    schedule: Schedule,
    ckpt: &'r Path,
    stop: &'r AtomicBool,
    /// The step a stop signal kept from running (the next step of a resumed run).
    interrupted: Option<u64>,
    stopped_at: Option<Point>,
    round_start: Instant,
    /// The next step and the batch source's position at the run's start or its last
    /// checkpoint, whichever came last.
    anchor: (u64, serde_json::Value),
    /// This rank's share of each step.
    share: Share,
}

impl<T: TaskHooks> RunLoop<'_, T> {
    /// One step: update on the batch and record it, then evaluate and checkpoint when due.
    fn step(&mut self, step: u64, built: &mut Built<T::Batch>) -> Result<Flow, RunError> {
        if self.stopping()? {
            self.interrupted = Some(step);
            return Ok(Flow::Stop);
        }
        self.update(step, built)?;
        if !self.schedule.ends_round(step) {
            return Ok(Flow::Continue);
        }
        if self.schedule.per_round > 1 {
            self.progress
                .add_round(self.round_start.elapsed().as_nanos() as u64);
        }
        let at = self.schedule.after(step);
        if self.schedule.evaluates_after(step) && self.evaluate_after(step, at)? == Flow::Stop {
            self.stopped_at = Some(at);
            return Ok(Flow::Stop);
        }
        if self.schedule.checkpoints_after(step) {
            self.checkpoint(at, built)?;
        }
        self.round_start = Instant::now();
        Ok(Flow::Continue)
    }

    /// Whether a stop signal ends the run before this step: on every rank of a world at the same
    /// step (a rank that stopped alone would leave the others waiting in the step's sum), so
    /// the flags are summed first.
    fn stopping(&self) -> Result<bool, RunError> {
        let mine = self.stop.load(Ordering::Relaxed);
        let world = crate::world::current();
        if world.size() == 1 {
            return Ok(mine);
        }
        let mut flags = [f64::from(u8::from(mine))];
        world.sum(&mut flags)?;
        Ok(flags[0] > 0.0)
    }

    /// The periodic evaluation after `step`, announced to the sinks as its own phase (by the
    /// leader alone in a world of ranks: the others go on to the next step's sum and wait).
    fn evaluate_after(&mut self, step: u64, at: Point) -> Result<Flow, RunError> {
        if !leads() {
            return Ok(Flow::Continue);
        }
        self.sinks.evaluating(step)?;
        self.task.evaluate(self.trainer, at, self.sinks)
    }

    /// The timed update and its record; a diverged loss is an error after it is recorded.
    fn update(&mut self, step: u64, built: &mut Built<T::Batch>) -> Result<(), RunError> {
        let warmup = self.schedule.warmup(step);
        let (record, stats) = timed_update(
            self.trainer.learner(),
            built,
            step,
            warmup,
            &mut self.progress,
        )?;
        self.sinks.step(&record)?;
        self.progress.add(&record, self.schedule.steps);
        let loss = stats.loss;
        if !loss.is_finite() || loss > LOSS_LIMIT {
            return Err(RunError::Core(Error::invalid(format!(
                "training diverged: loss {loss} at step {step} (limit {LOSS_LIMIT:e}); lower the learning rate"
            ))));
        }
        Ok(())
    }

    /// Writes a checkpoint at `at` (the batch's position was taken when it was made).
    fn checkpoint(&mut self, at: Point, built: &Built<T::Batch>) -> Result<(), RunError> {
        let source = built.position.clone().ok_or_else(|| {
            Error::invalid("no batch source position was taken for this checkpoint")
        })?;
        self.write_checkpoint(at.steps, source)
    }

    /// Writes a checkpoint before step `next` with the batch source at `source`, and makes it
    /// the anchor of a later stop's checkpoint.
    fn write_checkpoint(&mut self, next: u64, source: serde_json::Value) -> Result<(), RunError> {
        if !leads() {
            return Ok(());
        }
        let state = CheckpointState {
            step: next,
            source,
            task: self.task.state()?,
            sinks: self.sinks.checkpoint()?,
            progress: self.progress.clone(),
        };
        checkpoint::write(self.ckpt, &state, self.trainer.learner_ref())?;
        self.anchor = (next, state.source);
        Ok(())
    }

    /// A stop signal's checkpoint (DESIGN.md §13): at the step the signal kept from running, so
    /// `--resume` computes no step twice. The batch source has run ahead (the batch of that
    /// step was made; in prefetch mode a few more), so it goes back to the anchor and plans,
    /// without collating, up to that step. Nothing to do when the run was not interrupted, or
    /// was interrupted before any step since the anchor (its checkpoint is already there).
    fn checkpoint_on_stop<S>(&mut self, source: &mut S) -> Result<(), RunError>
    where
        S: BatchSource<Batch = T::Batch>,
    {
        let Some(next) = self.interrupted else {
            return Ok(());
        };
        let (from, position) = self.anchor.clone();
        if next <= from {
            return Ok(());
        }
        if !leads() {
            return Ok(());
        }
        source.restore(position)?;
        for _ in from..next {
            feed::skip_step(source, self.share)?;
        }
        let position = source.position()?;
        self.write_checkpoint(next, position)?;
        geobatch_process::errln!(
            "checkpoint written at step {next}: --resume continues from there"
        );
        Ok(())
    }

    /// The task's final evaluation when training is over (not when interrupted).
    fn finish(&mut self) -> Result<RunStatus, RunError> {
        if self.interrupted.is_some() {
            return Ok(RunStatus::Interrupted);
        }
        if !leads() {
            return Ok(RunStatus::Complete);
        }
        let at = self
            .stopped_at
            .unwrap_or_else(|| self.schedule.after(self.schedule.steps.saturating_sub(1)));
        self.sinks.evaluating(at.steps.saturating_sub(1))?;
        self.task.finish(self.trainer, at, self.sinks)?;
        Ok(RunStatus::Complete)
    }
}
