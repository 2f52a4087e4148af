//! Training (`geobatch run`): the timing protocol of the study (spec §2.3, DESIGN.md §7) in serial
//! and prefetch modes, exact evaluation, results through the sinks.

use crate::config::{LoadedConfig, Mode};
use crate::error::RunError;
use crate::evaluate::{SplitErrors, evaluate};
use crate::identity::{RunStart, new_run, threads_of};
use crate::sinks::SinkSet;
use crate::stats::median;
use geobatch_core::records::{EvalRecord, RunEnd};
use geobatch_core::{
    BatcherContext, DatasetContext, Error, GraphBatch, GraphStream, ModelContext, Plan, RunInfo,
    RunStatus, SplitName, StepRecord, StreamMode,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// Loss above which a run is stopped as diverged (the reference's abort rule).
pub const LOSS_LIMIT: f32 = 1e10;

/// What a training run did.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Model plugin name.
    pub model: String,
    /// Trainable scalars.
    pub parameters: usize,
    /// Steps done.
    pub steps: u64,
    /// Mean loss of the first and last 10% of steps.
    pub loss_first: f64,
    /// Mean loss of the last 10% of steps.
    pub loss_last: f64,
    /// Median batching time (ns) after warm-up.
    pub median_batching_ns: f64,
    /// Median update time (ns) after warm-up.
    pub median_update_ns: f64,
    /// Median wait for a batch (ns) after warm-up, prefetch mode.
    pub median_wait_ns: Option<f64>,
    /// Distinct padded shapes.
    pub distinct_shapes: usize,
    /// Final evaluations.
    pub evals: Vec<EvalRecord>,
    /// How the run ended.
    pub status: RunStatus,
    /// Results folder.
    pub run_dir: PathBuf,
}

impl TrainSummary {
    /// A human-readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "training: {} ({} parameters), {} steps, {}",
            self.model,
            self.parameters,
            self.steps,
            self.status.as_str()
        );
        let _ = writeln!(
            s,
            "  loss               {:.5} (first 10%) -> {:.5} (last 10%)",
            self.loss_first, self.loss_last
        );
        let _ = writeln!(
            s,
            "  time per step      batching {:.3} ms, update {:.3} ms (medians){}",
            self.median_batching_ns / 1e6,
            self.median_update_ns / 1e6,
            self.median_wait_ns
                .map(|w| format!(", waited {:.3} ms for a batch", w / 1e6))
                .unwrap_or_default()
        );
        let _ = writeln!(s, "  distinct shapes    {}", self.distinct_shapes);
        for e in &self.evals {
            let _ = writeln!(
                s,
                "  {:<10} {} RMSE {:.5}  MAE {:.5}  ({} graphs, step {})",
                e.split, e.target, e.rmse, e.mae, e.graphs, e.step
            );
        }
        let _ = writeln!(s, "  results            {}", self.run_dir.display());
        s
    }
}

/// One batch handed from the batching side to the trainer.
struct Built {
    batch: GraphBatch,
    plan_ns: u64,
    collate_ns: u64,
}

/// Trains the config's model; `steps` overrides `[training] steps`. `stop` ends the run early
/// (Ctrl-C) with status `interrupted`; the sinks are finished in every case.
pub fn run_train(
    loaded: &LoadedConfig,
    steps: Option<u64>,
    stop: &AtomicBool,
) -> Result<TrainSummary, RunError> {
    run_train_with(loaded, steps, stop, false)
}

