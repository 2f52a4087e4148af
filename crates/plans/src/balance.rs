//! How evenly a distributed epoch's steps share out the work: at every step all ranks wait for
//! the one with the most (DDP's all-reduce), so a step takes as long as its slowest rank.

use crate::Plans;
use geobatch_core::error::{Error, Result};
use geobatch_core::stats::{mean, quantile};

/// The balance of the ranks' shares of one or more epochs (each rank's plans, step by step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Balance {
    /// Steps (batches per rank), over every epoch.
    pub steps: usize,
    /// Epochs pooled.
    pub epochs: u64,
    /// The slowest rank's real edges over the step's mean, averaged over the steps (1 is
    /// perfect balance; what a step of an engine that takes every batch's own shape waits for).
    pub slowest_mean: f64,
    /// The same ratio's 95th percentile over the steps.
    pub slowest_p95: f64,
    /// Padded edges over real edges, less one, over every rank's batches (0 without padding).
    pub padding: f64,
    /// Graph samples per epoch dealt beyond the first copy of each graph (made to even out the
    /// ranks).
    pub repeated: f64,
    /// Graphs per epoch in no rank's batch.
    pub dropped: f64,
}

/// The balance of `shares` (one plan per rank, as many steps each) of one epoch of a set of
/// `graphs` graphs.
pub fn balance(shares: &[Plans], graphs: usize) -> Result<Balance> {
    let mut pooled = Pooled::default();
    pooled.add(shares, graphs)?;
    Ok(pooled.balance())
}

/// Epochs' shares pooled into one [`Balance`]: the steps' ratios of every epoch, the samples
/// repeated and dropped counted per epoch.
#[derive(Debug, Clone, Default)]
pub struct Pooled {
    ratios: Vec<f64>,
    real: u64,
    padded: u64,
    repeated: usize,
    dropped: usize,
    epochs: u64,
}

impl Pooled {
    /// Adds one epoch: `shares` (one plan per rank, as many steps each) of `graphs` graphs.
    pub fn add(&mut self, shares: &[Plans], graphs: usize) -> Result<()> {
        let steps = shares.first().map_or(0, Plans::len);
        if let Some((r, p)) = shares.iter().enumerate().find(|(_, p)| p.len() != steps) {
            return Err(Error::invalid(format!(
                "rank {r} has {} steps and rank 0 {steps}: every rank must take as many",
                p.len()
            )));
        }
        self.ratios.extend((0..steps).map(|s| {
            let edges: Vec<f64> = shares
                .iter()
                .map(|p| p.real_shape(s).edges as f64)
                .collect();
            let m = mean(&edges);
            let most = edges.iter().copied().fold(0.0, f64::max);
            if m > 0.0 { most / m } else { 1.0 }
        }));
        let mut samples = 0usize;
        let mut seen = vec![false; graphs];
        for p in shares {
            for b in 0..p.len() {
                self.real += p.real_shape(b).edges as u64;
                self.padded += p.padded_shape(b).edges as u64;
                for &g in p.batch(b) {
                    samples += 1;
                    if let Some(flag) = usize::try_from(g).ok().and_then(|g| seen.get_mut(g)) {
                        *flag = true;
                    }
                }
            }
        }
        let distinct = seen.iter().filter(|&&x| x).count();
        self.repeated += samples - distinct;
        self.dropped += graphs - distinct;
        self.epochs += 1;
        Ok(())
    }

    /// Steps per rank pooled so far.
    pub fn steps(&self) -> usize {
        self.ratios.len()
    }

    /// The balance of the epochs added.
    pub fn balance(&self) -> Balance {
        let mut ratios = self.ratios.clone();
        ratios.sort_by(f64::total_cmp);
        let per_epoch = |n: usize| n as f64 / self.epochs.max(1) as f64;
        Balance {
            steps: ratios.len(),
            epochs: self.epochs,
            slowest_mean: if ratios.is_empty() {
                1.0
            } else {
                mean(&ratios)
            },
            slowest_p95: quantile(&ratios, 0.95).unwrap_or(1.0),
            padding: if self.real > 0 {
                self.padded as f64 / self.real as f64 - 1.0
            } else {
                0.0
            },
            repeated: per_epoch(self.repeated),
            dropped: per_epoch(self.dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geobatch_core::Shape;

    #[test]
    fn the_slowest_rank_padding_repeats_and_drops_are_counted() {
        // two ranks, two steps: step 0 edges 30 / 10 (slowest 1.5 of the mean), step 1 20 / 20
        let mut a = Plans::default();
        let mut b = Plans::default();
        a.push(&[0, 1], Shape::new(4, 30, 2), Shape::new(4, 40, 2), false);
        b.push(&[2], Shape::new(2, 10, 1), Shape::new(4, 40, 2), false);
        a.push(&[3], Shape::new(2, 20, 1), Shape::new(4, 20, 2), false);
        b.push(&[3], Shape::new(2, 20, 1), Shape::new(4, 20, 2), true);
        let bal = balance(&[a.clone(), b.clone()], 6).unwrap();
        assert_eq!(bal.steps, 2);
        assert!((bal.slowest_mean - 1.25).abs() < 1e-12, "{bal:?}");
        assert!((bal.slowest_p95 - 1.5).abs() < 1e-12);
        assert!((bal.padding - (120.0 / 80.0 - 1.0)).abs() < 1e-12);
        assert_eq!(
            (bal.repeated, bal.dropped),
            (1.0, 2.0),
            "graph 3 twice; 4 and 5 never"
        );
        // a second epoch pools its steps and counts its samples per epoch
        let mut pooled = Pooled::default();
        for _ in 0..2 {
            pooled.add(&[a.clone(), b.clone()], 6).unwrap();
        }
        let two = pooled.balance();
        assert_eq!((two.steps, two.epochs, two.repeated), (4, 2, 1.0));
        assert_eq!(two.slowest_mean, bal.slowest_mean);
        let e = balance(&[a, Plans::default()], 6).unwrap_err().to_string();
        assert!(e.contains("rank 1 has 0 steps and rank 0 2"), "{e}");
    }
}
