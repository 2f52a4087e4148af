//! What a potential is trained with: the loss weights of its terms (`[training.loss]`) and its
//! setup fitted on the training split (reference energies, scale, the labels' spreads), checked
//! when training fits it and when `predict` reads it back.

use geobatch_core::{Error, GraphSet, Result};
use serde::{Deserialize, Serialize};

/// Weights of a potential's loss terms (`[training.loss]`, DESIGN.md §16). Each term is a mean
/// squared error divided by its labels' spread in the training split, so that a weight of 1
/// gives each term one unit of loss for an error the size of the labels' own spread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossWeights {
    /// Energy per atom.
    #[serde(default = "one")]
    pub energy: f64,
    /// Every real force component (atom-weighted, as MACE and NequIP).
    #[serde(default = "one")]
    pub forces: f64,
    /// Every stress component of the structures that have a stress: as written, or `None`
    /// (1 wherever the training split has stresses; [`LossWeights::stress`]). Written for a
    /// training split without stresses, or a model that predicts none, it is refused. Resolved
    /// configs write the weight that applies, as before it was optional.
    #[serde(default, rename = "stress", serialize_with = "weight_that_applies")]
    pub stress_written: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// A stress weight as a resolved config writes it: the one that applies (1 when not written).
fn weight_that_applies<S: serde::Serializer>(
    w: &Option<f64>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(w.unwrap_or(1.0))
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights {
            energy: 1.0,
            forces: 1.0,
            stress_written: None,
        }
    }
}

impl LossWeights {
    /// The stress term's weight (1 when not written).
    pub fn stress(&self) -> f64 {
        self.stress_written.unwrap_or(1.0)
    }

    /// Why these weights cannot train on a split with (`stresses`) or without stresses, if they
    /// cannot: a stress weight written for a split without any (molecules, data without a stress
    /// target) would be ignored without a word.
    pub fn check_stress(&self, stresses: bool) -> Result<()> {
        match self.stress_written {
            Some(w) if w > 0.0 && !stresses => Err(Error::invalid(format!(
                "training.loss.stress = {w:?}, but the training split has no stress (molecules, \
                 or data without a stress target): the weight would weigh nothing; leave it out"
            ))),
            _ => Ok(()),
        }
    }

    /// Checks the weights (`geobatch validate`): finite, not negative, not all zero.
    pub fn validate(&self) -> Result<()> {
        for (name, w) in [
            ("energy", self.energy),
            ("forces", self.forces),
            ("stress", self.stress()),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::invalid(format!(
                    "training.loss.{name} = {w}: a weight is a finite number >= 0"
                )));
            }
        }
        if self.energy + self.forces + self.stress() == 0.0 {
            return Err(Error::invalid(
                "training.loss: every weight is 0, so nothing would be trained",
            ));
        }
        Ok(())
    }
}

/// What a potential (energy from positions, forces as its negative gradient, stress as its strain
/// derivative) is built with, from the training split: DESIGN.md §16.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForceContext {
    /// The loss weights.
    pub weights: LossWeights,
    /// Reference energy per atom of every species class (eV), fitted by least squares on the
    /// training split's total energies: the model learns what is left.
    pub atom_energies: Vec<f64>,
    /// Scale of the model's per-atom outputs (eV): the RMS of the training forces' components
    /// (eV/Angstrom, taken as eV over one Angstrom), as MACE scales.
    pub scale: f64,
    /// Spread (mean square) of the labels the loss terms are divided by: energy per atom after
    /// the references (eV^2), force components (eV^2/A^2), stress components (eV^2/A^6).
    pub spread: [f64; 3],
    /// Cutoff radius of the graph rule (Angstrom): edges are weighted by a cosine envelope
    /// vanishing there, so energy and forces change smoothly as atoms cross it; `None` for
    /// fully connected molecules (no envelope: every pair is always an edge).
    pub cutoff: Option<f64>,
    /// Whether the training split has stresses (the stress term and metrics exist).
    pub stress: bool,
}