/// As [`run_train`]; with `resume`, a run whose folder holds a checkpoint continues from it
/// (parameters, optimiser state, stream position and the sinks' records up to that step).
pub fn run_train_with(
    loaded: &LoadedConfig,
    steps: Option<u64>,
    stop: &AtomicBool,
    resume: bool,
) -> Result<TrainSummary, RunError> {
    let cfg = &loaded.config;
    let input = |m: &str| RunError::Config {
        file: loaded.path.clone(),
        message: m.to_string(),
    };
    let model_spec = cfg.model.as_ref().ok_or_else(|| {
        input("no [model] table: `geobatch run` trains a model (see `geobatch list models`)")
    })?;
    let tr = &cfg.training;
    let steps = steps.unwrap_or(tr.steps);
    if steps == 0 {
        return Err(input("--steps must be at least 1"));
    }
    let seed = cfg.experiment.seed;
    let dataset = cfg.dataset.load(&DatasetContext {
        seed,
        data_dir: cfg.experiment.data_dir.clone(),
    })?;
    let train = dataset.split(SplitName::Train);
    let ctx = BatcherContext {
        sizes: train.sizes(),
        split: "train",
        mode: StreamMode::Train,
        quirks: cfg.experiment.quirks,
    };
    let mut batcher = cfg.batcher.build(&ctx)?;
    let mut stream = GraphStream::new(
        train.len(),
        StreamMode::Train,
        seed,
        cfg.experiment.quirks,
        "train",
    )?;
    let stats = dataset.target_stats();
    let mut trainer = model_spec.build(&ModelContext {
        n_species: dataset.species_classes().len(),
        target_stats: stats,
        seed,
        device: tr.device.clone(),
        optimizer: tr.optimizer.clone(),
    })?;
    let parameters = trainer.parameter_count();
    let model = model_spec.typetag_name().to_string();
    eprintln!(
        "{model}: {parameters} parameters; training on {} ({} graphs)",
        dataset.source(),
        train.len()
    );

    let bs = cfg.batcher.batch_size();
    let run = new_run(
        loaded,
        RunStart {
            job: "train",
            model: Some(&model),
            dataset_source: dataset.source(),
            budget: batcher.budget(),
            planned_steps: steps,
            mode: tr.mode.as_str(),
            device: &tr.device,
            threads: threads_of(tr.mode, 1),
        },
    )?;
    let run_dir = run.run_dir.clone();
    let ckpt_dir = run_dir.join("checkpoint");
    let mut start_step = 0u64;
    let mut progress = Progress::new(steps);
    let mut sink_states = None;
    if resume && ckpt_dir.join(STATE_FILE).is_file() {
        let path = ckpt_dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| RunError::Io {
            path: path.clone(),
            source,
        })?;
        let state: CheckpointState = serde_json::from_str(&text).map_err(|e| {
            RunError::Core(Error::invalid(format!(
                "{}: not a checkpoint: {e}",
                path.display()
            )))
        })?;
        trainer.load(&ckpt_dir)?;
        stream = state.stream;
        start_step = state.step;
        progress = state.progress;
        sink_states = Some(state.sinks);
        eprintln!("resuming from the checkpoint at step {start_step}");
    } else if ckpt_dir.exists() {
        std::fs::remove_dir_all(&ckpt_dir).map_err(|source| RunError::Io {
            path: ckpt_dir.clone(),
            source,
        })?;
    }
    let run = RunInfo {
        resumed_from: sink_states.as_ref().map(|_| start_step),
        ..run
    };
    let mut sinks = SinkSet::build(&cfg.sinks)?;
    sinks.start(&run)?;
    if let Some(states) = &sink_states {
        sinks.resume(states)?;
    }

    let started = Instant::now();
    let mut status = RunStatus::Complete;
    let eval_splits = tr.eval_splits.clone();
    let target_names = dataset.target_names().to_vec();

    // One step's bookkeeping, shared by both modes. Returns Err to stop the run.
    let step_done = |step: u64,
                     trainer: &mut dyn geobatch_core::Trainer,
                     built: &Built,
                     wait_ns: Option<u64>,
                     update_ns: u64,
                     loss: f32,
                     sinks: &mut SinkSet,
                     progress: &mut Progress|
     -> Result<(), RunError> {
        let batching_ns = built.plan_ns + built.collate_ns;
        let record = StepRecord {
            step,
            plan_ns: built.plan_ns,
            collate_ns: built.collate_ns,
            batching_ns,
            update_ns: Some(update_ns),
            wait_ns,
            combined_ns: wait_ns.unwrap_or(batching_ns) + update_ns,
            real: built.batch.real(),
            padded: built.batch.padded(),
            new_shape: progress.shapes.insert(built.batch.padded()),
            warmup: step < tr.warmup,
            loss: Some(loss),
        };
        sinks.step(&record)?;
        progress.add(step, steps, &record);
        if !loss.is_finite() || loss > LOSS_LIMIT {
            return Err(RunError::Core(Error::invalid(format!(
                "training diverged: loss {loss} at step {step} (limit {LOSS_LIMIT:e}); lower the learning rate"
            ))));
        }
        let last = step + 1 == steps;
        if last || (tr.eval_every > 0 && (step + 1).is_multiple_of(tr.eval_every)) {
            for &split in &eval_splits {
                let SplitErrors { rmse, mae, graphs } =
                    evaluate(trainer, dataset.split(split), bs)?;
                for (k, name) in target_names.iter().enumerate() {
                    let rec = EvalRecord {
                        step: step + 1,
                        split: split.as_str().into(),
                        target: name.clone(),
                        rmse: rmse[k],
                        mae: mae[k],
                        graphs,
                        accuracy: None,
                        macro_f1: None,
                        inference: None,
                        eval_ns: None,
                    };
                    sinks.eval(&rec)?;
                    if last {
                        progress.evals.push(rec);
                    }
                }
            }
        }
        Ok(())
    };

    let mut outcome: Result<(), RunError> = Ok(());
    match tr.mode {
        Mode::Serial => {
            let (mut plan, mut built) = (
                Plan::default(),
                Built {
                    batch: GraphBatch::new(),
                    plan_ns: 0,
                    collate_ns: 0,
                },
            );
            for step in start_step..steps {
                if stop.load(Ordering::Relaxed) {
                    status = RunStatus::Interrupted;
                    break;
                }
                let t0 = Instant::now();
                let r = batcher
                    .next_plan(&mut stream, train.sizes(), &mut plan)
                    .and_then(|_| {
                        let t1 = Instant::now();
                        built.batch.collate(train, &plan)?;
                        Ok(t1)
                    });
                let t1 = match r {
                    Ok(t1) => t1,
                    Err(e) => {
                        outcome = Err(e.into());
                        break;
                    }
                };
                let t2 = Instant::now();
                built.plan_ns = (t1 - t0).as_nanos() as u64;
                built.collate_ns = (t2 - t1).as_nanos() as u64;
                let stats = match trainer.train_step(&built.batch, step) {
                    Ok(s) => s,
                    Err(e) => {
                        outcome = Err(e.into());
                        break;
                    }
                };
                let update_ns = t2.elapsed().as_nanos() as u64;
                if let Err(e) = step_done(
                    step,
                    trainer.as_mut(),
                    &built,
                    None,
                    update_ns,
                    stats.loss,
                    &mut sinks,
                    &mut progress,
                ) {
                    outcome = Err(e);
                    break;
                }
                let next = step + 1;
                let due = tr.checkpoint_every > 0
                    && next.is_multiple_of(tr.checkpoint_every)
                    && next < steps;
                if due
                    && let Err(e) = checkpoint(
                        &ckpt_dir,
                        next,
                        &stream,
                        &mut sinks,
                        trainer.as_ref(),
                        &progress,
                    )
                {
                    outcome = Err(e);
                    break;
                }
            }
        }
        Mode::Prefetch => {
            let done = AtomicBool::new(false);
            let done_ref = &done;
            std::thread::scope(|scope| {
                let (tx, rx) = mpsc::sync_channel::<Result<Built, Error>>(2);
                let (back_tx, back_rx) = mpsc::channel::<GraphBatch>();
                let batcher = &mut batcher;
                let stream = &mut stream;
                scope.spawn(move || {
                    let mut plan = Plan::default();
                    for _ in 0..steps {
                        if done_ref.load(Ordering::Relaxed) {
                            break;
                        }
                        let mut batch = back_rx.try_recv().unwrap_or_default();
                        let t0 = Instant::now();
                        let r = batcher
                            .next_plan(stream, train.sizes(), &mut plan)
                            .and_then(|_| {
                                let t1 = Instant::now();
                                batch.collate(train, &plan)?;
                                Ok(t1)
                            });
                        let item = r.map(|t1| Built {
                            batch,
                            plan_ns: (t1 - t0).as_nanos() as u64,
                            collate_ns: t1.elapsed().as_nanos() as u64,
                        });
                        let failed = item.is_err();
                        if tx.send(item).is_err() || failed {
                            break;
                        }
                    }
                });
                for step in 0..steps {
                    if stop.load(Ordering::Relaxed) {
                        status = RunStatus::Interrupted;
                        break;
                    }
                    let t0 = Instant::now();
                    let built = match rx.recv() {
                        Ok(Ok(b)) => b,
                        Ok(Err(e)) => {
                            outcome = Err(e.into());
                            break;
                        }
                        Err(_) => {
                            outcome = Err(RunError::Core(Error::invalid(
                                "the batching thread stopped",
                            )));
                            break;
                        }
                    };
                    let t1 = Instant::now();
                    let stats = match trainer.train_step(&built.batch, step) {
                        Ok(s) => s,
                        Err(e) => {
                            outcome = Err(e.into());
                            break;
                        }
                    };
                    let update_ns = t1.elapsed().as_nanos() as u64;
                    let wait_ns = (t1 - t0).as_nanos() as u64;
                    if let Err(e) = step_done(
                        step,
                        trainer.as_mut(),
                        &built,
                        Some(wait_ns),
                        update_ns,
                        stats.loss,
                        &mut sinks,
                        &mut progress,
                    ) {
                        outcome = Err(e);
                        break;
                    }
                    let _ = back_tx.send(built.batch);
                }
                done_ref.store(true, Ordering::Relaxed);
                drop(rx);
            });
        }
    }
    if outcome.is_err() {
        status = RunStatus::Failed;
    }
    let end = RunEnd {
        status,
        steps: progress.done,
        wall_ns: started.elapsed().as_nanos() as u64,
        message: outcome.as_ref().err().map(|e| e.to_string()),
    };
    let finished = sinks.finish(&end);
    outcome?;
    finished?;
    if status == RunStatus::Complete && ckpt_dir.exists() {
        std::fs::remove_dir_all(&ckpt_dir).map_err(|source| RunError::Io {
            path: ckpt_dir.clone(),
            source,
        })?;
    }
    Ok(progress.summary(model, parameters, status, run_dir))
}

