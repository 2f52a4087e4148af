//! [`FusedOps`] products, gathers and segment sums on the autodiff backend: the inner backend's
//! kernels forward, and backward passes made of the same kernels (so a training step on the CPU
//! is parallel and thread-count independent in both directions).
//!
//! * `y = x w`: `dx = g w^T` ([`FusedOps::matmul_nt`]), `dw = x^T g` ([`FusedOps::matmul_tn`]);
//! * `y = gather(table, index)`: `dtable = segment_sum(g, index, n)`;
//! * `y = segment_sum(values, index, n)`: `dvalues = gather(g, index)`;
//! * the same two over an index's grouping (CSR): `dtable = segment_sum_grouped(g, ...)`;
//! * `y = x + b` (a bias row): `dx = g`, `db` = column sums of `g` ([`FusedOps::bias_grad`]).

use crate::fused::{EdgeIndex, FusedOps};
use burn::tensor::Scalar;
use burn::tensor::TensorMetadata;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, OpsPrep, binary, unary};

/// `out`, the inner backend's result of an op prepared on its inputs (`prep`), tracked with the
/// state `state()` for its backward pass (made only when an input is tracked).
fn record<B: FusedOps, C: CheckpointStrategy, O: Backward<B, N>, const N: usize>(
    prep: OpsPrep<O, B, O::State, C, N>,
    state: impl FnOnce() -> O::State,
    out: FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(state(), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// The number of rows of `t` (0 for a scalar).
fn rows<B: FusedOps>(t: &FloatTensor<B>) -> usize {
    t.shape().as_slice().first().copied().unwrap_or(0)
}

#[derive(Debug)]
struct GatherBackward;

impl<B: FusedOps> Backward<B, 1> for GatherBackward {
    /// The index and the table's row count.
    type State = (IntTensor<B>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (index, n) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| {
            B::segment_sum(g, index, n)
        });
    }
}

/// Rows of `table` picked by `index`, with its backward pass.
pub fn gather_rows<B: FusedOps, C: CheckpointStrategy>(
    table: FloatTensor<Autodiff<B, C>>,
    index: IntTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    let n = rows::<B>(&table.primitive);
    let out = B::gather_rows(table.primitive, index.clone());
    record(
        GatherBackward.prepare::<C>([table.node]),
        || (index, n),
        out,
    )
}

#[derive(Debug)]
struct SegmentSumBackward;

impl<B: FusedOps> Backward<B, 1> for SegmentSumBackward {
    /// The index.
    type State = IntTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let index = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| B::gather_rows(g, index));
    }
}

/// Rows of `values` added into `n` segments by `index`, with its backward pass.
pub fn segment_sum<B: FusedOps, C: CheckpointStrategy>(
    values: FloatTensor<Autodiff<B, C>>,
    index: IntTensor<Autodiff<B, C>>,
    n: usize,
) -> FloatTensor<Autodiff<B, C>> {
    let out = B::segment_sum(values.primitive, index.clone(), n);
    record(
        SegmentSumBackward.prepare::<C>([values.node]),
        || index,
        out,
    )
}

/// A grouping of rows by segment (see [`FusedOps::segment_sum_grouped`]): the sorting order
/// (none when the rows are sorted) and the `n + 1` offsets.
type Grouping<B> = (Option<IntTensor<B>>, IntTensor<B>);

/// Rows of `values` summed into `n` segments over their grouping, with its backward pass (a
/// gather by `index`).
pub fn segment_sum_grouped<B: FusedOps, C: CheckpointStrategy>(
    values: FloatTensor<Autodiff<B, C>>,
    index: IntTensor<Autodiff<B, C>>,
    order: Option<IntTensor<Autodiff<B, C>>>,
    offsets: IntTensor<Autodiff<B, C>>,
    n: usize,
) -> FloatTensor<Autodiff<B, C>> {
    let out = B::segment_sum_grouped(values.primitive, index.clone(), order, offsets, n);
    // the backward pass is the ungrouped sum's: a gather by `index`
    record(
        SegmentSumBackward.prepare::<C>([values.node]),
        || index,
        out,
    )
}

