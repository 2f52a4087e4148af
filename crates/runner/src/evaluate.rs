//! The exact evaluator: every graph of a split exactly once, whatever the training batcher.
//!
//! Graphs are taken in stored order, `batch_size - 1` at a time, and padded to multiples of 64
//! (nodes + 1, edges) with `batch_size` graphs, so a split needs only a few shapes.
//!
//! A model that writes more or fewer predictions than the batch's real graphs x targets is an
//! error, not a panic or a silently shifted error. Predictions that are not numbers give a
//! non-finite RMSE or MAE, which the training loop records and then fails the run on (never a
//! `complete` run with a NaN metric).

use geobatch_core::rounding::ceil_multiple_of_64;
use geobatch_core::{Error, GraphBatch, GraphSet, Plan, Result, Shape, Trainer};

/// RMSE and MAE of every target over a split, in the targets' units.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitErrors {
    /// Root mean squared error per target.
    pub rmse: Vec<f64>,
    /// Mean absolute error per target.
    pub mae: Vec<f64>,
    /// Graphs evaluated.
    pub graphs: u64,
}

/// Collates every graph of `set` once, in stored order, `batch_size - 1` at a time padded to
/// multiples of 64 (the exact evaluator's batches), and hands each batch with its graphs to
/// `each`.
pub fn for_each_batch(
    set: &GraphSet,
    batch_size: usize,
    mut each: impl FnMut(&GraphBatch, &[u32], &Plan) -> Result<()>,
) -> Result<u64> {
    let per_batch = batch_size.max(2) - 1;
    let (mut plan, mut batch) = (Plan::default(), GraphBatch::new());
    let mut graphs = 0u64;
    for chunk in (0..set.len() as u32).collect::<Vec<_>>().chunks(per_batch) {
        plan.clear();
        for &g in chunk {
            plan.push(g, set.sizes()[g as usize]);
        }
        plan.padded = Shape::new(
            ceil_multiple_of_64(plan.real.nodes + 1),
            ceil_multiple_of_64(plan.real.edges),
            per_batch + 1,
        );
        batch.collate(set, &plan)?;
        each(&batch, chunk, &plan)?;
        graphs += chunk.len() as u64;
    }
    Ok(graphs)
}

/// Evaluates `trainer` on every graph of `set` once.
pub fn evaluate(
    trainer: &mut dyn Trainer,
    set: &GraphSet,
    batch_size: usize,
) -> Result<SplitErrors> {
    let t = set.n_targets();
    let (mut sq, mut abs) = (vec![0.0f64; t], vec![0.0f64; t]);
    let mut out = Vec::new();
    let graphs = for_each_batch(set, batch_size, |batch, chunk, _| {
        trainer.predict(batch, &mut out)?;
        if out.len() != chunk.len() * t {
            return Err(Error::invalid(format!(
                "the model gave {} predictions for a batch of {} graphs x {t} targets (expected {})",
                out.len(),
                chunk.len(),
                chunk.len() * t
            )));
        }
        for (i, &g) in chunk.iter().enumerate() {
            for (k, &y) in set.targets(g as usize).iter().enumerate() {
                let d = f64::from(out[i * t + k]) - f64::from(y);
                sq[k] += d * d;
                abs[k] += d.abs();
            }
        }
        Ok(())
    })?;
    let n = graphs.max(1) as f64;
    Ok(SplitErrors {
        rmse: sq.iter().map(|s| (s / n).sqrt()).collect(),
        mae: abs.iter().map(|a| a / n).collect(),
        graphs,
    })
}
