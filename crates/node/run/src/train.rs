//! Node-level training (`geobatch run` on one large graph): epochs of node batches through the
//! one training loop, batched validation for the learning-rate plateau, early stopping and
//! keep-best, and batched and full-graph evaluation at the end.

use super::config::{LoadedNodeConfig, NodeConfig, NodeTraining};
use super::eval::{NodeEval, eval_record, evaluate_batched, evaluate_full};
use super::source::NodeSource;
use super::study::run_node_batches;
use super::{build_batcher, load_graph};
use geobatch_core::{Batcher, Error, ModelSpec, RunStatus, SplitName, Trainer};
use geobatch_datafiles::output::Output;
use geobatch_node::{LoadedGraph, NodeBatch, NodeGraph, NodeLevel, NodeModelContext};
use geobatch_runner::error::RunError;
use geobatch_runner::request::Request;
use geobatch_runner::sinks::SinkSet;
use geobatch_runner::train::entry::{Prepared, Rounds, RunSummary, TaskKind, Trained};
use geobatch_runner::train::{Ended, Flow, Point, TaskHooks};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// What a node-level training run did.
#[derive(Debug, Clone)]
pub struct NodeTrainSummary {
    /// Model name and parameters.
    pub model: String,
    /// Trainable scalars.
    pub parameters: usize,
    /// Epochs and steps done.
    pub epochs: u64,
    /// Steps done.
    pub steps: u64,
    /// Pre-computation time of the training and inference batchers (ns).
    pub precompute_ns: (u64, u64),
    /// Median epoch time (ns), warm-up epochs excluded when there are others.
    pub median_epoch_ns: f64,
    /// Median batching and update time per step (ns).
    pub median_step_ns: (f64, f64),
    /// Final evaluations (split, inference, result).
    pub evals: Vec<(SplitName, String, NodeEval)>,
    /// The epoch whose parameters were evaluated, when the best ones were kept.
    pub kept_epoch: Option<u64>,
    /// How it ended.
    pub status: RunStatus,
    /// Results folder.
    pub run_dir: PathBuf,
}

impl RunSummary for NodeTrainSummary {
    fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "training: {} ({} parameters), {} epochs, {} steps, {}",
            self.model,
            self.parameters,
            self.epochs,
            self.steps,
            self.status.as_str()
        );
        let _ = writeln!(
            s,
            "  precomputation     training batches {:.1} ms, inference batches {:.1} ms",
            self.precompute_ns.0 as f64 / 1e6,
            self.precompute_ns.1 as f64 / 1e6
        );
        let _ = writeln!(
            s,
            "  time               {:.1} ms per epoch; per step batching {:.3} ms, update {:.3} ms (medians)",
            self.median_epoch_ns / 1e6,
            self.median_step_ns.0 / 1e6,
            self.median_step_ns.1 / 1e6
        );
        if let Some(k) = self.kept_epoch {
            let _ = writeln!(
                s,
                "  evaluated          the parameters of epoch {k} (best validation accuracy)"
            );
        }
        for (split, how, e) in &self.evals {
            let _ = writeln!(
                s,
                "  {:<10} {:<22} accuracy {:.4}  macro-F1 {:.4}  ({} nodes, {} batches, {:.1} ms)",
                split.as_str(),
                how,
                e.accuracy,
                e.macro_f1,
                e.outputs,
                e.batches,
                e.ns as f64 / 1e6
            );
        }
        let _ = writeln!(s, "  results            {}", self.run_dir.display());
        s
    }

    fn status(&self) -> RunStatus {
        self.status
    }
}

/// The learning-rate plateau, early stopping and keep-best; part of every checkpoint.
/// Best values start at finite sentinels (a checkpoint's JSON has no infinities): every
/// accuracy beats -1 and every finite loss beats `f64::MAX`, as they beat the infinities.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plateau {
    lr: f64,
    best_loss: f64,
    best_acc: f64,
    since_loss: u64,
    since_acc: u64,
    cooldown: u64,
    /// Epoch and validation accuracy of the parameters kept as the best.
    best_epoch: Option<(u64, f64)>,
}

