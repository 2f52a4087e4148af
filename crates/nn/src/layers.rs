//! Shared layers of the study's models (spec §3.1): bias-free dense layers initialised with a
//! truncated normal of std 1/sqrt(fan_in), shifted softplus, the Gaussian radial basis, segment
//! means over receivers and the per-graph mean readout.

use crate::fused::FusedOps;
use crate::init::ParamInit;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData, TensorPrimitive, activation};

pub use crate::index::{
    Segments, gather_rows, message_mean, pair_gather_add, segment_mean, segment_sum,
};

/// A dense layer without bias: `y = x W`, `W` of shape `[in, out]`.
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    /// The weight matrix `[in, out]`.
    pub weight: Param<Tensor<B, 2>>,
}

impl<B: Backend> Dense<B> {
    /// A layer with weights drawn from the study's truncated normal (std 1/sqrt(d_in)).
    pub fn new(init: &mut ParamInit, d_in: usize, d_out: usize, device: &B::Device) -> Self {
        let w = init.truncated_normal(d_in * d_out, 1.0 / (d_in as f64).sqrt());
        Dense {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [d_in, d_out]),
                device,
            )),
        }
    }
}

impl<B: FusedOps> Dense<B> {
    /// `x W` for `x` of shape `[n, in]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        matmul(x, self.weight.val())
    }

    /// Rows of `W` picked by index: the product of a one-hot input with `W`, without the one-hot.
    pub fn embed(&self, classes: Tensor<B, 1, Int>) -> Tensor<B, 2> {
        gather_rows(self.weight.val(), classes)
    }
}

/// A dense layer with bias, `y = x W + b`, Xavier-uniform weights and zero bias (Haiku's
/// `Linear` with PaiNN's initialiser).
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// The weight matrix `[in, out]`.
    pub weight: Param<Tensor<B, 2>>,
    /// The bias `[1, out]`.
    pub bias: Param<Tensor<B, 2>>,
}

impl<B: Backend> Linear<B> {
    /// A layer with Xavier-uniform weights and a zero bias.
    pub fn new(init: &mut ParamInit, d_in: usize, d_out: usize, device: &B::Device) -> Self {
        let w = init.xavier_uniform(d_in * d_out, d_in, d_out);
        Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [d_in, d_out]),
                device,
            )),
            bias: Param::from_tensor(Tensor::zeros([1, d_out], device)),
        }
    }
}

impl<B: FusedOps> Linear<B> {
    /// `x W + b` for `x` of shape `[n, in]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        add_bias(matmul(x, self.weight.val()), self.bias.val())
    }
}

/// `x + b` for `x` `[n, d]` and a bias row `b` `[1, d]`: geobatch's parallel kernels (the bias
/// gradient summed over fixed row chunks) where the backend has them ([`FusedOps::add_bias`]).
pub fn add_bias<B: FusedOps>(x: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    let out = B::add_bias(x.into_primitive().tensor(), b.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// `x w` of rank-2 tensors: geobatch's parallel kernels where the backend has them
/// ([`FusedOps::PARALLEL_KERNELS`]), burn's `matmul` elsewhere.
pub fn matmul<B: FusedOps>(x: Tensor<B, 2>, w: Tensor<B, 2>) -> Tensor<B, 2> {
    if B::PARALLEL_KERNELS {
        let out = B::matmul(x.into_primitive().tensor(), w.into_primitive().tensor());
        Tensor::from_primitive(TensorPrimitive::Float(out))
    } else {
        x.matmul(w)
    }
}

/// SiLU `x sigmoid(x)` through the fused kernel with its own backward pass ([`crate::fused`]).
pub fn silu<B: FusedOps, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    crate::fused::silu(x)
}

/// Above this, softplus(x) = x to f32 precision (log1p(e^-20) ~ 2e-9).
const SOFTPLUS_LINEAR: f64 = 20.0;

/// Shifted softplus, `log(1 + e^x) - log 2`, through the fused kernel with its own backward pass
/// ([`crate::fused`]).
pub fn ssp<B: FusedOps, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    crate::fused::ssp(x)
}

/// Shifted softplus from burn's element-wise ops, `log1p(e^min(x, 20)) + relu(x - 20) - log 2`,
/// for backends without [`FusedOps`] and as the reference the fused kernel is tested against.
/// Autodiff gives the exact derivative `sigmoid(x)` everywhere, 0.5 at x = 0 (the
/// `max(x, 0) + log1p(e^-|x|)` form gets 0 there from the subgradients of relu and abs).
pub fn ssp_composite<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let soft = x.clone().clamp_max(SOFTPLUS_LINEAR).exp().log1p();
    soft + activation::relu(x.sub_scalar(SOFTPLUS_LINEAR)) - std::f64::consts::LN_2
}

/// A stack of dense layers with shifted softplus between them (and after the last if
/// `activate_last`), as Haiku's `MLP` with `with_bias=False`.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The layers.
    pub layers: Vec<Dense<B>>,
    /// Whether the output is activated too.
    pub activate_last: bool,
}

impl<B: Backend> Mlp<B> {
    /// An MLP through the given widths, e.g. `[150, 64, 64]`.
    pub fn new(
        init: &mut ParamInit,
        widths: &[usize],
        activate_last: bool,
        device: &B::Device,
    ) -> Self {
        let layers = widths
            .windows(2)
            .map(|w| Dense::new(init, w[0], w[1], device))
            .collect();
        Mlp {
            layers,
            activate_last,
        }
    }
}

impl<B: FusedOps> Mlp<B> {
    /// Applies the stack.
    pub fn forward(&self, mut x: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last || self.activate_last {
                x = ssp(x);
            }
        }
        x
    }
}

/// The study's Gaussian radial basis (written beside the fused basis that it is the reference of).
pub use crate::fused::gaussian_rbf;
