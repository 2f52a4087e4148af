//! Graph-level training (`geobatch run` on a dataset of many small graphs): the training split's
//! seeded stream batched by the config's batcher, evaluated with the one exact evaluator.

use super::entry::{Prepared, Rounds, RunSummary, TaskKind, Trained};
use super::feed::Flow;
use super::graph_model::{GraphModel, SplitRows, graph_model};
use super::graph_source::{GraphSource, batcher_for, load_dataset};
use super::{Ended, Point, TaskHooks};
use crate::batches::run_batches_with_plans;
use crate::config::{ExperimentConfig, LoadedConfig};
use crate::error::RunError;
use crate::request::Request;
use crate::sinks::SinkSet;
use geobatch_core::records::EvalRecord;
use geobatch_core::{Dataset, Error, GraphBatch, GraphLevel, ModelSpec, RunStatus, SplitName};
use geobatch_datafiles::output::Output;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

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
    /// Mean loss of the first 10% of the planned steps (`None` if no step ran).
    pub loss_first: Option<f64>,
    /// Mean loss of the last 10% of the planned steps (`None` if the run stopped before them).
    pub loss_last: Option<f64>,
    /// Loss of the last step that ran.
    pub loss_latest: Option<f64>,
    /// Median batching time (ns) after warm-up, over the warm-up steps when all were (`None`: no
    /// step ran).
    pub median_batching_ns: Option<f64>,
    /// Median update time (ns), as `median_batching_ns`.
    pub median_update_ns: Option<f64>,
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

impl RunSummary for TrainSummary {
    fn render(&self) -> String {
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
            "  loss               {}",
            match (self.loss_first, self.loss_last, self.loss_latest) {
                (Some(a), Some(b), _) => format!("{a:.5} (first 10%) -> {b:.5} (last 10%)"),
                (Some(a), None, Some(l)) => format!(
                    "{a:.5} (first 10%) -> {l:.5} (step {}, the last that ran: the run stopped before its last 10%)",
                    self.steps
                ),
                _ => "no step ran".into(),
            }
        );
        let _ = match (self.median_batching_ns, self.median_update_ns) {
            (Some(b), Some(u)) => writeln!(
                s,
                "  time per step      batching {:.3} ms, update {:.3} ms (medians){}",
                b / 1e6,
                u / 1e6,
                self.median_wait_ns
                    .map(|w| format!(", waited {:.3} ms for a batch", w / 1e6))
                    .unwrap_or_default()
            ),
            _ => writeln!(s, "  time per step      not measured: no step ran"),
        };
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

    fn status(&self) -> RunStatus {
        self.status
    }
}

/// Graph-level evaluation: RMSE and MAE of every target on the evaluated splits, with the
/// exact evaluator (a task's own labels where a registered task trains the model: a
/// potential's energy per atom, forces and stress).
pub struct GraphTask<'a> {
    dataset: &'a dyn Dataset,
    splits: &'a [SplitName],
    batch_size: usize,
    finals: Vec<EvalRecord>,
    /// The run folder a complete run's model keeps what its task saves in.
    run_dir: PathBuf,
    /// `training.keep_best`: the label whose validation MAE selects the parameters.
    keep_best: Option<&'a str>,
    /// The step and validation records of the best parameters kept so far.
    best: Option<(u64, Vec<EvalRecord>)>,
}

