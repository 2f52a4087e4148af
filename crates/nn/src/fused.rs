//! Custom operations with their own backward passes (burn's backend extension mechanism):
//! a backend implements [`FusedOps`] with fast kernels, and `Autodiff<B>` gets it for free with a
//! registered backward step.

use crate::fastmath;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorData, TensorMetadata, TensorPrimitive};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn_flex::{Flex, FlexTensor};

/// Backends with geobatch's fused kernels.
pub trait FusedOps: Backend {
    /// Shifted softplus `ln(1 + e^x) - ln 2` of every element.
    fn ssp(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `grad * sigmoid(x)`, the backward pass of [`FusedOps::ssp`].
    fn ssp_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
}

fn flex_f32(t: &FlexTensor) -> (Vec<f32>, burn::tensor::Shape) {
    let shape = t.shape();
    let c = t.to_contiguous();
    let v = match c.as_slice::<f32>() {
        Some(s) => s.to_vec(),
        None => c
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default(),
    };
    (v, shape)
}

impl FusedOps for Flex {
    fn ssp(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (v, shape) = flex_f32(&x);
        let mut out = vec![0.0f32; v.len()];
        fastmath::ssp(&v, &mut out);
        FlexTensor::from_data(TensorData::new(out, shape))
    }

    fn ssp_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let (v, shape) = flex_f32(&x);
        let (g, _) = flex_f32(&grad);
        let mut out = vec![0.0f32; v.len()];
        fastmath::ssp_grad(&v, &g, &mut out);
        FlexTensor::from_data(TensorData::new(out, shape))
    }
}

#[derive(Debug)]
struct SspBackward;

impl<B: FusedOps> Backward<B, 1> for SspBackward {
    type State = B::FloatTensorPrimitive;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| B::ssp_grad(x, grad));
    }
}

impl<B: FusedOps, C: CheckpointStrategy> FusedOps for Autodiff<B, C> {
    fn ssp(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match SspBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::ssp(x.primitive.clone());
                prep.finish(x.primitive, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::ssp(x.primitive)),
        }
    }

    fn ssp_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        // Not differentiated further: the result enters the graph as a constant.
        let out = B::ssp_grad(x.primitive, grad.primitive);
        <Self as AutodiffBackend>::from_inner(out)
    }
}

/// Shifted softplus through the fused kernel.
pub fn ssp<B: FusedOps, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let out = B::ssp(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}
