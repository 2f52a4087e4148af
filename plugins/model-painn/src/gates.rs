//! PaiNN's clipped residual updates as fused operations (model description in the crate text):
//!
//! - [`residual`]: `base + clip(delta[rows])`, the message block's `s += clip(Δs)` and
//!   `v += clip(Δv)`, reading its rows of the message sums `[4N, F]` in place;
//! - [`gate_scalar`]: `s + clip(a_ss + a_sv ⊙ ⟨v_r, v_l⟩)`, the update block's scalar part;
//! - [`gate_vector`]: `v + clip(a_vv ⊙ v_l)` with `a_vv` `[N, F]` applied to each of the three
//!   component blocks of `v_l` `[3N, F]`, the update block's vector part.
//!
//! `clip` is `clamp(±CLIP)` with burn's gradient convention (the gradient passes unless the input
//! is above `CLIP` or below `-CLIP`). On the CPU, forward and backward are element-wise kernels
//! over fixed chunks, so the bits do not depend on the thread count, and they replace a chain of
//! serial burn operations (two comparisons and two mask fills per clamp, the adds and products,
//! `a_vv`'s three-fold concatenation and their gradients). Other backends compose burn's
//! operations, which is also the reference the kernels are tested against.

use crate::CLIP;
use crate::message::{dense, flex};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata, TensorPrimitive};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::Flex;
use geobatch_nn::parallel::{CHUNK_ELEMS, zeroed};
use rayon::prelude::*;

fn float<B: Backend>(t: FloatTensor<B>) -> Tensor<B, 2> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

