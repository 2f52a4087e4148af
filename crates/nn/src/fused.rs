//! Custom operations with their own backward passes (burn's backend extension mechanism):
//! a backend implements [`FusedOps`] with fast kernels (flex's here), and `Autodiff<B>` gets it for
//! free with a registered backward step (crate::tracked).

use crate::fastmath;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorMetadata, TensorPrimitive};
use burn_flex::Flex;

/// Gaussian radial basis of the study: `e_k = exp(-(d - k delta)^2 / delta)` for k = 0..K-1
/// (the exponent divided by delta, not by delta squared). `d` is `[E, 1]`, the result `[E, K]`.
pub fn gaussian_rbf<B: Backend>(d: Tensor<B, 2>, k: usize, delta: f64) -> Tensor<B, 2> {
    let device = d.device();
    let centres: Vec<f32> = (0..k).map(|i| (i as f64 * delta) as f32).collect();
    let centres =
        Tensor::<B, 2>::from_data(burn::tensor::TensorData::new(centres, [1, k]), &device);
    let diff = d - centres;
    (diff.clone() * diff).div_scalar(delta).neg().exp()
}

/// An edge index (the sender or the receiver of every edge) as a backend's primitive, with the
/// edges grouped by it where the batch carries the grouping: what [`FusedOps::message_mean`]
/// reads.
#[derive(Debug)]
pub struct EdgeIndex<B: Backend> {
    /// The node of every edge, `[E]`.
    pub index: IntTensor<B>,
    /// The edges grouped by node ([`crate::index::Grouping`]): the order (`None` when the
    /// edges are sorted by this index) and the `n + 1` offsets.
    pub grouping: Option<(Option<IntTensor<B>>, IntTensor<B>)>,
}

impl<B: Backend> Clone for EdgeIndex<B> {
    fn clone(&self) -> Self {
        EdgeIndex {
            index: self.index.clone(),
            grouping: self.grouping.clone(),
        }
    }
}

/// Rows of `values` `[E, c]` summed into `n` segments by `index`, over its grouping where it has
/// one and the backend a kernel for it.
fn sum_by<B: FusedOps>(values: FloatTensor<B>, index: EdgeIndex<B>, n: usize) -> FloatTensor<B> {
    match index.grouping {
        Some((order, offsets)) if B::GROUPED_SUMS => {
            B::segment_sum_grouped(values, index.index, order, offsets, n)
        }
        _ => B::segment_sum(values, index.index, n),
    }
}

/// [`FusedOps::message_mean`] as burn's operations: a gather, a product, a segment sum and a
/// scaling.
pub fn message_mean_composed<B: FusedOps>(
    w: FloatTensor<B>,
    x: FloatTensor<B>,
    senders: EdgeIndex<B>,
    receivers: EdgeIndex<B>,
    inv_count: FloatTensor<B>,
) -> FloatTensor<B> {
    let n = x.shape()[0];
    let xj = B::float_select(x, 0, senders.index);
    let sum = sum_by::<B>(B::float_mul(w, xj), receivers, n);
    B::float_mul(sum, inv_count)
}

/// [`FusedOps::message_mean_backward`] as burn's operations.
pub fn message_mean_backward_composed<B: FusedOps>(
    g: FloatTensor<B>,
    w: FloatTensor<B>,
    x: FloatTensor<B>,
    senders: EdgeIndex<B>,
    receivers: EdgeIndex<B>,
    inv_count: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let n = x.shape()[0];
    let ge = B::float_select(B::float_mul(g, inv_count), 0, receivers.index);
    let dw = B::float_mul(ge.clone(), B::float_select(x, 0, senders.index.clone()));
    let dx = sum_by::<B>(B::float_mul(ge, w), senders, n);
    (dw, dx)
}

/// Backends with geobatch's fused kernels.
pub trait FusedOps: Backend {
    /// Whether burn's index-add kernels on this backend loop over the indexed rows in one thread
    /// per column (its CubeCL kernels do), so that [`crate::index`] splits the rows into chunks
    /// summed in parallel.
    const CHUNKED_INDEX_ADD: bool = false;