impl Plateau {
    /// The state before the first epoch, at learning rate `lr`.
    fn new(lr: f64) -> Self {
        Plateau {
            lr,
            best_loss: f64::MAX,
            best_acc: -1.0,
            since_loss: 0,
            since_acc: 0,
            cooldown: 0,
            best_epoch: None,
        }
    }

    /// Updates the plateau schedule and early stopping; true when training should stop.
    fn after_eval(
        &mut self,
        tr: &NodeTraining,
        e: &NodeEval,
        trainer: &mut dyn Trainer<NodeLevel>,
    ) -> Result<bool, RunError> {
        if let Some(p) = &tr.plateau {
            if e.loss < self.best_loss {
                self.best_loss = e.loss;
                self.since_loss = 0;
            } else {
                self.since_loss += 1;
            }
            if self.cooldown > 0 {
                self.cooldown -= 1;
                self.since_loss = 0;
            } else if self.since_loss > p.patience && self.lr > p.min_lr {
                self.lr = (self.lr * p.factor).max(p.min_lr);
                trainer.set_learning_rate(self.lr)?;
                self.cooldown = p.cooldown;
                self.since_loss = 0;
            }
        }
        if e.accuracy > self.best_acc {
            self.best_acc = e.accuracy;
            self.since_acc = 0;
        } else {
            self.since_acc += 1;
        }
        Ok(tr.early_stopping.is_some_and(|n| self.since_acc >= n))
    }
}

/// The inference batcher of every evaluated split.
type InferBatchers = Vec<(SplitName, Box<dyn Batcher<NodeLevel>>)>;

/// Node-level evaluation: batched validation after every `eval_every` epochs (plateau, early
/// stopping, keep-best), and at the end batched and full-graph evaluation of the evaluated
/// splits. Model selection always uses the validation split, whatever the order of
/// `eval_splits`.
pub struct NodeTask<'a> {
    graph: &'a NodeGraph,
    tr: &'a NodeTraining,
    infer: InferBatchers,
    label: String,
    state: Plateau,
    evals: Vec<(SplitName, String, NodeEval)>,
    kept: Option<u64>,
    /// Pre-computation time of the training and inference batchers (ns), for the summary.
    precompute_ns: (u64, u64),
}

impl NodeTask<'_> {
    /// Batched inference on the validation split.
    fn validate(&mut self, trainer: &mut dyn Trainer<NodeLevel>) -> Result<NodeEval, RunError> {
        let (split, batcher) = self
            .infer
            .iter_mut()
            .find(|(s, _)| *s == SplitName::Validation)
            .ok_or_else(|| Error::invalid("no inference batches for the validation split"))?;
        evaluate_batched(trainer, self.graph, batcher.as_mut(), *split)
    }

    /// Updates the schedule with a validation result after `epochs` epochs and keeps better
    /// parameters; true when early stopping ends training.
    fn judge(
        &mut self,
        e: &NodeEval,
        epochs: u64,
        trainer: &mut dyn Trainer<NodeLevel>,
    ) -> Result<bool, RunError> {
        let better = e.accuracy > self.state.best_acc;
        let stop = self.state.after_eval(self.tr, e, trainer)?;
        if better && self.tr.keep_best {
            trainer.keep_best()?;
            self.state.best_epoch = Some((epochs, e.accuracy));
        }
        Ok(stop)
    }
}

