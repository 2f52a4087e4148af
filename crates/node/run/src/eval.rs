//! Node-level evaluation: accuracy and macro-F1 of a split's output nodes, predicted with a
//! batcher's inference batches (every output exactly once) or with the whole graph at once.
//!
//! What the model gives back is checked: one class per output node, each below the number of
//! classes; class scores that are not numbers (a non-finite negative log-likelihood) fail the
//! evaluation with the split named, so a run never ends `complete` with an accuracy read from
//! NaN scores.

use geobatch_core::records::EvalRecord;
use geobatch_core::{Batcher, Error, SplitName, Trainer};
use geobatch_node::metrics::{accuracy, macro_f1};
use geobatch_node::{NodeBatch, NodeCollator, NodeGraph, NodeLevel, NodePlan, NodePredictions};
use geobatch_runner::error::RunError;
use std::time::Instant;

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
    trainer: &mut dyn Trainer<NodeLevel>,
    graph: &NodeGraph,
    batcher: &mut dyn Batcher<NodeLevel>,
    split: SplitName,
) -> Result<NodeEval, RunError> {
    let t = Instant::now();
    batcher.start_epoch(0)?;
    let mut plan = NodePlan::default();
    let mut batch = NodeBatch::default();
    let mut collator = NodeCollator::new();
    let mut pred = vec![u32::MAX; graph.n_nodes()];
    let mut out = NodePredictions::default();
    let (mut loss, mut batches) = (0.0, 0);
    while batcher.next_plan(graph, &mut plan)? {
        collator.collate(graph, &plan, &mut batch)?;
        trainer.predict(&batch, &mut out)?;
        check_classes(graph, &plan, &out)?;
        loss += out.nll;
        for (&o, &c) in plan.outputs.iter().zip(&out.classes) {
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
    trainer: &mut dyn Trainer<NodeLevel>,
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
    let mut out = NodePredictions::default();
    trainer.predict(&batch, &mut out)?;
    check_classes(graph, &plan, &out)?;
    let loss = out.nll;
    let mut pred = vec![u32::MAX; graph.n_nodes()];
    for (&o, &c) in plan.outputs.iter().zip(&out.classes) {
        pred[o as usize] = c;
    }
    finish_eval(graph, split, &pred, loss, 1, t)
}

/// One class per output node of `plan`, each one of the graph's classes.
fn check_classes(
    graph: &NodeGraph,
    plan: &NodePlan,
    out: &NodePredictions,
) -> Result<(), RunError> {
    if out.classes.len() != plan.outputs.len() {
        return Err(Error::invalid(format!(
            "the model gave {} classes for a batch of {} output nodes",
            out.classes.len(),
            plan.outputs.len()
        ))
        .into());
    }
    if let Some(&c) = out
        .classes
        .iter()
        .find(|&&c| c as usize >= graph.n_classes())
    {
        return Err(Error::invalid(format!(
            "the model predicted class {c}, but the graph has {} classes",
            graph.n_classes()
        ))
        .into());
    }
    Ok(())
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
    if !loss.is_finite() {
        // class scores that are not numbers give some class: the accuracy would look real
        return Err(Error::invalid(format!(
            "the {split} split's class scores are not finite (negative log-likelihood {loss}): \
             the model predicted non-finite values; the run is failed, not complete"
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

pub(crate) fn eval_record(
    step: u64,
    split: SplitName,
    inference: &str,
    e: &NodeEval,
) -> EvalRecord {
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
