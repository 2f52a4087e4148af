//! Seeded train/validation/test splits by fractions or counts.

use crate::error::{Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The size of one split: a fraction of the dataset (a float) or a number of graphs (an integer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    /// A number of graphs.
    Count(u64),
    /// A fraction in [0, 1].
    Fraction(f64),
}

impl Amount {
    /// The number of items out of `n`; `key` names the option in errors.
    pub fn resolve(self, n: usize, key: &str) -> Result<usize> {
        match self {
            Amount::Count(c) => Ok(c as usize),
            Amount::Fraction(f) if (0.0..=1.0).contains(&f) => Ok((f * n as f64).round() as usize),
            Amount::Fraction(f) => Err(Error::invalid(format!(
                "split.{key} = {f}: a fraction must lie in [0, 1] (write an integer for a count)"
            ))),
        }
    }
}

/// How a dataset is cut into splits. Config: `split = { train = 0.8, validation = 0.1, test = 0.1 }`
/// or counts such as `{ train = 1000, validation = 100, test = 100 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    /// Training split size.
    pub train: Amount,
    /// Validation split size.
    pub validation: Amount,
    /// Test split size.
    pub test: Amount,
    /// Seed of the split's shuffle; the run's seed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            train: Amount::Fraction(0.8),
            validation: Amount::Fraction(0.1),
            test: Amount::Fraction(0.1),
            seed: None,
        }
    }
}

impl SplitSpec {
    /// Cuts `0..n` into (train, validation, test) index lists after a seeded shuffle.
    pub fn indices(&self, n: usize, run_seed: u64) -> Result<[Vec<u32>; 3]> {
        let sizes = self.sizes(n)?;
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            self.seed.unwrap_or(run_seed),
        ));
        let train = order[..sizes[0]].to_vec();
        let val = order[sizes[0]..sizes[0] + sizes[1]].to_vec();
        let test = order[sizes[0] + sizes[1]..sizes[0] + sizes[1] + sizes[2]].to_vec();
        Ok([train, val, test])
    }

    /// The (train, validation, test) sizes out of `n` graphs.
    pub fn sizes(&self, n: usize) -> Result<[usize; 3]> {
        let sizes = [
            self.train.resolve(n, "train")?,
            self.validation.resolve(n, "validation")?,
            self.test.resolve(n, "test")?,
        ];
        let total: usize = sizes.iter().sum();
        // Fractions that round up past n give their excess back to the test split.
        let fractions_only = [self.train, self.validation, self.test]
            .iter()
            .all(|a| matches!(a, Amount::Fraction(_)));
        let mut sizes = sizes;
        if total > n {
            if fractions_only && total - n <= 2 {
                sizes[2] -= total - n;
            } else {
                return Err(Error::invalid(format!(
                    "split asks for {total} graphs ({} + {} + {}) but the dataset has {n}",
                    sizes[0], sizes[1], sizes[2]
                )));
            }
        }
        Ok(sizes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_cover_the_dataset_disjointly() {
        let [a, b, c] = SplitSpec::default().indices(1001, 42).unwrap();
        assert_eq!((a.len(), b.len(), c.len()), (801, 100, 100));
        let mut all: Vec<u32> = a.iter().chain(&b).chain(&c).copied().collect();
        all.sort();
        assert_eq!(all, (0..1001).collect::<Vec<_>>());
        assert_eq!(SplitSpec::default().indices(1001, 42).unwrap()[0], a);
        assert_ne!(SplitSpec::default().indices(1001, 43).unwrap()[0], a);
    }

    #[test]
    fn counts_are_exact_and_checked() {
        let spec = SplitSpec {
            train: Amount::Count(10),
            validation: Amount::Count(5),
            test: Amount::Count(5),
            seed: Some(1),
        };
        let [a, b, c] = spec.indices(30, 0).unwrap();
        assert_eq!((a.len(), b.len(), c.len()), (10, 5, 5));
        let err = spec.indices(19, 0).unwrap_err().to_string();
        assert!(err.contains("asks for 20 graphs"), "{err}");
    }
}
