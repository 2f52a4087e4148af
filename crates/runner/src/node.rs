//! Node-level jobs on one large graph (DESIGN.md §11, spec `ibmb.md`): the config, training with
//! per-step timing and batched/full-graph evaluation, and the batching study.
//!
//! A config is node-level when its `[dataset]` plugin is (see [`crate::config::task_of`]).
//! Records reuse the graph-level schema: a step's `real_graphs` counts its **output nodes**,
//! `real_nodes` its auxiliary nodes (outputs included) and `real_edges` the adjacency entries kept
//! in the induced subgraph (self-loops included); nothing is padded, so `padded_*` equal `real_*`.

use crate::config::{ExperimentSection, Loaded, Mode, Validate};
use crate::error::RunError;
use crate::identity::{RunNames, RunStart, create_run, threads_of};
use crate::sinks::SinkSet;
use crate::stats::median;
use geobatch_core::node::metrics::{accuracy, macro_f1};
use geobatch_core::node::{
    NodeBatch, NodeBatcher, NodeBatcherContext, NodeBatcherSpec, NodeCollator, NodeDatasetSpec,
    NodeGraph, NodeModelContext, NodeModelSpec, NodeOptimizerSpec, NodePlan, NodeTrainer,
};
use geobatch_core::records::{EvalRecord, RunEnd};
use geobatch_core::{DatasetContext, Error, RunStatus, Shape, SinkSpec, SplitName, StepRecord};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A node-level experiment.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Name, seed and folders.
    pub experiment: ExperimentSection,
    /// The graph (`npz`, `ogb`, `sbm`, ...).
    pub dataset: Box<dyn NodeDatasetSpec>,
    /// The classifier (`gcn`, `sage`), for `geobatch run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Box<dyn NodeModelSpec>>,
    /// The training batcher.
    pub batcher: Box<dyn NodeBatcherSpec>,
    /// The batcher of batched inference (default: the training batcher's inference variant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference: Option<Box<dyn NodeBatcherSpec>>,
    /// Training options.
    #[serde(default)]
    pub training: NodeTraining,
    /// Batching-study options.
    #[serde(default)]
    pub batches: NodeBatches,
    /// Result sinks; `parquet` and `console` when absent.
    #[serde(default = "crate::config::default_sinks")]
    pub sinks: Vec<Box<dyn SinkSpec>>,
}

/// Reduce-on-plateau of the learning rate on the validation loss (spec ibmb §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plateau {
    /// Factor applied to the learning rate.
    #[serde(default = "d_factor")]
    pub factor: f64,
    /// Evaluations without improvement before a reduction.
    #[serde(default = "d_patience")]
    pub patience: u64,
    /// Evaluations to wait after a reduction.
    #[serde(default = "d_cooldown")]
    pub cooldown: u64,
    /// Smallest learning rate.
    #[serde(default = "d_min_lr")]
    pub min_lr: f64,
}

fn d_factor() -> f64 {
    0.33
}
fn d_patience() -> u64 {
    30
}
fn d_cooldown() -> u64 {
    10
}
fn d_min_lr() -> f64 {
    1e-4
}

/// The `[training]` table of a node-level config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeTraining {
    /// Epochs (passes over the training batches).
    #[serde(default = "d_epochs")]
    pub epochs: u64,
    /// Evaluate the validation split every this many epochs (0: only at the end).
    #[serde(default = "d_eval_every")]
    pub eval_every: u64,
    /// Leading epochs whose steps are flagged as warm-up.
    #[serde(default = "d_warmup")]
    pub warmup_epochs: u64,
    /// Also predict with the whole graph at once at the end (exact; needs memory for the whole
    /// graph's activations).
    #[serde(default = "d_true")]
    pub full_graph_eval: bool,
    /// Splits evaluated at the end.
    #[serde(default = "d_eval_splits")]
    pub eval_splits: Vec<SplitName>,
    /// `cpu` or `cuda[:N]`.
    #[serde(default = "d_device")]
    pub device: String,
    /// `serial` (batching, then the update) or `prefetch` (batches built on a worker thread while
    /// the trainer computes).
    #[serde(default)]
    pub mode: Mode,
    /// Adam.
    #[serde(default)]
    pub optimizer: NodeOptimizerSpec,
    /// Reduce the learning rate when the validation loss stops falling (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plateau: Option<Plateau>,
    /// Stop after this many evaluations without a better validation accuracy (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<u64>,
    /// Keep the parameters of the best validation accuracy (checked every `eval_every` epochs and
    /// after the last) and evaluate those at the end, as the reference does.
    #[serde(default = "d_true")]
    pub keep_best: bool,
}

