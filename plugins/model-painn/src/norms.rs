//! The two per-node reductions over x, y, z of PaiNN's update block as one fused operation:
//! for `v_l`, `v_r` `[3N, F]` (component-outer, as the model keeps vector features), the result
//! `[2N, F]` holds `|v_r| = sqrt(Σ_xyz v_r² + eps)` in its first N rows and `Σ_xyz v_r ⊙ v_l` in
//! the next N. On the CPU, forward and backward are element-wise kernels over chunks of a fixed
//! size (the same bits on any number of threads, no strided reductions); other backends compose
//! burn's operations.

use crate::NORM_EPS;
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

/// Rows of the three component blocks of a `[3N, F]` tensor.
fn blocks<B: Backend>(t: &Tensor<B, 2>) -> [Tensor<B, 2>; 3] {
    let n = t.dims()[0] / 3;
    [0, 1, 2].map(|c| t.clone().narrow(0, c * n, n))
}

/// `[|v_r|; Σ_xyz v_r ⊙ v_l]` from burn's operations: the path of backends without the CPU
/// kernels, and the reference the kernels are tested against.
pub fn composite<B: Backend>(vl: Tensor<B, 2>, vr: Tensor<B, 2>) -> Tensor<B, 2> {
    let (l, r) = (blocks(&vl), blocks(&vr));
    let sq =
        r[0].clone() * r[0].clone() + r[1].clone() * r[1].clone() + r[2].clone() * r[2].clone();
    let dot =
        r[0].clone() * l[0].clone() + r[1].clone() * l[1].clone() + r[2].clone() * l[2].clone();
    let norm = sq.add_scalar(f64::from(NORM_EPS)).sqrt();
    Tensor::cat(vec![norm, dot], 0)
}

/// Backends with the fused norm-and-dot of PaiNN's update block.
pub trait NormOps: Backend {
    /// `[|v_r|; Σ_xyz v_r ⊙ v_l]` `[2N, F]` for `vl`, `vr` `[3N, F]`.
    fn painn_norm_dot(vl: FloatTensor<Self>, vr: FloatTensor<Self>) -> FloatTensor<Self> {
        composite(float::<Self>(vl), float::<Self>(vr))
            .into_primitive()
            .tensor()
    }

    /// Gradients `(dvl, dvr)` of [`NormOps::painn_norm_dot`] for the output gradient `g`
    /// `[2N, F]`, given the forward result `out`: `dvl = g_dot ⊙ v_r`,
    /// `dvr = g_norm ⊙ v_r / |v_r| + g_dot ⊙ v_l` (per component).
    fn painn_norm_dot_backward(
        g: FloatTensor<Self>,
        vl: FloatTensor<Self>,
        vr: FloatTensor<Self>,
        out: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (g, out) = (float::<Self>(g), float::<Self>(out));
        let n = out.dims()[0] / 2;
        let (gn, gd) = (g.clone().narrow(0, 0, n), g.narrow(0, n, n));
        let scale = gn / out.narrow(0, 0, n);
        let (l, r) = (blocks(&float::<Self>(vl)), blocks(&float::<Self>(vr)));
        let dvl = r.clone().map(|rc| gd.clone() * rc);
        let dvr: Vec<_> = (0..3)
            .map(|c| scale.clone() * r[c].clone() + gd.clone() * l[c].clone())
            .collect();
        (
            Tensor::cat(dvl.to_vec(), 0).into_primitive().tensor(),
            Tensor::cat(dvr, 0).into_primitive().tensor(),
        )
    }
}

/// The forward kernel on host slices: `vl`, `vr` `[3N, F]` row-major, result `[2N, F]`.
///
/// # Panics
/// When the two inputs differ in length or are not three blocks.
pub fn norm_dot(vl: &[f32], vr: &[f32]) -> Vec<f32> {
    assert!(
        vl.len() == vr.len() && vl.len().is_multiple_of(3),
        "norm_dot: inputs of {} and {} elements",
        vl.len(),
        vr.len()
    );
    let m = vl.len() / 3;
    let mut out = zeroed(2 * m);
    let (norm, dot) = out.split_at_mut(m);
    norm.par_chunks_mut(CHUNK_ELEMS)
        .zip(dot.par_chunks_mut(CHUNK_ELEMS))
        .enumerate()
        .for_each(|(chunk, (norm, dot))| {
            let start = chunk * CHUNK_ELEMS;
            for (p, (nv, dv)) in norm.iter_mut().zip(dot.iter_mut()).enumerate() {
                let p = start + p;
                let (x, y, z) = (vr[p], vr[m + p], vr[2 * m + p]);
                *nv = (x * x + y * y + z * z + NORM_EPS).sqrt();
                *dv = x * vl[p] + y * vl[m + p] + z * vl[2 * m + p];
            }
        });
    out
}