/// Name of the runner's state file inside a checkpoint folder.
pub const STATE_FILE: &str = "state.json";

/// Running totals of a training run; part of every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    done: u64,
    first: (f64, u64),
    last: (f64, u64),
    window: u64,
    shapes: HashSet<geobatch_core::Shape>,
    batching: Vec<u64>,
    update: Vec<u64>,
    wait: Vec<u64>,
    evals: Vec<EvalRecord>,
}

impl Progress {
    fn new(steps: u64) -> Self {
        Progress {
            done: 0,
            first: (0.0, 0),
            last: (0.0, 0),
            window: (steps / 10).max(1),
            shapes: HashSet::new(),
            batching: Vec::new(),
            update: Vec::new(),
            wait: Vec::new(),
            evals: Vec::new(),
        }
    }

    fn add(&mut self, step: u64, steps: u64, r: &StepRecord) {
        self.done = step + 1;
        let loss = f64::from(r.loss.unwrap_or(f32::NAN));
        if step < self.window {
            self.first = (self.first.0 + loss, self.first.1 + 1);
        }
        if step + self.window >= steps {
            self.last = (self.last.0 + loss, self.last.1 + 1);
        }
        if !r.warmup {
            self.batching.push(r.batching_ns);
            self.update.push(r.update_ns.unwrap_or(0));
            if let Some(w) = r.wait_ns {
                self.wait.push(w);
            }
        }
    }