#[derive(Debug)]
struct GroupedGatherBackward;

impl<B: FusedOps> Backward<B, 1> for GroupedGatherBackward {
    /// The index, its grouping and the table's row count.
    type State = (IntTensor<B>, Grouping<B>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (index, (order, offsets), n) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| {
            B::segment_sum_grouped(g, index, order, offsets, n)
        });
    }
}

/// Rows of `table` picked by `index`, with a backward pass that sums over the index's grouping.
pub fn gather_rows_grouped<B: FusedOps, C: CheckpointStrategy>(
    table: FloatTensor<Autodiff<B, C>>,
    index: IntTensor<Autodiff<B, C>>,
    order: Option<IntTensor<Autodiff<B, C>>>,
    offsets: IntTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    let n = rows::<B>(&table.primitive);
    let out = B::gather_rows_grouped(
        table.primitive,
        index.clone(),
        order.clone(),
        offsets.clone(),
    );
    let state = || (index, (order, offsets), n);
    record(GroupedGatherBackward.prepare::<C>([table.node]), state, out)
}

#[derive(Debug)]
struct MessageMeanBackward;

/// What the backward pass of a message mean keeps: `w`, `x`, senders, receivers, `inv_count`.
type MessageState<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    EdgeIndex<B>,
    EdgeIndex<B>,
    FloatTensor<B>,
);

/// An autodiff backend's edge index as its inner backend's (the integer tensors are the same).
fn inner_index<B: FusedOps, C: CheckpointStrategy>(e: EdgeIndex<Autodiff<B, C>>) -> EdgeIndex<B> {
    EdgeIndex {
        index: e.index,
        grouping: e.grouping,
    }
}

impl<B: FusedOps> Backward<B, 2> for MessageMeanBackward {
    type State = MessageState<B>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (w, x, senders, receivers, inv) = ops.state;
        let g = grads.consume::<B>(&ops.node);
        let (dw, dx) = B::message_mean_backward(g, w, x, senders, receivers, inv);
        let [node_w, node_x] = ops.parents;
        if let Some(node) = node_w {
            grads.register::<B>(node.id, dw);
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
    }
}

/// [`FusedOps::message_mean`] with its backward pass (`inv_count` is a constant).
pub fn message_mean<B: FusedOps, C: CheckpointStrategy>(
    w: FloatTensor<Autodiff<B, C>>,
    x: FloatTensor<Autodiff<B, C>>,
    senders: EdgeIndex<Autodiff<B, C>>,
    receivers: EdgeIndex<Autodiff<B, C>>,
    inv_count: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    let inv = inv_count.primitive;
    let (senders, receivers) = (inner_index(senders), inner_index(receivers));
    match MessageMeanBackward
        .prepare::<C>([w.node.clone(), x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = (
                w.primitive.clone(),
                x.primitive.clone(),
                senders.clone(),
                receivers.clone(),
                inv.clone(),
            );
            prep.finish(
                state,
                B::message_mean(w.primitive, x.primitive, senders, receivers, inv),
            )
        }
        OpsKind::UnTracked(prep) => prep.finish(B::message_mean(
            w.primitive,
            x.primitive,
            senders,
            receivers,
            inv,
        )),
    }
}

#[derive(Debug)]
struct PairGatherAddBackward;

impl<B: FusedOps> Backward<B, 2> for PairGatherAddBackward {
    /// Senders, receivers and the table's row count.
    type State = (IntTensor<B>, IntTensor<B>, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (senders, receivers, n) = ops.state;
        binary::<B, _, _>(
            ops.parents,
            ops.node,
            grads,
            |g| B::pair_gather_add_backward(g, senders, receivers, n),
            |g| g,
        );
    }
}

