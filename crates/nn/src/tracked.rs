//! [`FusedOps`] products, gathers and segment sums on the autodiff backend: the inner backend's
//! kernels forward, and backward passes made of the same kernels (so a training step on the CPU
//! is parallel and thread-count independent in both directions).
//!
//! * `y = x w`: `dx = g w^T` ([`FusedOps::matmul_nt`]), `dw = x^T g` ([`FusedOps::matmul_tn`]);
//! * `y = gather(table, index)`: `dtable = segment_sum(g, index, n)`;
//! * `y = segment_sum(values, index, n)`: `dvalues = gather(g, index)`.

use crate::fused::FusedOps;
use burn::tensor::TensorMetadata;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, binary, unary};

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
    match GatherBackward
        .prepare::<C>([table.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let n = table
                .primitive
                .shape()
                .as_slice()
                .first()
                .copied()
                .unwrap_or(0);
            let state = (index.clone(), n);
            prep.finish(state, B::gather_rows(table.primitive, index))
        }
        OpsKind::UnTracked(prep) => prep.finish(B::gather_rows(table.primitive, index)),
    }
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
    match SegmentSumBackward
        .prepare::<C>([values.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            prep.finish(index.clone(), B::segment_sum(values.primitive, index, n))
        }
        OpsKind::UnTracked(prep) => prep.finish(B::segment_sum(values.primitive, index, n)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly on purpose

    use crate::backend::CpuAutodiff;
    use crate::layers::{gather_rows, matmul, segment_sum};
    use crate::parallel::CHUNK_ROWS;
    use burn::tensor::{Int, Tensor, TensorData};
    use rand::{Rng, SeedableRng};

    type B = CpuAutodiff;

    fn random(rows: usize, cols: usize, seed: u64) -> Tensor<B, 2> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let v: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Tensor::from_data(TensorData::new(v, [rows, cols]), &Default::default())
    }

    fn values(t: Tensor<B, 2>) -> Vec<f32> {
        t.into_data().into_vec::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    /// The parallel product and its two gradients against burn's `matmul`, over more rows than
    /// one chunk (the weight gradient is then a sum of partial products).
    #[test]
    fn product_and_gradients_match_burns_matmul() {
        let m = 2 * CHUNK_ROWS + 37;
        let (x, w, up) = (random(m, 20, 1), random(20, 9, 2), random(m, 9, 3));
        let run = |fused: bool| {
            let (xt, wt) = (x.clone().require_grad(), w.clone().require_grad());
            let y = if fused {
                matmul(xt.clone(), wt.clone())
            } else {
                xt.clone().matmul(wt.clone())
            };
            let grads = (y.clone() * up.clone()).sum().backward();
            let gx = xt.grad(&grads).unwrap();
            let gw = wt.grad(&grads).unwrap();
            (
                values(y),
                gx.into_data().into_vec::<f32>().unwrap(),
                gw.into_data().into_vec::<f32>().unwrap(),
            )
        };
        let (fused, plain) = (run(true), run(false));
        close(&fused.0, &plain.0, "x w");
        close(&fused.1, &plain.1, "dx");
        close(&fused.2, &plain.2, "dw");
    }

    /// A gather followed by a segment sum (an edge round trip) and the gradient through both.
    #[test]
    fn gather_and_segment_sum_gradients_match_burns_select() {
        let (n, e) = (40, 3 * CHUNK_ROWS + 5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let idx: Vec<i32> = (0..e).map(|_| rng.random_range(0..n as i32)).collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [e]), &Default::default());
        let (table, up) = (random(n, 6, 5), random(n, 6, 6));
        let run = |fused: bool| {
            let t = table.clone().require_grad();
            let y = if fused {
                segment_sum(
                    gather_rows(t.clone(), index.clone()).exp(),
                    index.clone(),
                    n,
                )
            } else {
                Tensor::zeros([n, 6], &Default::default()).select_assign(
                    0,
                    index.clone(),
                    t.clone().select(0, index.clone()).exp(),
                    burn::tensor::IndexingUpdateOp::Add,
                )
            };
            let grads = (y.clone() * up.clone()).sum().backward();
            (
                values(y),
                t.grad(&grads)
                    .unwrap()
                    .into_data()
                    .into_vec::<f32>()
                    .unwrap(),
            )
        };
        let (fused, plain) = (run(true), run(false));
        close(&fused.0, &plain.0, "sum of gathered rows");
        close(&fused.1, &plain.1, "gradient");
    }
}