impl GraphTask<'_> {
    /// Evaluates `split` with the model's parameters of step `step`, records every label's row.
    fn evaluate_split(
        &self,
        model: &mut dyn GraphModel,
        split: SplitName,
        step: u64,
        sinks: &mut SinkSet,
    ) -> Result<Vec<EvalRecord>, RunError> {
        let set = self.dataset.split(split);
        let SplitRows { rows, graphs } = model.evaluate(set, self.batch_size)?;
        let mut out = Vec::with_capacity(rows.len());
        for (target, rmse, mae) in rows {
            let rec = EvalRecord {
                step,
                split: split.as_str().into(),
                target,
                rmse,
                mae,
                graphs,
                accuracy: None,
                macro_f1: None,
                inference: None,
                eval_ns: None,
            };
            sinks.eval(&rec)?;
            if !(rec.rmse.is_finite() && rec.mae.is_finite()) {
                // recorded as it is, and never a silent `complete`
                return Err(Error::invalid(format!(
                    "the evaluation after step {}: {} {} RMSE {}, MAE {} (the model \
                     predicted non-finite values); the run is failed, not complete",
                    step, rec.split, rec.target, rec.rmse, rec.mae
                ))
                .into());
            }
            out.push(rec);
        }
        Ok(out)
    }

    /// With `training.keep_best`: keeps the parameters of a validation evaluation whose MAE of
    /// the label is the lowest so far.
    fn judge(
        &mut self,
        model: &mut dyn GraphModel,
        step: u64,
        rows: &[EvalRecord],
    ) -> Result<(), RunError> {
        let Some(label) = self.keep_best else {
            return Ok(());
        };
        let Some(row) = rows.iter().find(|r| r.target == label) else {
            return Err(Error::invalid(format!(
                "training.keep_best = {label:?}: the validation split has no {label} rows \
                 (its evaluation gives {})",
                rows.iter()
                    .map(|r| r.target.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        };
        let best_mae = self
            .best
            .as_ref()
            .and_then(|(_, b)| b.iter().find(|r| r.target == label))
            .map_or(f64::INFINITY, |r| r.mae);
        if row.mae < best_mae {
            model.learner().keep_best()?;
            self.best = Some((step, rows.to_vec()));
        }
        Ok(())
    }

    fn evaluate_all(
        &mut self,
        model: &mut dyn GraphModel,
        at: Point,
        sinks: &mut SinkSet,
    ) -> Result<(), RunError> {
        for &split in self.splits {
            let rows = self.evaluate_split(model, split, at.steps, sinks)?;
            if split == SplitName::Validation {
                self.judge(model, at.steps, &rows)?;
            }
            if at.last {
                self.finals.extend(rows);
            }
        }
        Ok(())
    }

    /// The final evaluation with `training.keep_best`: the last step's validation judged, then
    /// every other split evaluated with the best parameters (recorded at their step).
    fn finish_best(
        &mut self,
        model: &mut dyn GraphModel,
        at: Point,
        sinks: &mut SinkSet,
        label: &str,
    ) -> Result<(), RunError> {
        let last = self.evaluate_split(model, SplitName::Validation, at.steps, sinks)?;
        self.judge(model, at.steps, &last)?;
        let (step, rows) = match self.best.take() {
            Some((step, rows)) if step != at.steps && model.learner().restore_best()? => {
                let mae = rows
                    .iter()
                    .find(|r| r.target == label)
                    .map_or(f64::NAN, |r| r.mae);
                geobatch_process::errln!(
                    "evaluating the parameters of step {step} (the lowest validation {label} \
                     MAE, {mae:.4})"
                );
                (step, rows)
            }
            _ => (at.steps, last),
        };
        self.finals.extend(rows);
        for &split in self.splits {
            if split != SplitName::Validation {
                let rows = self.evaluate_split(model, split, step, sinks)?;
                self.finals.extend(rows);
            }
        }
        Ok(())
    }
}

impl TaskHooks for GraphTask<'_> {
    type Batch = GraphBatch;
    type Model = dyn GraphModel;

    fn evaluate(
        &mut self,
        model: &mut Self::Model,
        at: Point,
        sinks: &mut SinkSet,
    ) -> Result<Flow, RunError> {
        self.evaluate_all(model, at, sinks)?;
        Ok(Flow::Continue)
    }

    fn finish(
        &mut self,
        model: &mut Self::Model,
        at: Point,
        sinks: &mut SinkSet,
    ) -> Result<(), RunError> {
        match self.keep_best {
            Some(label) => self.finish_best(model, at, sinks, label)?,
            None => self.evaluate_all(model, at, sinks)?,
        }
        model.complete(&self.run_dir)
    }

    /// The best evaluation's step and validation rows (the checkpoint keeps its parameters).
    fn state(&self) -> Result<serde_json::Value, RunError> {
        serde_json::to_value(&self.best).map_err(|e| Error::invalid(e.to_string()).into())
    }

    fn restore(
        &mut self,
        state: serde_json::Value,
        _model: &mut Self::Model,
    ) -> Result<(), RunError> {
        // a checkpoint of a version without it holds null: nothing kept
        self.best = serde_json::from_value(state).map_err(|e| {
            Error::invalid(format!(
                "the checkpoint's best evaluation (state.json): {e}"
            ))
        })?;
        Ok(())
    }
}

/// The graph-level kind: training through the one entry point ([`super::run_train`]) on the
/// dataset's training split batched by the config's batcher, evaluated by [`GraphTask`]; its
/// batching study is [`run_batches_with_plans`].
impl TaskKind for ExperimentConfig {
    type Level = GraphLevel;
    const ROUNDS: &'static str = "steps";
    const DESCRIBED_AS: &'static str = "";
    type Source<'d> = GraphSource<'d>;
    type Hooks<'d> = GraphTask<'d>;
    type Summary = TrainSummary;

    fn refusal(request: Request) -> Option<&'static str> {
        match request {
            Request::Train {
                epochs: Some(_), ..
            } => Some("a graph-level run counts steps: --steps N"),
            _ => None,
        }
    }

    fn set_rounds(&mut self, rounds: u64) {
        self.training.steps = rounds;
    }

    fn rounds(&self) -> Rounds<'_> {
        let tr = &self.training;
        Rounds {
            planned: tr.steps,
            eval_every: tr.eval_every,
            checkpoint_every: tr.checkpoint_every,
            warmup: tr.warmup,
            mode: tr.mode,
            device: &tr.device,
            threads: tr.threads,
            accumulate: tr.accumulate.unwrap_or(1),
        }
    }

    fn model(&self) -> Option<&dyn ModelSpec<Self::Level>> {
        self.model.as_deref()
    }

    fn load(loaded: &LoadedConfig) -> Result<Box<dyn Dataset>, RunError> {
        let dataset = load_dataset(loaded)?;
        check_eval_splits(loaded, dataset.as_ref())?;
        Ok(dataset)
    }

    fn prepare<'d>(
        loaded: &'d LoadedConfig,
        dataset: &'d dyn Dataset,
        model: &'d dyn ModelSpec<Self::Level>,
    ) -> Result<Prepared<'d, Self>, RunError> {
        let cfg = &loaded.config;
        let tr = &cfg.training;
        let train_set = dataset.split(SplitName::Train);
        let batcher = batcher_for(loaded, cfg.batcher.as_ref(), train_set, SplitName::Train)?;
        let budget = batcher.budget();
        let memory = model.step_memory();
        if let (Some(m), Some(b)) = (&memory, budget) {
            // the largest batch the batcher can make, before anything is built
            geobatch_process::memory::check_step(m, b, "the batcher's budget")
                .map_err(|e| RunError::Data(e.into()))?;
        }
        let source = GraphSource::new(train_set, batcher, SplitName::Train, loaded)?
            .with_memory_check(memory);
        let trainer = graph_model(loaded, dataset, model)?;
        if let Some(label) = &tr.keep_best {
            let labels = trainer.labels();
            if !labels.contains(label) {
                return Err(loaded.input_error(&format!(
                    "training.keep_best = {label:?}: the model's evaluation has no such label \
                     (valid: {})",
                    labels.join(", ")
                )));
            }
        }
        Ok(Prepared {
            source,
            trainer,
            hooks: GraphTask {
                dataset,
                splits: &tr.eval_splits,
                batch_size: cfg.batcher.batch_size(),
                finals: Vec::new(),
                run_dir: loaded.run_dir(),
                keep_best: tr.keep_best.as_deref(),
                best: None,
            },
            per_round: 1,
            dataset_source: dataset.source(),
            budget,
            precompute_threads: 1,
            about: format!(
                "training on {} ({} graphs)",
                dataset.source(),
                train_set.len()
            ),
        })
    }

    fn summarise<'d>(trained: Trained, ended: Ended, task: Self::Hooks<'d>) -> TrainSummary
    where
        Self: 'd,
    {
        summary(trained, ended, task.finals)
    }
    fn study(
        loaded: &LoadedConfig,
        steps: Option<u64>,
        plans: Option<&Output>,
        stop: &AtomicBool,
    ) -> Result<String, RunError> {
        Ok(run_batches_with_plans(loaded, steps, plans, stop)?.render())
    }
}

