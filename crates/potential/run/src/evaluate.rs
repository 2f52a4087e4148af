//! A potential's metrics: its errors over a split by the exact evaluator's batches
//! (`geobatch_runner::evaluate`), per label: energy per atom, force components, stress components.

use geobatch_core::{Error, GraphSet, Result, Trainer};
use geobatch_potential::{ForcePredictions, Potential};
use geobatch_runner::evaluate::for_each_batch;

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

/// Every label a potential's evaluation may give a row of.
pub const LABELS: [&str; 3] = [
    "energy_per_atom_meV",
    "forces_meV_per_A",
    "stress_meV_per_A3",
];

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

/// Evaluates a potential on every structure of `set` once (the batches of
/// `geobatch_runner::evaluate::evaluate`).
pub fn evaluate_forces(
    trainer: &mut dyn Trainer<Potential>,
    set: &GraphSet,
    batch_size: usize,
) -> Result<ForceErrors> {
    let mut out = ForcePredictions::default();
    let (mut energy, mut forces, mut stress) =
        (Moments::default(), Moments::default(), Moments::default());
    let graphs = for_each_batch(set, batch_size, |batch, chunk, plan| {
        trainer.predict(batch, &mut out)?;
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
    let mut rows = vec![(LABELS[0], er, ea), (LABELS[1], fr, fa)];
    if stress.n > 0 {
        let (sr, sa) = stress.rmse_mae(milli);
        rows.push((LABELS[2], sr, sa));
    }
    Ok(ForceErrors { rows, graphs })
}