    /// Shifted softplus `ln(1 + e^x) - ln 2` of every element.
    fn ssp(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Shifted softplus and its slope `sigmoid(x)` (the forward pass of a tracked [`FusedOps::ssp`]
    /// keeps the slope, so its backward pass is one multiplication).
    fn ssp_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// SiLU `x sigmoid(x)` of every element.
    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// SiLU and its slope (kept by a tracked [`FusedOps::silu`] for its backward pass).
    fn silu_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Whether the products, gathers and segment sums below are geobatch's parallel CPU kernels
    /// ([`crate::parallel`]: the same bits on any number of threads), so that [`crate::layers`]
    /// and [`crate::index`] call them; other backends keep burn's operations there.
    const PARALLEL_KERNELS: bool = false;

    /// `x w` of rank-2 tensors.
    fn matmul(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(x, w)
    }
    /// `g w^T` of rank-2 tensors (the input gradient of [`FusedOps::matmul`]).
    fn matmul_nt(g: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(g, Self::float_transpose(w))
    }
    /// `x^T g` of rank-2 tensors (the weight gradient of [`FusedOps::matmul`]).
    fn matmul_tn(x: FloatTensor<Self>, g: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(Self::float_transpose(x), g)
    }
    /// Rows of `table` `[n, c]` picked by `index`.
    fn gather_rows(table: FloatTensor<Self>, index: IntTensor<Self>) -> FloatTensor<Self> {
        Self::float_select(table, 0, index)
    }
    /// Row i of `values` `[e, c]` added into row `index[i]` of an `[n, c]` result of zeros.
    fn segment_sum(
        values: FloatTensor<Self>,
        index: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        let values: Tensor<Self, 2> = Tensor::from_primitive(TensorPrimitive::Float(values));
        let index: Tensor<Self, 1, Int> = Tensor::from_primitive(index);
        let [_, c] = values.dims();
        Tensor::<Self, 2>::zeros([n, c], &values.device())
            .select_assign(0, index, values, IndexingUpdateOp::Add)
            .into_primitive()
            .tensor()
    }
    /// Row i of `values` `[e, c]` added into row `index[i]` of an `[n, c]` result, given the rows
    /// grouped by segment: the rows of segment s are `order[offsets[s]..offsets[s + 1]]`, or
    /// `offsets[s]..offsets[s + 1]` themselves when `order` is `None` (rows sorted by segment).
    /// Backends with a kernel over the grouping ([`FusedOps::GROUPED_SUMS`]) use it; the others
    /// [`FusedOps::segment_sum`] by `index`.
    fn segment_sum_grouped(
        values: FloatTensor<Self>,
        index: IntTensor<Self>,
        order: Option<IntTensor<Self>>,
        offsets: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        let _ = (order, offsets);
        Self::segment_sum(values, index, n)
    }
    /// Rows of `table` `[n, c]` picked by `index`, whose gradient is
    /// [`FusedOps::segment_sum_grouped`] with the index's grouping (`order`, `offsets`).
    fn gather_rows_grouped(
        table: FloatTensor<Self>,
        index: IntTensor<Self>,
        order: Option<IntTensor<Self>>,
        offsets: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        let _ = (order, offsets);
        Self::gather_rows(table, index)
    }
    /// Whether [`FusedOps::segment_sum_grouped`] has a kernel of its own (the CubeCL backends),
    /// so that a batch carries its groupings (`training.engine.segments = "csr"`).
    const GROUPED_SUMS: bool = false;

    /// Whether [`FusedOps::message_mean`] has kernels over the edges' groupings (the CubeCL
    /// backends), used when a batch carries them and asks for them
    /// (`training.engine.messages = "fused"`).
    const FUSED_MESSAGES: bool = false;

    /// The mean over incoming edges of `w[e] * x[senders[e]]` (`w` `[E, c]`, `x` `[n, c]`,
    /// `inv_count` `[n, 1]` = 1 / max(in-degree, 1)): a gather, a product, a segment sum and a
    /// scaling in one pass ([`crate::parallel::message_mean`] on the CPU, one kernel over the
    /// receivers' grouping on the CubeCL backends).
    fn message_mean(
        w: FloatTensor<Self>,
        x: FloatTensor<Self>,
        senders: EdgeIndex<Self>,
        receivers: EdgeIndex<Self>,
        inv_count: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        message_mean_composed::<Self>(w, x, senders, receivers, inv_count)
    }
    /// Gradients `(dw, dx)` of [`FusedOps::message_mean`] for the output gradient `g`.
    fn message_mean_backward(
        g: FloatTensor<Self>,
        w: FloatTensor<Self>,
        x: FloatTensor<Self>,
        senders: EdgeIndex<Self>,
        receivers: EdgeIndex<Self>,
        inv_count: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        message_mean_backward_composed::<Self>(g, w, x, senders, receivers, inv_count)
    }

    /// The study's Gaussian basis `[E, k]` of the distances `d` `[E, 1]`:
    /// `exp(-(d - i delta)^2 / delta)` ([`gaussian_rbf`]).
    fn gaussian_basis(d: FloatTensor<Self>, k: usize, delta: f64) -> FloatTensor<Self> {
        let d = Tensor::<Self, 2>::from_primitive(TensorPrimitive::Float(d));
        gaussian_rbf(d, k, delta).into_primitive().tensor()
    }
    /// The basis' backward pass `[E, 1]` for the output gradient `g` `[E, k]`:
    /// `sum_i g_i b_i c_i`, `c_i = -2 (d - i delta) / delta`.
    fn gaussian_basis_backward(
        g: FloatTensor<Self>,
        d: FloatTensor<Self>,
        k: usize,
        delta: f64,
    ) -> FloatTensor<Self> {
        let (g, d) = (basis_float::<Self>(g), basis_float::<Self>(d));
        let (b, c) = basis_parts(d, k, delta);
        basis_prim((g * b * c).sum_dim(1))
    }
    /// The derivative of [`FusedOps::gaussian_basis_backward`] by `d`, per distance:
    /// `sum_i g_i b_i (c_i^2 - 2 / delta)`.
    fn gaussian_basis_curvature(
        g: FloatTensor<Self>,
        d: FloatTensor<Self>,
        k: usize,
        delta: f64,
    ) -> FloatTensor<Self> {
        let (g, d) = (basis_float::<Self>(g), basis_float::<Self>(d));
        let (b, c) = basis_parts(d, k, delta);
        basis_prim((g * b * (c.clone() * c).sub_scalar(2.0 / delta)).sum_dim(1))
    }
    /// The derivative of [`FusedOps::gaussian_basis_backward`] by `g`, times `u` `[E, 1]`:
    /// `u b_i c_i`, `[E, k]`.
    fn gaussian_basis_slope(
        u: FloatTensor<Self>,
        d: FloatTensor<Self>,
        k: usize,
        delta: f64,
    ) -> FloatTensor<Self> {
        let (u, d) = (basis_float::<Self>(u), basis_float::<Self>(d));
        let (b, c) = basis_parts(d, k, delta);
        basis_prim(b * c * u)
    }

    /// The element-wise product `grad * slope` (the backward pass of an activation that kept its
    /// slope; the two of one shape).
    fn mul_slope(grad: FloatTensor<Self>, slope: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_mul(grad, slope)
    }

    /// `x + b` for `x` `[m, n]` and a bias row `b` `[1, n]`.
    fn add_bias(x: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_add(x, b)
    }
    /// Column sums `[1, n]` of `g` `[m, n]`: the bias gradient of [`FusedOps::add_bias`].
    fn bias_grad(g: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_sum_dim(g, 0)
    }

    /// `base[k] + p[senders[k], ..d] + p[receivers[k], d..]` for every edge k (`p` `[n, 2d]`,
    /// `base` `[E, d]`): `concat(h[senders], h[receivers], e) W` computed as
    /// `e W_e + (h [W_s | W_r])` gathered by sender and receiver ([`crate::parallel::pair_gather_add`]).
    fn pair_gather_add(
        p: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        base: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let p = Tensor::<Self, 2>::from_primitive(TensorPrimitive::Float(p));
        let [n, d2] = p.dims();
        let d = d2 / 2;
        let ps = p.clone().slice([0..n, 0..d]);
        let pr = p.slice([0..n, d..d2]);
        let out = Tensor::<Self, 2>::from_primitive(TensorPrimitive::Float(base))
            + ps.select(0, Tensor::from_primitive(senders))
            + pr.select(0, Tensor::from_primitive(receivers));
        out.into_primitive().tensor()
    }
    /// The gradient of [`FusedOps::pair_gather_add`] with respect to `p` (`[n, 2d]`) for the
    /// output gradient `g` `[E, d]`: the rows of `g` summed by sender (first half) and by
    /// receiver (second half).
    fn pair_gather_add_backward(
        g: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        let float = |t| Tensor::<Self, 2>::from_primitive(TensorPrimitive::Float(t));
        let by_sender = Self::segment_sum(g.clone(), senders, n);
        let by_receiver = Self::segment_sum(g, receivers, n);
        Tensor::cat(vec![float(by_sender), float(by_receiver)], 1)
            .into_primitive()
            .tensor()
    }
}

fn basis_float<B: Backend>(t: FloatTensor<B>) -> Tensor<B, 2> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

fn basis_prim<B: Backend>(t: Tensor<B, 2>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// The basis `b` `[E, k]` of `d` `[E, 1]` and its log-slopes `c = -2 (d - mu) / delta`.
fn basis_parts<B: Backend>(d: Tensor<B, 2>, k: usize, delta: f64) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let centres: Vec<f32> = (0..k).map(|i| (i as f64 * delta) as f32).collect();
    let centres =
        Tensor::<B, 2>::from_data(burn::tensor::TensorData::new(centres, [1, k]), &d.device());
    let x = d.clone() - centres;
    let b = gaussian_rbf(d, k, delta);
    (b, x.mul_scalar(-2.0 / delta))
}

use crate::flex_kernels::{changed, flex_from, over_distances, with_f32, with_slope};
use crate::parallel::map_in_place;

impl FusedOps for Flex {
    const PARALLEL_KERNELS: bool = true;

    fn gaussian_basis(d: FloatTensor<Self>, k: usize, delta: f64) -> FloatTensor<Self> {
        let e = d.shape().num_elements();
        let out = with_f32(&d, |d| fastmath::gaussian_basis(d, k, delta as f32));
        flex_from(out, [e, k])
    }

    fn gaussian_basis_backward(
        g: FloatTensor<Self>,
        d: FloatTensor<Self>,
        k: usize,
        delta: f64,
    ) -> FloatTensor<Self> {
        over_distances(&g, &d, 1, |g, d| {
            fastmath::gaussian_basis_backward(g, d, k, delta as f32)
        })
    }

    fn gaussian_basis_curvature(
        g: FloatTensor<Self>,
        d: FloatTensor<Self>,
        k: usize,
        delta: f64,
    ) -> FloatTensor<Self> {
        over_distances(&g, &d, 1, |g, d| {
            fastmath::gaussian_basis_curvature(g, d, k, delta as f32)
        })
    }

    fn gaussian_basis_slope(
        u: FloatTensor<Self>,
        d: FloatTensor<Self>,
        k: usize,
        delta: f64,
    ) -> FloatTensor<Self> {
        over_distances(&u, &d, k, |u, d| {
            fastmath::gaussian_basis_slope(u, d, k, delta as f32)
        })
    }

    fn matmul(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        crate::flex_kernels::matmul(x, w)
    }

    fn matmul_nt(g: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        crate::flex_kernels::matmul_nt(g, w)
    }

    fn matmul_tn(x: FloatTensor<Self>, g: FloatTensor<Self>) -> FloatTensor<Self> {
        crate::flex_kernels::matmul_tn(x, g)
    }

    fn gather_rows(table: FloatTensor<Self>, index: IntTensor<Self>) -> FloatTensor<Self> {
        crate::flex_kernels::gather_rows(table, index)
    }

    fn segment_sum(
        values: FloatTensor<Self>,
        index: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        crate::flex_kernels::segment_sum(values, index, n)
    }

    fn message_mean(
        w: FloatTensor<Self>,
        x: FloatTensor<Self>,
        senders: EdgeIndex<Self>,
        receivers: EdgeIndex<Self>,
        inv_count: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        crate::flex_kernels::message_mean(w, x, senders.index, receivers.index, inv_count)
    }

    fn message_mean_backward(
        g: FloatTensor<Self>,
        w: FloatTensor<Self>,
        x: FloatTensor<Self>,
        senders: EdgeIndex<Self>,
        receivers: EdgeIndex<Self>,
        inv_count: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        crate::flex_kernels::message_mean_backward(
            g,
            w,
            x,
            senders.index,
            receivers.index,
            inv_count,
        )
    }

    fn pair_gather_add(
        p: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        base: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        crate::flex_kernels::pair_gather_add(p, senders, receivers, base)
    }

    fn add_bias(x: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let (xs, bs) = (x.shape(), b.shape());
        if xs.num_dims() != 2 || bs.as_slice() != [1, xs[1]] {
            return <Self as burn::tensor::ops::FloatTensorOps<Self>>::float_add(x, b);
        }
        with_f32(&b, |b| changed(x, |v| crate::parallel::add_row(v, b)))
    }

    fn bias_grad(g: FloatTensor<Self>) -> FloatTensor<Self> {
        let shape = g.shape();
        if shape.num_dims() != 2 {
            return <Self as burn::tensor::ops::FloatTensorOps<Self>>::float_sum_dim(g, 0);
        }
        let n = shape[1];
        flex_from(with_f32(&g, |g| crate::parallel::column_sums(g, n)), [1, n])
    }

    fn mul_slope(grad: FloatTensor<Self>, slope: FloatTensor<Self>) -> FloatTensor<Self> {
        if grad.shape() != slope.shape() {
            return <Self as burn::tensor::ops::FloatTensorOps<Self>>::float_mul(grad, slope);
        }
        with_f32(&slope, |k| {
            changed(grad, |g| crate::parallel::mul_in_place(g, k))
        })
    }

    fn pair_gather_add_backward(
        g: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        crate::flex_kernels::pair_index_add(g, senders, receivers, n)
    }

    fn ssp(x: FloatTensor<Self>) -> FloatTensor<Self> {
        changed(x, |v| map_in_place(v, fastmath::ssp_in_place))
    }

    fn ssp_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        with_slope(x, fastmath::ssp_with_slope_in_place)
    }

    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        changed(x, |v| map_in_place(v, fastmath::silu_in_place))
    }

    fn silu_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        with_slope(x, fastmath::silu_with_slope_in_place)
    }
}

/// The study's Gaussian basis `[E, k]` of the distances `d` `[E, 1]` through the fused kernel,
/// with backward passes to second order on autodiff backends ([`crate::tracked`]).
pub fn gaussian_basis<B: FusedOps>(d: Tensor<B, 2>, k: usize, delta: f64) -> Tensor<B, 2> {
    let out = B::gaussian_basis(d.into_primitive().tensor(), k, delta);
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Shifted softplus through the fused kernel.
pub fn ssp<B: FusedOps, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let out = B::ssp(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// SiLU through the fused kernel.
pub fn silu<B: FusedOps, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let out = B::silu(x.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}