fn prim<B: Backend>(t: Tensor<B, 2>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// `g` where the clamp of `x` passes its gradient, 0 elsewhere (burn's convention).
fn masked<B: Backend>(g: Tensor<B, 2>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let out = x.clone().greater_elem(CLIP).bool_or(x.lower_elem(-CLIP));
    g.mask_fill(out, 0.0)
}

/// The clamp to `±CLIP` (NaN passes, as in burn's clamp).
#[inline]
fn clip(x: f32) -> f32 {
    const C: f32 = CLIP as f32;
    x.clamp(-C, C)
}

/// Whether the clamp of `x` passes its gradient (NaN does, as in burn: hence no range test).
#[inline]
#[allow(clippy::manual_range_contains)]
fn passes(x: f32) -> bool {
    const C: f32 = CLIP as f32;
    !(x > C || x < -C)
}

/// Backends with PaiNN's fused clipped residuals. The default methods compose burn's operations.
pub trait GateOps: Backend {
    /// `base + clip(delta[offset..offset + rows])` for `base` `[rows, F]`.
    fn painn_residual(
        base: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        offset: usize,
    ) -> FloatTensor<Self> {
        let base = float::<Self>(base);
        let rows = base.dims()[0];
        prim(
            base + float::<Self>(delta)
                .narrow(0, offset, rows)
                .clamp(-CLIP, CLIP),
        )
    }

    /// The gradient of [`GateOps::painn_residual`] for `delta` (its whole shape, zero outside the
    /// rows read); `base`'s gradient is `g` itself.
    fn painn_residual_backward(
        g: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        offset: usize,
    ) -> FloatTensor<Self> {
        let (g, delta) = (float::<Self>(g), float::<Self>(delta));
        let [rows, f] = g.dims();
        let full = delta.dims()[0];
        let part = masked(g, delta.narrow(0, offset, rows));
        let mut parts = Vec::with_capacity(3);
        if offset > 0 {
            parts.push(Tensor::zeros([offset, f], &part.device()));
        }
        parts.push(part.clone());
        if offset + rows < full {
            parts.push(Tensor::zeros([full - offset - rows, f], &part.device()));
        }
        prim(Tensor::cat(parts, 0))
    }

    /// `s + clip(a + b ⊙ c)`, all `[N, F]`.
    fn painn_gate_scalar(
        s: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let u = float::<Self>(a) + float::<Self>(b) * float::<Self>(c);
        prim(float::<Self>(s) + u.clamp(-CLIP, CLIP))
    }

    /// Gradients `(da, db, dc)` of [`GateOps::painn_gate_scalar`]; `s`'s is `g` itself.
    fn painn_gate_scalar_backward(
        g: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (b, c) = (float::<Self>(b), float::<Self>(c));
        let u = float::<Self>(a) + b.clone() * c.clone();
        let gm = masked(float::<Self>(g), u);
        (prim(gm.clone()), prim(gm.clone() * c), prim(gm * b))
    }

    /// `v + clip(tile3(a) ⊙ vl)` for `v`, `vl` `[3N, F]` and `a` `[N, F]`.
    fn painn_gate_vector(
        v: FloatTensor<Self>,
        a: FloatTensor<Self>,
        vl: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let a = float::<Self>(a);
        let tiled = Tensor::cat(vec![a.clone(), a.clone(), a], 0);
        prim(float::<Self>(v) + (tiled * float::<Self>(vl)).clamp(-CLIP, CLIP))
    }

    /// Gradients `(da, dvl)` of [`GateOps::painn_gate_vector`]; `v`'s is `g` itself. `da` sums
    /// the three component blocks in the order x, y, z.
    fn painn_gate_vector_backward(
        g: FloatTensor<Self>,
        a: FloatTensor<Self>,
        vl: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (a, vl) = (float::<Self>(a), float::<Self>(vl));
        let n = a.dims()[0];
        let tiled = Tensor::cat(vec![a.clone(), a.clone(), a], 0);
        let gm = masked(float::<Self>(g), tiled.clone() * vl.clone());
        let t = gm.clone() * vl;
        let da = t.clone().narrow(0, 0, n) + t.clone().narrow(0, n, n) + t.narrow(0, 2 * n, n);
        (prim(da), prim(gm * tiled))
    }
}

/// `base + clip(delta[offset..offset + base.len()])` on host slices (`offset` in elements).
///
/// # Panics
/// When the rows read lie outside `delta`.
pub fn residual(base: &[f32], delta: &[f32], offset: usize) -> Vec<f32> {
    let delta = &delta[offset..offset + base.len()];
    let mut out = zeroed(base.len());
    out.par_chunks_mut(CHUNK_ELEMS)
        .enumerate()
        .for_each(|(chunk, out)| {
            let start = chunk * CHUNK_ELEMS;
            let (base, delta) = (&base[start..], &delta[start..]);
            for (i, o) in out.iter_mut().enumerate() {
                *o = base[i] + clip(delta[i]);
            }
        });
    out
}

/// The gradient of [`residual`] for `delta` (`delta.len()` elements, zero outside the part read).
///
/// # Panics
/// When the rows read lie outside `delta`.
pub fn residual_backward(g: &[f32], delta: &[f32], offset: usize) -> Vec<f32> {
    let mut out = zeroed(delta.len());
    let part = &delta[offset..offset + g.len()];
    out[offset..offset + g.len()]
        .par_chunks_mut(CHUNK_ELEMS)
        .enumerate()
        .for_each(|(chunk, out)| {
            let start = chunk * CHUNK_ELEMS;
            let (g, part) = (&g[start..], &part[start..]);
            for (i, o) in out.iter_mut().enumerate() {
                *o = if passes(part[i]) { g[i] } else { 0.0 };
            }
        });
    out
}

/// `s + clip(a + b ⊙ c)` on host slices of one length.
///
/// # Panics
/// When the lengths differ.
pub fn gate_scalar(s: &[f32], a: &[f32], b: &[f32], c: &[f32]) -> Vec<f32> {
    assert!(
        a.len() == s.len() && b.len() == s.len() && c.len() == s.len(),
        "gate_scalar: inputs of {} / {} / {} / {} elements",
        s.len(),
        a.len(),
        b.len(),
        c.len()
    );
    let mut out = zeroed(s.len());
    out.par_chunks_mut(CHUNK_ELEMS)
        .enumerate()
        .for_each(|(chunk, out)| {
            let r = chunk * CHUNK_ELEMS..chunk * CHUNK_ELEMS + out.len();
            let (s, a, b, c) = (&s[r.clone()], &a[r.clone()], &b[r.clone()], &c[r]);
            for (i, o) in out.iter_mut().enumerate() {
                *o = s[i] + clip(a[i] + b[i] * c[i]);
            }
        });
    out
}

/// Gradients `(da, db, dc)` of [`gate_scalar`] on host slices.
///
/// # Panics
/// When the lengths differ.
pub fn gate_scalar_backward(
    g: &[f32],
    a: &[f32],
    b: &[f32],
    c: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = g.len();
    assert!(
        a.len() == n && b.len() == n && c.len() == n,
        "gate_scalar_backward: {n} gradient, inputs of {} / {} / {} elements",
        a.len(),
        b.len(),
        c.len()
    );
    let (mut da, mut db, mut dc) = (zeroed(n), zeroed(n), zeroed(n));
    da.par_chunks_mut(CHUNK_ELEMS)
        .zip(db.par_chunks_mut(CHUNK_ELEMS))
        .zip(dc.par_chunks_mut(CHUNK_ELEMS))
        .enumerate()
        .for_each(|(chunk, ((da, db), dc))| {
            let r = chunk * CHUNK_ELEMS..chunk * CHUNK_ELEMS + da.len();
            let (g, a, b, c) = (&g[r.clone()], &a[r.clone()], &b[r.clone()], &c[r]);
            for i in 0..da.len() {
                let gm = if passes(a[i] + b[i] * c[i]) {
                    g[i]
                } else {
                    0.0
                };
                da[i] = gm;
                db[i] = gm * c[i];
                dc[i] = gm * b[i];
            }
        });
    (da, db, dc)
}

/// `v + clip(tile3(a) ⊙ vl)` on host slices: `v`, `vl` `3m` elements, `a` `m`.
///
/// # Panics
/// When the lengths disagree.
pub fn gate_vector(v: &[f32], a: &[f32], vl: &[f32]) -> Vec<f32> {
    let m = a.len();
    assert!(
        v.len() == 3 * m && vl.len() == 3 * m,
        "gate_vector: {} / {} vector and {m} gate elements",
        v.len(),
        vl.len()
    );
    let mut out = zeroed(3 * m);
    out.par_chunks_mut(CHUNK_ELEMS)
        .enumerate()
        .for_each(|(chunk, out)| {
            let start = chunk * CHUNK_ELEMS;
            for (i, o) in out.iter_mut().enumerate() {
                let q = start + i;
                *o = v[q] + clip(a[q % m] * vl[q]);
            }
        });
    out
}

/// Gradients `(da, dvl)` of [`gate_vector`] on host slices; `da` sums the blocks x, y, z in that
/// order.
///
/// # Panics
/// When the lengths disagree.
pub fn gate_vector_backward(g: &[f32], a: &[f32], vl: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let m = a.len();
    assert!(
        g.len() == 3 * m && vl.len() == 3 * m,
        "gate_vector_backward: {} gradient, {} vector and {m} gate elements",
        g.len(),
        vl.len()
    );
    let (mut da, mut dvl) = (zeroed(m), zeroed(3 * m));
    let (dx, rest) = dvl.split_at_mut(m);
    let (dy, dz) = rest.split_at_mut(m);
    da.par_chunks_mut(CHUNK_ELEMS)
        .zip(dx.par_chunks_mut(CHUNK_ELEMS))
        .zip(dy.par_chunks_mut(CHUNK_ELEMS))
        .zip(dz.par_chunks_mut(CHUNK_ELEMS))
        .enumerate()
        .for_each(|(chunk, (((da, dx), dy), dz))| {
            let start = chunk * CHUNK_ELEMS;
            for i in 0..da.len() {
                let p = start + i;
                let mut sum = [0.0f32; 3];
                for (k, d) in [&mut dx[i], &mut dy[i], &mut dz[i]].into_iter().enumerate() {
                    let q = k * m + p;
                    let gm = if passes(a[p] * vl[q]) { g[q] } else { 0.0 };
                    *d = gm * a[p];
                    sum[k] = gm * vl[q];
                }
                da[i] = sum[0] + sum[1] + sum[2];
            }
        });
    (da, dvl)
}

impl GateOps for Flex {
    fn painn_residual(
        base: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        offset: usize,
    ) -> FloatTensor<Self> {
        let [rows, f] = base.shape().dims::<2>();
        let (base, delta) = (dense(&base), dense(&delta));
        flex(
            residual(base.storage(), delta.storage(), offset * f),
            rows,
            f,
        )
    }

    fn painn_residual_backward(
        g: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        offset: usize,
    ) -> FloatTensor<Self> {
        let [rows, f] = delta.shape().dims::<2>();
        let (g, delta) = (dense(&g), dense(&delta));
        flex(
            residual_backward(g.storage(), delta.storage(), offset * f),
            rows,
            f,
        )
    }

    fn painn_gate_scalar(
        s: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [rows, f] = s.shape().dims::<2>();
        let (s, a, b, c) = (dense(&s), dense(&a), dense(&b), dense(&c));
        flex(
            gate_scalar(s.storage(), a.storage(), b.storage(), c.storage()),
            rows,
            f,
        )
    }

    fn painn_gate_scalar_backward(
        g: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [rows, f] = g.shape().dims::<2>();
        let (g, a, b, c) = (dense(&g), dense(&a), dense(&b), dense(&c));
        let (da, db, dc) = gate_scalar_backward(g.storage(), a.storage(), b.storage(), c.storage());
        (flex(da, rows, f), flex(db, rows, f), flex(dc, rows, f))
    }

    fn painn_gate_vector(
        v: FloatTensor<Self>,
        a: FloatTensor<Self>,
        vl: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [rows, f] = v.shape().dims::<2>();
        let (v, a, vl) = (dense(&v), dense(&a), dense(&vl));
        flex(gate_vector(v.storage(), a.storage(), vl.storage()), rows, f)
    }

    fn painn_gate_vector_backward(
        g: FloatTensor<Self>,
        a: FloatTensor<Self>,
        vl: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [rows, f] = vl.shape().dims::<2>();
        let (g, a, vl) = (dense(&g), dense(&a), dense(&vl));
        let (da, dvl) = gate_vector_backward(g.storage(), a.storage(), vl.storage());
        (flex(da, rows / 3, f), flex(dvl, rows, f))
    }
}

#[cfg(feature = "cube")]
impl<R: geobatch_nn::backend::CubeRuntime> GateOps for geobatch_nn::backend::Cube<R> {}
#[cfg(feature = "cube")]
impl<R: geobatch_nn::backend::CubeRuntime> GateOps for geobatch_nn::backend::Fused<R> {}

#[derive(Debug)]
struct ResidualBackward;

impl<B: GateOps> Backward<B, 2> for ResidualBackward {
    /// `delta` and the row offset.
    type State = (FloatTensor<B>, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (delta, offset) = ops.state;
        let g = grads.consume::<B>(&ops.node);
        let [node_base, node_delta] = ops.parents;
        if let Some(node) = node_delta {
            grads.register::<B>(
                node.id,
                B::painn_residual_backward(g.clone(), delta, offset),
            );
        }
        if let Some(node) = node_base {
            grads.register::<B>(node.id, g);
        }
    }
}

#[derive(Debug)]
struct GateScalarBackward;

impl<B: GateOps> Backward<B, 4> for GateScalarBackward {
    /// `a`, `b`, `c`.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (a, b, c) = ops.state;
        let g = grads.consume::<B>(&ops.node);
        let [node_s, node_a, node_b, node_c] = ops.parents;
        let (da, db, dc) = B::painn_gate_scalar_backward(g.clone(), a, b, c);
        for (node, grad) in [(node_s, g), (node_a, da), (node_b, db), (node_c, dc)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

#[derive(Debug)]
struct GateVectorBackward;

impl<B: GateOps> Backward<B, 3> for GateVectorBackward {
    /// `a` and `vl`.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (a, vl) = ops.state;
        let g = grads.consume::<B>(&ops.node);
        let [node_v, node_a, node_vl] = ops.parents;
        let (da, dvl) = B::painn_gate_vector_backward(g.clone(), a, vl);
        for (node, grad) in [(node_v, g), (node_a, da), (node_vl, dvl)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: GateOps, C: CheckpointStrategy> GateOps for Autodiff<B, C> {
    fn painn_residual(
        base: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        offset: usize,
    ) -> FloatTensor<Self> {
        match ResidualBackward
            .prepare::<C>([base.node.clone(), delta.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::painn_residual(base.primitive, delta.primitive.clone(), offset);
                prep.finish((delta.primitive, offset), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::painn_residual(base.primitive, delta.primitive, offset))
            }
        }
    }

    fn painn_gate_scalar(
        s: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match GateScalarBackward
            .prepare::<C>([
                s.node.clone(),
                a.node.clone(),
                b.node.clone(),
                c.node.clone(),
            ])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::painn_gate_scalar(
                    s.primitive,
                    a.primitive.clone(),
                    b.primitive.clone(),
                    c.primitive.clone(),
                );
                prep.finish((a.primitive, b.primitive, c.primitive), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::painn_gate_scalar(
                s.primitive,
                a.primitive,
                b.primitive,
                c.primitive,
            )),
        }
    }

    fn painn_gate_vector(
        v: FloatTensor<Self>,
        a: FloatTensor<Self>,
        vl: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match GateVectorBackward
            .prepare::<C>([v.node.clone(), a.node.clone(), vl.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out =
                    B::painn_gate_vector(v.primitive, a.primitive.clone(), vl.primitive.clone());
                prep.finish((a.primitive, vl.primitive), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::painn_gate_vector(v.primitive, a.primitive, vl.primitive))
            }
        }
    }
}

/// `base + clip(delta[offset..offset + rows])` for `base` `[rows, F]` ([`GateOps`]).
pub fn residual_of<B: GateOps>(
    base: Tensor<B, 2>,
    delta: Tensor<B, 2>,
    offset: usize,
) -> Tensor<B, 2> {
    float(B::painn_residual(prim(base), prim(delta), offset))
}

/// `s + clip(a + b ⊙ c)` ([`GateOps`]).
pub fn gate_scalar_of<B: GateOps>(
    s: Tensor<B, 2>,
    a: Tensor<B, 2>,
    b: Tensor<B, 2>,
    c: Tensor<B, 2>,
) -> Tensor<B, 2> {
    float(B::painn_gate_scalar(prim(s), prim(a), prim(b), prim(c)))
}

/// `v + clip(tile3(a) ⊙ vl)` ([`GateOps`]).
pub fn gate_vector_of<B: GateOps>(
    v: Tensor<B, 2>,
    a: Tensor<B, 2>,
    vl: Tensor<B, 2>,
) -> Tensor<B, 2> {
    float(B::painn_gate_vector(prim(v), prim(a), prim(vl)))
}

#[cfg(test)]
mod tests;
