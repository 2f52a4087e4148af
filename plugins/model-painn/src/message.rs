//! PaiNN's message block as one fused operation with its own backward pass: for every edge
//! (sender i, receiver j) m = W_e ⊙ x_j is split into (ds, dv1, dv2), dv = dv1 ⊗ dir_e + dv2 ⊙ v_j,
//! and ds, dv are summed into the sender. Nothing of size edges x features is kept but the
//! filters themselves; every sum runs over edges in order (each kernel thread owns a range of
//! result rows), so results are the same bits on any number of threads.
//!
//! Layouts: filters `w` `[E, 3F]`, node messages `xs` `[N, 3F]`, vector features `v` `[3N, F]`
//! (component-outer: the x rows of all nodes, then y, then z), directions `[E, 3]`; the output
//! is `[4N, F]`: the scalar sums of all nodes, then the x, y and z sums. Every block a model
//! reads is then a contiguous run of rows.

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Tensor, TensorMetadata, TensorPrimitive};
use burn_flex::{Flex, FlexTensor};
use geobatch_nn::fused::FusedOps;
use geobatch_nn::index::Segments;
use rayon::prelude::*;
use split::{per_edge, ranges, split_blocks, split_some};

/// One gradient of the message block's backward pass: by the filters, the node messages, the
/// vector features or the directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// By the filters `w` `[E, 3F]`.
    W,
    /// By the node messages `xs` `[N, 3F]`.
    X,
    /// By the vector features `v` `[3N, F]`.
    V,
    /// By the directions `[E, 3]`.
    Dir,
}

/// The gradients of the backward pass: by the filters, node messages, vector features and (when
/// asked for) the directions.
pub type MessageGrads<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    Option<FloatTensor<B>>,
);

/// The inputs of the block's backward pass, in [`MessageOps::painn_message_second`]'s order:
/// the output gradient, `w`, `xs`, `v`, the directions, senders and receivers.
pub type BackwardInputs<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    IntTensor<B>,
    IntTensor<B>,
);

/// Backends with PaiNN's message block as one operation: fused CPU kernels, or (the default)
/// burn's tensor operations with chunked index-adds.
pub trait MessageOps: Backend {
    /// Whether the fused block is differentiated twice by its own kernels (a potential's path:
    /// the directions differentiated too). Elsewhere a potential composes the block of gathers
    /// and sums ([`composite`]).
    const FUSED_SMOOTH: bool = false;

    /// Whether `t` is recorded for a backward pass (a tracked tensor of an autodiff backend, a
    /// leaf or computed from one). A potential's edge vectors are: its message block must then
    /// differentiate the directions too.
    fn painn_tracked(_t: &FloatTensor<Self>) -> bool {
        false
    }

    /// The summed messages `[4N, F]` (see the module documentation).
    fn painn_message(
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        chains::message::<Self>(w, xs, v, dir, senders, receivers, n)
    }

    /// Gradients of the summed messages with respect to `w`, `xs`, `v` and (with `dir_grad`)
    /// the directions, given the gradient of the output.
    #[allow(clippy::too_many_arguments)]
    fn painn_message_backward(
        grad: FloatTensor<Self>,
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        dir_grad: bool,
    ) -> MessageGrads<Self> {
        chains::message_backward::<Self>(grad, w, xs, v, dir, senders, receivers, dir_grad)
    }

    /// The backward pass of one gradient of [`MessageOps::painn_message_backward`] (`part`),
    /// given that gradient's own gradient `a`: the gradients by the backward pass' inputs (output
    /// gradient, `w`, `xs`, `v`, directions), each where `need` asks for it and the part depends
    /// on it.
    fn painn_message_second(
        part: Part,
        a: FloatTensor<Self>,
        inputs: BackwardInputs<Self>,
        need: [bool; 5],
    ) -> [Option<FloatTensor<Self>>; 5] {
        chains::second::<Self>(part, a, inputs, need)
    }
}

/// A contiguous f32 version of `t` (the same buffer when it already is one).
pub(crate) fn dense(t: &FlexTensor) -> FlexTensor {
    if t.dtype() == burn::tensor::DType::F32 {
        t.to_contiguous()
    } else {
        FlexTensor::from_data(t.to_contiguous().into_data().convert::<f32>())
    }
}

