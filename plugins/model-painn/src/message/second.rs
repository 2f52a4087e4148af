//! The block's second-order kernels on the CPU: the backward pass of one gradient of its backward
//! pass. With `G` the output gradient, per edge (sender i, receiver j) and feature k,
//! `gm0 = G_s[i]`, `gm1 = Σ_c G_c[i] dir_c`, `gm2 = Σ_c G_c[i] v_c[j]`, and the backward pass
//! `gw = gm ⊙ x_j`, `gx_j = Σ gm ⊙ w`, `gv_c[j] = Σ w2 x2_j G_c[i]`, `gdir_c = Σ_k G_c[i] w1 x1_j`.
//! Given the cotangent `a` of one of them, the gradients by `G`, `w`, `x`, `v` and the directions
//! are, for `gw` (p = a_e, q = x_j) and `gx` (p = a_j, q = w_e), which share one form:
//!
//! * `dG_s[i] += p0 q0`, `dG_c[i] += p1 q1 dir_c + p2 q2 v_c[j]`;
//! * `ddir_c = Σ_k p1 q1 G_c[i]`, `dv_c[j] += p2 q2 G_c[i]`;
//! * `p ⊙ gm` into `dx_j` (for `gw`) or `dw_e` (for `gx`);
//!
//! for `gv` (block 2, `r = Σ_c a_c[j] G_c[i]`) and `gdir` (block 1, `r = Σ_c a_c G_c[i]`):
//! `dG_c[i] += w x a_c`, `dw_e = x_j r`, `dx_j += w r` in that block.
//!
//! Per-edge results are written by chunks of edges in parallel; sums into senders and receivers
//! by kernel threads that own ranges of them, each adding in edge order: the same bits on any
//! number of threads.

use super::{
    BackwardInputs, MessageInputs, Part, dense, dense_int, per_edge, ranges, split_some, zeros,
};
use burn::tensor::TensorMetadata;
use burn_flex::FlexTensor;
use rayon::prelude::*;

/// The gradients the second-order kernel writes, each into a zeroed buffer where asked for.
#[derive(Debug, Default)]
pub struct SecondOut<'a> {
    /// By the output gradient `[4N, F]`.
    pub dg: Option<&'a mut [f32]>,
    /// By the filters `[E, 3F]`.
    pub dw: Option<&'a mut [f32]>,
    /// By the node messages `[N, 3F]`.
    pub dx: Option<&'a mut [f32]>,
    /// By the vector features `[3N, F]`.
    pub dv: Option<&'a mut [f32]>,
    /// By the directions `[E, 3]`.
    pub dd: Option<&'a mut [f32]>,
}

/// What the kernel reads of one edge: its sender and receiver rows.
struct Edge<'a> {
    /// The output gradient's rows of the sender: scalar, then x, y, z.
    g: [&'a [f32]; 4],
    /// The filter row `[3F]`.
    w: &'a [f32],
    /// The receiver's message row `[3F]`.
    x: &'a [f32],
    /// The receiver's vector rows, x, y, z.
    v: [&'a [f32]; 3],
    /// The direction.
    d: [f32; 3],
    /// The cotangent's row of this edge: `[3F]` (of `gw`: the edge's; of `gx`: the receiver's),
    /// `[3]` (of `gdir`), empty (of `gv`, whose rows are `av`).
    a: &'a [f32],
    /// `gv`'s cotangent rows of the receiver, x, y, z (empty otherwise).
    av: [&'a [f32]; 3],
}

/// Inputs of the kernel as host slices.
struct Host<'a> {
    part: Part,
    a: &'a [f32],
    g: &'a [f32],
    x: MessageInputs<'a>,
    n: usize,
    f: usize,
}

impl<'a> Host<'a> {
    fn edge(&self, e: usize) -> (usize, usize, Edge<'a>) {
        let (n, f, x) = (self.n, self.f, self.x);
        let (i, j) = (x.senders[e] as usize, x.receivers[e] as usize);
        let row = |t: &'a [f32], r: usize| &t[r * f..(r + 1) * f];
        let a = match self.part {
            Part::W => &self.a[e * 3 * f..(e + 1) * 3 * f],
            Part::X => &self.a[j * 3 * f..(j + 1) * 3 * f],
            Part::V => &self.a[..0],
            Part::Dir => &self.a[e * 3..e * 3 + 3],
        };
        let av = match self.part {
            Part::V => [0, 1, 2].map(|c| row(self.a, c * n + j)),
            _ => [&self.a[..0]; 3],
        };
        let edge = Edge {
            g: [0, 1, 2, 3].map(|c| row(self.g, c * n + i)),
            w: &x.w[e * 3 * f..(e + 1) * 3 * f],
            x: &x.xs[j * 3 * f..(j + 1) * 3 * f],
            v: [0, 1, 2].map(|c| row(x.v, c * n + j)),
            d: [x.dir[e * 3], x.dir[e * 3 + 1], x.dir[e * 3 + 2]],
            a,
            av,
        };
        (i, j, edge)
    }
}

impl Edge<'_> {
    /// `(p, q)` of the `gw`/`gx` form at block `b`, feature k.
    #[inline(always)]
    fn pq(&self, part: Part, b: usize, f: usize, k: usize) -> (f32, f32) {
        let other = if part == Part::W { self.x } else { self.w };
        (self.a[b * f + k], other[b * f + k])
    }

    /// `(gm1, gm2)` at feature k.
    #[inline(always)]
    fn gm(&self, k: usize) -> (f32, f32) {
        let g = &self.g[1..];
        let gm1 = g[0][k] * self.d[0] + g[1][k] * self.d[1] + g[2][k] * self.d[2];
        let gm2 = g[0][k] * self.v[0][k] + g[1][k] * self.v[1][k] + g[2][k] * self.v[2][k];
        (gm1, gm2)
    }

    /// The cotangent's component c at feature k (of `gv` or `gdir`).
    #[inline(always)]
    fn ac(&self, part: Part, c: usize, k: usize) -> f32 {
        if part == Part::V {
            self.av[c][k]
        } else {
            self.a[c]
        }
    }

    /// `r = Σ_c a_c G_c[i]` at feature k (of `gv` or `gdir`).
    #[inline(always)]
    fn r(&self, part: Part, k: usize) -> f32 {
        (0..3).map(|c| self.ac(part, c, k) * self.g[1 + c][k]).sum()
    }
}

