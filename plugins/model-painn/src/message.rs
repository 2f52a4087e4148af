//! PaiNN's message block as one fused operation with its own backward pass: for every edge
//! (sender i, receiver j) m = W_e ⊙ x_j is split into (ds, dv1, dv2), dv = dv1 ⊗ dir_e + dv2 ⊙ v_j,
//! and ds, dv are summed into the sender. Nothing of size edges x features is kept but the
//! filters themselves; the loops run over edges in order, so results are deterministic.
//!
//! Layouts: filters `w` `[E, 3F]`, node messages `xs` `[N, 3F]`, vector features `v` `[3N, F]`
//! (component-outer: the x rows of all nodes, then y, then z), directions `[E, 3]`; the output
//! is `[4N, F]`: the scalar sums of all nodes, then the x, y and z sums. Every block a model
//! reads is then a contiguous run of rows.

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Int, Tensor, TensorMetadata, TensorPrimitive};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};

/// Backends with PaiNN's fused message kernel.
pub trait MessageOps: Backend {
    /// The summed messages `[4N, F]` (see the module documentation).
    fn painn_message(
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self>;

    /// Gradients of the summed messages with respect to `w`, `xs` and `v`, given the gradient of
    /// the output.
    #[allow(clippy::too_many_arguments)]
    fn painn_message_backward(
        grad: FloatTensor<Self>,
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// A contiguous f32 version of `t` (the same buffer when it already is one).
fn dense(t: &FlexTensor) -> FlexTensor {
    if t.dtype() == burn::tensor::DType::F32 {
        t.to_contiguous()
    } else {
        FlexTensor::from_data(t.to_contiguous().into_data().convert::<f32>())
    }
}

/// A contiguous i32 version of an index tensor.
fn dense_int(t: &FlexTensor) -> FlexTensor {
    if t.dtype() == burn::tensor::DType::I32 {
        t.to_contiguous()
    } else {
        FlexTensor::from_data(t.to_contiguous().into_data().convert::<i32>())
    }
}

/// A zero f32 tensor of `shape`, to be written through [`FlexTensor::storage_mut`].
fn zeros(shape: [usize; 2]) -> FlexTensor {
    FlexTensor::zeros(
        burn::tensor::Shape::from(shape.to_vec()),
        burn::tensor::DType::F32,
    )
}

/// The forward kernel on host slices.
#[allow(clippy::too_many_arguments)]
pub fn message_forward(
    w: &[f32],
    xs: &[f32],
    v: &[f32],
    dir: &[f32],
    senders: &[i32],
    receivers: &[i32],
    f: usize,
    out: &mut [f32],
) {
    let n = xs.len() / (3 * f);
    pulp::Arch::new().dispatch(|| {
        for (e, (&i, &j)) in senders.iter().zip(receivers).enumerate() {
            let (i, j) = (i as usize, j as usize);
            let we = &w[e * 3 * f..(e + 1) * 3 * f];
            let xj = &xs[j * 3 * f..(j + 1) * 3 * f];
            let (w1, w2) = we[f..].split_at(f);
            let (x1, x2) = xj[f..].split_at(f);
            let os = &mut out[i * f..(i + 1) * f];
            for ((o, &a), &b) in os.iter_mut().zip(&we[..f]).zip(&xj[..f]) {
                *o += a * b;
            }
            for c in 0..3 {
                let dc = dir[e * 3 + c];
                let vc = &v[(c * n + j) * f..(c * n + j + 1) * f];
                let oc = &mut out[((1 + c) * n + i) * f..((1 + c) * n + i + 1) * f];
                for k in 0..f {
                    oc[k] += w1[k] * x1[k] * dc + w2[k] * x2[k] * vc[k];
                }
            }
        }
    });
}

/// Host slices the backward kernel reads.
#[derive(Debug, Clone, Copy)]
pub struct MessageInputs<'a> {
    /// Filters `[E, 3F]`.
    pub w: &'a [f32],
    /// Node messages `[N, 3F]`.
    pub xs: &'a [f32],
    /// Vector features `[N, 3F]`.
    pub v: &'a [f32],
    /// Directions `[E, 3]`.
    pub dir: &'a [f32],
    /// Sender of every edge.
    pub senders: &'a [i32],
    /// Receiver of every edge.
    pub receivers: &'a [i32],
}

/// The backward kernel on host slices: writes (dw, dxs, dv) into zeroed buffers.
pub fn message_backward(
    g: &[f32],
    x: MessageInputs,
    f: usize,
    gw: &mut [f32],
    gx: &mut [f32],
    gv: &mut [f32],
) {
    let MessageInputs {
        w,
        xs,
        v,
        dir,
        senders,
        receivers,
    } = x;
    let n = xs.len() / (3 * f);
    pulp::Arch::new().dispatch(|| {
        for (e, (&i, &j)) in senders.iter().zip(receivers).enumerate() {
            let (i, j) = (i as usize, j as usize);
            let we = &w[e * 3 * f..(e + 1) * 3 * f];
            let xj = &xs[j * 3 * f..(j + 1) * 3 * f];
            let d = [dir[e * 3], dir[e * 3 + 1], dir[e * 3 + 2]];
            let row = |c: usize, node: usize| (c * n + node) * f;
            let gs = &g[i * f..(i + 1) * f];
            let (g0, g1, g2) = (
                &g[row(1, i)..row(1, i) + f],
                &g[row(2, i)..row(2, i) + f],
                &g[row(3, i)..row(3, i) + f],
            );
            let (v0, v1, v2) = (
                &v[row(0, j)..row(0, j) + f],
                &v[row(1, j)..row(1, j) + f],
                &v[row(2, j)..row(2, j) + f],
            );
            let (gw0, rest) = gw[e * 3 * f..(e + 1) * 3 * f].split_at_mut(f);
            let (gw1, gw2) = rest.split_at_mut(f);
            let (gx0, rest) = gx[j * 3 * f..(j + 1) * 3 * f].split_at_mut(f);
            let (gx1, gx2) = rest.split_at_mut(f);
            let (w0, w1, w2) = (&we[..f], &we[f..2 * f], &we[2 * f..3 * f]);
            let (x0, x1, x2) = (&xj[..f], &xj[f..2 * f], &xj[2 * f..3 * f]);
            let (gs, g0, g1, g2) = (&gs[..f], &g0[..f], &g1[..f], &g2[..f]);
            let (v0, v1, v2) = (&v0[..f], &v1[..f], &v2[..f]);
            let (gw1, gw2, gx1, gx2) = (&mut gw1[..f], &mut gw2[..f], &mut gx1[..f], &mut gx2[..f]);
            for k in 0..f {
                let gm0 = gs[k];
                let gm1 = g0[k] * d[0] + g1[k] * d[1] + g2[k] * d[2];
                let gm2 = g0[k] * v0[k] + g1[k] * v1[k] + g2[k] * v2[k];
                gw0[k] = gm0 * x0[k];
                gw1[k] = gm1 * x1[k];
                gw2[k] = gm2 * x2[k];
                gx0[k] += gm0 * w0[k];
                gx1[k] += gm1 * w1[k];
                gx2[k] += gm2 * w2[k];
            }
            for (c, gc) in [g0, g1, g2].into_iter().enumerate() {
                let gvj = &mut gv[row(c, j)..row(c, j) + f];
                for ((o, (&a, &b)), &g) in gvj.iter_mut().zip(w2.iter().zip(x2)).zip(gc) {
                    *o += a * b * g;
                }
            }
        }
    });
}

impl MessageOps for Flex {
    fn painn_message(
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        let f = xs.shape().dims::<2>()[1] / 3;
        let (w, xs, v, dir) = (dense(&w), dense(&xs), dense(&v), dense(&dir));
        let (snd, rcv) = (dense_int(&senders), dense_int(&receivers));
        let mut out = zeros([4 * n, f]);
        message_forward(
            w.storage(),
            xs.storage(),
            v.storage(),
            dir.storage(),
            snd.storage(),
            rcv.storage(),
            f,
            out.storage_mut(),
        );
        out
    }

    fn painn_message_backward(
        grad: FloatTensor<Self>,
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (ws, xshape, vshape) = (
            w.shape().dims::<2>(),
            xs.shape().dims::<2>(),
            v.shape().dims::<2>(),
        );
        let f = xshape[1] / 3;
        let (grad, w, xs, v, dir) = (dense(&grad), dense(&w), dense(&xs), dense(&v), dense(&dir));
        let (snd, rcv) = (dense_int(&senders), dense_int(&receivers));
        let (mut gw, mut gx, mut gv) = (zeros(ws), zeros(xshape), zeros(vshape));
        message_backward(
            grad.storage(),
            MessageInputs {
                w: w.storage(),
                xs: xs.storage(),
                v: v.storage(),
                dir: dir.storage(),
                senders: snd.storage(),
                receivers: rcv.storage(),
            },
            f,
            gw.storage_mut(),
            gx.storage_mut(),
            gv.storage_mut(),
        );
        (gw, gx, gv)
    }
}

/// What the backward pass keeps: the three differentiated inputs, the directions and the edges.
type MessageState<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    IntTensor<B>,
    IntTensor<B>,
);

#[derive(Debug)]
struct MessageBackward;

impl<B: MessageOps> Backward<B, 3> for MessageBackward {
    type State = MessageState<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _c: &mut Checkpointer) {
        let [node_w, node_x, node_v] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (w, xs, v, dir, senders, receivers) = ops.state;
        let (gw, gx, gv) = B::painn_message_backward(grad, w, xs, v, dir, senders, receivers);
        if let Some(node) = node_w {
            grads.register::<B>(node.id, gw);
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, gx);
        }
        if let Some(node) = node_v {
            grads.register::<B>(node.id, gv);
        }
    }
}