/// A `[rows, cols]` f32 tensor holding `v` (row-major).
pub(crate) fn flex(v: Vec<f32>, rows: usize, cols: usize) -> FlexTensor {
    FlexTensor::from_data(burn::tensor::TensorData::new(v, [rows, cols]))
}

/// A contiguous i32 version of an index tensor.
fn dense_int(t: &FlexTensor) -> FlexTensor {
    if t.dtype() == burn::tensor::DType::I32 {
        t.to_contiguous()
    } else {
        FlexTensor::from_data(t.to_contiguous().into_data().convert::<i32>())
    }
}

/// A zero f32 tensor of `shape`, to be written through [`FlexTensor::storage_mut`]: an f32
/// vector handed over as it is (burn's `FlexTensor::zeros` zeroes a byte vector and copies it
/// into aligned memory, a second pass over every byte).
fn zeros(shape: [usize; 2]) -> FlexTensor {
    flex(vec![0.0; shape[0] * shape[1]], shape[0], shape[1])
}

/// The forward kernel on host slices. Each kernel thread owns a range of senders and adds their
/// edges' messages in edge order, the order of a serial loop: the same bits on any number of
/// threads.
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
    let n = xs.len() / (3 * f).max(1);
    if n == 0 || f == 0 {
        return;
    }
    let parts = ranges(n);
    let tasks = split_blocks(out, n, f, &parts);
    tasks
        .into_par_iter()
        .zip(parts.par_iter())
        .for_each(|(mut blocks, &(lo, hi))| {
            pulp::Arch::new().dispatch(|| {
                for (e, (&i, &j)) in senders.iter().zip(receivers).enumerate() {
                    let (i, j) = (i as usize, j as usize);
                    if !(lo..hi).contains(&i) {
                        continue;
                    }
                    let il = i - lo;
                    let we = &w[e * 3 * f..(e + 1) * 3 * f];
                    let xj = &xs[j * 3 * f..(j + 1) * 3 * f];
                    let (w1, w2) = we[f..].split_at(f);
                    let (x1, x2) = xj[f..].split_at(f);
                    let os = &mut blocks[0][il * f..(il + 1) * f];
                    for ((o, &a), &b) in os.iter_mut().zip(&we[..f]).zip(&xj[..f]) {
                        *o += a * b;
                    }
                    for c in 0..3 {
                        let dc = dir[e * 3 + c];
                        let vc = &v[(c * n + j) * f..(c * n + j + 1) * f];
                        let oc = &mut blocks[1 + c][il * f..(il + 1) * f];
                        for k in 0..f {
                            oc[k] += w1[k] * x1[k] * dc + w2[k] * x2[k] * vc[k];
                        }
                    }
                }
            });
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

/// The gradients of an edge's three message parts, `(gm0, gm1, gm2)` at feature k.
#[inline(always)]
fn message_grads(
    g: &[f32],
    v: &[f32],
    d: [f32; 3],
    (i, j, n, f, k): (usize, usize, usize, usize, usize),
) -> (f32, f32, f32) {
    let row = |c: usize, node: usize| (c * n + node) * f + k;
    let (g0, g1, g2) = (g[row(1, i)], g[row(2, i)], g[row(3, i)]);
    let gm1 = g0 * d[0] + g1 * d[1] + g2 * d[2];
    let gm2 = g0 * v[row(0, j)] + g1 * v[row(1, j)] + g2 * v[row(2, j)];
    (g[i * f + k], gm1, gm2)
}

/// The gradients a backward kernel writes, each into a zeroed buffer where asked for.
#[derive(Debug, Default)]
pub struct BackwardOut<'a> {
    /// By the filters `[E, 3F]`.
    pub gw: Option<&'a mut [f32]>,
    /// By the node messages `[N, 3F]`.
    pub gx: Option<&'a mut [f32]>,
    /// By the vector features `[3N, F]`.
    pub gv: Option<&'a mut [f32]>,
    /// By the directions `[E, 3]`.
    pub gd: Option<&'a mut [f32]>,
}

/// The backward kernel on host slices: writes the gradients `out` asks for into zeroed buffers.
/// The filter and direction gradients are per edge (chunks of edges in parallel); the node
/// gradients are sums over each receiver's edges, which every kernel thread adds in edge order
/// for its own range of receivers: the same bits on any number of threads.
pub fn message_backward(g: &[f32], x: MessageInputs, f: usize, out: BackwardOut) {
    let n = x.xs.len() / (3 * f).max(1);
    if n == 0 || f == 0 {
        return;
    }
    if out.gw.is_some() || out.gd.is_some() {
        backward_edges(g, x, (n, f), out.gw, out.gd);
    }
    if out.gx.is_some() || out.gv.is_some() {
        backward_receivers(g, x, (n, f), out.gx, out.gv);
    }
}

/// The direction of edge `e`.
fn direction(dir: &[f32], e: usize) -> [f32; 3] {
    [dir[e * 3], dir[e * 3 + 1], dir[e * 3 + 2]]
}

/// [`message_backward`]'s per-edge gradients (filters, directions).
fn backward_edges(
    g: &[f32],
    x: MessageInputs,
    (n, f): (usize, usize),
    gw: Option<&mut [f32]>,
    gd: Option<&mut [f32]>,
) {
    let MessageInputs {
        w,
        xs,
        v,
        dir,
        senders,
        receivers,
    } = x;
    per_edge(senders.len(), f, gw, gd, |e, gwe, gde| {
        let (i, j) = (senders[e] as usize, receivers[e] as usize);
        let xj = &xs[j * 3 * f..(j + 1) * 3 * f];
        if let Some(gwe) = gwe {
            let d = direction(dir, e);
            for k in 0..f {
                let (gm0, gm1, gm2) = message_grads(g, v, d, (i, j, n, f, k));
                gwe[k] = gm0 * xj[k];
                gwe[f + k] = gm1 * xj[f + k];
                gwe[2 * f + k] = gm2 * xj[2 * f + k];
            }
        }
        if let Some(gde) = gde {
            // d/d dir_c = sum_k G_c[i] m1, m1 = w1 x1_j
            let (w1, x1) = (&w[e * 3 * f + f..e * 3 * f + 2 * f], &xj[f..2 * f]);
            for (c, o) in gde.iter_mut().enumerate() {
                let gc = &g[((1 + c) * n + i) * f..((1 + c) * n + i + 1) * f];
                *o = gc
                    .iter()
                    .zip(w1.iter().zip(x1))
                    .map(|(a, (b, c))| a * b * c)
                    .sum();
            }
        }
    });
}

/// [`message_backward`]'s sums into the receivers (node messages, vector features), each kernel
/// thread over its own range of receivers.
fn backward_receivers(
    g: &[f32],
    x: MessageInputs,
    (n, f): (usize, usize),
    gx: Option<&mut [f32]>,
    gv: Option<&mut [f32]>,
) {
    let MessageInputs {
        w,
        xs,
        v,
        dir,
        senders,
        receivers,
    } = x;
    let parts = ranges(n);
    let gx_parts = split_some(gx, n, 3 * f, &parts);
    let gv_parts = split_some(gv, n, f, &parts);
    gx_parts
        .into_par_iter()
        .zip(gv_parts.into_par_iter())
        .zip(parts.par_iter())
        .for_each(|((mut gxp, mut gvp), &(lo, hi))| {
            pulp::Arch::new().dispatch(|| {
                for (e, (&i, &j)) in senders.iter().zip(receivers).enumerate() {
                    let (i, j) = (i as usize, j as usize);
                    if !(lo..hi).contains(&j) {
                        continue;
                    }
                    let jl = j - lo;
                    let we = &w[e * 3 * f..(e + 1) * 3 * f];
                    let xj = &xs[j * 3 * f..(j + 1) * 3 * f];
                    if let Some(gxp) = gxp.as_mut() {
                        let d = direction(dir, e);
                        let gxj = &mut gxp[0][jl * 3 * f..(jl + 1) * 3 * f];
                        for k in 0..f {
                            let (gm0, gm1, gm2) = message_grads(g, v, d, (i, j, n, f, k));
                            gxj[k] += gm0 * we[k];
                            gxj[f + k] += gm1 * we[f + k];
                            gxj[2 * f + k] += gm2 * we[2 * f + k];
                        }
                    }
                    if let Some(gvp) = gvp.as_mut() {
                        let (w2, x2) = (&we[2 * f..3 * f], &xj[2 * f..3 * f]);
                        for (c, gvc) in gvp.iter_mut().enumerate() {
                            let gc = &g[((1 + c) * n + i) * f..((1 + c) * n + i + 1) * f];
                            let gvj = &mut gvc[jl * f..(jl + 1) * f];
                            for ((o, (&a, &b)), &g) in gvj.iter_mut().zip(w2.iter().zip(x2)).zip(gc)
                            {
                                *o += a * b * g;
                            }
                        }
                    }
                }
            });
        });
}

impl MessageOps for Flex {
    const FUSED_SMOOTH: bool = true;

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
        dir_grad: bool,
    ) -> MessageGrads<Self> {
        let (ws, xshape, vshape) = (
            w.shape().dims::<2>(),
            xs.shape().dims::<2>(),
            v.shape().dims::<2>(),
        );
        let f = xshape[1] / 3;
        let (grad, w, xs, v, dir) = (dense(&grad), dense(&w), dense(&xs), dense(&v), dense(&dir));
        let (snd, rcv) = (dense_int(&senders), dense_int(&receivers));
        let (mut gw, mut gx, mut gv) = (zeros(ws), zeros(xshape), zeros(vshape));
        let mut gd = dir_grad.then(|| zeros([ws[0], 3]));
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
            BackwardOut {
                gw: Some(gw.storage_mut()),
                gx: Some(gx.storage_mut()),
                gv: Some(gv.storage_mut()),
                gd: gd.as_mut().map(|t| t.storage_mut()),
            },
        );
        (gw, gx, gv, gd)
    }

    fn painn_message_second(
        part: Part,
        a: FloatTensor<Self>,
        inputs: BackwardInputs<Self>,
        need: [bool; 5],
    ) -> [Option<FloatTensor<Self>>; 5] {
        second::flex(part, a, inputs, need)
    }
}