/// The block of `w` and `x` a `gv` (2) or `gdir` (1) cotangent reaches.
fn block(part: Part) -> usize {
    if part == Part::V { 2 } else { 1 }
}

/// Per-edge results: `dw` rows and `dd` rows.
fn edge_pass(h: &Host, dw: Option<&mut [f32]>, dd: Option<&mut [f32]>) {
    let (f, part) = (h.f, h.part);
    per_edge(h.x.senders.len(), f, dw, dd, |e, dwe, dde| {
        let (_, _, ed) = h.edge(e);
        if let Some(dwe) = dwe {
            match part {
                Part::W => {}
                Part::X => {
                    for k in 0..f {
                        let (gm1, gm2) = ed.gm(k);
                        dwe[k] = ed.a[k] * ed.g[0][k];
                        dwe[f + k] = ed.a[f + k] * gm1;
                        dwe[2 * f + k] = ed.a[2 * f + k] * gm2;
                    }
                }
                Part::V | Part::Dir => {
                    let b = block(part);
                    for k in 0..f {
                        dwe[b * f + k] = ed.x[b * f + k] * ed.r(part, k);
                    }
                }
            }
        }
        if let (Some(dde), Part::W | Part::X) = (dde, part) {
            for (c, o) in dde.iter_mut().enumerate() {
                *o = (0..f)
                    .map(|k| {
                        let (p, q) = ed.pq(part, 1, f, k);
                        p * q * ed.g[1 + c][k]
                    })
                    .sum();
            }
        }
    });
}

/// Sums into the senders: `dg`.
fn sender_pass(h: &Host, dg: &mut [f32]) {
    let (n, f, part) = (h.n, h.f, h.part);
    let parts = ranges(n);
    let tasks = split_some(Some(dg), n, f, &parts);
    tasks
        .into_par_iter()
        .zip(parts.par_iter())
        .for_each(|(blocks, &(lo, hi))| {
            let Some(mut blocks) = blocks else { return };
            pulp::Arch::new().dispatch(|| {
                for (e, &i) in h.x.senders.iter().enumerate() {
                    let i = i as usize;
                    if !(lo..hi).contains(&i) {
                        continue;
                    }
                    let il = i - lo;
                    let (_, _, ed) = h.edge(e);
                    match part {
                        Part::W | Part::X => {
                            for (k, o) in blocks[0][il * f..(il + 1) * f].iter_mut().enumerate() {
                                let (p, q) = ed.pq(part, 0, f, k);
                                *o += p * q;
                            }
                            for c in 0..3 {
                                let out = &mut blocks[1 + c][il * f..(il + 1) * f];
                                for (k, o) in out.iter_mut().enumerate() {
                                    let (p1, q1) = ed.pq(part, 1, f, k);
                                    let (p2, q2) = ed.pq(part, 2, f, k);
                                    *o += p1 * q1 * ed.d[c] + p2 * q2 * ed.v[c][k];
                                }
                            }
                        }
                        Part::V | Part::Dir => {
                            let b = block(part);
                            for c in 0..3 {
                                let out = &mut blocks[1 + c][il * f..(il + 1) * f];
                                for (k, o) in out.iter_mut().enumerate() {
                                    *o += ed.w[b * f + k] * ed.x[b * f + k] * ed.ac(part, c, k);
                                }
                            }
                        }
                    }
                }
            });
        });
}

