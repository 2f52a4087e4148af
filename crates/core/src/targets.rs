//! Target standardisation statistics.

use crate::graph::GraphSet;
use serde::{Deserialize, Serialize};

/// Mean and population standard deviation of one target over a split (numpy's default `std`),
/// used to standardise labels: `y' = (y - mean) / std`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetStats {
    /// Mean over the split's graphs.
    pub mean: f64,
    /// Population standard deviation over the split's graphs (1 when the targets are constant).
    pub std: f64,
}

impl TargetStats {
    /// Statistics of every target of `set` (normally the training split), in f64.
    pub fn of(set: &GraphSet) -> Vec<TargetStats> {
        let t = set.n_targets();
        let n = set.len().max(1) as f64;
        (0..t)
            .map(|k| {
                let values = || (0..set.len()).map(move |g| f64::from(set.targets(g)[k]));
                let mean = values().sum::<f64>() / n;
                let var = values().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
                let std = var.sqrt();
                TargetStats {
                    mean,
                    std: if std > 0.0 { std } else { 1.0 },
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GraphRule, GraphSetBuilder};

    #[test]
    fn population_std_as_numpy() {
        let mut b = GraphSetBuilder::new(vec!["y".into(), "c".into()]);
        for (i, y) in [1.0f32, 2.0, 3.0, 4.0].iter().enumerate() {
            b.push(&i.to_string(), &[1], &[[0.0; 3]], None, &[*y, 5.0])
                .unwrap();
        }
        let s = TargetStats::of(&b.build(&GraphRule::Full, None).unwrap());
        assert_eq!(s[0].mean, 2.5);
        assert!((s[0].std - 1.25f64.sqrt()).abs() < 1e-12); // numpy.std([1,2,3,4]) = 1.1180
        assert_eq!(
            s[1],
            TargetStats {
                mean: 5.0,
                std: 1.0
            }
        );
    }
}