/// The fused message block on tensors: `[4N, F]` sums of ds, then dv_x, dv_y, dv_z, per sender.
pub fn message<B: MessageOps + FusedOps>(
    w: Tensor<B, 2>,
    xs: Tensor<B, 2>,
    v: Tensor<B, 2>,
    dir: Tensor<B, 2>,
    senders: &Segments<B>,
    receivers: &Segments<B>,
    n: usize,
) -> Tensor<B, 2> {
    if B::GROUPED_SUMS && senders.grouping.is_some() {
        return grouped(w, xs, v, dir, senders, receivers, n);
    }
    let out = B::painn_message(
        w.into_primitive().tensor(),
        xs.into_primitive().tensor(),
        v.into_primitive().tensor(),
        dir.into_primitive().tensor(),
        senders.index.clone().into_primitive(),
        receivers.index.clone().into_primitive(),
        n,
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// The message block composed of gathers at the receivers and sums into the senders, every input
/// differentiated (the directions `dir` included): a potential's path, whose energy is
/// differentiated by the edge vectors, twice under nested autodiff.
pub fn composite<B: FusedOps>(
    w: Tensor<B, 2>,
    xs: Tensor<B, 2>,
    v: Tensor<B, 2>,
    dir: Tensor<B, 2>,
    senders: &Segments<B>,
    receivers: &Segments<B>,
    n: usize,
) -> Tensor<B, 2> {
    grouped(w, xs, v, dir, senders, receivers, n)
}

/// The message block from gathers at the receivers and sums into the senders over the batch's
/// groupings (`training.engine.segments = "csr"`, or none: plain gathers and sums), differentiated
/// by autodiff (the gradient of each gather is a sum over the same grouping).
fn grouped<B: FusedOps>(
    w: Tensor<B, 2>,
    xs: Tensor<B, 2>,
    v: Tensor<B, 2>,
    dir: Tensor<B, 2>,
    senders: &Segments<B>,
    receivers: &Segments<B>,
    n: usize,
) -> Tensor<B, 2> {
    let f = xs.dims()[1] / 3;
    let m = w * receivers.gather(xs);
    let block = |k: usize| m.clone().narrow(1, k * f, f);
    let mut sums = vec![senders.sum(block(0))];
    for c in 0..3 {
        let vj = receivers.gather(v.clone().narrow(0, c * n, n));
        sums.push(senders.sum(block(1) * dir.clone().narrow(1, c, 1) + block(2) * vj));
    }
    Tensor::cat(sums, 0)
}

mod chains;
mod second;
mod split;
#[cfg(test)]
mod tests;
mod tracked;

#[cfg(feature = "cube")]
impl<R: geobatch_nn::backend::CubeRuntime> MessageOps for geobatch_nn::backend::Cube<R> {}
#[cfg(feature = "cube")]
impl<R: geobatch_nn::backend::CubeRuntime> MessageOps for geobatch_nn::backend::Fused<R> {}
