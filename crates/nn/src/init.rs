//! Seeded parameter initialisation, generated on the host so every backend starts from the same
//! numbers.

use rand::{Rng, SeedableRng};
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

    /// `n` draws of Xavier (Glorot) uniform on `[-l, l]`, `l = sqrt(6 / (fan_in + fan_out))`
    /// (Haiku's `VarianceScaling(1, "fan_avg", "uniform")`, PaiNN's initialiser).
    pub fn xavier_uniform(&mut self, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
        let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
        (0..n)
            .map(|_| ((2.0 * self.rng.random::<f64>() - 1.0) * limit) as f32)
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

    #[test]
    fn xavier_uniform_is_bounded_by_the_fan_average() {
        let a = ParamInit::new(2).xavier_uniform(20_000, 20, 2304);
        let limit = (6.0f64 / 2324.0).sqrt() as f32;
        assert!(a.iter().all(|x| x.abs() <= limit));
        let max = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(max > 0.99 * limit);
        let var = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / a.len() as f64;
        // uniform on [-l, l] has variance l^2 / 3 = 2 / (fan_in + fan_out)
        assert!((var - 2.0 / 2324.0).abs() < 0.05 * 2.0 / 2324.0, "{var}");
    }
}