    fn summary(
        mut self,
        model: String,
        parameters: usize,
        status: RunStatus,
        run_dir: PathBuf,
    ) -> TrainSummary {
        for v in [&mut self.batching, &mut self.update, &mut self.wait] {
            v.sort_unstable();
        }
        let mean = |(sum, n): (f64, u64)| if n == 0 { f64::NAN } else { sum / n as f64 };
        TrainSummary {
            model,
            parameters,
            steps: self.done,
            loss_first: mean(self.first),
            loss_last: mean(self.last),
            median_batching_ns: median(&self.batching).unwrap_or(0.0),
            median_update_ns: median(&self.update).unwrap_or(0.0),
            median_wait_ns: median(&self.wait),
            distinct_shapes: self.shapes.len(),
            evals: self.evals,
            status,
            run_dir,
        }
    }
}

/// What a checkpoint holds besides the trainer's own files.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointState {
    /// The next step to run.
    step: u64,
    /// The training stream, positioned after the last checkpointed step.
    stream: GraphStream,
    /// Each sink's resume state, in config order.
    sinks: Vec<serde_json::Value>,
    /// Running totals.
    progress: Progress,
}

/// Writes a checkpoint atomically: into `checkpoint.tmp`, then renamed over `checkpoint`.
fn checkpoint(
    dir: &Path,
    step: u64,
    stream: &GraphStream,
    sinks: &mut SinkSet,
    trainer: &dyn geobatch_core::Trainer,
    progress: &Progress,
) -> Result<(), RunError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::Io { path, source }
    };
    let tmp = dir.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let state = CheckpointState {
        step,
        stream: stream.clone(),
        sinks: sinks.checkpoint()?,
        progress: progress.clone(),
    };
    trainer.save(&tmp)?;
    let text =
        serde_json::to_string(&state).map_err(|e| RunError::Core(Error::invalid(e.to_string())))?;
    std::fs::write(tmp.join(STATE_FILE), text).map_err(io(&tmp))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))
}