/// [`FusedOps::pair_gather_add`] with its backward pass: `dp` sums the output gradient by sender
/// and by receiver, `dbase` is the output gradient.
pub fn pair_gather_add<B: FusedOps, C: CheckpointStrategy>(
    p: FloatTensor<Autodiff<B, C>>,
    senders: IntTensor<Autodiff<B, C>>,
    receivers: IntTensor<Autodiff<B, C>>,
    base: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    let n = rows::<B>(&p.primitive);
    let out = B::pair_gather_add(
        p.primitive,
        senders.clone(),
        receivers.clone(),
        base.primitive,
    );
    let state = move || (senders, receivers, n);
    record(
        PairGatherAddBackward.prepare::<C>([p.node, base.node]),
        state,
        out,
    )
}

#[derive(Debug)]
struct AddBiasBackward;

impl<B: FusedOps> Backward<B, 2> for AddBiasBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        binary::<B, _, _>(ops.parents, ops.node, grads, |g| g, |g| B::bias_grad(g));
    }
}

/// [`FusedOps::add_bias`] with its backward pass: `dx` is the output gradient, `db` its column
/// sums ([`FusedOps::bias_grad`]).
pub fn add_bias<B: FusedOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    b: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    let out = B::add_bias(x.primitive, b.primitive);
    record(AddBiasBackward.prepare::<C>([x.node, b.node]), || (), out)
}

/// Backward pass of an element-wise activation whose forward pass kept its slope.
#[derive(Debug)]
struct SlopeBackward;

impl<B: FusedOps> Backward<B, 1> for SlopeBackward {
    type State = B::FloatTensorPrimitive;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let slope = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::mul_slope(grad, slope)
        });
    }
}

/// An activation's value `out` of `x`, tracked with the slope `slope` the inner kernel gave
/// with it.
fn with_slope<B: FusedOps, C: CheckpointStrategy>(
    x: &FloatTensor<Autodiff<B, C>>,
    out: FloatTensor<B>,
    slope: FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    record(SlopeBackward.prepare::<C>([x.node.clone()]), || slope, out)
}

/// Backward pass of the slope `s = sigmoid(x)` of the shifted softplus: `ds/dx = s (1 - s)`.
#[derive(Debug)]
struct SigmoidSlopeBackward;

impl<B: FusedOps> Backward<B, 1> for SigmoidSlopeBackward {
    /// The slope `s`.
    type State = B::FloatTensorPrimitive;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| {
            let one_minus = B::float_add_scalar(B::float_neg(s.clone()), Scalar::Float(1.0));
            B::float_mul(g, B::float_mul(s, one_minus))
        });
    }
}

/// Backward pass of SiLU's slope `s (1 + x (1 - s))`: its derivative
/// `s (1 - s) (2 + x (1 - 2 s))`, with `s = sigmoid(x)`.
#[derive(Debug)]
struct SiluSlopeBackward;

impl<B: FusedOps> Backward<B, 1> for SiluSlopeBackward {
    /// The input `x`.
    type State = B::FloatTensorPrimitive;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        use burn::tensor::ops::ActivationOps;
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| {
            let s = <B as ActivationOps<B>>::sigmoid(x.clone());
            let one = |t| B::float_add_scalar(t, Scalar::Float(1.0));
            let s1 = B::float_mul(s.clone(), one(B::float_neg(s.clone())));
            // 2 + x (1 - 2 s)
            let two_s = B::float_mul_scalar(s, Scalar::Float(2.0));
            let inner = B::float_add_scalar(
                B::float_mul(x, one(B::float_neg(two_s))),
                Scalar::Float(2.0),
            );
            B::float_mul(g, B::float_mul(s1, inner))
        });
    }
}

/// An element-wise kernel returning its value and its slope.
type WithSlope<B> = fn(FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>);

/// An activation on the autodiff backend: the inner kernel with its slope when tracked.
fn activation<B: FusedOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    plain: fn(FloatTensor<B>) -> FloatTensor<B>,
    with_slope: WithSlope<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match SlopeBackward
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, slope) = with_slope(x.primitive);
            prep.finish(slope, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(plain(x.primitive)),
    }
}

mod basis;
mod products;

use basis::{gaussian_basis, gaussian_basis_backward};
use products::{matmul, matmul_nt, matmul_tn};

