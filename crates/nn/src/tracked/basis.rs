//! The study's Gaussian basis on the autodiff backend, tracked to second order: the basis'
//! backward pass is itself a tracked operation whose backward pass is made of the inner
//! backend's basis kernels ([`FusedOps::gaussian_basis_slope`],
//! [`FusedOps::gaussian_basis_curvature`]).

use crate::fused::FusedOps;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, binary, unary};

/// Backward pass of the Gaussian basis: `dd = sum_i g_i b_i c_i` ([`FusedOps::gaussian_basis_backward`]).
#[derive(Debug)]
struct BasisBackward;

impl<B: FusedOps> Backward<B, 1> for BasisBackward {
    /// The distances, the number of Gaussians and their spacing.
    type State = (FloatTensor<B>, usize, f64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (d, k, delta) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| {
            B::gaussian_basis_backward(g, d, k, delta)
        });
    }
}

/// [`FusedOps::gaussian_basis`] with its backward pass.
pub fn gaussian_basis<B: FusedOps, C: CheckpointStrategy>(
    d: FloatTensor<Autodiff<B, C>>,
    k: usize,
    delta: f64,
) -> FloatTensor<Autodiff<B, C>> {
    match BasisBackward
        .prepare::<C>([d.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let out = B::gaussian_basis(d.primitive.clone(), k, delta);
            prep.finish((d.primitive, k, delta), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::gaussian_basis(d.primitive, k, delta)),
    }
}

/// Backward pass of the basis' backward pass (second order): by the output gradient `g`,
/// `u b_i c_i`; by the distances, `u sum_i g_i b_i (c_i^2 - 2 / delta)`.
#[derive(Debug)]
struct BasisGradBackward;

impl<B: FusedOps> Backward<B, 2> for BasisGradBackward {
    /// The output gradient, the distances, the number of Gaussians and their spacing.
    type State = (FloatTensor<B>, FloatTensor<B>, usize, f64);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (g, d, k, delta) = ops.state;
        let d2 = d.clone();
        binary::<B, _, _>(
            ops.parents,
            ops.node,
            grads,
            |u| B::gaussian_basis_slope(u, d, k, delta),
            |u| B::float_mul(u, B::gaussian_basis_curvature(g, d2, k, delta)),
        );
    }
}

/// [`FusedOps::gaussian_basis_backward`] with its own backward pass, so that the basis is
/// differentiated twice under nested autodiff.
pub fn gaussian_basis_backward<B: FusedOps, C: CheckpointStrategy>(
    g: FloatTensor<Autodiff<B, C>>,
    d: FloatTensor<Autodiff<B, C>>,
    k: usize,
    delta: f64,
) -> FloatTensor<Autodiff<B, C>> {
    match BasisGradBackward
        .prepare::<C>([g.node.clone(), d.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let out =
                B::gaussian_basis_backward(g.primitive.clone(), d.primitive.clone(), k, delta);
            prep.finish((g.primitive, d.primitive, k, delta), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::gaussian_basis_backward(
            g.primitive,
            d.primitive,
            k,
            delta,
        )),
    }
}