/// Sums into the receivers: `dx` and `dv`.
fn receiver_pass(h: &Host, dx: Option<&mut [f32]>, dv: Option<&mut [f32]>) {
    let (n, f, part) = (h.n, h.f, h.part);
    let parts = ranges(n);
    let dx = split_some(dx, n, 3 * f, &parts);
    let dv = split_some(dv, n, f, &parts);
    dx.into_par_iter()
        .zip(dv)
        .zip(parts.par_iter())
        .for_each(|((mut dxp, mut dvp), &(lo, hi))| {
            pulp::Arch::new().dispatch(|| {
                for (e, &j) in h.x.receivers.iter().enumerate() {
                    let j = j as usize;
                    if !(lo..hi).contains(&j) {
                        continue;
                    }
                    let jl = j - lo;
                    let (_, _, ed) = h.edge(e);
                    if let Some(dxp) = dxp.as_mut() {
                        let dxj = &mut dxp[0][jl * 3 * f..(jl + 1) * 3 * f];
                        match part {
                            Part::W => {
                                for k in 0..f {
                                    let (gm1, gm2) = ed.gm(k);
                                    dxj[k] += ed.a[k] * ed.g[0][k];
                                    dxj[f + k] += ed.a[f + k] * gm1;
                                    dxj[2 * f + k] += ed.a[2 * f + k] * gm2;
                                }
                            }
                            Part::X => {}
                            Part::V | Part::Dir => {
                                let b = block(part);
                                for k in 0..f {
                                    dxj[b * f + k] += ed.w[b * f + k] * ed.r(part, k);
                                }
                            }
                        }
                    }
                    if let (Some(dvp), Part::W | Part::X) = (dvp.as_mut(), part) {
                        for (c, dvc) in dvp.iter_mut().enumerate() {
                            let out = &mut dvc[jl * f..(jl + 1) * f];
                            for (k, o) in out.iter_mut().enumerate() {
                                let (p, q) = ed.pq(part, 2, f, k);
                                *o += p * q * ed.g[1 + c][k];
                            }
                        }
                    }
                }
            });
        });
}

/// The second-order kernel on host slices (see the module documentation).
pub fn message_second(
    part: Part,
    a: &[f32],
    g: &[f32],
    x: MessageInputs,
    f: usize,
    out: SecondOut,
) {
    let n = x.xs.len() / (3 * f).max(1);
    if n == 0 || f == 0 {
        return;
    }
    let h = Host {
        part,
        a,
        g,
        x,
        n,
        f,
    };
    if out.dw.is_some() || out.dd.is_some() {
        edge_pass(&h, out.dw, out.dd);
    }
    if let Some(dg) = out.dg {
        sender_pass(&h, dg);
    }
    if out.dx.is_some() || out.dv.is_some() {
        receiver_pass(&h, out.dx, out.dv);
    }
}

/// The gradients `part` has (by `G`, `w`, `x`, `v`, the directions).
fn reaches(part: Part) -> [bool; 5] {
    match part {
        Part::W => [true, false, true, true, true],
        Part::X => [true, true, false, true, true],
        Part::V | Part::Dir => [true, true, true, false, false],
    }
}

/// [`super::MessageOps::painn_message_second`] on the CPU backend.
pub(super) fn flex(
    part: Part,
    a: FlexTensor,
    inputs: BackwardInputs<burn_flex::Flex>,
    need: [bool; 5],
) -> [Option<FlexTensor>; 5] {
    let (g, w, xs, v, dir, snd, rcv) = inputs;
    let [e, _] = w.shape().dims::<2>();
    let [n, f3] = xs.shape().dims::<2>();
    let f = f3 / 3;
    let (a, g, w, xs, v, dir) = (
        dense(&a),
        dense(&g),
        dense(&w),
        dense(&xs),
        dense(&v),
        dense(&dir),
    );
    let (snd, rcv) = (dense_int(&snd), dense_int(&rcv));
    let shapes = [[4 * n, f], [e, 3 * f], [n, 3 * f], [3 * n, f], [e, 3]];
    let has = reaches(part);
    let mut out: [Option<FlexTensor>; 5] =
        std::array::from_fn(|k| (has[k] && need[k]).then(|| zeros(shapes[k])));
    let [dg, dw, dx, dv, dd] = out.each_mut().map(|o| o.as_mut().map(|t| t.storage_mut()));
    message_second(
        part,
        a.storage(),
        g.storage(),
        MessageInputs {
            w: w.storage(),
            xs: xs.storage(),
            v: v.storage(),
            dir: dir.storage(),
            senders: snd.storage(),
            receivers: rcv.storage(),
        },
        f,
        SecondOut { dg, dw, dx, dv, dd },
    );
    out
}