impl TaskHooks for NodeTask<'_> {
    type Batch = NodeBatch;
    type Model = dyn Trainer<NodeLevel>;

    fn evaluate(
        &mut self,
        trainer: &mut Self::Model,
        at: Point,
        sinks: &mut SinkSet,
    ) -> Result<Flow, RunError> {
        let e = self.validate(trainer)?;
        sinks.eval(&eval_record(
            at.steps,
            SplitName::Validation,
            &self.label,
            &e,
        ))?;
        if self.judge(&e, at.rounds, trainer)? {
            geobatch_process::errln!(
                "early stopping after epoch {}: no better validation accuracy",
                at.rounds
            );
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    }

    fn finish(
        &mut self,
        trainer: &mut Self::Model,
        at: Point,
        sinks: &mut SinkSet,
    ) -> Result<(), RunError> {
        // with keep_best, the last epoch is compared with the best so far
        if at.last && self.tr.keep_best && self.tr.eval_every > 0 {
            let e = self.validate(trainer)?;
            self.judge(&e, at.rounds, trainer)?;
        }
        if let Some((epoch, acc)) = self.state.best_epoch
            && trainer.restore_best()?
        {
            geobatch_process::errln!(
                "evaluating the parameters of epoch {epoch} (best validation accuracy {acc:.4})"
            );
            self.kept = Some(epoch);
        }
        for (s, b) in &mut self.infer {
            if !self.tr.eval_splits.contains(s) {
                continue;
            }
            let e = evaluate_batched(trainer, self.graph, b.as_mut(), *s)?;
            sinks.eval(&eval_record(at.steps, *s, &self.label, &e))?;
            self.evals.push((*s, self.label.clone(), e));
        }
        if self.tr.full_graph_eval {
            for &s in &self.tr.eval_splits {
                let e = evaluate_full(trainer, self.graph, s)?;
                sinks.eval(&eval_record(at.steps, s, "full", &e))?;
                self.evals.push((s, "full".into(), e));
            }
        }
        Ok(())
    }

    fn state(&self) -> Result<serde_json::Value, RunError> {
        serde_json::to_value(&self.state).map_err(|e| Error::invalid(e.to_string()).into())
    }

    fn restore(
        &mut self,
        state: serde_json::Value,
        trainer: &mut Self::Model,
    ) -> Result<(), RunError> {
        self.state = serde_json::from_value(state)
            .map_err(|e| Error::invalid(format!("the checkpoint's training state: {e}")))?;
        if self.tr.plateau.is_some() {
            trainer.set_learning_rate(self.state.lr)?;
        }
        Ok(())
    }
}

/// The node-level kind: training through the one entry point ([`geobatch_runner::train::run_train`]) on
/// epochs of the training batcher's node batches, evaluated by [`NodeTask`]; its batching study
/// is [`run_node_batches`] (epochs, no plans file).
impl TaskKind for NodeConfig {
    type Level = NodeLevel;
    const ROUNDS: &'static str = "epochs";
    const DESCRIBED_AS: &'static str = "node-level; ";

    fn refusal(request: Request) -> Option<&'static str> {
        match request {
            Request::Train { steps: Some(_), .. } => {
                Some("a node-level run counts epochs: --epochs N")
            }
            Request::Batches { plans: true, .. } => {
                Some("--plans writes graph-level plans; a node-level study has none")
            }
            Request::Batches { steps: Some(_), .. } => {
                Some("a node-level batching study counts epochs: --set batches.epochs=N")
            }
            Request::Advise => Some(
                "advise compares graph batchers over training steps; this config is \
                 node-level (compare node batchers with a sweep and `geobatch report`)",
            ),
            _ => None,
        }
    }
    type Source<'d> = NodeSource<'d>;
    type Hooks<'d> = NodeTask<'d>;
    type Summary = NodeTrainSummary;

    fn set_rounds(&mut self, rounds: u64) {
        self.training.epochs = rounds;
    }

    fn rounds(&self) -> Rounds<'_> {
        let tr = &self.training;
        Rounds {
            planned: tr.epochs,
            eval_every: tr.eval_every,
            checkpoint_every: tr.checkpoint_every,
            warmup: tr.warmup_epochs,
            mode: tr.mode,
            device: &tr.device,
            threads: tr.threads,
            accumulate: 1,
        }
    }

    fn model(&self) -> Option<&dyn ModelSpec<Self::Level>> {
        self.model.as_deref()
    }

    fn load(loaded: &LoadedNodeConfig) -> Result<Box<LoadedGraph>, RunError> {
        let (dataset, load_ns) = load_graph(&loaded.config)?;
        geobatch_process::errln!("{}", describe(&dataset.source(), dataset.graph(), load_ns));
        Ok(dataset)
    }

    fn prepare<'d>(
        loaded: &'d LoadedNodeConfig,
        dataset: &'d LoadedGraph,
        model: &'d dyn ModelSpec<Self::Level>,
    ) -> Result<Prepared<'d, Self>, RunError> {
        let cfg = &loaded.config;
        let tr = &cfg.training;
        let seed = cfg.experiment.seed;
        let graph = dataset.graph();
        let source = NodeSource::new(
            graph,
            build_batcher(cfg.batcher.as_ref(), graph, SplitName::Train, true, seed)?,
        )?;
        let (infer, label) = inference_batchers(cfg, graph)?;
        let infer_ns: u64 = infer.iter().map(|(_, b)| b.precompute_ns()).sum();
        let trainer = model.build(&NodeModelContext {
            n_features: graph.n_features(),
            n_classes: graph.n_classes(),
            seed,
            device: tr.device.clone(),
            optimizer: tr.optimizer.clone(),
        })?;
        let per_epoch = source.per_epoch();
        let train_ns = source.batcher().precompute_ns();
        let precompute_threads = infer
            .iter()
            .map(|(_, b)| b.precompute_threads())
            .fold(source.batcher().precompute_threads(), usize::max);
        Ok(Prepared {
            source,
            trainer,
            hooks: NodeTask {
                graph,
                tr,
                infer,
                label,
                state: Plateau::new(tr.optimizer.learning_rate),
                evals: Vec::new(),
                kept: None,
                precompute_ns: (train_ns, infer_ns),
            },
            per_round: per_epoch,
            dataset_source: dataset.source(),
            budget: None,
            precompute_threads,
            about: format!(
                "{per_epoch} training batches per epoch (precomputed in {:.0} ms), inference batches precomputed in {:.0} ms",
                train_ns as f64 / 1e6,
                infer_ns as f64 / 1e6
            ),
        })
    }

    fn summarise<'d>(trained: Trained, ended: Ended, task: Self::Hooks<'d>) -> NodeTrainSummary
    where
        Self: 'd,
    {
        summary(trained, ended, task)
    }
    fn study(
        loaded: &LoadedNodeConfig,
        _steps: Option<u64>,
        _plans: Option<&Output>,
        stop: &AtomicBool,
    ) -> Result<String, RunError> {
        Ok(run_node_batches(loaded, stop)?.render())
    }
}

