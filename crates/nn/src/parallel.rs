//! Parallel CPU kernels that give the same bits on any number of threads (DESIGN.md: threads).
//!
//! Work is split into chunks whose boundaries depend only on the data's shape ([`product_rows`],
//! [`CHUNK_ROWS`], [`CHUNK_ELEMS`]), never on the thread count, and every sum runs in a fixed
//! order:
//! * products `A B` and `G W^T`: each chunk of rows of the result is one product of the same rows
//!   of the left factor;
//! * weight gradients `X^T G`, a sum over all rows: one partial product per chunk of rows, the
//!   partials added in chunk order;
//! * row gathers: copies;
//! * index-adds (segment sums, and the gradient of a gather): each thread owns a range of result
//!   rows and adds the indexed rows into them in index order, the order of a serial loop, so the
//!   split is free to follow the thread count;
//! * element-wise kernels: chunks of elements.
//!
//! The threads are those of the rayon pool the caller runs in (`ThreadPool::install`; see
//! [`pool`]); on one thread the same chunks run in sequence.

use crate::gemm::{MatRef, matmul_into};
use rayon::prelude::*;

/// Rows of a chunk: a task of a row-split product, gather or weight-gradient partial sum.
pub const CHUNK_ROWS: usize = 512;

/// Products are split into at least this many row chunks when they have the rows for it, so
/// a node-level product (a few hundred rows) keeps every thread busy too.
pub const PRODUCT_TASKS: usize = 16;

/// Fewest rows of a product chunk (below this a gemm call is mostly packing).
pub const MIN_PRODUCT_ROWS: usize = 32;

/// Rows of each chunk of an `m`-row product: `m / PRODUCT_TASKS` rounded up to a multiple of 16,
/// within [`MIN_PRODUCT_ROWS`]..=[`CHUNK_ROWS`]. It depends on `m` only, never on the thread
/// count, so the chunks (and a weight gradient's partial sums) are the same on any pool.
pub fn product_rows(m: usize) -> usize {
    m.div_ceil(PRODUCT_TASKS)
        .next_multiple_of(16)
        .clamp(MIN_PRODUCT_ROWS, CHUNK_ROWS)
}

/// Elements of a chunk of an element-wise kernel.
pub const CHUNK_ELEMS: usize = 1 << 14;

/// A pool of `threads` worker threads for the kernels (at least one).
///
/// # Errors
/// When the operating system refuses to start a thread.
pub fn pool(threads: usize) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("geobatch-kernel-{i}"))
        .build()
}

/// The cores this process may use (its affinity mask and cgroup quota), at least one.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `len` zeros, written by the pool's threads (a serial fill of a fresh `[E, C]` result costs as
/// much as an element-wise kernel).
pub fn zeroed(len: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    v.par_extend(rayon::iter::repeat_n(0.0f32, len));
    v
}

/// `x b` for `x` row-major `[m, b.rows()]`: row-major `[m, b.cols()]`, chunks of
/// [`product_rows`] rows in parallel.
pub fn matmul(x: &[f32], m: usize, b: MatRef<'_>) -> Vec<f32> {
    let (k, n) = (b.rows(), b.cols());
    assert_eq!(
        x.len(),
        m * k,
        "matmul: {m} x {k} input in {} elements",
        x.len()
    );
    let mut out = zeroed(m * n);
    if n == 0 || m == 0 {
        return out;
    }
    if k == 0 {
        return out;
    }
    let rows = product_rows(m);
    out.par_chunks_mut(rows * n)
        .zip(x.par_chunks(rows * k))
        .for_each(|(o, xi)| {
            let rows = xi.len() / k;
            matmul_into(o, MatRef::row_major(xi, rows, k), b, false);
        });
    out
}

