//! The message block written with burn's tensor operations (gathers, products and chunked
//! index-adds), for backends without a fused kernel (the GPU backends): the same sums and
//! gradients as the CPU kernels.

use super::{BackwardInputs, MessageGrads, Part};
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
#[allow(clippy::too_many_arguments)]
pub fn message_backward<B: Backend>(
    grad: FloatTensor<B>,
    w: FloatTensor<B>,
    xs: FloatTensor<B>,
    v: FloatTensor<B>,
    dir: FloatTensor<B>,
    senders: IntTensor<B>,
    receivers: IntTensor<B>,
    dir_grad: bool,
) -> MessageGrads<B> {
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
    // d/d dir_c = sum_k G_c[i] m1
    let m1 = e.w[1].clone() * e.x[1].clone();
    let gd = dir_grad.then(|| {
        let cols = gv.iter().map(|gc| (gc.clone() * m1.clone()).sum_dim(1));
        Tensor::cat(cols.collect(), 1).into_primitive().tensor()
    });
    (
        gw.into_primitive().tensor(),
        gx.into_primitive().tensor(),
        gvj.into_primitive().tensor(),
        gd,
    )
}

/// What the second-order terms read: the edges' rows, the output gradient at the senders (scalar,
/// then x, y, z), the message gradients `gm`, the sizes and the edges.
struct Second<B: Backend> {
    e: Edge<B>,
    gs: T2<B>,
    gc: [T2<B>; 3],
    gm: [T2<B>; 3],
    n: usize,
    f: usize,
    snd: I1<B>,
    rcv: I1<B>,
}

fn dot<B: Backend>(x: &[T2<B>; 3], y: &[T2<B>; 3]) -> T2<B> {
    x[0].clone() * y[0].clone() + x[1].clone() * y[1].clone() + x[2].clone() * y[2].clone()
}

impl<B: Backend> Second<B> {
    /// The scalar block and the three vector blocks summed into the senders, `[4N, F]`.
    fn at_senders(&self, rows: [T2<B>; 4]) -> T2<B> {
        Tensor::cat(
            rows.map(|r| scatter(self.n, self.snd.clone(), r)).to_vec(),
            0,
        )
    }

    /// The three F-wide column blocks of `t`.
    fn blocks(&self, t: T2<B>) -> [T2<B>; 3] {
        [0, 1, 2].map(|k| t.clone().narrow(1, k * self.f, self.f))
    }

    /// The terms of a cotangent of `gw` (p the cotangent's rows, q the receivers' messages) or of
    /// `gx` (p the cotangent at the receivers, q the filters): `(dg, dw, dx, dv, dd)`.
    fn products(&self, part: Part, a: T2<B>) -> [Option<T2<B>>; 5] {
        let e = &self.e;
        let (p, q) = match part {
            Part::W => (self.blocks(a), e.x.clone()),
            _ => (self.blocks(a.select(0, self.rcv.clone())), e.w.clone()),
        };
        let pq = [0, 1, 2].map(|k| p[k].clone() * q[k].clone());
        let vector = |c: usize| pq[1].clone() * e.d[c].clone() + pq[2].clone() * e.v[c].clone();
        let dg = self.at_senders([pq[0].clone(), vector(0), vector(1), vector(2)]);
        let per = |t: &T2<B>| self.gc.clone().map(|c| c * t.clone());
        let dd = Tensor::cat(per(&pq[1]).map(|t| t.sum_dim(1)).to_vec(), 1);
        let dv = Tensor::cat(
            per(&pq[2])
                .map(|t| scatter(self.n, self.rcv.clone(), t))
                .to_vec(),
            0,
        );
        let pg = Tensor::cat(
            (0..3).map(|k| p[k].clone() * self.gm[k].clone()).collect(),
            1,
        );
        let (dw, dx) = match part {
            Part::W => (None, Some(scatter(self.n, self.rcv.clone(), pg))),
            _ => (Some(pg), None),
        };
        [Some(dg), dw, dx, Some(dv), Some(dd)]
    }

    /// The terms of a cotangent of `gv` (per receiver, block 2 of w and x) or of `gdir` (per edge,
    /// block 1): `(dg, dw, dx, dv, dd)`.
    fn components(&self, part: Part, a: T2<B>) -> [Option<T2<B>>; 5] {
        let (e, n) = (&self.e, self.n);
        let (ac, k) = match part {
            Part::V => (
                [0, 1, 2].map(|c| a.clone().narrow(0, c * n, n).select(0, self.rcv.clone())),
                2,
            ),
            _ => ([0, 1, 2].map(|c| a.clone().narrow(1, c, 1)), 1),
        };
        let r = dot(&self.gc, &ac);
        let wx = e.w[k].clone() * e.x[k].clone();
        let dg = self.at_senders([
            self.gs.zeros_like(),
            wx.clone() * ac[0].clone(),
            wx.clone() * ac[1].clone(),
            wx * ac[2].clone(),
        ]);
        let only = |t: T2<B>| {
            let zero = t.zeros_like();
            let mut b = [zero.clone(), zero.clone(), zero];
            b[k] = t;
            Tensor::cat(b.to_vec(), 1)
        };
        let dw = only(e.x[k].clone() * r.clone());
        let dx = scatter(n, self.rcv.clone(), only(e.w[k].clone() * r));
        [Some(dg), Some(dw), Some(dx), None, None]
    }
}

/// [`super::MessageOps::painn_message_second`], by burn's tensor operations (the reference of
/// the fused kernels).
pub fn second<B: Backend>(
    part: Part,
    a: FloatTensor<B>,
    inputs: BackwardInputs<B>,
    need: [bool; 5],
) -> [Option<FloatTensor<B>>; 5] {
    let (g, w, xs, v, dir, snd, rcv) = inputs;
    let (g, w, xs, v, dir, snd, rcv) = (
        f::<B>(g),
        f::<B>(w),
        f::<B>(xs),
        f::<B>(v),
        f::<B>(dir),
        i::<B>(snd),
        i::<B>(rcv),
    );
    let n = xs.dims()[0];
    let e = edge(&w, &xs, &v, &dir, &rcv);
    let at_sender = |k: usize| g.clone().narrow(0, k * n, n).select(0, snd.clone());
    let (gs, gc) = (at_sender(0), [at_sender(1), at_sender(2), at_sender(3)]);
    let gm = [gs.clone(), dot(&gc, &e.d), dot(&gc, &e.v)];
    let terms = Second {
        f: xs.dims()[1] / 3,
        e,
        gs,
        gc,
        gm,
        n,
        snd,
        rcv,
    };
    let out = match part {
        Part::W | Part::X => terms.products(part, f::<B>(a)),
        Part::V | Part::Dir => terms.components(part, f::<B>(a)),
    };
    let mut out = out.map(|o| o.map(|t| t.into_primitive().tensor()));
    for (o, needed) in out.iter_mut().zip(need) {
        if !needed {
            *o = None;
        }
    }
    out
}
