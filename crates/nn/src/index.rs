//! Gathers of rows by index and sums of rows into segments (edges to nodes, nodes to graphs),
//! with their gradients, fast on every backend.
//!
//! burn's CubeCL kernels for index-add (`select_assign`, `scatter`, and so the backward pass of
//! `select` and `gather`) run one thread per column that loops over every indexed row: a segment
//! sum of `[E, C]` edge rows is C threads doing E read-modify-writes each, which made a SchNet step
//! on an H100 grow by about 2.4 us per edge (docs/gpu.md). On such backends
//! ([`FusedOps::CHUNKED_INDEX_ADD`]) the rows are split into K chunks that are summed in parallel
//! into K partial results (K x C threads, about [`CHUNK_ROWS`] rows each) and then added up; the
//! gather is written so that its gradient is that same chunked sum. The CPU backend keeps burn's
//! single-pass kernels.

use crate::fused::{EdgeIndex, FusedOps};
use burn::tensor::backend::Backend;
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorPrimitive};

/// Rows (edges or nodes) and the segments (nodes or graphs) they belong to: what sums rows into
/// segments ([`Segments::sum`]) and gathers segment rows back ([`Segments::gather`], whose
/// gradient is that sum). Where the batch carries the rows grouped by segment
/// ([`Segments::grouping`], `training.engine.segments = "csr"`), backends with a kernel over the
/// grouping ([`FusedOps::GROUPED_SUMS`]) use it, in both directions.
#[derive(Debug, Clone)]
pub struct Segments<B: Backend> {
    /// The segment of every row, `[E]`.
    pub index: Tensor<B, 1, Int>,
    /// Number of segments.
    pub n: usize,
    /// The rows grouped by segment, where the batch carries it.
    pub grouping: Option<Grouping<B>>,
    /// Whether a message mean into these segments runs as one kernel over the groupings
    /// (`training.engine.messages = "fused"`), on backends that have it
    /// ([`FusedOps::FUSED_MESSAGES`]).
    pub fused_messages: bool,
}

/// The rows of every segment, in compressed-row form: segment s holds rows
/// `order[offsets[s]..offsets[s + 1]]` (or `offsets[s]..offsets[s + 1]` when the rows are sorted
/// by segment and `order` is `None`).
#[derive(Debug, Clone)]
pub struct Grouping<B: Backend> {
    /// The rows sorted by segment (stable), `[E]`; `None` when they already are.
    pub order: Option<Tensor<B, 1, Int>>,
    /// Where each segment's rows start, and the row count at the end, `[n + 1]`.
    pub offsets: Tensor<B, 1, Int>,
}