/// `x^T g` for `x` row-major `[m, k]` and `g` row-major `[m, n]`: row-major `[k, n]`, the sum
/// over the m rows split into chunks of [`product_rows`] whose partial products are added in
/// chunk order.
pub fn matmul_tn(x: &[f32], g: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    assert_eq!(
        x.len(),
        m * k,
        "matmul_tn: {m} x {k} in {} elements",
        x.len()
    );
    assert_eq!(
        g.len(),
        m * n,
        "matmul_tn: {m} x {n} in {} elements",
        g.len()
    );
    let mut out = vec![0.0f32; k * n];
    if m == 0 || k == 0 || n == 0 {
        return out;
    }
    let rows = product_rows(m);
    let chunks = m.div_ceil(rows);
    if chunks == 1 {
        matmul_into(
            &mut out,
            MatRef::row_major(x, m, k).t(),
            MatRef::row_major(g, m, n),
            false,
        );
        return out;
    }
    let partials: Vec<Vec<f32>> = x
        .par_chunks(rows * k)
        .zip(g.par_chunks(rows * n))
        .map(|(xi, gi)| {
            let rows = xi.len() / k;
            let mut p = vec![0.0f32; k * n];
            matmul_into(
                &mut p,
                MatRef::row_major(xi, rows, k).t(),
                MatRef::row_major(gi, rows, n),
                false,
            );
            p
        })
        .collect();
    out.par_chunks_mut(CHUNK_ELEMS)
        .enumerate()
        .for_each(|(c, o)| {
            let (start, len) = (c * CHUNK_ELEMS, o.len());
            o.copy_from_slice(&partials[0][start..start + len]);
            for p in &partials[1..] {
                for (a, b) in o.iter_mut().zip(&p[start..start + len]) {
                    *a += b;
                }
            }
        });
    out
}

/// Rows `index[i]` of `table` (row-major `[_, c]`): row-major `[index.len(), c]`.
///
/// # Panics
/// When an index is not a row of `table`.
pub fn gather_rows(table: &[f32], c: usize, index: &[usize]) -> Vec<f32> {
    let mut out = zeroed(index.len() * c);
    if c == 0 {
        return out;
    }
    out.par_chunks_mut(CHUNK_ROWS * c)
        .zip(index.par_chunks(CHUNK_ROWS))
        .for_each(|(o, idx)| {
            for (row, &i) in o.chunks_exact_mut(c).zip(idx) {
                row.copy_from_slice(&table[i * c..(i + 1) * c]);
            }
        });
    out
}

/// Row `i` of `values` (row-major `[index.len(), c]`) added to row `index[i]` of an `[n, c]`
/// result of zeros, for every i in order: each thread owns a range of result rows.
///
/// # Panics
/// When an index is not below `n`.
pub fn index_add_rows(values: &[f32], c: usize, index: &[usize], n: usize) -> Vec<f32> {
    assert_eq!(
        values.len(),
        index.len() * c,
        "index_add: values and index disagree"
    );
    if let Some(&bad) = index.iter().find(|&&i| i >= n) {
        panic!("index_add: index {bad} is not below {n}");
    }
    let mut out = zeroed(n * c);
    owner_rows(&mut out, c, index, |dst, i| {
        for (d, v) in dst.iter_mut().zip(&values[i * c..(i + 1) * c]) {
            *d += v;
        }
    });
    out
}

/// Calls `add(out_row, i)` for every i with `index[i]` in the rows of `out` (row-major `[n, c]`),
/// with `out_row` row `index[i]` of `out`, in index order; each thread owns a range of rows.
fn owner_rows(out: &mut [f32], c: usize, index: &[usize], add: impl Fn(&mut [f32], usize) + Sync) {
    let n = out.len() / c.max(1);
    if c == 0 || n == 0 {
        return;
    }
    let parts = rayon::current_num_threads().clamp(1, n);
    let rows = n.div_ceil(parts);
    out.par_chunks_mut(rows * c).enumerate().for_each(|(p, o)| {
        let (lo, hi) = (p * rows, p * rows + o.len() / c);
        for (i, &s) in index.iter().enumerate() {
            if (lo..hi).contains(&s) {
                add(&mut o[(s - lo) * c..(s - lo + 1) * c], i);
            }
        }
    });
}

/// The edges of a message-passing step: `senders[e] -> receivers[e]`, with `1 / max(in-degree, 1)`
/// of every node.
#[derive(Debug, Clone, Copy)]
pub struct Edges<'a> {
    /// Sender node of every edge.
    pub senders: &'a [usize],
    /// Receiver node of every edge.
    pub receivers: &'a [usize],
    /// `1 / max(in-degree, 1)` of every node.
    pub inv_count: &'a [f32],
}

impl Edges<'_> {
    fn check(&self, e: usize, n: usize) {
        assert!(
            self.senders.len() == e && self.receivers.len() == e && self.inv_count.len() == n,
            "message: {e} edges, {n} nodes, but {} senders, {} receivers, {} counts",
            self.senders.len(),
            self.receivers.len(),
            self.inv_count.len()
        );
        if let Some(&bad) = self.senders.iter().chain(self.receivers).find(|&&i| i >= n) {
            panic!("message: node {bad} is not below {n}");
        }
    }
}