impl<B: FusedOps, C: CheckpointStrategy> FusedOps for Autodiff<B, C> {
    const CHUNKED_INDEX_ADD: bool = B::CHUNKED_INDEX_ADD;
    const PARALLEL_KERNELS: bool = B::PARALLEL_KERNELS;
    const GROUPED_SUMS: bool = B::GROUPED_SUMS;
    const FUSED_MESSAGES: bool = B::FUSED_MESSAGES;

    fn segment_sum_grouped(
        values: FloatTensor<Self>,
        index: IntTensor<Self>,
        order: Option<IntTensor<Self>>,
        offsets: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        segment_sum_grouped::<B, C>(values, index, order, offsets, n)
    }

    fn gather_rows_grouped(
        table: FloatTensor<Self>,
        index: IntTensor<Self>,
        order: Option<IntTensor<Self>>,
        offsets: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        gather_rows_grouped::<B, C>(table, index, order, offsets)
    }

    fn matmul(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        matmul::<B, C>(x, w)
    }

    fn matmul_nt(g: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        matmul_nt::<B, C>(g, w)
    }

    fn gaussian_basis(d: FloatTensor<Self>, k: usize, delta: f64) -> FloatTensor<Self> {
        gaussian_basis::<B, C>(d, k, delta)
    }

    fn gaussian_basis_backward(
        g: FloatTensor<Self>,
        d: FloatTensor<Self>,
        k: usize,
        delta: f64,
    ) -> FloatTensor<Self> {
        gaussian_basis_backward::<B, C>(g, d, k, delta)
    }

    fn matmul_tn(x: FloatTensor<Self>, g: FloatTensor<Self>) -> FloatTensor<Self> {
        matmul_tn::<B, C>(x, g)
    }

    fn add_bias(x: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        add_bias::<B, C>(x, b)
    }

    fn gather_rows(table: FloatTensor<Self>, index: IntTensor<Self>) -> FloatTensor<Self> {
        gather_rows::<B, C>(table, index)
    }

    fn segment_sum(
        values: FloatTensor<Self>,
        index: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        segment_sum::<B, C>(values, index, n)
    }

    fn message_mean(
        w: FloatTensor<Self>,
        x: FloatTensor<Self>,
        senders: EdgeIndex<Self>,
        receivers: EdgeIndex<Self>,
        inv_count: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        message_mean::<B, C>(w, x, senders, receivers, inv_count)
    }

    fn pair_gather_add(
        p: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        base: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        pair_gather_add::<B, C>(p, senders, receivers, base)
    }

    fn ssp(x: FloatTensor<Self>) -> FloatTensor<Self> {
        activation::<B, C>(x, B::ssp, B::ssp_with_slope)
    }

    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        activation::<B, C>(x, B::silu, B::silu_with_slope)
    }

    /// SiLU and its slope `s (1 + x (1 - s))` (`s = sigmoid(x)`) from one pass of the inner
    /// kernel, both tracked: under nested autodiff (a potential's forces) the outer backward pass
    /// multiplies by the slope, and the slope's own derivative `s (1 - s) (2 + x (1 - 2 s))` is
    /// part of the exact second-order gradient.
    fn silu_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (out, slope) = B::silu_with_slope(x.primitive.clone());
        let y = with_slope::<B, C>(&x, out, slope.clone());
        let node = x.node.clone();
        (
            y,
            record(
                SiluSlopeBackward.prepare::<C>([node]),
                || x.primitive,
                slope,
            ),
        )
    }

    /// Shifted softplus and its slope `s = sigmoid(x)` from one pass of the inner kernel, both
    /// tracked (the slope's derivative is `s (1 - s)`; see [`FusedOps::silu_with_slope`] here).
    fn ssp_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (out, s) = B::ssp_with_slope(x.primitive.clone());
        let y = with_slope::<B, C>(&x, out, s.clone());
        let state = s.clone();
        (
            y,
            record(SigmoidSlopeBackward.prepare::<C>([x.node]), || state, s),
        )
    }
}

#[cfg(test)]
mod tests;
