//! The cost model fitted to the probes: a shape's steady time (its own mean, or a plane in padded
//! nodes and edges), the cost of a new shape (by how many of its dimensions are new to the run)
//! and of a warm-up step.

use super::Probe;
use geobatch_core::stats::mean;
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

/// How many of a padded shape's dimensions (nodes, edges, graphs) a run meets for the first
/// time with it, recording them in `seen`.
///
/// Why it matters: a compiler that keeps the kernels it made by their source (inductor's code
/// cache) compiles again only the kernels of a shape's new dimensions. Measured under
/// `torch.compile` (PyG SchNet, QM9, static-64, 400 steps): a new shape with new node and edge
/// counts 37 s, a new edge count alone 17 s, neither (a new combination) 12 s. XLA compiles a
/// whole program per shape, and its classes cost about the same.
pub fn new_dims(seen: &mut [HashSet<u32>; 3], s: ShapeKey) -> usize {
    // every dimension is recorded: no short-circuit
    (0..3).map(|d| usize::from(seen[d].insert(s[d]))).sum()
}

/// Which steps of `padded` meet a new shape, and how many of its dimensions are new then
/// (`None`: a shape met before).
pub fn novelty(padded: &[ShapeKey]) -> Vec<Option<usize>> {
    let (mut shapes, mut seen) = (HashSet::new(), <[HashSet<u32>; 3]>::default());
    padded
        .iter()
        .map(|&s| {
            let dims = new_dims(&mut seen, s);
            shapes.insert(s).then_some(dims)
        })
        .collect()
}

/// Step times of the probes, pooled: what a shape, a compile and the warm-up cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    shapes: HashMap<ShapeKey, Sampled>,
    /// The plane for shapes without [`MIN_SAMPLES`] steady steps.
    pub plane: Plane,
    /// Excess of a step meeting a new shape after the first step (ms), all such steps.
    pub compile: Sampled,
    /// The same by how many of the new shape's dimensions were new to its run (0 to 3; see
    /// [`new_dims`]).
    pub compile_by_new: [Sampled; 4],
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
            compile_by_new: Default::default(),
            warmup: Sampled::default(),
        };
        let (mut compile, mut warmup) = (Vec::new(), Vec::new());
        let mut by_new: [Vec<f64>; 4] = Default::default();
        for s in probes {
            // each probe is a run of its own: its dimensions are new to it from its first step
            let mut seen = <[HashSet<u32>; 3]>::default();
            for i in 0..s.len() {
                let dims = new_dims(&mut seen, s.shape[i]);
                if i == 0 {
                    continue;
                }
                let excess = s.ms[i] - model.steady_ms(s.shape[i]);
                if s.cold[i] {
                    compile.push(excess);
                    by_new[dims].push(excess);
                } else if s.warmup[i] {
                    warmup.push(excess);
                }
            }
        }
        model.compile = Sampled::of(&compile);
        model.compile_by_new = by_new.map(|v| Sampled::of(&v));
        model.warmup = Sampled::of(&warmup);
        model
    }

    /// The cost of a new shape with `dims` dimensions new to the run (ms): the mean of the probes'
    /// new shapes with as many new dimensions, else of the nearest count that has samples (the
    /// larger on a tie), else of all of them.
    pub fn compile_ms(&self, dims: usize) -> f64 {
        let classes = &self.compile_by_new;
        (0..classes.len())
            .flat_map(|d| [dims.checked_add(d), dims.checked_sub(d)])
            .flatten()
            .filter_map(|c| classes.get(c))
            .find(|c| c.samples > 0)
            .map_or(self.compile.mean, |c| c.mean)
    }

    /// The predicted compile cost of every new shape of `padded` after the first step (ms).
    pub fn compile_total(&self, padded: &[ShapeKey]) -> f64 {
        novelty(padded)
            .iter()
            .skip(1)
            .flatten()
            .map(|&d| self.compile_ms(d))
            // from +0.0: an empty sum is 0, not the -0.0 `Sum` starts from
            .fold(0.0, |total, ms| total + ms)
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
        padded
            .iter()
            .zip(novelty(padded))
            .enumerate()
            .map(|(i, (&s, new))| {
                let base = self.steady_ms(s);
                if i == 0 {
                    base + first_excess
                } else if let Some(dims) = new {
                    base + self.compile_ms(dims)
                } else if (i as u64) < warmup {
                    base + self.warmup.mean
                } else {
                    base
                }
            })
            .collect()
    }
}
