//! Seeded parameter initialisation, generated on the host so every backend starts from the same
//! numbers.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A seeded source of initial parameter values.
#[derive(Debug, Clone)]
pub struct ParamInit {
    rng: ChaCha8Rng,
}

impl ParamInit {
    /// A source seeded with the run's seed.
    pub fn new(seed: u64) -> Self {
        ParamInit {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// `n` draws of a normal with standard deviation `std`, truncated at two standard deviations
    /// (Haiku's `TruncatedNormal`, the study's weight initialiser with std = 1/sqrt(fan_in)).
    pub fn truncated_normal(&mut self, n: usize, std: f64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                loop {
                    let z: f64 = StandardNormal.sample(&mut self.rng);
                    if z.abs() <= 2.0 {
                        break (z * std) as f32;
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_normal_is_seeded_and_bounded() {
        let a = ParamInit::new(1).truncated_normal(10_000, 0.5);
        assert_eq!(a, ParamInit::new(1).truncated_normal(10_000, 0.5));
        assert!(a.iter().all(|x| x.abs() <= 1.0));
        let mean = a.iter().map(|&x| f64::from(x)).sum::<f64>() / a.len() as f64;
        let sd = (a
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / a.len() as f64)
            .sqrt();
        // a normal truncated at 2 sd keeps 0.8796 of the untruncated sd
        assert!(
            mean.abs() < 0.02 && (sd - 0.5 * 0.8796).abs() < 0.01,
            "mean {mean}, sd {sd}"
        );
    }
}