/// One line on the graph as loaded.
fn describe(source: &str, graph: &NodeGraph, load_ns: u64) -> String {
    format!(
        "{source}: {} nodes, {} adjacency entries, {} features, {} classes; train/val/test {}/{}/{} (loaded in {:.0} ms)",
        graph.n_nodes(),
        graph.n_entries(),
        graph.n_features(),
        graph.n_classes(),
        graph.split(SplitName::Train).len(),
        graph.split(SplitName::Validation).len(),
        graph.split(SplitName::Test).len(),
        load_ns as f64 / 1e6
    )
}

/// The inference batchers of the validation split (always: the plateau and early stopping
/// read it) and of every other evaluated split, and their label.
fn inference_batchers(
    cfg: &crate::NodeConfig,
    graph: &NodeGraph,
) -> Result<(InferBatchers, String), RunError> {
    let mut slot = None;
    let infer_spec = cfg.inference_spec(&mut slot);
    let mut splits = cfg.training.eval_splits.clone();
    if !splits.contains(&SplitName::Validation) {
        splits.insert(0, SplitName::Validation);
    }
    let seed = cfg.experiment.seed;
    let infer = splits
        .iter()
        .map(|&s| Ok((s, build_batcher(infer_spec, graph, s, false, seed)?)))
        .collect::<Result<_, RunError>>()?;
    Ok((infer, infer_spec.label()))
}

/// What the run did, from its end and its task.
fn summary(trained: Trained, ended: Ended, task: NodeTask<'_>) -> NodeTrainSummary {
    let m = ended.progress.medians(task.tr.warmup_epochs);
    NodeTrainSummary {
        model: trained.model,
        parameters: trained.parameters,
        epochs: ended.progress.steps() / trained.per_round,
        steps: ended.progress.steps(),
        precompute_ns: task.precompute_ns,
        // an epoch of one batch is one step: its time is the step's (rounds are timed only
        // when they hold several steps)
        median_epoch_ns: m
            .round
            .or_else(|| Some(m.wait.or(m.batching)? + m.update?))
            .unwrap_or(f64::NAN),
        median_step_ns: (
            m.wait.or(m.batching).unwrap_or(f64::NAN),
            m.update.unwrap_or(f64::NAN),
        ),
        evals: task.evals,
        kept_epoch: task.kept,
        status: ended.status,
        run_dir: ended.run_dir,
    }
}