/// Row r of `out` (row-major `[_, c]`) times `k[r]`, chunks of rows in parallel.
fn scale_rows(out: &mut [f32], c: usize, k: &[f32]) {
    if c == 0 {
        return;
    }
    out.par_chunks_mut(CHUNK_ROWS * c)
        .zip(k.par_chunks(CHUNK_ROWS))
        .for_each(|(o, ks)| {
            for (row, &k) in o.chunks_exact_mut(c).zip(ks) {
                row.iter_mut().for_each(|v| *v *= k);
            }
        });
}

/// The mean over incoming edges of `w[e] * x[senders[e]]`: row r is
/// `inv_count[r] * sum over edges e into r of w[e] * x[senders[e]]` (edge order), the same bits
/// as the gather, product, segment sum and scaling done one by one. `w` is `[E, c]`, `x` `[n, c]`.
pub fn message_mean(w: &[f32], x: &[f32], c: usize, edges: Edges<'_>) -> Vec<f32> {
    let n = x.len() / c.max(1);
    edges.check(w.len() / c.max(1), n);
    let mut out = zeroed(n * c);
    owner_rows(&mut out, c, edges.receivers, |o, e| {
        let (we, xs) = (&w[e * c..(e + 1) * c], edges.senders[e] * c);
        for ((o, a), b) in o.iter_mut().zip(we).zip(&x[xs..xs + c]) {
            *o += a * b;
        }
    });
    scale_rows(&mut out, c, edges.inv_count);
    out
}

/// Gradients of [`message_mean`] for the output gradient `g` `[n, c]`: `(dw [E, c], dx [n, c])`,
/// with `gs = g * inv_count`, `dw[e] = gs[receivers[e]] * x[senders[e]]` and `dx[s]` the sum of
/// `gs[receivers[e]] * w[e]` over the edges out of s (edge order).
pub fn message_mean_backward(
    g: &[f32],
    w: &[f32],
    x: &[f32],
    c: usize,
    edges: Edges<'_>,
) -> (Vec<f32>, Vec<f32>) {
    let n = x.len() / c.max(1);
    let e = w.len() / c.max(1);
    edges.check(e, n);
    let mut gs = g.to_vec();
    scale_rows(&mut gs, c, edges.inv_count);
    let mut dw = zeroed(e * c);
    if c > 0 {
        dw.par_chunks_mut(CHUNK_ROWS * c)
            .enumerate()
            .for_each(|(chunk, o)| {
                for (k, row) in o.chunks_exact_mut(c).enumerate() {
                    let edge = chunk * CHUNK_ROWS + k;
                    let (r, s) = (edges.receivers[edge] * c, edges.senders[edge] * c);
                    for ((d, a), b) in row.iter_mut().zip(&gs[r..r + c]).zip(&x[s..s + c]) {
                        *d = a * b;
                    }
                }
            });
    }
    let mut dx = zeroed(n * c);
    owner_rows(&mut dx, c, edges.senders, |o, edge| {
        let r = edges.receivers[edge] * c;
        for ((d, a), b) in o
            .iter_mut()
            .zip(&gs[r..r + c])
            .zip(&w[edge * c..(edge + 1) * c])
        {
            *d += a * b;
        }
    });
    (dw, dx)
}

/// Edge rows from a node table: row k of `base` (row-major `[E, d]`) plus the first half of row
/// `senders[k]` and the second half of row `receivers[k]` of `p` (row-major `[n, 2d]`), added in
/// that order, chunks of rows in parallel. With `p = h [W_s | W_r]` and `base = e W_e` this is
/// `concat(h[senders], h[receivers], e) W` without the `[E, 2C + _]` concatenation.
///
/// # Panics
/// When the shapes disagree or an index is not a row of `p`.
pub fn pair_gather_add(
    base: &mut [f32],
    p: &[f32],
    d: usize,
    senders: &[usize],
    receivers: &[usize],
) {
    let e = senders.len();
    assert!(
        receivers.len() == e && base.len() == e * d && p.len().is_multiple_of((2 * d).max(1)),
        "pair_gather_add: {e} senders, {} receivers, {} base elements for width {d}, {} table \
         elements",
        receivers.len(),
        base.len(),
        p.len()
    );
    if d == 0 {
        return;
    }
    let n = p.len() / (2 * d);
    if let Some(&bad) = senders.iter().chain(receivers).find(|&&i| i >= n) {
        panic!("pair_gather_add: node {bad} is not below {n}");
    }
    base.par_chunks_mut(CHUNK_ROWS * d)
        .enumerate()
        .for_each(|(chunk, o)| {
            for (k, row) in o.chunks_exact_mut(d).enumerate() {
                let edge = chunk * CHUNK_ROWS + k;
                let (s, r) = (senders[edge] * 2 * d, receivers[edge] * 2 * d + d);
                for ((o, a), b) in row.iter_mut().zip(&p[s..s + d]).zip(&p[r..r + d]) {
                    *o = *o + a + b;
                }
            }
        });
}