/// An empty split would score RMSE 0 over 0 graphs: refused before anything runs.
fn check_eval_splits(
    loaded: &LoadedConfig,
    dataset: &dyn geobatch_core::Dataset,
) -> Result<(), RunError> {
    let splits = &loaded.config.training.eval_splits;
    match splits.iter().find(|&&s| dataset.split(s).is_empty()) {
        Some(split) => Err(loaded.input_error(&format!(
            "the {split} split is empty, so it cannot be evaluated: give it graphs in \
             [dataset] split, or leave it out of training.eval_splits (now {:?})",
            splits.iter().map(|s| s.as_str()).collect::<Vec<_>>()
        ))),
        None => Ok(()),
    }
}

/// What the run did, from its end and its final evaluations.
fn summary(trained: Trained, ended: Ended, evals: Vec<EvalRecord>) -> TrainSummary {
    let (loss_first, loss_last) = ended.progress.loss_windows();
    let loss_latest = ended.progress.latest_loss();
    let m = ended.progress.medians(0);
    TrainSummary {
        model: trained.model,
        parameters: trained.parameters,
        steps: ended.progress.steps(),
        loss_first,
        loss_last,
        loss_latest,
        median_batching_ns: m.batching,
        median_update_ns: m.update,
        median_wait_ns: m.wait,
        distinct_shapes: ended.progress.distinct_shapes(),
        evals,
        status: ended.status,
        run_dir: ended.run_dir,
    }
}