/// The backward kernel on host slices: `(dvl, dvr)`, each `[3N, F]`, for the output gradient
/// `g` and the forward result `out` (both `[2N, F]`).
///
/// # Panics
/// When the lengths disagree.
pub fn norm_dot_backward(g: &[f32], vl: &[f32], vr: &[f32], out: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let m = vl.len() / 3;
    assert!(
        vr.len() == 3 * m && g.len() == 2 * m && out.len() == 2 * m,
        "norm_dot_backward: {} gradient, {} / {} inputs, {} result elements",
        g.len(),
        vl.len(),
        vr.len(),
        out.len()
    );
    let (mut dvl, mut dvr) = (zeroed(3 * m), zeroed(3 * m));
    dvl.par_chunks_mut(CHUNK_ELEMS)
        .zip(dvr.par_chunks_mut(CHUNK_ELEMS))
        .enumerate()
        .for_each(|(chunk, (dl, dr))| {
            let start = chunk * CHUNK_ELEMS;
            for (q, (dl, dr)) in dl.iter_mut().zip(dr.iter_mut()).enumerate() {
                let q = start + q;
                let p = q % m.max(1);
                let (gn, gd) = (g[p], g[m + p]);
                *dl = gd * vr[q];
                *dr = gn / out[p] * vr[q] + gd * vl[q];
            }
        });
    (dvl, dvr)
}

impl NormOps for Flex {
    fn painn_norm_dot(vl: FloatTensor<Self>, vr: FloatTensor<Self>) -> FloatTensor<Self> {
        let [rows, f] = vl.shape().dims::<2>();
        let (vl, vr) = (dense(&vl), dense(&vr));
        flex(norm_dot(vl.storage(), vr.storage()), 2 * (rows / 3), f)
    }

    fn painn_norm_dot_backward(
        g: FloatTensor<Self>,
        vl: FloatTensor<Self>,
        vr: FloatTensor<Self>,
        out: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [rows, f] = vl.shape().dims::<2>();
        let (g, vl, vr, out) = (dense(&g), dense(&vl), dense(&vr), dense(&out));
        let (dvl, dvr) = norm_dot_backward(g.storage(), vl.storage(), vr.storage(), out.storage());
        (flex(dvl, rows, f), flex(dvr, rows, f))
    }
}

#[cfg(feature = "cube")]
impl<R: geobatch_nn::backend::CubeRuntime> NormOps for geobatch_nn::backend::Cube<R> {}
#[cfg(feature = "cube")]
impl<R: geobatch_nn::backend::CubeRuntime> NormOps for geobatch_nn::backend::Fused<R> {}

#[derive(Debug)]
struct NormDotBackward;

impl<B: NormOps> Backward<B, 2> for NormDotBackward {
    /// `v_l`, `v_r` and the forward result.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (vl, vr, out) = ops.state;
        let g = grads.consume::<B>(&ops.node);
        let (dvl, dvr) = B::painn_norm_dot_backward(g, vl, vr, out);
        let [node_l, node_r] = ops.parents;
        if let Some(node) = node_l {
            grads.register::<B>(node.id, dvl);
        }
        if let Some(node) = node_r {
            grads.register::<B>(node.id, dvr);
        }
    }
}

impl<B: NormOps, C: CheckpointStrategy> NormOps for Autodiff<B, C> {
    fn painn_norm_dot(vl: FloatTensor<Self>, vr: FloatTensor<Self>) -> FloatTensor<Self> {
        match NormDotBackward
            .prepare::<C>([vl.node.clone(), vr.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::painn_norm_dot(vl.primitive.clone(), vr.primitive.clone());
                prep.finish((vl.primitive, vr.primitive, out.clone()), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::painn_norm_dot(vl.primitive, vr.primitive)),
        }
    }
}

/// `[|v_r|; Σ_xyz v_r ⊙ v_l]` `[2N, F]` for `vl`, `vr` `[3N, F]` ([`NormOps`]).
pub fn norm_dot_of<B: NormOps>(vl: Tensor<B, 2>, vr: Tensor<B, 2>) -> Tensor<B, 2> {
    let out = B::painn_norm_dot(vl.into_primitive().tensor(), vr.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, random};

    /// The fused op against the composition of burn's operations (the other backends' path):
    /// values and both gradients, and the same bits on 1 and 3 threads. Sizes span more than one
    /// element chunk.
    #[test]
    fn fused_norm_dot_matches_the_composition_and_any_thread_count() {
        let (n, f) = (70, 251);
        let inputs = [random(3 * n, f, 1.0, 1), random(3 * n, f, 1.0, 2)];
        check(
            &inputs,
            &random(2 * n, f, 1.0, 3),
            &|x| norm_dot_of(x[0].clone(), x[1].clone()),
            &|x| composite(x[0].clone(), x[1].clone()),
        );
    }
}
