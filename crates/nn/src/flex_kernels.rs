//! The [`crate::parallel`] kernels on burn's flex tensors: products, row gathers and segment
//! sums of rank-2 f32 tensors, with i32 or i64 indices.

use crate::gemm::MatRef;
use crate::parallel::{self, Edges};
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};
use burn_flex::FlexTensor;

/// Runs `f` on the f32 elements of `t` in row-major order, borrowing them when `t` is
/// contiguous f32 (the usual case) and copying otherwise.
pub(crate) fn with_f32<R>(t: &FlexTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    if let Some(s) = t.as_slice::<f32>() {
        return f(s);
    }
    let c = t.to_contiguous();
    match c.as_slice::<f32>() {
        Some(s) => f(s),
        None => {
            let v = c
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .unwrap_or_default();
            f(&v)
        }
    }
}

/// A contiguous f32 tensor of `shape` holding `v`.
pub(crate) fn flex_from(v: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape.into()))
}

/// The elements of an index tensor as row numbers.
///
/// # Panics
/// On a negative index (geobatch builds its index tensors from validated batches).
fn indices(t: &FlexTensor) -> Vec<usize> {
    let row = |v: i64| usize::try_from(v).unwrap_or_else(|_| panic!("negative row index {v}"));
    match t.dtype() {
        DType::I32 => match t.as_slice::<i32>() {
            Some(s) => s.iter().map(|&v| row(i64::from(v))).collect(),
            None => indices(&t.to_contiguous()),
        },
        _ => t
            .clone()
            .into_data()
            .convert::<i64>()
            .into_vec::<i64>()
            .unwrap_or_default()
            .into_iter()
            .map(row)
            .collect(),
    }
}

fn dims2(t: &FlexTensor, what: &str) -> [usize; 2] {
    let shape = t.shape();
    match shape.as_slice() {
        &[r, c] => [r, c],
        other => panic!("{what}: a rank-2 tensor expected, got shape {other:?}"),
    }
}

/// `x w` for `x` `[m, k]` and `w` `[k, n]`.
pub fn matmul(x: FlexTensor, w: FlexTensor) -> FlexTensor {
    let ([m, k], [_, n]) = (dims2(&x, "matmul"), dims2(&w, "matmul"));
    let out = with_f32(&x, |xs| {
        with_f32(&w, |ws| {
            parallel::matmul(xs, m, MatRef::row_major(ws, k, n))
        })
    });
    flex_from(out, [m, n])
}

/// `g w^T` for `g` `[m, n]` and `w` `[k, n]`: the input gradient of `x w`.
pub fn matmul_nt(g: FlexTensor, w: FlexTensor) -> FlexTensor {
    let ([m, n], [k, _]) = (dims2(&g, "matmul_nt"), dims2(&w, "matmul_nt"));
    let out = with_f32(&g, |gs| {
        with_f32(&w, |ws| {
            parallel::matmul(gs, m, MatRef::row_major(ws, k, n).t())
        })
    });
    flex_from(out, [m, k])
}

/// `x^T g` for `x` `[m, k]` and `g` `[m, n]`: the weight gradient of `x w`.
pub fn matmul_tn(x: FlexTensor, g: FlexTensor) -> FlexTensor {
    let ([m, k], [_, n]) = (dims2(&x, "matmul_tn"), dims2(&g, "matmul_tn"));
    let out = with_f32(&x, |xs| {
        with_f32(&g, |gs| parallel::matmul_tn(xs, gs, m, k, n))
    });
    flex_from(out, [k, n])
}

/// Rows of `table` `[n, c]` picked by `index`: `[index.len(), c]`.
pub fn gather_rows(table: FlexTensor, index: FlexTensor) -> FlexTensor {
    let [_, c] = dims2(&table, "gather_rows");
    let idx = indices(&index);
    let out = with_f32(&table, |t| parallel::gather_rows(t, c, &idx));
    flex_from(out, [idx.len(), c])
}

/// Rows of `values` `[e, c]` added into row `index[i]` of an `[n, c]` result.
pub fn segment_sum(values: FlexTensor, index: FlexTensor, n: usize) -> FlexTensor {
    let [_, c] = dims2(&values, "segment_sum");
    let idx = indices(&index);
    let out = with_f32(&values, |v| parallel::index_add_rows(v, c, &idx, n));
    flex_from(out, [n, c])
}

