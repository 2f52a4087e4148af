//! A seeded stochastic block model with class-correlated Gaussian features, any size.
//!
//! Nodes are assigned uniformly to `communities`; community `c` has class `c % classes`. Each of
//! the `nodes x avg_degree / 2` undirected edges starts at a uniform node and ends, with
//! probability `homophily`, at a uniform node of the same community, otherwise at a uniform node
//! of the whole graph. Features are the class mean (drawn once, `N(0, signal²)` per dimension)
//! plus `N(0, 1)` noise.

use geobatch_core::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Generator settings (the `sbm` dataset's defaults in brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct SbmParams {
    /// Nodes [10,000].
    pub nodes: usize,
    /// Classes [8].
    pub classes: usize,
    /// Communities (blocks); 0 means one per class [0].
    pub communities: usize,
    /// Mean degree (both directions counted once per edge end) [10].
    pub avg_degree: f64,
    /// Probability that an edge stays inside its community [0.8].
    pub homophily: f64,
    /// Features per node [16].
    pub features: usize,
    /// Standard deviation of the class means (feature signal against unit noise) [0.3].
    pub signal: f64,
}

/// Below this chance that an attempt makes an edge, generation is refused rather than slow.
const MIN_EDGE_CHANCE: f64 = 1e-3;

/// A generated graph before pre-processing.
#[derive(Debug, Clone)]
pub struct SbmGraph {
    /// Undirected edges, one direction each.
    pub edges: Vec<(u32, u32)>,
    /// Row-major features.
    pub features: Vec<f32>,
    /// Class of every node.
    pub labels: Vec<i32>,
}

impl SbmParams {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.nodes < 2 || self.nodes > u32::MAX as usize {
            return Err(Error::invalid(format!(
                "nodes = {}: must lie in 2..2^32",
                self.nodes
            )));
        }
        if self.classes < 2 {
            return Err(Error::invalid("classes must be at least 2"));
        }
        if self.communities != 0 && self.communities < self.classes {
            return Err(Error::invalid(format!(
                "communities = {}: must be 0 (one per class) or at least classes = {}",
                self.communities, self.classes
            )));
        }
        if self.avg_degree.is_nan()
            || self.avg_degree <= 0.0
            || self.avg_degree >= self.nodes as f64
        {
            return Err(Error::invalid(
                "avg_degree must be positive and below nodes",
            ));
        }
        if !(0.0..=1.0).contains(&self.homophily) {
            return Err(Error::invalid("homophily must lie in [0, 1]"));
        }
        if !self.signal.is_finite() {
            return Err(Error::invalid("signal must be a finite number"));
        }
        if self.features == 0 {
            return Err(Error::invalid("features must be at least 1"));
        }
        Ok(())
    }

    /// Generates the graph from `seed`.
    pub fn generate(&self, seed: u64) -> Result<SbmGraph> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = self.nodes;
        let blocks = if self.communities == 0 {
            self.classes
        } else {
            self.communities
        };
        let community: Vec<u32> = (0..n).map(|_| rng.random_range(0..blocks as u32)).collect();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); blocks];
        for (v, &c) in community.iter().enumerate() {
            members[c as usize].push(v as u32);
        }
        // an attempt draws a self pair when the partner is u itself: with every node alone in its
        // community and homophily 1 that is every attempt, and the loop below would never end
        let success = (1.0 - self.homophily) * (1.0 - 1.0 / n as f64)
            + self.homophily
                * community
                    .iter()
                    .map(|&c| {
                        let size = members[c as usize].len() as f64;
                        (size - 1.0) / size
                    })
                    .sum::<f64>()
                / n as f64;
        if success < MIN_EDGE_CHANCE {
            return Err(Error::invalid(format!(
                "homophily = {} with {blocks} communities for {n} nodes leaves almost no node a \
                 partner in its own community (an attempt makes an edge with probability \
                 {success:.2e}): lower homophily or use fewer communities",
                self.homophily
            )));
        }
        let m = (n as f64 * self.avg_degree / 2.0).round() as usize;
        let mut edges = Vec::with_capacity(m);
        while edges.len() < m {
            let u = rng.random_range(0..n as u32);
            let v = if rng.random::<f64>() < self.homophily {
                let block = &members[community[u as usize] as usize];
                block[rng.random_range(0..block.len())]
            } else {
                rng.random_range(0..n as u32)
            };
            if u != v {
                edges.push((u, v));
            }
        }
        let f = self.features;
        let means: Vec<f32> = (0..self.classes * f)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                (z * self.signal) as f32
            })
            .collect();
        let labels: Vec<i32> = community
            .iter()
            .map(|&c| (c as usize % self.classes) as i32)
            .collect();
        let mut features = Vec::with_capacity(n * f);
        for &l in &labels {
            let mu = &means[l as usize * f..(l as usize + 1) * f];
            for &m in mu {
                let z: f32 = StandardNormal.sample(&mut rng);
                features.push(m + z);
            }
        }
        Ok(SbmGraph {
            edges,
            features,
            labels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_homophily_and_seeds() {
        let p = SbmParams {
            nodes: 2000,
            classes: 4,
            communities: 8,
            avg_degree: 6.0,
            homophily: 0.9,
            features: 3,
            signal: 1.0,
        };
        let g = p.generate(1).unwrap();
        assert_eq!(g.edges.len(), 6000);
        assert_eq!(g.features.len(), 6000);
        assert!(g.labels.iter().all(|&l| (0..4).contains(&l)));
        let same = g
            .edges
            .iter()
            .filter(|(a, b)| g.labels[*a as usize] == g.labels[*b as usize])
            .count() as f64
            / 6000.0;
        // 0.9 inside the community, plus a quarter of the random tenth lands on the same class
        assert!((same - (0.9 + 0.1 * 0.25)).abs() < 0.02, "{same}");
        assert_eq!(p.generate(1).unwrap().edges, g.edges);
        assert_ne!(p.generate(2).unwrap().edges, g.edges);
        assert!(
            SbmParams {
                homophily: 1.5,
                ..p
            }
            .validate()
            .is_err()
        );
        // every node alone in its community and homophily 1: no attempt can make an edge, and
        // generation used to loop forever
        let e = SbmParams {
            nodes: 3,
            communities: 100_000,
            avg_degree: 2.0,
            homophily: 1.0,
            ..p
        }
        .generate(1)
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("lower homophily or use fewer communities"),
            "{e}"
        );
        assert!(
            SbmParams {
                signal: f64::NAN,
                ..p
            }
            .validate()
            .is_err()
        );
    }
}
