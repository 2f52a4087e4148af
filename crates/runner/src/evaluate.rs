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
fn for_each_batch(
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
                "the model gave {} predictions for a batch of {} graphs x {t} targets                  (expected {})",
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

/// Errors of a potential over a split, per label: energy per atom (meV/atom), every force
/// component (meV/Angstrom) and every stress component of the structures with a stress
/// (meV/Angstrom^3).
#[derive(Debug, Clone, PartialEq)]
pub struct ForceErrors {
    /// (label, RMSE, MAE) rows: `energy_per_atom_meV`, `forces_meV_per_A`, and
    /// `stress_meV_per_A3` where the split has stresses.
    pub rows: Vec<(&'static str, f64, f64)>,
    /// Structures evaluated.
    pub graphs: u64,
}

/// Root mean square and mean absolute value of errors, accumulated.
#[derive(Debug, Default, Clone, Copy)]
struct Moments {
    sq: f64,
    abs: f64,
    n: u64,
}

impl Moments {
    fn add(&mut self, d: f64) {
        self.sq += d * d;
        self.abs += d.abs();
        self.n += 1;
    }

    fn rmse_mae(&self, unit: f64) -> (f64, f64) {
        let n = self.n.max(1) as f64;
        ((self.sq / n).sqrt() * unit, self.abs / n * unit)
    }
}

/// Evaluates a potential on every structure of `set` once (the batches of [`evaluate`]).
pub fn evaluate_forces(
    trainer: &mut dyn Trainer,
    set: &GraphSet,
    batch_size: usize,
) -> Result<ForceErrors> {
    let mut out = geobatch_core::ForcePredictions::default();
    let (mut energy, mut forces, mut stress) =
        (Moments::default(), Moments::default(), Moments::default());
    let graphs = for_each_batch(set, batch_size, |batch, chunk, plan| {
        trainer.predict_forces(batch, &mut out)?;
        if out.energy.len() != chunk.len() || out.forces.len() != plan.real.nodes {
            return Err(Error::invalid(format!(
                "the model gave {} energies and {} forces for a batch of {} structures and {} atoms",
                out.energy.len(),
                out.forces.len(),
                chunk.len(),
                plan.real.nodes
            )));
        }
        let mut atom = 0;
        for (i, &g) in chunk.iter().enumerate() {
            let g = g as usize;
            let nodes = set.node_range(g);
            let n = nodes.len() as f64;
            energy.add((out.energy[i] - f64::from(set.targets(g)[0])) / n);
            let labels = set.forces().map(|f| &f[nodes.clone()]).unwrap_or(&[]);
            for (p, y) in out.forces[atom..atom + nodes.len()].iter().zip(labels) {
                for k in 0..3 {
                    forces.add(f64::from(p[k]) - f64::from(y[k]));
                }
            }
            atom += nodes.len();
            // a model that predicts no stress (a direct force head) leaves the list empty
            if let (Some(s), Some(p)) = (set.stress(g), out.stress.get(i)) {
                for k in 0..9 {
                    stress.add(f64::from(p[k]) - f64::from(s[k]));
                }
            }
        }
        Ok(())
    })?;
    let milli = 1e3;
    let (er, ea) = energy.rmse_mae(milli);
    let (fr, fa) = forces.rmse_mae(milli);
    let mut rows = vec![
        ("energy_per_atom_meV", er, ea),
        ("forces_meV_per_A", fr, fa),
    ];
    if stress.n > 0 {
        let (sr, sa) = stress.rmse_mae(milli);
        rows.push(("stress_meV_per_A3", sr, sa));
    }
    Ok(ForceErrors { rows, graphs })
}
