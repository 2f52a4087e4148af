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