impl ForceContext {
    /// The setup of a potential trained on `set` (which must carry forces and one target, the
    /// total energy in eV): reference energies per species class by least squares over the
    /// structures' total energies, the RMS force component as the scale, and the spreads of
    /// energy per atom (after the references), force and stress components.
    pub fn fit(set: &GraphSet, weights: LossWeights, cutoff: Option<f64>) -> Result<ForceContext> {
        let forces = set.forces().ok_or_else(|| {
            Error::invalid("a potential is trained on a dataset that carries forces")
        })?;
        if set.n_targets() != 1 || set.is_empty() {
            return Err(Error::invalid(format!(
                "a potential is trained on one target, the total energy (eV), over at least one \
                 structure; the training split has {} targets ({:?}) and {} structures",
                set.n_targets(),
                set.target_names(),
                set.len()
            )));
        }
        let classes = set.species_classes().len();
        let counts: Vec<Vec<f64>> = (0..set.len())
            .map(|g| {
                let mut c = vec![0.0; classes];
                for &s in &set.species()[set.node_range(g)] {
                    c[s as usize] += 1.0;
                }
                c
            })
            .collect();
        let energies: Vec<f64> = (0..set.len())
            .map(|g| f64::from(set.targets(g)[0]))
            .collect();
        let atom_energies = least_squares(&counts, &energies);
        let mut energy_spread = 0.0;
        for g in 0..set.len() {
            let n = set.node_range(g).len() as f64;
            let reference: f64 = counts[g]
                .iter()
                .zip(&atom_energies)
                .map(|(c, e)| c * e)
                .sum();
            energy_spread += ((energies[g] - reference) / n).powi(2);
        }
        energy_spread /= set.len() as f64;
        let mean_square = |v: &mut dyn Iterator<Item = f64>| {
            let (mut sum, mut n) = (0.0, 0usize);
            for x in v {
                sum += x * x;
                n += 1;
            }
            if n == 0 { 0.0 } else { sum / n as f64 }
        };
        let force_spread = mean_square(&mut forces.iter().flatten().map(|&x| f64::from(x)));
        let (stress, known) = set.all_stress();
        let stress_spread = mean_square(
            &mut stress
                .iter()
                .zip(known)
                .filter(|(_, k)| **k)
                .flat_map(|(s, _)| s.iter().map(|&x| f64::from(x))),
        );
        let scale = if force_spread > 0.0 {
            force_spread.sqrt()
        } else {
            energy_spread.sqrt().max(1e-3)
        };
        // a spread of 0 (every label alike) would divide by zero: floored far below any label's
        let floor = |x: f64| x.max(1e-12);
        let fitted = ForceContext {
            weights,
            atom_energies,
            scale,
            spread: [
                floor(energy_spread),
                floor(force_spread),
                floor(stress_spread),
            ],
            cutoff,
            stress: set.stress_count() > 0,
        };
        fitted
            .check(classes, cutoff)
            .map_err(|e| Error::invalid(format!("the training split's labels: {e}")))?;
        Ok(fitted)
    }
}

/// The largest magnitude a potential's scale and reference energies have when training made
/// them (eV/Angstrom, eV): the RMS force component of real data is far below it, and one above
/// it is a wrong unit or a hand-edited value.
pub const MAX_SETUP_VALUE: f64 = 1e6;

impl ForceContext {
    /// Why this setup is not one training makes, if it is not: `classes` reference energies,
    /// every value finite and within [`MAX_SETUP_VALUE`], a positive scale and spreads, the
    /// `cutoff` of the rule, valid loss weights. Checked when training fits it and when
    /// `predict` reads it back.
    pub fn check(&self, classes: usize, cutoff: Option<f64>) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(m));
        if self.atom_energies.len() != classes {
            return bad(format!(
                "{} reference energies for {classes} species classes",
                self.atom_energies.len()
            ));
        }
        if let Some(e) = self
            .atom_energies
            .iter()
            .find(|e| !(e.is_finite() && e.abs() <= MAX_SETUP_VALUE))
        {
            return bad(format!(
                "a reference energy of {e:?} eV per atom, beyond the {MAX_SETUP_VALUE:e} eV that \
                 training makes"
            ));
        }
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= MAX_SETUP_VALUE) {
            return bad(format!(
                "scale = {:?}: training makes a positive scale of at most {MAX_SETUP_VALUE:e} \
                 (the RMS force component, eV/Angstrom)",
                self.scale
            ));
        }
        if let Some(s) = self.spread.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return bad(format!(
                "a label spread of {s}: training makes positive, finite ones"
            ));
        }
        if self.cutoff != cutoff {
            return bad(format!(
                "cutoff = {:?}, but the graph rule's is {cutoff:?}",
                self.cutoff
            ));
        }
        self.weights.validate()
    }
}

/// The least-squares solution `x` of `rows . x = y` (normal equations with a tiny ridge, so a
/// species that always comes with another in fixed proportion still has a solution).
fn least_squares(rows: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let k = rows.first().map_or(0, Vec::len);
    let mut a = vec![vec![0.0; k + 1]; k];
    for (row, &t) in rows.iter().zip(y) {
        for i in 0..k {
            for j in 0..k {
                a[i][j] += row[i] * row[j];
            }
            a[i][k] += row[i] * t;
        }
    }
    let trace: f64 = (0..k).map(|i| a[i][i]).sum();
    for (i, r) in a.iter_mut().enumerate() {
        r[i] += 1e-9 * trace.max(1.0);
    }
    // Gaussian elimination with partial pivoting
    for c in 0..k {
        let p = (c..k)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        a.swap(c, p);
        let d = a[c][c];
        if d == 0.0 {
            continue;
        }
        let pivot = a[c].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / d;
                for (x, p) in row.iter_mut().zip(&pivot).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    (0..k)
        .map(|i| {
            if a[i][i] == 0.0 {
                0.0
            } else {
                a[i][k] / a[i][i]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_energies_are_the_least_squares_fit() {
        // energies exactly 2 per atom of class 0 and -3 per atom of class 1
        let rows = vec![vec![1.0, 2.0], vec![3.0, 1.0], vec![2.0, 2.0]];
        let y: Vec<f64> = rows.iter().map(|r| 2.0 * r[0] - 3.0 * r[1]).collect();
        let x = least_squares(&rows, &y);
        assert!(
            (x[0] - 2.0).abs() < 1e-6 && (x[1] + 3.0).abs() < 1e-6,
            "{x:?}"
        );
    }

    #[test]
    fn weights_are_checked() {
        assert!(LossWeights::default().validate().is_ok());
        let zero = LossWeights {
            energy: 0.0,
            forces: 0.0,
            stress_written: Some(0.0),
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("every weight is 0")
        );
        let bad = LossWeights {
            forces: f64::NAN,
            ..LossWeights::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("training.loss.forces")
        );
    }
}
