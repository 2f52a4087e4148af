//! The one entry point of training, for both kinds of task: [`run_train`] (what `geobatch run`,
//! `sweep`, `advise` and SLURM tasks reach through `AnyConfig::train`). A kind of task
//! ([`TaskKind`], the one trait a kind implements: the graph-level and the node-level config)
//! brings what differs: its task, its data, the batch source, trainer and evaluation hooks built
//! on that data, its summary, and its batching study.
//! The entry does the rest, once: the kernel threads, the checks, the run's identity and the loop
//! ([`super::train`]).

use super::{BatchSource, Drive, Ended, Job, Schedule, TaskHooks, train};
use crate::config::{Loaded, Mode, RunConfig};
use crate::error::RunError;
use crate::identity::{RunStart, new_run, threads_of};
use crate::request::Request;
use crate::world::Share;
use geobatch_core::{ModelSpec, RunStatus, Shape, Task, TaskType};
use geobatch_datafiles::output::Output;
use std::sync::atomic::AtomicBool;

/// The `[training]` settings every kind of task has, counted in rounds (a round is a step of
/// a graph-level run and an epoch of node batches of a node-level one).
#[derive(Debug, Clone, Copy)]
pub struct Rounds<'a> {
    /// Rounds of the run (`training.steps` or `training.epochs`).
    pub planned: u64,
    /// Evaluate every this many rounds (0: only at the end).
    pub eval_every: u64,
    /// Checkpoint every this many rounds (0: never).
    pub checkpoint_every: u64,
    /// Leading rounds whose steps are flagged as warm-up.
    pub warmup: u64,
    /// Serial or prefetch batching.
    pub mode: Mode,
    /// Device name.
    pub device: &'a str,
    /// Kernel threads (`None`: every core).
    pub threads: Option<usize>,
    /// Batches each process trains on per step, their gradients averaged (`training.accumulate`;
    /// 1 for kinds that do not share steps).
    pub accumulate: usize,
}

/// The batches a kind's source makes.
type BatchOf<'d, K> = <<K as TaskKind>::Source<'d> as BatchSource>::Batch;

/// The model a kind's hooks train and evaluate.
pub type ModelOf<'d, K> = <<K as TaskKind>::Hooks<'d> as TaskHooks>::Model;

/// What a kind's dataset loads into (`TaskType::Dataset` of its level).
pub type DatasetOf<K> = <<K as TaskKind>::Level as TaskType>::Dataset;

/// What a kind built on its data for one run.
pub struct Prepared<'d, K: TaskKind + 'd> {
    /// Where the training batches come from.
    pub source: K::Source<'d>,
    /// The model being trained.
    pub trainer: Box<ModelOf<'d, K>>,
    /// The kind's evaluations and their state.
    pub hooks: K::Hooks<'d>,
    /// Steps per round: 1 for graph-level runs, the batches of an epoch for node-level ones.
    pub per_round: u64,
    /// Where the data came from (the run's `dataset_source`).
    pub dataset_source: String,
    /// The batcher's fixed padded shape, if it has one.
    pub budget: Option<Shape>,
    /// Threads the batchers' pre-computation ran on (1 when it ran on one).
    pub precompute_threads: usize,
    /// What the run trains on, for the line that announces it.
    pub about: String,
}

/// The model of a run, as its summary names it.
#[derive(Debug, Clone)]
pub struct Trained {
    /// Model plugin name.
    pub model: String,
    /// Trainable scalars.
    pub parameters: usize,
    /// Steps per round.
    pub per_round: u64,
}

/// What a finished training run reports, whatever its kind.
pub trait RunSummary {
    /// A human-readable report.
    fn render(&self) -> String;
    /// How the run ended.
    fn status(&self) -> RunStatus;
}

/// A kind of task: the one trait a kind implements (by its config type), whose associated types
/// carry what differs between kinds. The training entry ([`run_train`]) and every job
/// (`crate::jobs::AnyConfig`) are written once over it; its shared sections and run names are
/// [`RunConfig`]'s.
pub trait TaskKind: RunConfig + Sync + Sized + std::fmt::Debug + 'static {
    /// The task as a type: what its plugins read and make (`geobatch_core::task`).
    type Level: TaskType;
    /// The task: many small graphs or one large graph.
    const TASK: Task = <Self::Level as TaskType>::TASK;
    /// The `[training]` key that counts the run's rounds (`steps` or `epochs`).
    const ROUNDS: &'static str;
    /// What `geobatch validate` says of the kind before the rest (`node-level; `; nothing for
    /// the default kind).
    const DESCRIBED_AS: &'static str;
    /// The source of its training batches.
    type Source<'d>: BatchSource
    where
        Self: 'd;
    /// Its evaluations.
    type Hooks<'d>: TaskHooks<Batch = BatchOf<'d, Self>>
    where
        Self: 'd;
    /// What a finished run reports.
    type Summary: RunSummary + Send;

    /// Why a config of this kind cannot do what `request` asks, if it cannot (`--plans` of a
    /// node-level study; `--steps` of a run that counts epochs).
    fn refusal(request: Request) -> Option<&'static str>;

    /// The config's `[training]` settings in rounds.
    fn rounds(&self) -> Rounds<'_>;

    /// Sets the run's rounds (`training.steps` or `training.epochs`: `--steps`, `--epochs`).
    fn set_rounds(&mut self, rounds: u64);

    /// The config's model, when it has one.
    fn model(&self) -> Option<&dyn ModelSpec<Self::Level>>;

    /// Loads the data.
    fn load(loaded: &Loaded<Self>) -> Result<Box<DatasetOf<Self>>, RunError>;

    /// Builds the batch source, the trainer of `model` and the hooks on `data`.
    fn prepare<'d>(
        loaded: &'d Loaded<Self>,
        data: &'d DatasetOf<Self>,
        model: &'d dyn ModelSpec<Self::Level>,
    ) -> Result<Prepared<'d, Self>, RunError>;

    /// The summary of a run that ended.
    fn summarise<'d>(trained: Trained, ended: Ended, hooks: Self::Hooks<'d>) -> Self::Summary
    where
        Self: 'd;

    /// Runs the batching study and returns the rendered summary: `steps` batches and their
    /// plans written to `plans` where the kind has them (a request the kind cannot do is
    /// refused before, by `crate::jobs::Request`).
    fn study(
        loaded: &Loaded<Self>,
        steps: Option<u64>,
        plans: Option<&Output>,
        stop: &AtomicBool,
    ) -> Result<String, RunError>;
}