impl<B: MessageOps, C: CheckpointStrategy> MessageOps for Autodiff<B, C> {
    fn painn_message(
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        let nodes = [w.node.clone(), xs.node.clone(), v.node.clone()];
        match MessageBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::painn_message(
                    w.primitive.clone(),
                    xs.primitive.clone(),
                    v.primitive.clone(),
                    dir.primitive.clone(),
                    senders.clone(),
                    receivers.clone(),
                    n,
                );
                let state = (
                    w.primitive,
                    xs.primitive,
                    v.primitive,
                    dir.primitive,
                    senders,
                    receivers,
                );
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::painn_message(
                w.primitive,
                xs.primitive,
                v.primitive,
                dir.primitive,
                senders,
                receivers,
                n,
            )),
        }
    }

    fn painn_message_backward(
        grad: FloatTensor<Self>,
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // Not differentiated further: the results enter the graph as constants.
        use burn::tensor::backend::AutodiffBackend;
        let (a, b, c) = B::painn_message_backward(
            grad.primitive,
            w.primitive,
            xs.primitive,
            v.primitive,
            dir.primitive,
            senders,
            receivers,
        );
        (
            Self::from_inner(a),
            Self::from_inner(b),
            Self::from_inner(c),
        )
    }
}

/// The fused message block on tensors: `[4N, F]` sums of ds, then dv_x, dv_y, dv_z, per sender.
pub fn message<B: MessageOps>(
    w: Tensor<B, 2>,
    xs: Tensor<B, 2>,
    v: Tensor<B, 2>,
    dir: Tensor<B, 2>,
    senders: Tensor<B, 1, Int>,
    receivers: Tensor<B, 1, Int>,
    n: usize,
) -> Tensor<B, 2> {
    let out = B::painn_message(
        w.into_primitive().tensor(),
        xs.into_primitive().tensor(),
        v.into_primitive().tensor(),
        dir.into_primitive().tensor(),
        senders.into_primitive(),
        receivers.into_primitive(),
        n,
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// The message block on CUDA, written with burn's tensor operations (gathers, products and
/// scatter-adds): the same sums and gradients as the CPU kernels.
#[cfg(feature = "cuda")]
mod gpu {
    use super::MessageOps;
    use burn::tensor::ops::{FloatTensor, IntTensor};
    use burn::tensor::{Int, Tensor, TensorPrimitive};
    use geobatch_nn::backend::Gpu;

    type T2 = Tensor<Gpu, 2>;
    type I1 = Tensor<Gpu, 1, Int>;

    fn f(x: FloatTensor<Gpu>) -> T2 {
        Tensor::from_primitive(TensorPrimitive::Float(x))
    }

    fn i(x: IntTensor<Gpu>) -> I1 {
        Tensor::from_primitive(x)
    }

    /// Sum of edge rows into `rows` nodes, in parallel chunks (burn's CUDA index-add is serial
    /// over the rows: geobatch_nn::index).
    fn scatter(rows: usize, index: I1, values: T2) -> T2 {
        geobatch_nn::index::segment_sum_chunked(values, index, rows)
    }

    /// Per edge: the three filter blocks, the receiver's three message blocks, the receiver's
    /// vector components and the direction components.
    struct Edge {
        w: [T2; 3],
        x: [T2; 3],
        v: [T2; 3],
        d: [T2; 3],
    }

    fn edge(w: &T2, xs: &T2, v: &T2, dir: &T2, rcv: &I1) -> Edge {
        let f = xs.dims()[1] / 3;
        let n = xs.dims()[0];
        let xj = xs.clone().select(0, rcv.clone());
        let blk = |t: &T2, k: usize| t.clone().narrow(1, k * f, f);
        Edge {
            w: [blk(w, 0), blk(w, 1), blk(w, 2)],
            x: [blk(&xj, 0), blk(&xj, 1), blk(&xj, 2)],
            v: [0, 1, 2].map(|c| v.clone().narrow(0, c * n, n).select(0, rcv.clone())),
            d: [0, 1, 2].map(|c| dir.clone().narrow(1, c, 1)),
        }
    }

    impl MessageOps for Gpu {
        fn painn_message(
            w: FloatTensor<Self>,
            xs: FloatTensor<Self>,
            v: FloatTensor<Self>,
            dir: FloatTensor<Self>,
            senders: IntTensor<Self>,
            receivers: IntTensor<Self>,
            n: usize,
        ) -> FloatTensor<Self> {
            let (w, xs, v, dir, snd, rcv) = (f(w), f(xs), f(v), f(dir), i(senders), i(receivers));
            let e = edge(&w, &xs, &v, &dir, &rcv);
            let m = |k: usize| e.w[k].clone() * e.x[k].clone();
            let mut blocks = vec![scatter(n, snd.clone(), m(0))];
            for c in 0..3 {
                let dv = m(1) * e.d[c].clone() + m(2) * e.v[c].clone();
                blocks.push(scatter(n, snd.clone(), dv));
            }
            Tensor::cat(blocks, 0).into_primitive().tensor()
        }

        fn painn_message_backward(
            grad: FloatTensor<Self>,
            w: FloatTensor<Self>,
            xs: FloatTensor<Self>,
            v: FloatTensor<Self>,
            dir: FloatTensor<Self>,
            senders: IntTensor<Self>,
            receivers: IntTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let (g, w, xs, v, dir, snd, rcv) =
                (f(grad), f(w), f(xs), f(v), f(dir), i(senders), i(receivers));
            let n = xs.dims()[0];
            let e = edge(&w, &xs, &v, &dir, &rcv);
            let at_sender = |k: usize| g.clone().narrow(0, k * n, n).select(0, snd.clone());
            let (gs, gv) = (at_sender(0), [at_sender(1), at_sender(2), at_sender(3)]);
            let gm0 = gs;
            let gm1 = gv[0].clone() * e.d[0].clone()
                + gv[1].clone() * e.d[1].clone()
                + gv[2].clone() * e.d[2].clone();
            let gm2 = gv[0].clone() * e.v[0].clone()
                + gv[1].clone() * e.v[1].clone()
                + gv[2].clone() * e.v[2].clone();
            let gm = [gm0, gm1, gm2];
            let gw = Tensor::cat((0..3).map(|k| gm[k].clone() * e.x[k].clone()).collect(), 1);
            let gx = scatter(
                n,
                rcv.clone(),
                Tensor::cat((0..3).map(|k| gm[k].clone() * e.w[k].clone()).collect(), 1),
            );
            let m2 = e.w[2].clone() * e.x[2].clone();
            let gvj = Tensor::cat(
                (0..3)
                    .map(|c| scatter(n, rcv.clone(), m2.clone() * gv[c].clone()))
                    .collect(),
                0,
            );
            (
                gw.into_primitive().tensor(),
                gx.into_primitive().tensor(),
                gvj.into_primitive().tensor(),
            )
        }
    }
}