/// Runs `f` on the [`Edges`] of these senders, receivers and `1 / max(in-degree, 1)` counts.
fn with_edges<R>(
    senders: &FlexTensor,
    receivers: &FlexTensor,
    inv_count: &FlexTensor,
    f: impl FnOnce(Edges<'_>) -> R,
) -> R {
    let (s, r) = (indices(senders), indices(receivers));
    with_f32(inv_count, |inv| {
        f(Edges {
            senders: &s,
            receivers: &r,
            inv_count: inv,
        })
    })
}

/// [`parallel::message_mean`] of `w` `[E, c]` and `x` `[n, c]`.
pub fn message_mean(
    w: FlexTensor,
    x: FlexTensor,
    senders: FlexTensor,
    receivers: FlexTensor,
    inv_count: FlexTensor,
) -> FlexTensor {
    let [n, c] = dims2(&x, "message_mean");
    let out = with_edges(&senders, &receivers, &inv_count, |edges| {
        with_f32(&w, |w| {
            with_f32(&x, |x| parallel::message_mean(w, x, c, edges))
        })
    });
    flex_from(out, [n, c])
}

/// [`parallel::message_mean_backward`]: `(dw, dx)`.
pub fn message_mean_backward(
    g: FlexTensor,
    w: FlexTensor,
    x: FlexTensor,
    senders: FlexTensor,
    receivers: FlexTensor,
    inv_count: FlexTensor,
) -> (FlexTensor, FlexTensor) {
    let ([e, c], [n, _]) = (dims2(&w, "message_mean"), dims2(&x, "message_mean"));
    let (dw, dx) = with_edges(&senders, &receivers, &inv_count, |edges| {
        with_f32(&g, |g| {
            with_f32(&w, |w| {
                with_f32(&x, |x| parallel::message_mean_backward(g, w, x, c, edges))
            })
        })
    });
    (flex_from(dw, [e, c]), flex_from(dx, [n, c]))
}

/// [`parallel::pair_gather_add`]: `base + p[senders, ..d] + p[receivers, d..]` for `p` `[n, 2d]`
/// and `base` `[E, d]`, written into `base` when no one else holds it.
pub fn pair_gather_add(
    p: FlexTensor,
    senders: FlexTensor,
    receivers: FlexTensor,
    mut base: FlexTensor,
) -> FlexTensor {
    let [e, d] = dims2(&base, "pair_gather_add");
    let (s, r) = (indices(&senders), indices(&receivers));
    with_f32(&p, |p| {
        if let Some(out) = unique_f32(&mut base) {
            parallel::pair_gather_add(out, p, d, &s, &r);
            return base;
        }
        let mut out = with_f32(&base, <[f32]>::to_vec);
        parallel::pair_gather_add(&mut out, p, d, &s, &r);
        flex_from(out, [e, d])
    })
}

/// [`parallel::pair_index_add`]: the gradient of [`pair_gather_add`] with respect to `p`
/// (`[n, 2d]`) for the output gradient `g` `[E, d]`.
pub fn pair_index_add(
    g: FlexTensor,
    senders: FlexTensor,
    receivers: FlexTensor,
    n: usize,
) -> FlexTensor {
    let [_, d] = dims2(&g, "pair_index_add");
    let (s, r) = (indices(&senders), indices(&receivers));
    let out = with_f32(&g, |g| parallel::pair_index_add(g, d, &s, &r, n));
    flex_from(out, [n, 2 * d])
}

/// `t` changed by `f`: in place when `t` owns its f32 elements alone ([`unique_f32`]), else in
/// a copy.
pub(crate) fn changed(mut t: FlexTensor, f: impl FnOnce(&mut [f32])) -> FlexTensor {
    if let Some(v) = unique_f32(&mut t) {
        f(v);
        return t;
    }
    let shape = t.shape();
    let mut out = with_f32(&t, <[f32]>::to_vec);
    f(&mut out);
    flex_from(out, shape)
}

/// An activation and its slope: `f` maps chunks of the values (changed as [`changed`]) and of
/// the slopes (zeros before), in parallel.
pub(crate) fn with_slope(
    x: FlexTensor,
    f: impl Fn(&mut [f32], &mut [f32]) + Sync + Send,
) -> (FlexTensor, FlexTensor) {
    let shape = x.shape();
    let mut slope = vec![0.0f32; shape.num_elements()];
    let out = changed(x, |v| parallel::map2_in_place(v, &mut slope, f));
    (out, flex_from(slope, shape))
}

/// `[E, cols]` from `f` over the f32 elements of `a` and of the `E` distances `d`.
pub(crate) fn over_distances(
    a: &FlexTensor,
    d: &FlexTensor,
    cols: usize,
    f: impl FnOnce(&[f32], &[f32]) -> Vec<f32>,
) -> FlexTensor {
    let e = d.shape().num_elements();
    flex_from(with_f32(a, |a| with_f32(d, |d| f(a, d))), [e, cols])
}

/// The f32 elements of `t` for writing in place, when `t` owns them alone and is contiguous
/// (the usual case for an intermediate result no one else holds).
pub(crate) fn unique_f32(t: &mut FlexTensor) -> Option<&mut [f32]> {
    if t.dtype() != burn::tensor::DType::F32 {
        return None;
    }
    let (start, end) = t.layout().contiguous_offsets()?;
    t.try_storage_mut::<f32>().map(|s| &mut s[start..end])
}