fn d_epochs() -> u64 {
    100
}
fn d_eval_every() -> u64 {
    10
}
fn d_warmup() -> u64 {
    1
}
fn d_true() -> bool {
    true
}
fn d_eval_splits() -> Vec<SplitName> {
    vec![SplitName::Validation, SplitName::Test]
}
fn d_device() -> String {
    "cpu".into()
}

impl Default for NodeTraining {
    fn default() -> Self {
        NodeTraining {
            epochs: d_epochs(),
            eval_every: d_eval_every(),
            warmup_epochs: d_warmup(),
            full_graph_eval: true,
            eval_splits: d_eval_splits(),
            device: d_device(),
            mode: Mode::Serial,
            optimizer: NodeOptimizerSpec::default(),
            plateau: None,
            early_stopping: None,
            keep_best: true,
        }
    }
}

/// The `[batches]` table of a node-level config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeBatches {
    /// Split whose output nodes are batched.
    #[serde(default = "d_split")]
    pub split: SplitName,
    /// Epochs of batches to plan and collate (times exclude the first epoch when there are
    /// more: it pays for first-touch allocations).
    #[serde(default = "d_batch_epochs")]
    pub epochs: u64,
    /// Build the inference variant of the batcher instead.
    #[serde(default)]
    pub inference: bool,
}

fn d_split() -> SplitName {
    SplitName::Train
}
fn d_batch_epochs() -> u64 {
    3
}

impl Default for NodeBatches {
    fn default() -> Self {
        NodeBatches {
            split: d_split(),
            epochs: d_batch_epochs(),
            inference: false,
        }
    }
}

/// A node-level config as loaded.
pub type LoadedNodeConfig = Loaded<NodeConfig>;

impl Validate for NodeConfig {
    fn validate(&self) -> Result<(), String> {
        NodeConfig::validate(self)
    }
}

impl LoadedNodeConfig {
    /// What names this config's runs.
    pub fn names(&self) -> RunNames<'_> {
        let c = &self.config;
        RunNames {
            experiment: &c.experiment,
            dataset: c.dataset.typetag_name().to_string(),
            batcher: c.batcher.typetag_name().to_string(),
            batcher_label: c.batcher.label(),
            batcher_options: serde_json::to_string(&c.batcher).unwrap_or_default(),
            batch_size: c.batcher.batch_size(),
            resolved: &self.resolved,
            hash: &self.hash,
        }
    }
}

impl NodeConfig {
    /// Checks every section without loading data.
    pub fn validate(&self) -> Result<(), String> {
        crate::config::check_experiment(&self.experiment)?;
        crate::config::check_device(&self.training.device)?;
        self.dataset
            .validate()
            .map_err(|e| format!("[dataset] {e}"))?;
        self.batcher
            .validate()
            .map_err(|e| format!("[batcher] {e}"))?;
        if let Some(i) = &self.inference {
            i.validate().map_err(|e| format!("[inference] {e}"))?;
        }
        if let Some(m) = &self.model {
            m.validate().map_err(|e| format!("[model] {e}"))?;
        }
        if self.training.epochs == 0 || self.batches.epochs == 0 {
            return Err("training.epochs and batches.epochs must be at least 1".into());
        }
        let o = &self.training.optimizer;
        if o.learning_rate.is_nan() || o.learning_rate <= 0.0 || o.weight_decay < 0.0 {
            return Err(
                "training.optimizer: learning_rate must be positive, weight_decay not negative"
                    .into(),
            );
        }
        for (i, s) in self.sinks.iter().enumerate() {
            s.validate()
                .map_err(|e| format!("[[sinks]] #{}: {e}", i + 1))?;
        }
        Ok(())
    }

