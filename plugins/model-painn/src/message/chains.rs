//! The message block written with burn's tensor operations (gathers, products and chunked
//! index-adds), for backends without a fused kernel (the GPU backends): the same sums and
//! gradients as the CPU kernels.

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Int, Tensor, TensorPrimitive};

type T2<B> = Tensor<B, 2>;
type I1<B> = Tensor<B, 1, Int>;

fn f<B: Backend>(x: FloatTensor<B>) -> T2<B> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

fn i<B: Backend>(x: IntTensor<B>) -> I1<B> {
    Tensor::from_primitive(x)
}

/// Sum of edge rows into `rows` nodes, in parallel chunks (burn's CUDA index-add is serial
/// over the rows: geobatch_nn::index).
fn scatter<B: Backend>(rows: usize, index: I1<B>, values: T2<B>) -> T2<B> {
    geobatch_nn::index::segment_sum_chunked(values, index, rows)
}

/// Per edge: the three filter blocks, the receiver's three message blocks, the receiver's
/// vector components and the direction components.
struct Edge<B: Backend> {
    w: [T2<B>; 3],
    x: [T2<B>; 3],
    v: [T2<B>; 3],
    d: [T2<B>; 3],
}

fn edge<B: Backend>(w: &T2<B>, xs: &T2<B>, v: &T2<B>, dir: &T2<B>, rcv: &I1<B>) -> Edge<B> {
    let f = xs.dims()[1] / 3;
    let n = xs.dims()[0];
    let xj = xs.clone().select(0, rcv.clone());
    let blk = |t: &T2<B>, k: usize| t.clone().narrow(1, k * f, f);
    Edge {
        w: [blk(w, 0), blk(w, 1), blk(w, 2)],
        x: [blk(&xj, 0), blk(&xj, 1), blk(&xj, 2)],
        v: [0, 1, 2].map(|c| v.clone().narrow(0, c * n, n).select(0, rcv.clone())),
        d: [0, 1, 2].map(|c| dir.clone().narrow(1, c, 1)),
    }
}

/// [`super::MessageOps::painn_message`].
pub fn message<B: Backend>(
    w: FloatTensor<B>,
    xs: FloatTensor<B>,
    v: FloatTensor<B>,
    dir: FloatTensor<B>,
    senders: IntTensor<B>,
    receivers: IntTensor<B>,
    n: usize,
) -> FloatTensor<B> {
    let (w, xs, v, dir, snd, rcv) = (
        f::<B>(w),
        f::<B>(xs),
        f::<B>(v),
        f::<B>(dir),
        i::<B>(senders),
        i::<B>(receivers),
    );
    let e = edge(&w, &xs, &v, &dir, &rcv);
    let m = |k: usize| e.w[k].clone() * e.x[k].clone();
    let mut blocks = vec![scatter(n, snd.clone(), m(0))];
    for c in 0..3 {
        let dv = m(1) * e.d[c].clone() + m(2) * e.v[c].clone();
        blocks.push(scatter(n, snd.clone(), dv));
    }
    Tensor::cat(blocks, 0).into_primitive().tensor()
}

/// [`super::MessageOps::painn_message_backward`].
#[allow(clippy::type_complexity)]
pub fn message_backward<B: Backend>(
    grad: FloatTensor<B>,
    w: FloatTensor<B>,
    xs: FloatTensor<B>,
    v: FloatTensor<B>,
    dir: FloatTensor<B>,
    senders: IntTensor<B>,
    receivers: IntTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (g, w, xs, v, dir, snd, rcv) = (
        f::<B>(grad),
        f::<B>(w),
        f::<B>(xs),
        f::<B>(v),
        f::<B>(dir),
        i::<B>(senders),
        i::<B>(receivers),
    );
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
