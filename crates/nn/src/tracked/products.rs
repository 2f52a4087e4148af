//! Products on the autodiff backend, tracked, with backward passes made of the inner backend's
//! product kernels: `y = x w` (`dx = g w^T`, `dw = x^T g`), and those two gradients themselves
//! (`g w^T`, `x^T g`), so that the outer backward pass of nested autodiff records the inner
//! kernels, not burn's single-threaded product.

use crate::fused::FusedOps;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, binary};

#[derive(Debug)]
struct MatmulBackward;

impl<B: FusedOps> Backward<B, 2> for MatmulBackward {
    /// Both factors (reference-counted handles, no copies).
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, w) = ops.state;
        binary::<B, _, _>(
            ops.parents,
            ops.node,
            grads,
            |g| B::matmul_nt(g, w),
            |g| B::matmul_tn(x, g),
        );
    }
}

/// `x w` with its backward pass.
pub fn matmul<B: FusedOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    w: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    match MatmulBackward
        .prepare::<C>([x.node.clone(), w.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = (x.primitive.clone(), w.primitive.clone());
            prep.finish(state, B::matmul(x.primitive, w.primitive))
        }
        OpsKind::UnTracked(prep) => prep.finish(B::matmul(x.primitive, w.primitive)),
    }
}

#[derive(Debug)]
struct MatmulNtBackward;

impl<B: FusedOps> Backward<B, 2> for MatmulNtBackward {
    /// Both factors `g`, `w` of `g w^T`.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (g, w) = ops.state;
        binary::<B, _, _>(
            ops.parents,
            ops.node,
            grads,
            |d| B::matmul(d, w),
            |d| B::matmul_tn(d, g),
        );
    }
}

/// `g w^T` (a product's input gradient) with its backward pass: `dg = d w`, `dw = d^T g`, so
/// that the outer backward pass of nested autodiff records the inner kernels, not burn's
/// single-threaded product.
pub fn matmul_nt<B: FusedOps, C: CheckpointStrategy>(
    g: FloatTensor<Autodiff<B, C>>,
    w: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    match MatmulNtBackward
        .prepare::<C>([g.node.clone(), w.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = (g.primitive.clone(), w.primitive.clone());
            prep.finish(state, B::matmul_nt(g.primitive, w.primitive))
        }
        OpsKind::UnTracked(prep) => prep.finish(B::matmul_nt(g.primitive, w.primitive)),
    }
}

#[derive(Debug)]
struct MatmulTnBackward;

impl<B: FusedOps> Backward<B, 2> for MatmulTnBackward {
    /// Both factors `x`, `g` of `x^T g`.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, g) = ops.state;
        binary::<B, _, _>(
            ops.parents,
            ops.node,
            grads,
            |d| B::matmul_nt(g, d),
            |d| B::matmul(x, d),
        );
    }
}

/// `x^T g` (a product's weight gradient) with its backward pass: `dx = g d^T`, `dg = x d`.
pub fn matmul_tn<B: FusedOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    g: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    match MatmulTnBackward
        .prepare::<C>([x.node.clone(), g.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = (x.primitive.clone(), g.primitive.clone());
            prep.finish(state, B::matmul_tn(x.primitive, g.primitive))
        }
        OpsKind::UnTracked(prep) => prep.finish(B::matmul_tn(x.primitive, g.primitive)),
    }
}