/// Trains the config's model; `rounds` overrides its `training.steps` (graph-level) or
/// `training.epochs` (node-level). `stop` ends the run early (Ctrl-C) with status
/// `interrupted`; the sinks are finished in every case.
pub fn run_train<K: TaskKind>(
    loaded: &Loaded<K>,
    rounds: Option<u64>,
    stop: &AtomicBool,
) -> Result<K::Summary, RunError> {
    run_train_with(loaded, rounds, stop, false)
}

/// As [`run_train`]; with `resume`, a run whose folder holds a checkpoint continues from it
/// (parameters, optimiser state, the batch source's position, the task's state and the sinks'
/// records up to that step).
pub fn run_train_with<K: TaskKind>(
    loaded: &Loaded<K>,
    rounds: Option<u64>,
    stop: &AtomicBool,
    resume: bool,
) -> Result<K::Summary, RunError> {
    let threads = crate::threads::resolve(loaded.config.rounds().threads);
    crate::threads::run_on(threads, || {
        train_on_threads(loaded, rounds, stop, resume, threads)
    })?
}

/// The error of a training run whose config has no `[model]` table.
pub fn no_model<C: RunConfig>(loaded: &Loaded<C>) -> RunError {
    loaded
        .input_error("no [model] table: `geobatch run` trains a model (see `geobatch list models`)")
}

/// [`run_train_with`] inside the pool of `threads` kernel threads.
fn train_on_threads<K: TaskKind>(
    loaded: &Loaded<K>,
    rounds: Option<u64>,
    stop: &AtomicBool,
    resume: bool,
    threads: usize,
) -> Result<K::Summary, RunError> {
    let settings = loaded.config.rounds();
    let (Some(spec), Some(model)) = (loaded.config.model(), loaded.config.model_name()) else {
        return Err(no_model(loaded));
    };
    let rounds = rounds.unwrap_or(settings.planned);
    if rounds == 0 {
        return Err(loaded.input_error(&format!("training.{} must be at least 1", K::ROUNDS)));
    }
    let share = share_of::<K>(loaded, settings.accumulate)?;
    let data = K::load(loaded)?;
    RunError::unless_stopped(stop, "loading the dataset")?;
    let prepared = K::prepare(loaded, &*data, spec)?;
    RunError::unless_stopped(stop, "building the model and its batches")?;
    let trained = Trained {
        model: model.to_string(),
        parameters: prepared.trainer.learner_ref().parameter_count(),
        per_round: prepared.per_round,
    };
    if crate::world::current().rank() == 0 {
        geobatch_process::errln!(
            "{model}: {} parameters; {}",
            trained.parameters,
            prepared.about
        );
    }
    let steps = rounds * prepared.per_round;
    let run = new_run(
        loaded,
        RunStart {
            job: "train",
            model: Some(model),
            dataset_source: prepared.dataset_source,
            budget: prepared.budget,
            planned_steps: steps,
            mode: settings.mode.as_str(),
            device: settings.device,
            threads: threads_of(threads, settings.mode, prepared.precompute_threads),
        },
    )?;
    let job = Job {
        run,
        sinks: loaded.config.sinks(),
        source: prepared.source,
        trainer: prepared.trainer,
        schedule: Schedule {
            steps,
            per_round: prepared.per_round,
            eval_every: settings.eval_every,
            checkpoint_every: settings.checkpoint_every,
            warmup: settings.warmup,
        },
        mode: settings.mode,
        resume,
        share,
    };
    let mut hooks = prepared.hooks;
    let ended = train(job, &mut hooks, stop)?;
    Ok(K::summarise(trained, ended, hooks))
}

/// This process's share of each step: a world of ranks trains graph-level runs only, every rank
/// on the same config (checked by a sum of its hash, so no rank goes on alone).
fn share_of<K: TaskKind>(loaded: &Loaded<K>, accumulate: usize) -> Result<Share, RunError> {
    let world = crate::world::current();
    let share = Share::here(accumulate);
    if share.shared() && matches!(K::TASK, Task::Node) {
        return Err(loaded.input_error(&format!(
            "a {} run trains in one process on one batch a step (training.accumulate = \
             {accumulate}, {})",
            K::TASK.as_str(),
            world.describe()
        )));
    }
    if world.size() > 1 {
        let hash = loaded.names().hash.get(..16).unwrap_or("0");
        let hash = u64::from_str_radix(hash, 16).unwrap_or(0);
        if !geobatch_core::world::same_everywhere(world, hash)? {
            return Err(loaded.input_error(&format!(
                "the {} ranks were given different configs (or --set values): every rank \
                 must train the same run",
                world.size()
            )));
        }
    }
    Ok(share)
}
