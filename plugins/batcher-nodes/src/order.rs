//! The batch order of fixed batches (spec ibmb §6): stored, reshuffled every epoch, a cycle that
//! makes consecutive batches' label distributions as different as possible, or sampling the next
//! batch in proportion to its distance from the last one.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How fixed batches are ordered within an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// The order they were built in, every epoch.
    Fixed,
    /// A uniform shuffle every epoch (seeded by run seed and epoch).
    #[default]
    Rand,
    /// One cycle of maximal total symmetric-KL distance between consecutive label histograms,
    /// replayed every epoch (farthest-neighbour tour improved by 2-opt).
    Order,
    /// Next batch drawn with probability proportional to its distance from the last one.
    Sample,
}

/// Label histogram of a batch with +1 Laplace smoothing, normalised.
pub fn histogram(labels: impl Iterator<Item = i32>, classes: usize) -> Vec<f64> {
    let mut h = vec![1.0; classes.max(1)];
    for l in labels {
        if l >= 0 && (l as usize) < h.len() {
            h[l as usize] += 1.0;
        }
    }
    let s: f64 = h.iter().sum();
    h.iter_mut().for_each(|x| *x /= s);
    h
}

/// Symmetric KL distances `KL(p‖q) + KL(q‖p)` plus 1e-5 off the diagonal.
pub fn distances(hists: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let b = hists.len();
    let mut d = vec![vec![0.0; b]; b];
    for i in 0..b {
        for j in i + 1..b {
            let kl: f64 = hists[i]
                .iter()
                .zip(&hists[j])
                .map(|(&p, &q)| (p - q) * (p / q).ln())
                .sum();
            d[i][j] = kl + 1e-5;
            d[j][i] = kl + 1e-5;
        }
    }
    d
}

fn tour_length(t: &[usize], d: &[Vec<f64>]) -> f64 {
    (0..t.len()).map(|i| d[t[i]][t[(i + 1) % t.len()]]).sum()
}

/// A cycle through all batches with large total distance: farthest-neighbour construction from
/// batch 0, then 2-opt moves while any increases the total.
pub fn max_distance_cycle(d: &[Vec<f64>]) -> Vec<usize> {
    let b = d.len();
    if b <= 3 {
        return (0..b).collect();
    }
    let mut used = vec![false; b];
    let mut tour = vec![0usize];
    used[0] = true;
    while tour.len() < b {
        let last = tour[tour.len() - 1];
        let next = (0..b)
            .filter(|&j| !used[j])
            .max_by(|&x, &y| d[last][x].total_cmp(&d[last][y]).then(y.cmp(&x)))
            .unwrap_or(0);
        used[next] = true;
        tour.push(next);
    }
    let mut improved = true;
    let mut rounds = 0;
    while improved && rounds < 100 {
        improved = false;
        rounds += 1;
        for i in 0..b - 1 {
            for j in i + 2..b {
                let (a, bb) = (tour[i], tour[i + 1]);
                let (c, e) = (tour[j], tour[(j + 1) % b]);
                if a == e {
                    continue;
                }
                let gain = d[a][c] + d[bb][e] - d[a][bb] - d[c][e];
                if gain > 1e-12 {
                    tour[i + 1..=j].reverse();
                    improved = true;
                }
            }
        }
    }
    debug_assert!(tour_length(&tour, d).is_finite());
    tour
}

/// Produces each epoch's order of `b` fixed batches.
#[derive(Debug, Clone)]
pub struct Scheduler {
    order: Order,
    seed: u64,
    dist: Vec<Vec<f64>>,
    cycle: Vec<usize>,
    last: Option<usize>,
}

impl Scheduler {
    /// A scheduler for batches with the given label histograms.
    pub fn new(order: Order, hists: &[Vec<f64>], seed: u64) -> Self {
        let dist = match order {
            Order::Order | Order::Sample => distances(hists),
            _ => Vec::new(),
        };
        let cycle = match order {
            Order::Order => max_distance_cycle(&dist),
            _ => (0..hists.len()).collect(),
        };
        Scheduler {
            order,
            seed,
            dist,
            cycle,
            last: None,
        }
    }

    /// The order of epoch `epoch`.
    pub fn epoch(&mut self, epoch: u64) -> Vec<usize> {
        let b = self.cycle.len();
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        match self.order {
            Order::Fixed | Order::Order => self.cycle.clone(),
            Order::Rand => {
                let mut o: Vec<usize> = (0..b).collect();
                o.shuffle(&mut rng);
                o
            }
            Order::Sample => {
                let mut left: Vec<usize> = (0..b).collect();
                let mut out = Vec::with_capacity(b);
                while !left.is_empty() {
                    let pick = match self.last {
                        None => rng.random_range(0..left.len()),
                        Some(l) => {
                            let total: f64 = left.iter().map(|&j| self.dist[l][j]).sum();
                            let mut x = rng.random::<f64>() * total;
                            let mut k = left.len() - 1;
                            for (i, &j) in left.iter().enumerate() {
                                x -= self.dist[l][j];
                                if x <= 0.0 {
                                    k = i;
                                    break;
                                }
                            }
                            k
                        }
                    };
                    let j = left.swap_remove(pick);
                    out.push(j);
                    self.last = Some(j);
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_alternates_label_distributions() {
        // batches 0,2,4 are mostly class 0; 1,3,5 mostly class 1, built in a bad order
        let hists: Vec<Vec<f64>> = [0, 0, 0, 1, 1, 1]
            .iter()
            .map(|&c| histogram(std::iter::repeat_n(c, 50), 2))
            .collect();
        let d = distances(&hists);
        let t = max_distance_cycle(&d);
        let mut sorted = t.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..6).collect::<Vec<_>>());
        for i in 0..6 {
            let (a, b) = (t[i], t[(i + 1) % 6]);
            assert_ne!(
                a < 3,
                b < 3,
                "consecutive batches {a},{b} share a label distribution: {t:?}"
            );
        }
        let mut s = Scheduler::new(Order::Sample, &hists, 1);
        for e in 0..3 {
            let mut o = s.epoch(e);
            o.sort_unstable();
            assert_eq!(o, (0..6).collect::<Vec<_>>());
        }
        let mut r = Scheduler::new(Order::Rand, &hists, 1);
        assert_ne!(r.epoch(0), r.epoch(1));
        assert_eq!(r.epoch(2), r.epoch(2));
    }
}
