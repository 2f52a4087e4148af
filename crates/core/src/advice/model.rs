//! The cost model fitted to the probes: a shape's steady time (its own mean, or a plane in padded
//! nodes and edges), the cost of a new shape and of a warm-up step.

use super::Probe;
use crate::stats::mean;
use std::collections::{HashMap, HashSet};

/// A padded shape: nodes, edges, graphs.
pub type ShapeKey = [u32; 3];

/// Steady steps of a shape needed before its own mean is trusted over the fitted plane.
pub const MIN_SAMPLES: usize = 3;

/// A mean and how many values it is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sampled {
    /// The mean (0 without samples).
    pub mean: f64,
    /// Samples behind it.
    pub samples: usize,
}

impl Sampled {
    fn of(v: &[f64]) -> Self {
        Sampled {
            mean: if v.is_empty() { 0.0 } else { mean(v) },
            samples: v.len(),
        }
    }
}

/// Steady time as a plane in padded nodes and edges: `ms = a + b nodes + c edges`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plane {
    /// Intercept (ms).
    pub a: f64,
    /// Per padded node (ms).
    pub b: f64,
    /// Per padded edge (ms).
    pub c: f64,
}

impl Plane {
    /// Least squares over `(nodes, edges, ms)`; a line in the one that varies when the two move
    /// together (or only one of them varies), the mean when neither does.
    pub fn fit(points: &[(f64, f64, f64)]) -> Plane {
        let n = points.len() as f64;
        if points.is_empty() {
            return Plane {
                a: 0.0,
                b: 0.0,
                c: 0.0,
            };
        }
        let (mx, my, mt) = points.iter().fold((0.0, 0.0, 0.0), |(x, y, t), p| {
            (x + p.0 / n, y + p.1 / n, t + p.2 / n)
        });
        let (mut sxx, mut syy, mut sxy, mut sxt, mut syt) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(x, y, t) in points {
            let (dx, dy, dt) = (x - mx, y - my, t - mt);
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
            sxt += dx * dt;
            syt += dy * dt;
        }
        let det = sxx * syy - sxy * sxy;
        let (b, c) = if sxx > 0.0 && syy > 0.0 && det > 1e-6 * sxx * syy {
            ((sxt * syy - syt * sxy) / det, (syt * sxx - sxt * sxy) / det)
        } else if syy > 0.0 {
            (0.0, syt / syy)
        } else if sxx > 0.0 {
            (sxt / sxx, 0.0)
        } else {
            (0.0, 0.0)
        };
        Plane {
            a: mt - b * mx - c * my,
            b,
            c,
        }
    }

    /// The plane's time of a shape, never below zero.
    pub fn at(&self, s: ShapeKey) -> f64 {
        (self.a + self.b * f64::from(s[0]) + self.c * f64::from(s[1])).max(0.0)
    }
}

/// Step times of the probes, pooled: what a shape, a compile and the warm-up cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    shapes: HashMap<ShapeKey, Sampled>,
    /// The plane for shapes without [`MIN_SAMPLES`] steady steps.
    pub plane: Plane,
    /// Excess of a step meeting a new shape after the first step (ms).
    pub compile: Sampled,
    /// Excess of a warm-up step (ms).
    pub warmup: Sampled,
}

impl CostModel {
    /// Fits the model to the probes' step records.
    pub fn fit(probes: &[&Probe]) -> CostModel {
        let mut by_shape: HashMap<ShapeKey, Vec<f64>> = HashMap::new();
        let mut points = Vec::new();
        for s in probes {
            for i in (0..s.len()).filter(|&i| s.is_steady(i)) {
                by_shape.entry(s.shape[i]).or_default().push(s.ms[i]);
                points.push((f64::from(s.shape[i][0]), f64::from(s.shape[i][1]), s.ms[i]));
            }
        }
        let mut model = CostModel {
            shapes: by_shape
                .into_iter()
                .map(|(k, v)| (k, Sampled::of(&v)))
                .collect(),
            plane: Plane::fit(&points),
            compile: Sampled::default(),
            warmup: Sampled::default(),
        };
        let (mut compile, mut warmup) = (Vec::new(), Vec::new());
        for s in probes {
            for i in 1..s.len() {
                let excess = s.ms[i] - model.steady_ms(s.shape[i]);
                if s.cold[i] {
                    compile.push(excess);
                } else if s.warmup[i] {
                    warmup.push(excess);
                }
            }
        }
        model.compile = Sampled::of(&compile);
        model.warmup = Sampled::of(&warmup);
        model
    }

    /// Steady time of a padded shape (ms).
    pub fn steady_ms(&self, s: ShapeKey) -> f64 {
        match self.shapes.get(&s) {
            Some(m) if m.samples >= MIN_SAMPLES => m.mean,
            _ => self.plane.at(s),
        }
    }

    /// Excess of a probe's first step over its shape's steady time (ms).
    pub fn first_excess(&self, probe: &Probe) -> f64 {
        if probe.is_empty() {
            0.0
        } else {
            probe.ms[0] - self.steady_ms(probe.shape[0])
        }
    }

    /// Predicted time of every step of a planned run (ms): `padded` its shapes in order,
    /// `first_excess` the start-up of its first step, `warmup` its warm-up step count.
    pub fn step_times(&self, padded: &[ShapeKey], first_excess: f64, warmup: u64) -> Vec<f64> {
        let mut seen = HashSet::new();
        padded
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let new = seen.insert(s);
                let base = self.steady_ms(s);
                if i == 0 {
                    base + first_excess
                } else if new {
                    base + self.compile.mean
                } else if (i as u64) < warmup {
                    base + self.warmup.mean
                } else {
                    base
                }
            })
            .collect()
    }
}