/// The gradient of [`pair_gather_add`] with respect to `p`: row-major `[n, 2d]`, whose row i is
/// the sum of the rows of `g` (`[E, d]`) over the edges sent by i (first half) and over the
/// edges received by i (second half), each in edge order.
///
/// # Panics
/// When the shapes disagree or an index is not below `n`.
pub fn pair_index_add(
    g: &[f32],
    d: usize,
    senders: &[usize],
    receivers: &[usize],
    n: usize,
) -> Vec<f32> {
    let e = senders.len();
    assert!(
        receivers.len() == e && g.len() == e * d,
        "pair_index_add: {e} senders, {} receivers, {} gradient elements for width {d}",
        receivers.len(),
        g.len()
    );
    if let Some(&bad) = senders.iter().chain(receivers).find(|&&i| i >= n) {
        panic!("pair_index_add: node {bad} is not below {n}");
    }
    let mut out = zeroed(n * 2 * d);
    for (index, half) in [(senders, 0), (receivers, d)] {
        owner_rows(&mut out, 2 * d, index, |dst, k| {
            for (o, v) in dst[half..half + d].iter_mut().zip(&g[k * d..(k + 1) * d]) {
                *o += v;
            }
        });
    }
    out
}

/// `a[i] *= b[i]` for every i (one length), chunks of [`CHUNK_ELEMS`] in parallel.
///
/// # Panics
/// When the lengths differ.
pub fn mul_in_place(a: &mut [f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "mul_in_place: lengths differ");
    a.par_chunks_mut(CHUNK_ELEMS)
        .zip(b.par_chunks(CHUNK_ELEMS))
        .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(a, b)| *a *= b));
}

/// `x[i, j] += b[j]` for `x` row-major `[_, b.len()]` (a layer's bias), chunks of rows in
/// parallel.
///
/// # Panics
/// When `x` is not a whole number of rows of `b.len()`.
pub fn add_row(x: &mut [f32], b: &[f32]) {
    let n = b.len();
    if n == 0 {
        return;
    }
    assert!(
        x.len().is_multiple_of(n),
        "add_row: {} elements are not rows of {n}",
        x.len()
    );
    x.par_chunks_mut(CHUNK_ROWS * n).for_each(|rows| {
        for row in rows.chunks_exact_mut(n) {
            row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
    });
}

/// Column sums `[n]` of `g` row-major `[m, n]` (a bias gradient): partial sums over chunks of
/// [`CHUNK_ROWS`] rows, each in row order, added in chunk order.
///
/// # Panics
/// When `g` is not a whole number of rows of `n`.
pub fn column_sums(g: &[f32], n: usize) -> Vec<f32> {
    if n == 0 {
        return Vec::new();
    }
    assert!(
        g.len().is_multiple_of(n),
        "column_sums: {} elements are not rows of {n}",
        g.len()
    );
    let partials: Vec<Vec<f32>> = g
        .par_chunks(CHUNK_ROWS * n)
        .map(|rows| {
            let mut p = vec![0.0f32; n];
            for row in rows.chunks_exact(n) {
                p.iter_mut().zip(row).for_each(|(p, v)| *p += v);
            }
            p
        })
        .collect();
    let mut out = vec![0.0f32; n];
    for p in &partials {
        out.iter_mut().zip(p).for_each(|(o, p)| *o += p);
    }
    out
}

/// `f` on chunks of [`CHUNK_ELEMS`] elements of `x`, in parallel.
pub fn map_in_place(x: &mut [f32], f: impl Fn(&mut [f32]) + Sync + Send) {
    x.par_chunks_mut(CHUNK_ELEMS).for_each(f);
}

/// `f` on matching chunks of `x` and `y` (of one length), in parallel.
pub fn map2_in_place(
    x: &mut [f32],
    y: &mut [f32],
    f: impl Fn(&mut [f32], &mut [f32]) + Sync + Send,
) {
    x.par_chunks_mut(CHUNK_ELEMS)
        .zip(y.par_chunks_mut(CHUNK_ELEMS))
        .for_each(|(a, b)| f(a, b));
}

#[cfg(test)]
mod tests;