    /// The batcher of batched inference: `[inference]` as written, or the training batcher's
    /// inference variant.
    /// `slot` keeps a derived variant alive.
    fn inference_spec<'a>(
        &'a self,
        slot: &'a mut Option<Box<dyn NodeBatcherSpec>>,
    ) -> &'a dyn NodeBatcherSpec {
        match &self.inference {
            Some(s) => s.as_ref(),
            None => &**slot.insert(self.batcher.for_inference()),
        }
    }
}

fn load_graph(
    cfg: &NodeConfig,
) -> Result<(Box<dyn geobatch_core::node::NodeDataset>, u64), RunError> {
    let t = Instant::now();
    let d = cfg.dataset.load(&DatasetContext {
        seed: cfg.experiment.seed,
        data_dir: cfg.experiment.data_dir.clone(),
    })?;
    Ok((d, t.elapsed().as_nanos() as u64))
}

fn build_batcher(
    spec: &dyn NodeBatcherSpec,
    graph: &NodeGraph,
    split: SplitName,
    training: bool,
    seed: u64,
) -> Result<Box<dyn NodeBatcher>, RunError> {
    Ok(spec.build(&NodeBatcherContext {
        graph,
        outputs: graph.split(split),
        split,
        training,
        seed,
    })?)
}

fn shape(b: &NodeBatch) -> Shape {
    Shape {
        nodes: b.n_nodes(),
        edges: b.n_entries(),
        graphs: b.n_outputs(),
    }
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Result of one evaluation pass.
#[derive(Debug, Clone)]
pub struct NodeEval {
    /// Accuracy.
    pub accuracy: f64,
    /// Macro-F1.
    pub macro_f1: f64,
    /// Mean NLL over labelled outputs.
    pub loss: f64,
    /// Outputs predicted.
    pub outputs: usize,
    /// Batches used.
    pub batches: usize,
    /// Wall time (ns), collation included.
    pub ns: u64,
}

/// Predicts every output node of `split` exactly once with `batcher`'s plans (one epoch).
pub fn evaluate_batched(
    trainer: &mut dyn NodeTrainer,
    graph: &NodeGraph,
    batcher: &mut dyn NodeBatcher,
    split: SplitName,
) -> Result<NodeEval, RunError> {
    let t = Instant::now();
    batcher.start_epoch(0)?;
    let mut plan = NodePlan::default();
    let mut batch = NodeBatch::default();
    let mut collator = NodeCollator::new();
    let mut pred = vec![u32::MAX; graph.n_nodes()];
    let mut classes = Vec::new();
    let (mut loss, mut batches) = (0.0, 0);
    while batcher.next_plan(graph, &mut plan)? {
        collator.collate(graph, &plan, &mut batch)?;
        loss += trainer.predict(&batch, &mut classes)?;
        for (&o, &c) in plan.outputs.iter().zip(&classes) {
            if pred[o as usize] != u32::MAX {
                return Err(Error::invalid(format!(
                    "node {o} was predicted twice in one evaluation"
                ))
                .into());
            }
            pred[o as usize] = c;
        }
        batches += 1;
    }
    finish_eval(graph, split, &pred, loss, batches, t)
}

/// Predicts the output nodes of `split` with the whole graph as one batch (exact).
pub fn evaluate_full(
    trainer: &mut dyn NodeTrainer,
    graph: &NodeGraph,
    split: SplitName,
) -> Result<NodeEval, RunError> {
    let t = Instant::now();
    let plan = NodePlan {
        outputs: {
            let mut o = graph.split(split).to_vec();
            o.sort_unstable();
            o.dedup();
            o
        },
        aux: (0..graph.n_nodes() as u32).collect(),
        edges: Vec::new(),
    };
    let mut batch = NodeBatch::default();
    NodeCollator::new().collate(graph, &plan, &mut batch)?;
    let mut classes = Vec::new();
    let loss = trainer.predict(&batch, &mut classes)?;
    let mut pred = vec![u32::MAX; graph.n_nodes()];
    for (&o, &c) in plan.outputs.iter().zip(&classes) {
        pred[o as usize] = c;
    }
    finish_eval(graph, split, &pred, loss, 1, t)
}

fn finish_eval(
    graph: &NodeGraph,
    split: SplitName,
    pred: &[u32],
    loss: f64,
    batches: usize,
    t: Instant,
) -> Result<NodeEval, RunError> {
    let outs = graph.split(split);
    if let Some(&o) = outs.iter().find(|&&o| pred[o as usize] == u32::MAX) {
        return Err(Error::invalid(format!(
            "output node {o} of the {split} split was never predicted"
        ))
        .into());
    }
    let p: Vec<u32> = outs.iter().map(|&o| pred[o as usize]).collect();
    let l: Vec<i32> = outs.iter().map(|&o| graph.labels()[o as usize]).collect();
    Ok(NodeEval {
        accuracy: accuracy(&p, &l),
        macro_f1: macro_f1(&p, &l, graph.n_classes()),
        loss: loss / outs.len().max(1) as f64,
        outputs: outs.len(),
        batches,
        ns: t.elapsed().as_nanos() as u64,
    })
}

fn eval_record(step: u64, split: SplitName, inference: &str, e: &NodeEval) -> EvalRecord {
    EvalRecord {
        step,
        split: split.as_str().into(),
        target: "label".into(),
        rmse: f64::NAN,
        mae: f64::NAN,
        graphs: e.outputs as u64,
        accuracy: Some(e.accuracy),
        macro_f1: Some(e.macro_f1),
        inference: Some(inference.into()),
        eval_ns: Some(e.ns),
    }
}

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

impl NodeTrainSummary {
    /// A human-readable report.
    pub fn render(&self) -> String {
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
}

/// Trains the config's node classifier; `epochs` overrides `[training] epochs`.
pub fn run_node_train(
    loaded: &LoadedNodeConfig,
    epochs: Option<u64>,
    stop: &AtomicBool,
) -> Result<NodeTrainSummary, RunError> {
    let cfg = &loaded.config;
    let tr = &cfg.training;
    let input = |m: &str| RunError::Config {
        file: loaded.path.clone(),
        message: m.to_string(),
    };
    let model_spec = cfg
        .model
        .as_ref()
        .ok_or_else(|| input("no [model] table: `geobatch run` trains a model (gcn or sage)"))?;
    let epochs = epochs.unwrap_or(tr.epochs);
    if epochs == 0 {
        return Err(input("epochs must be at least 1"));
    }
    let seed = cfg.experiment.seed;
    let (dataset, load_ns) = load_graph(cfg)?;
    let graph = dataset.graph();
    eprintln!(
        "{}: {} nodes, {} adjacency entries, {} features, {} classes; train/val/test {}/{}/{} (loaded in {:.0} ms)",
        dataset.source(),
        graph.n_nodes(),
        graph.n_entries(),
        graph.n_features(),
        graph.n_classes(),
        graph.split(SplitName::Train).len(),
        graph.split(SplitName::Validation).len(),
        graph.split(SplitName::Test).len(),
        load_ns as f64 / 1e6
    );
    let mut batcher = build_batcher(cfg.batcher.as_ref(), graph, SplitName::Train, true, seed)?;
    let mut slot = None;
    let infer_spec = cfg.inference_spec(&mut slot);
    let mut infer: Vec<(SplitName, Box<dyn NodeBatcher>)> = Vec::new();
    let mut infer_ns = 0;
    let mut splits = tr.eval_splits.clone();
    if !splits.contains(&SplitName::Validation) {
        splits.insert(0, SplitName::Validation);
    }
    for &s in &splits {
        let b = build_batcher(infer_spec, graph, s, false, seed)?;
        infer_ns += b.precompute_ns();
        infer.push((s, b));
    }
    let mut trainer = model_spec.build(&NodeModelContext {
        n_features: graph.n_features(),
        n_classes: graph.n_classes(),
        seed,
        device: tr.device.clone(),
        optimizer: tr.optimizer.clone(),
    })?;
    let model = model_spec.typetag_name().to_string();
    let parameters = trainer.parameter_count();
    let per_epoch = batcher.batches_per_epoch() as u64;
    eprintln!(
        "{model}: {parameters} parameters; {} training batches per epoch (precomputed in {:.0} ms), inference batches precomputed in {:.0} ms",
        per_epoch,
        batcher.precompute_ns() as f64 / 1e6,
        infer_ns as f64 / 1e6
    );
    let run = create_run(
        &loaded.names(),
        RunStart {
            job: "train",
            model: Some(&model),
            dataset_source: dataset.source(),
            budget: None,
            planned_steps: epochs * per_epoch,
            mode: tr.mode.as_str(),
            device: &tr.device,
            threads: threads_of(
                tr.mode,
                infer
                    .iter()
                    .map(|(_, b)| b.precompute_threads())
                    .fold(batcher.precompute_threads(), usize::max),
            ),
        },
    )?;
    let run_dir = run.run_dir.clone();
    let mut sinks = SinkSet::build(&cfg.sinks)?;
    sinks.start(&run)?;
    let started = Instant::now();
    let mut status = RunStatus::Complete;
    let mut state = TrainState {
        step: 0,
        lr: tr.optimizer.learning_rate,
        best_loss: f64::INFINITY,
        best_acc: f64::NEG_INFINITY,
        since_loss: 0,
        since_acc: 0,
        cooldown: 0,
        shapes: std::collections::HashSet::new(),
        epoch_ns: Vec::new(),
        batching: Vec::new(),
        update: Vec::new(),
    };
    let mut epochs_done = 0;
    let mut evals = Vec::new();
    let mut best_epoch: Option<(u64, f64)> = None;
    let mut kept: Option<u64> = None;
    let outcome = (|| -> Result<(), RunError> {
        let mut collator = NodeCollator::new();
        for epoch in 0..epochs {
            let t_epoch = Instant::now();
            let mut interrupted = false;
            for_each_batch(
                tr.mode,
                batcher.as_mut(),
                graph,
                &mut collator,
                epoch,
                &mut |built| {
                    if stop.load(Ordering::Relaxed) {
                        interrupted = true;
                        return Ok(false);
                    }
                    let t2 = Instant::now();
                    let stats = trainer.train_step(&built.batch, state.step)?;
                    let update_ns = t2.elapsed().as_nanos() as u64;
                    let batching_ns = built.plan_ns + built.collate_ns;
                    let s = shape(&built.batch);
                    let warmup = epoch < tr.warmup_epochs;
                    let record = StepRecord {
                        step: state.step,
                        plan_ns: built.plan_ns,
                        collate_ns: built.collate_ns,
                        batching_ns,
                        update_ns: Some(update_ns),
                        wait_ns: built.wait_ns,
                        combined_ns: built.wait_ns.unwrap_or(batching_ns) + update_ns,
                        real: s,
                        padded: s,
                        new_shape: state.shapes.insert(s),
                        warmup,
                        loss: Some(stats.loss),
                    };
                    sinks.step(&record)?;
                    // warm-up steps count only when there is nothing else
                    if !warmup || epochs <= tr.warmup_epochs {
                        state.batching.push(built.wait_ns.unwrap_or(batching_ns));
                        state.update.push(update_ns);
                    }
                    if !stats.loss.is_finite() {
                        return Err(Error::invalid(format!(
                            "training diverged: loss {} at step {}; lower the learning rate",
                            stats.loss, state.step
                        ))
                        .into());
                    }
                    state.step += 1;
                    Ok(true)
                },
            )?;
            if interrupted {
                status = RunStatus::Interrupted;
                return Ok(());
            }
            state.epoch_ns.push(t_epoch.elapsed().as_nanos() as u64);
            epochs_done = epoch + 1;
            let last = epoch + 1 == epochs;
            let periodic = tr.eval_every > 0 && (epoch + 1).is_multiple_of(tr.eval_every);
            // with keep_best, the last epoch is always compared with the best so far
            if (periodic && !last) || (last && tr.keep_best && tr.eval_every > 0) {
                let (s, b) = &mut infer[0];
                let e = evaluate_batched(trainer.as_mut(), graph, b.as_mut(), *s)?;
                if !last {
                    sinks.eval(&eval_record(state.step, *s, &infer_spec.label(), &e))?;
                }
                let better = e.accuracy > state.best_acc;
                let stop = state.after_eval(tr, &e, trainer.as_mut());
                if better && tr.keep_best {
                    trainer.keep_best();
                    best_epoch = Some((epoch + 1, e.accuracy));
                }
                if stop {
                    eprintln!(
                        "early stopping after epoch {}: no better validation accuracy",
                        epoch + 1
                    );
                    break;
                }
            }
        }
        if let Some((epoch, acc)) = best_epoch
            && trainer.restore_best()
        {
            eprintln!(
                "evaluating the parameters of epoch {epoch} (best validation accuracy {acc:.4})"
            );
            kept = Some(epoch);
        }
        let label = infer_spec.label();
        for (s, b) in &mut infer {
            if !tr.eval_splits.contains(s) {
                continue;
            }
            let e = evaluate_batched(trainer.as_mut(), graph, b.as_mut(), *s)?;
            sinks.eval(&eval_record(state.step, *s, &label, &e))?;
            evals.push((*s, label.clone(), e));
        }
        if tr.full_graph_eval {
            for &s in &tr.eval_splits {
                let e = evaluate_full(trainer.as_mut(), graph, s)?;
                sinks.eval(&eval_record(state.step, s, "full", &e))?;
                evals.push((s, "full".into(), e));
            }
        }
        Ok(())
    })();
    if outcome.is_err() {
        status = RunStatus::Failed;
    }
    let end = RunEnd {
        status,
        steps: state.step,
        wall_ns: started.elapsed().as_nanos() as u64,
        message: outcome.as_ref().err().map(|e| e.to_string()),
    };
    let finished = sinks.finish(&end);
    outcome?;
    finished?;
    let med = |v: &mut Vec<u64>| {
        v.sort_unstable();
        median(v).unwrap_or(f64::NAN)
    };
    let mut epoch_ns = if state.epoch_ns.len() > tr.warmup_epochs as usize {
        state.epoch_ns[tr.warmup_epochs as usize..].to_vec()
    } else {
        state.epoch_ns.clone()
    };
    Ok(NodeTrainSummary {
        model,
        parameters,
        epochs: epochs_done,
        steps: state.step,
        precompute_ns: (batcher.precompute_ns(), infer_ns),
        median_epoch_ns: med(&mut epoch_ns),
        median_step_ns: (med(&mut state.batching), med(&mut state.update)),
        evals,
        kept_epoch: kept,
        status,
        run_dir,
    })
}

/// One collated batch and what making it cost.
pub struct Built {
    /// The batch.
    pub batch: NodeBatch,
    /// Planning time (ns).
    pub plan_ns: u64,
    /// Collation time (ns).
    pub collate_ns: u64,
    /// Time the trainer waited for it (prefetch mode), ns.
    pub wait_ns: Option<u64>,
}

/// Plans and collates (with `collator`, kept across epochs) every batch of epoch `epoch` and hands
/// each to `f` (which returns false to stop early). Serial: batching then `f`, nothing overlapped. Prefetch: a worker thread batches
/// into a queue of depth 1 while `f` runs, and the wait for each batch is measured.
pub fn for_each_batch(
    mode: Mode,
    batcher: &mut dyn NodeBatcher,
    graph: &NodeGraph,
    collator: &mut NodeCollator,
    epoch: u64,
    f: &mut dyn FnMut(&Built) -> Result<bool, RunError>,
) -> Result<(), RunError> {
    batcher.start_epoch(epoch)?;
    let make = |batcher: &mut dyn NodeBatcher,
                plan: &mut NodePlan,
                collator: &mut NodeCollator,
                mut batch: NodeBatch|
     -> Result<Option<Built>, Error> {
        let t0 = Instant::now();
        if !batcher.next_plan(graph, plan)? {
            return Ok(None);
        }
        let t1 = Instant::now();
        collator.collate(graph, plan, &mut batch)?;
        Ok(Some(Built {
            batch,
            plan_ns: (t1 - t0).as_nanos() as u64,
            collate_ns: t1.elapsed().as_nanos() as u64,
            wait_ns: None,
        }))
    };
    let mut plan = NodePlan::default();
    match mode {
        Mode::Serial => {
            let mut spare = NodeBatch::default();
            while let Some(built) = make(batcher, &mut plan, collator, spare)? {
                if !f(&built)? {
                    break;
                }
                spare = built.batch;
            }
            Ok(())
        }
        Mode::Prefetch => std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Built, Error>>(1);
            let (back_tx, back_rx) = std::sync::mpsc::channel::<NodeBatch>();
            scope.spawn(move || {
                loop {
                    let spare = back_rx.try_recv().unwrap_or_default();
                    match make(batcher, &mut plan, collator, spare) {
                        Ok(Some(built)) => {
                            if tx.send(Ok(built)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            });
            loop {
                let t = Instant::now();
                let Ok(item) = rx.recv() else {
                    return Ok(());
                };
                let mut built = item?;
                built.wait_ns = Some(t.elapsed().as_nanos() as u64);
                if !f(&built)? {
                    return Ok(());
                }
                let _ = back_tx.send(built.batch);
            }
        }),
    }
}

/// Learning-rate schedule and early-stopping state.
struct TrainState {
    step: u64,
    lr: f64,
    best_loss: f64,
    best_acc: f64,
    since_loss: u64,
    since_acc: u64,
    cooldown: u64,
    shapes: std::collections::HashSet<Shape>,
    epoch_ns: Vec<u64>,
    batching: Vec<u64>,
    update: Vec<u64>,
}

impl TrainState {
    /// Updates the plateau schedule and early stopping; true when training should stop.
    fn after_eval(
        &mut self,
        tr: &NodeTraining,
        e: &NodeEval,
        trainer: &mut dyn NodeTrainer,
    ) -> bool {
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
                trainer.set_learning_rate(self.lr);
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
        tr.early_stopping.is_some_and(|n| self.since_acc >= n)
    }
}

/// What the node-level batching study measured.
#[derive(Debug, Clone)]
pub struct NodeBatchSummary {
    /// Batcher label.
    pub batcher: String,
    /// Dataset source.
    pub dataset: String,
    /// Split batched and whether it was the inference variant.
    pub split: SplitName,
    /// Inference variant.
    pub inference: bool,
    /// Graph size (nodes, adjacency entries).
    pub graph: (usize, u64),
    /// Time to load or generate the graph (ns).
    pub load_ns: u64,
    /// Pre-computation (ns).
    pub precompute_ns: u64,
    /// Batches per epoch.
    pub batches: usize,
    /// Output nodes per batch: mean, min, max.
    pub outputs: (f64, usize, usize),
    /// Auxiliary nodes per batch (outputs included): mean, min, max.
    pub aux: (f64, usize, usize),
    /// Entries kept in the batches / entries of the batches' nodes in the full graph.
    pub kept: (u64, u64),
    /// Median batching time per batch (plan + collate, ns).
    pub median_batch_ns: f64,
    /// Peak resident memory of the process (bytes), when known.
    pub peak_rss: Option<u64>,
    /// Results folder.
    pub run_dir: PathBuf,
}

impl NodeBatchSummary {
    /// A human-readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "node batching study: {}{} on {} ({} split; {} nodes, {} adjacency entries)",
            self.batcher,
            if self.inference {
                " (inference variant)"
            } else {
                ""
            },
            self.dataset,
            self.split,
            self.graph.0,
            self.graph.1
        );
        let _ = writeln!(
            s,
            "  graph load         {:.1} ms",
            self.load_ns as f64 / 1e6
        );
        let _ = writeln!(
            s,
            "  precomputation     {:.1} ms",
            self.precompute_ns as f64 / 1e6
        );
        let _ = writeln!(s, "  batches per epoch  {}", self.batches);
        let (m, lo, hi) = self.outputs;
        let _ = writeln!(s, "  output nodes/batch mean {m:.1}, min {lo}, max {hi}");
        let (m, lo, hi) = self.aux;
        let _ = writeln!(
            s,
            "  aux nodes/batch    mean {m:.1}, min {lo}, max {hi} (outputs included)"
        );
        let (kept, full) = self.kept;
        let _ = writeln!(
            s,
            "  edges kept         {kept} of {full} adjacency entries of the batches' nodes ({:.1}%; {} lost)",
            100.0 * kept as f64 / full.max(1) as f64,
            full - kept
        );
        let _ = writeln!(
            s,
            "  time per batch     {:.3} ms (median, plan + collate)",
            self.median_batch_ns / 1e6
        );
        if let Some(b) = self.peak_rss {
            let _ = writeln!(
                s,
                "  peak memory        {:.1} MiB (process peak RSS)",
                b as f64 / (1 << 20) as f64
            );
        }
        let _ = writeln!(s, "  results            {}", self.run_dir.display());
        s
    }
}

/// Builds the config's batcher for `[batches] split` and plans and collates `[batches] epochs`
/// epochs of batches without a model, recording every batch.
pub fn run_node_batches(
    loaded: &LoadedNodeConfig,
    stop: &AtomicBool,
) -> Result<NodeBatchSummary, RunError> {
    let cfg = &loaded.config;
    let bc = &cfg.batches;
    let seed = cfg.experiment.seed;
    let (dataset, load_ns) = load_graph(cfg)?;
    let graph = dataset.graph();
    let mut slot = None;
    let spec = if bc.inference {
        cfg.inference_spec(&mut slot)
    } else {
        cfg.batcher.as_ref()
    };
    let mut batcher = build_batcher(spec, graph, bc.split, !bc.inference, seed)?;
    let run = create_run(
        &loaded.names(),
        RunStart {
            job: "batches",
            model: None,
            dataset_source: dataset.source(),
            budget: None,
            planned_steps: bc.epochs * batcher.batches_per_epoch() as u64,
            mode: "serial",
            device: "cpu",
            threads: threads_of(Mode::Serial, batcher.precompute_threads()),
        },
    )?;
    let run_dir = run.run_dir.clone();
    let mut sinks = SinkSet::build(&cfg.sinks)?;
    sinks.start(&run)?;
    let started = Instant::now();
    let mut status = RunStatus::Complete;
    let (mut outs, mut auxs, mut times) = (Vec::new(), Vec::new(), Vec::new());
    let (mut kept, mut full) = (0u64, 0u64);
    let mut step = 0u64;
    let mut shapes = std::collections::HashSet::new();
    let outcome = (|| -> Result<(), RunError> {
        let mut collator = NodeCollator::new();
        for epoch in 0..bc.epochs {
            let mut interrupted = false;
            for_each_batch(
                Mode::Serial,
                batcher.as_mut(),
                graph,
                &mut collator,
                epoch,
                &mut |built| {
                    if stop.load(Ordering::Relaxed) {
                        interrupted = true;
                        return Ok(false);
                    }
                    let (batch, plan_ns, collate_ns) =
                        (&built.batch, built.plan_ns, built.collate_ns);
                    let s = shape(batch);
                    sinks.step(&StepRecord {
                        step,
                        plan_ns,
                        collate_ns,
                        batching_ns: plan_ns + collate_ns,
                        update_ns: None,
                        wait_ns: None,
                        combined_ns: plan_ns + collate_ns,
                        real: s,
                        padded: s,
                        new_shape: shapes.insert(s),
                        warmup: epoch == 0 && bc.epochs > 1,
                        loss: None,
                    })?;
                    if epoch == 0 {
                        outs.push(batch.n_outputs());
                        auxs.push(batch.n_nodes());
                        kept += batch.n_entries() as u64;
                        full += batch.full_entries;
                    }
                    if epoch > 0 || bc.epochs == 1 {
                        times.push(plan_ns + collate_ns);
                    }
                    step += 1;
                    Ok(true)
                },
            )?;
            if interrupted {
                status = RunStatus::Interrupted;
                return Ok(());
            }
        }
        Ok(())
    })();
    if outcome.is_err() {
        status = RunStatus::Failed;
    }
    let end = RunEnd {
        status,
        steps: step,
        wall_ns: started.elapsed().as_nanos() as u64,
        message: outcome.as_ref().err().map(|e| e.to_string()),
    };
    let finished = sinks.finish(&end);
    outcome?;
    finished?;
    let stats = |v: &[usize]| {
        let mean = v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
        (
            mean,
            v.iter().copied().min().unwrap_or(0),
            v.iter().copied().max().unwrap_or(0),
        )
    };
    times.sort_unstable();
    Ok(NodeBatchSummary {
        batcher: spec.label(),
        dataset: dataset.source(),
        split: bc.split,
        inference: bc.inference,
        graph: (graph.n_nodes(), graph.n_entries()),
        load_ns,
        precompute_ns: batcher.precompute_ns(),
        batches: batcher.batches_per_epoch(),
        outputs: stats(&outs),
        aux: stats(&auxs),
        kept: (kept, full),
        median_batch_ns: median(&times).unwrap_or(f64::NAN),
        peak_rss: peak_rss(),
        run_dir,
    })
}