/// The grouping of `index` (every entry below `n`) on the host: the stable sorting order, `None`
/// when `index` is already sorted, and the `n + 1` offsets (a counting sort, O(E + n)).
pub fn group_rows(index: &[u32], n: usize) -> (Option<Vec<i32>>, Vec<i32>) {
    let mut offsets = vec![0i32; n + 1];
    for &s in index {
        offsets[s as usize + 1] += 1;
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    if index.windows(2).all(|w| w[0] <= w[1]) {
        return (None, offsets);
    }
    let mut next = offsets.clone();
    let mut order = vec![0i32; index.len()];
    for (row, &s) in index.iter().enumerate() {
        let at = &mut next[s as usize];
        order[*at as usize] = row as i32;
        *at += 1;
    }
    (Some(order), offsets)
}

impl<B: Backend> Segments<B> {
    /// Segments of `index` without a grouping.
    pub fn new(index: Tensor<B, 1, Int>, n: usize) -> Self {
        Segments {
            index,
            n,
            grouping: None,
            fused_messages: false,
        }
    }

    /// Segments of a host index (every entry below `n`) on `device`, with its grouping when
    /// `grouped`.
    pub fn from_host(index: &[u32], n: usize, grouped: bool, device: &B::Device) -> Self {
        let ints = |v: Vec<i32>| {
            let len = v.len();
            Tensor::<B, 1, Int>::from_data(burn::tensor::TensorData::new(v, [len]), device)
        };
        let grouping = grouped.then(|| {
            let (order, offsets) = group_rows(index, n);
            Grouping {
                order: order.map(ints),
                offsets: ints(offsets),
            }
        });
        Segments {
            index: ints(index.iter().map(|&i| i as i32).collect()),
            n,
            grouping,
            fused_messages: false,
        }
    }

    /// These segments with message means into them fused where they can be
    /// ([`Segments::fused_messages`]).
    pub fn fusing_messages(self, fused: bool) -> Self {
        Segments {
            fused_messages: fused,
            ..self
        }
    }

    /// The index and its grouping as the backend's primitives.
    pub fn edge_index(&self) -> EdgeIndex<B> {
        EdgeIndex {
            index: self.index.clone().into_primitive(),
            grouping: self.grouping.as_ref().map(|g| {
                (
                    g.order.clone().map(Tensor::into_primitive),
                    g.offsets.clone().into_primitive(),
                )
            }),
        }
    }
}

impl<B: FusedOps> Segments<B> {
    /// Rows of `values` `[E, C]` summed into their segments, `[n, C]`.
    pub fn sum(&self, values: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.grouping {
            Some(g) if B::GROUPED_SUMS => {
                let out = B::segment_sum_grouped(
                    values.into_primitive().tensor(),
                    self.index.clone().into_primitive(),
                    g.order.clone().map(Tensor::into_primitive),
                    g.offsets.clone().into_primitive(),
                    self.n,
                );
                Tensor::from_primitive(TensorPrimitive::Float(out))
            }
            _ => segment_sum(values, self.index.clone(), self.n),
        }
    }

    /// The segment sum times `1 / max(count, 1)` (`inv_count` `[n, 1]`).
    pub fn mean(&self, values: Tensor<B, 2>, inv_count: Tensor<B, 2>) -> Tensor<B, 2> {
        self.sum(values) * inv_count
    }

    /// Row `index[i]` of `table` `[n, C]` for every row i, `[E, C]`, with the segment sum as its
    /// gradient.
    pub fn gather(&self, table: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.grouping {
            Some(g) if B::GROUPED_SUMS => {
                let out = B::gather_rows_grouped(
                    table.into_primitive().tensor(),
                    self.index.clone().into_primitive(),
                    g.order.clone().map(Tensor::into_primitive),
                    g.offsets.clone().into_primitive(),
                );
                Tensor::from_primitive(TensorPrimitive::Float(out))
            }
            _ => gather_rows(table, self.index.clone()),
        }
    }
}

/// Rows each thread of a chunked index-add loops over (about).
pub const CHUNK_ROWS: usize = 32;

/// Most elements of the K partial results of a chunked index-add (64 MiB of f32).
pub const CHUNK_BUFFER: usize = 1 << 24;

/// Chunks K and rows per chunk for `e` rows added into an `[n, c]` result: about
/// [`CHUNK_ROWS`] rows a chunk, the K partial results within [`CHUNK_BUFFER`], no empty chunk.
pub fn chunks(e: usize, n: usize, c: usize) -> (usize, usize) {
    let cap = (CHUNK_BUFFER / (n * c).max(1)).max(1);
    let k = e.div_ceil(CHUNK_ROWS).clamp(1, cap);
    let rows = e.div_ceil(k).max(1);
    (e.div_ceil(rows).max(1), rows)
}

/// `index` padded with zeros to `k * rows` entries and repeated over `c` columns: `[k, rows, c]`.
fn chunked_index<B: Backend>(
    index: Tensor<B, 1, Int>,
    k: usize,
    rows: usize,
    c: usize,
) -> Tensor<B, 3, Int> {
    let e = index.dims()[0];
    let index = if k * rows > e {
        let pad = Tensor::zeros([k * rows - e], &index.device());
        Tensor::cat(vec![index, pad], 0)
    } else {
        index
    };
    index.reshape([k, rows, 1]).repeat_dim(2, c)
}

/// Sum of rows into segments, `[E, C] -> [N, C]`: row i of `values` is added to row
/// `segments[i]` of the result (every segment id below `n`).
pub fn segment_sum<B: FusedOps>(
    values: Tensor<B, 2>,
    segments: Tensor<B, 1, Int>,
    n: usize,
) -> Tensor<B, 2> {
    if B::CHUNKED_INDEX_ADD {
        segment_sum_chunked(values, segments, n)
    } else if B::PARALLEL_KERNELS {
        let out = B::segment_sum(
            values.into_primitive().tensor(),
            segments.into_primitive(),
            n,
        );
        Tensor::from_primitive(TensorPrimitive::Float(out))
    } else {
        let [_, c] = values.dims();
        Tensor::zeros([n, c], &values.device()).select_assign(
            0,
            segments,
            values,
            IndexingUpdateOp::Add,
        )
    }
}

/// Mean of rows per segment: the segment sum times `1 / max(count, 1)` (`inv_count` `[N, 1]`).
pub fn segment_mean<B: FusedOps>(
    values: Tensor<B, 2>,
    segments: Tensor<B, 1, Int>,
    inv_count: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let n = inv_count.dims()[0];
    segment_sum(values, segments, n) * inv_count
}

/// The mean over incoming edges of `w[e] * x[senders[e]]` (`w` `[E, C]`, `x` `[N, C]`,
/// `inv_count` `[N, 1]`): `receivers.mean(w * senders.gather(x), inv_count)`, fused into one
/// parallel pass (and its backward pass) where the backend has [`FusedOps::PARALLEL_KERNELS`],
/// with the same bits, and into one kernel each way over the groupings where the receivers ask
/// for it ([`Segments::fused_messages`]), both indices are grouped and the backend has
/// [`FusedOps::FUSED_MESSAGES`].
pub fn message_mean<B: FusedOps>(
    w: Tensor<B, 2>,
    x: Tensor<B, 2>,
    senders: &Segments<B>,
    receivers: &Segments<B>,
    inv_count: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let fused = B::FUSED_MESSAGES
        && receivers.fused_messages
        && senders.grouping.is_some()
        && receivers.grouping.is_some();
    if B::PARALLEL_KERNELS || fused {
        let out = B::message_mean(
            w.into_primitive().tensor(),
            x.into_primitive().tensor(),
            senders.edge_index(),
            receivers.edge_index(),
            inv_count.into_primitive().tensor(),
        );
        Tensor::from_primitive(TensorPrimitive::Float(out))
    } else {
        receivers.mean(w * senders.gather(x), inv_count)
    }
}

/// Edge rows from a node table and an edge base: `base + p[senders, ..d] + p[receivers, d..]`
/// for `p` `[N, 2d]` and `base` `[E, d]` (with `p = h [W_s | W_r]` and `base = e W_e`, the product
/// `concat(h[senders], h[receivers], e) W` without the concatenation). One parallel pass, and a
/// backward pass that sums the gradient by sender and by receiver, where the backend has
/// [`FusedOps::PARALLEL_KERNELS`]; two [`Segments::gather`] elsewhere.
pub fn pair_gather_add<B: FusedOps>(
    p: Tensor<B, 2>,
    senders: &Segments<B>,
    receivers: &Segments<B>,
    base: Tensor<B, 2>,
) -> Tensor<B, 2> {
    if B::PARALLEL_KERNELS {
        let out = B::pair_gather_add(
            p.into_primitive().tensor(),
            senders.index.clone().into_primitive(),
            receivers.index.clone().into_primitive(),
            base.into_primitive().tensor(),
        );
        Tensor::from_primitive(TensorPrimitive::Float(out))
    } else {
        let [n, d2] = p.dims();
        let d = d2 / 2;
        base + senders.gather(p.clone().slice([0..n, 0..d]))
            + receivers.gather(p.slice([0..n, d..d2]))
    }
}

/// Rows of `table` picked by index, `[N, C] -> [E, C]` (`table.select(0, index)`), with a
/// gradient that is a [`segment_sum`] on every backend.
pub fn gather_rows<B: FusedOps>(table: Tensor<B, 2>, index: Tensor<B, 1, Int>) -> Tensor<B, 2> {
    if B::CHUNKED_INDEX_ADD {
        gather_rows_chunked(table, index)
    } else if B::PARALLEL_KERNELS {
        let out = B::gather_rows(table.into_primitive().tensor(), index.into_primitive());
        Tensor::from_primitive(TensorPrimitive::Float(out))
    } else {
        table.select(0, index)
    }
}

/// [`segment_sum`] as K parallel partial sums (any backend; the default on
/// [`FusedOps::CHUNKED_INDEX_ADD`] ones). Padding rows are zeros added to segment 0.
pub fn segment_sum_chunked<B: Backend>(
    values: Tensor<B, 2>,
    segments: Tensor<B, 1, Int>,
    n: usize,
) -> Tensor<B, 2> {
    let [e, c] = values.dims();
    let device = values.device();
    if e == 0 {
        return Tensor::zeros([n, c], &device);
    }
    let (k, rows) = chunks(e, n, c);
    let values = if k * rows > e {
        Tensor::cat(vec![values, Tensor::zeros([k * rows - e, c], &device)], 0)
    } else {
        values
    };
    let index = chunked_index(segments, k, rows, c);
    Tensor::<B, 3>::zeros([k, n, c], &device)
        .scatter(
            1,
            index,
            values.reshape([k, rows, c]),
            IndexingUpdateOp::Add,
        )
        .sum_dim(0)
        .reshape([n, c])
}

/// [`gather_rows`] from K broadcast copies of `table`, so that the gradient is K parallel
/// partial sums (any backend; the default on [`FusedOps::CHUNKED_INDEX_ADD`] ones).
pub fn gather_rows_chunked<B: Backend>(
    table: Tensor<B, 2>,
    index: Tensor<B, 1, Int>,
) -> Tensor<B, 2> {
    let [n, c] = table.dims();
    let e = index.dims()[0];
    if e == 0 {
        return Tensor::zeros([0, c], &table.device());
    }
    let (k, rows) = chunks(e, n, c);
    let index = chunked_index(index, k, rows, c);
    table
        .unsqueeze_dim::<3>(0)
        .expand([k, n, c])
        .gather(1, index)
        .reshape([k * rows, c])
        .narrow(0, 0, e)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly on purpose

    use super::*;
    use crate::backend::CpuAutodiff;
    use burn::tensor::TensorData;
    use rand::{Rng, SeedableRng};

    type B = CpuAutodiff;

    fn floats(v: Vec<f32>, shape: [usize; 2]) -> Tensor<B, 2> {
        Tensor::from_data(TensorData::new(v, shape), &Default::default())
    }

    fn ints(v: Vec<i32>) -> Tensor<B, 1, Int> {
        let n = v.len();
        Tensor::from_data(TensorData::new(v, [n]), &Default::default())
    }

    fn vec(t: Tensor<B, 2>) -> Vec<f32> {
        t.into_data().into_vec::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    #[test]
    fn chunks_cover_every_row_within_the_buffer() {
        for (e, n, c) in [
            (1, 1, 1),
            (31, 5, 3),
            (33, 5, 3),
            (10_000, 600, 64),
            (40_000, 2_400, 64),
            (7, 3, 1 << 22),
        ] {
            let (k, rows) = chunks(e, n, c);
            assert!(
                k * rows >= e && (k - 1) * rows < e,
                "{e} {n} {c}: {k} x {rows}"
            );
            assert!(
                k == 1 || k * n * c <= CHUNK_BUFFER,
                "{e} {n} {c}: {k} chunks"
            );
        }
    }

    /// The chunked sum and gather equal burn's select_assign and select, values and gradients,
    /// at sizes with and without padding rows and with empty segments.
    #[test]
    fn chunked_sum_and_gather_match_select_with_gradients() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (e, n, c) in [
            (1, 1, 1),
            (40, 7, 3),
            (97, 13, 5),
            (1_000, 61, 8),
            (64, 200, 2),
        ] {
            let v: Vec<f32> = (0..e * c).map(|_| rng.random_range(-1.0..1.0)).collect();
            let t: Vec<f32> = (0..n * c).map(|_| rng.random_range(-1.0..1.0)).collect();
            let w: Vec<f32> = (0..n * c).map(|_| rng.random_range(-1.0..1.0)).collect();
            let we: Vec<f32> = (0..e * c).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut idx: Vec<i32> = (0..e).map(|_| rng.random_range(0..n as i32)).collect();
            idx.sort_unstable(); // receivers are sorted, senders are not: both must work
            if e > 3 {
                idx.swap(0, e - 1);
            }
            let run = |chunked: bool| {
                let x = floats(v.clone(), [e, c]).require_grad();
                let tab = floats(t.clone(), [n, c]).require_grad();
                let (s, g) = if chunked {
                    (
                        segment_sum_chunked(x.clone(), ints(idx.clone()), n),
                        gather_rows_chunked(tab.clone(), ints(idx.clone())),
                    )
                } else {
                    (
                        Tensor::zeros([n, c], &Default::default()).select_assign(
                            0,
                            ints(idx.clone()),
                            x.clone(),
                            IndexingUpdateOp::Add,
                        ),
                        tab.clone().select(0, ints(idx.clone())),
                    )
                };
                let loss = (s.clone() * floats(w.clone(), [n, c])).sum()
                    + (g.clone() * floats(we.clone(), [e, c])).sum();
                let grads = loss.backward();
                let gx = x
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .into_vec::<f32>()
                    .unwrap();
                let gt = tab
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .into_vec::<f32>()
                    .unwrap();
                (vec(s), vec(g), gx, gt)
            };
            let (s0, g0, gx0, gt0) = run(false);
            let (s1, g1, gx1, gt1) = run(true);
            let at = format!("e={e} n={n} c={c}");
            close(&s1, &s0, &format!("sum {at}"));
            close(&g1, &g0, &format!("gather {at}"));
            close(&gx1, &gx0, &format!("sum gradient {at}"));
            close(&gt1, &gt0, &format!("gather gradient {at}"));
        }
    }
}
