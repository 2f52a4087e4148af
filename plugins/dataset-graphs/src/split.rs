//! Node splits: seeded per-class (Planetoid-style) or proportional draws of labelled nodes.

use geobatch_core::{Amount, Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How output nodes are drawn from the labelled nodes.
///
/// With `train_per_class` (default 20), the training set holds that many nodes of every class
/// (Planetoid-style); otherwise `train` is a fraction or count. `validation` and `test` are
/// fractions or counts of the labelled nodes left after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSplitSpec {
    /// Training nodes per class (Planetoid-style); excludes `train`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_per_class: Option<usize>,
    /// Training nodes as a fraction or count of the labelled nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<Amount>,
    /// Validation nodes.
    pub validation: Amount,
    /// Test nodes.
    pub test: Amount,
    /// Seed of the draw (default: the run's seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Default for NodeSplitSpec {
    fn default() -> Self {
        NodeSplitSpec {
            train_per_class: Some(20),
            train: None,
            validation: Amount::Count(500),
            test: Amount::Count(1000),
            seed: None,
        }
    }
}

impl NodeSplitSpec {
    /// Proportional split with the given fractions.
    pub fn fractions(train: f64, validation: f64, test: f64) -> Self {
        NodeSplitSpec {
            train_per_class: None,
            train: Some(Amount::Fraction(train)),
            validation: Amount::Fraction(validation),
            test: Amount::Fraction(test),
            seed: None,
        }
    }

    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        match (self.train_per_class, &self.train) {
            (Some(_), Some(_)) => Err(Error::invalid(
                "split: give either train_per_class or train, not both",
            )),
            (None, None) => Err(Error::invalid("split: give train_per_class or train")),
            (Some(0), _) => Err(Error::invalid("split.train_per_class must be at least 1")),
            _ => Ok(()),
        }
    }

    /// Draws the three node sets from `labels` (nodes with label `< 0` are never drawn).
    pub fn draw(&self, labels: &[i32], run_seed: u64) -> Result<[Vec<u32>; 3]> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.unwrap_or(run_seed));
        let mut pool: Vec<u32> = (0..labels.len() as u32)
            .filter(|&v| labels[v as usize] >= 0)
            .collect();
        pool.shuffle(&mut rng);
        let labelled = pool.len();
        let mut train = Vec::new();
        if let Some(k) = self.train_per_class {
            // counted by label as met, not in a table as long as the largest label (one label
            // of 2e9 would ask 16 GB before the labels are checked)
            let mut taken: std::collections::HashMap<i32, usize> = std::collections::HashMap::new();
            let mut rest = Vec::with_capacity(pool.len());
            for v in pool {
                let taken = taken.entry(labels[v as usize]).or_insert(0);
                if *taken < k {
                    *taken += 1;
                    train.push(v);
                } else {
                    rest.push(v);
                }
            }
            pool = rest;
        } else if let Some(t) = &self.train {
            let n = t.resolve(labelled, "train")?.min(pool.len());
            train = pool.drain(..n).collect();
        }
        let nv = self.validation.resolve(labelled, "validation")?;
        let nt = self.test.resolve(labelled, "test")?;
        if nv + nt > pool.len() {
            return Err(Error::invalid(format!(
                "split: {nv} validation + {nt} test nodes requested, but only {} labelled nodes \
                 are left after {} training nodes",
                pool.len(),
                train.len()
            )));
        }
        let validation: Vec<u32> = pool.drain(..nv).collect();
        let test: Vec<u32> = pool.drain(..nt).collect();
        let mut out = [train, validation, test];
        for s in &mut out {
            s.sort_unstable();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_draws_are_disjoint_balanced_and_seeded() {
        let labels: Vec<i32> = (0..300)
            .map(|i| if i % 10 == 9 { -1 } else { i % 3 })
            .collect();
        let spec = NodeSplitSpec {
            train_per_class: Some(5),
            train: None,
            validation: Amount::Count(30),
            test: Amount::Count(60),
            seed: None,
        };
        let [tr, va, te] = spec.draw(&labels, 7).unwrap();
        assert_eq!((tr.len(), va.len(), te.len()), (15, 30, 60));
        for c in 0..3 {
            assert_eq!(tr.iter().filter(|&&v| labels[v as usize] == c).count(), 5);
        }
        let mut all: Vec<u32> = tr.iter().chain(&va).chain(&te).copied().collect();
        assert!(all.iter().all(|&v| labels[v as usize] >= 0));
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 105);
        assert_eq!(spec.draw(&labels, 7).unwrap()[1], va);
        assert_ne!(spec.draw(&labels, 8).unwrap()[1], va);
        let too_many = NodeSplitSpec {
            test: Amount::Count(10_000),
            ..spec
        };
        assert!(
            too_many
                .draw(&labels, 7)
                .unwrap_err()
                .to_string()
                .contains("10000 test")
        );
    }
}
