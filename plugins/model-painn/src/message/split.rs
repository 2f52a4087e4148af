//! How the block's kernels split their work over the kernel threads: row ranges of nodes (each
//! thread owns the sums into its rows, added in edge order) and chunks of edges (per-edge
//! results written in parallel).

use rayon::prelude::*;

/// Row ranges of `n` rows, one per kernel thread: `(first row, past the last)`.
pub(super) fn ranges(n: usize) -> Vec<(usize, usize)> {
    let parts = rayon::current_num_threads().clamp(1, n.max(1));
    let rows = n.div_ceil(parts).max(1);
    (0..n.div_ceil(rows))
        .map(|t| (t * rows, ((t + 1) * rows).min(n)))
        .collect()
}

/// Every `block` of `data` (consecutive blocks of `n * width` elements) split at the row ranges
/// of [`ranges`]: for each range, its rows of every block.
pub(super) fn split_blocks<'a>(
    data: &'a mut [f32],
    n: usize,
    width: usize,
    parts: &[(usize, usize)],
) -> Vec<Vec<&'a mut [f32]>> {
    let mut out: Vec<Vec<&mut [f32]>> = parts.iter().map(|_| Vec::new()).collect();
    let rows = parts.first().map_or(1, |p| (p.1 - p.0).max(1));
    for block in data.chunks_mut((n * width).max(1)) {
        for (t, part) in block.chunks_mut(rows * width).enumerate() {
            if let Some(o) = out.get_mut(t) {
                o.push(part);
            }
        }
    }
    out
}

/// Edges of a backward chunk (a task of the filter gradient).
const EDGE_CHUNK: usize = 256;

/// `s` cut into `count` chunks of `size` elements (`count` absent chunks when there is no `s`).
pub(super) fn chunks(s: Option<&mut [f32]>, size: usize, count: usize) -> Vec<Option<&mut [f32]>> {
    match s {
        Some(s) => s.chunks_mut(size.max(1)).map(Some).take(count).collect(),
        None => (0..count).map(|_| None).collect(),
    }
}

/// [`split_blocks`] of `data` where there is one (absent parts where there is none).
pub(super) fn split_some<'a>(
    data: Option<&'a mut [f32]>,
    n: usize,
    width: usize,
    parts: &[(usize, usize)],
) -> Vec<Option<Vec<&'a mut [f32]>>> {
    match data {
        Some(d) => split_blocks(d, n, width, parts)
            .into_iter()
            .map(Some)
            .collect(),
        None => parts.iter().map(|_| None).collect(),
    }
}

/// Calls `body(e, row3f, row3)` for every edge `e`, by chunks of edges in parallel, with the
/// edge's `3F` values of `wide` and its 3 of `narrow` (each absent where not asked for).
pub(super) fn per_edge(
    edges: usize,
    f: usize,
    wide: Option<&mut [f32]>,
    narrow: Option<&mut [f32]>,
    body: impl Fn(usize, Option<&mut [f32]>, Option<&mut [f32]>) + Sync,
) {
    let tasks = edges.div_ceil(EDGE_CHUNK);
    let wide = chunks(wide, EDGE_CHUNK * 3 * f, tasks);
    let narrow = chunks(narrow, EDGE_CHUNK * 3, tasks);
    wide.into_par_iter()
        .zip(narrow)
        .enumerate()
        .for_each(|(chunk, (mut wc, mut nc))| {
            pulp::Arch::new().dispatch(|| {
                for k_e in 0..EDGE_CHUNK.min(edges - chunk * EDGE_CHUNK) {
                    let w = wc
                        .as_deref_mut()
                        .map(|c| &mut c[k_e * 3 * f..(k_e + 1) * 3 * f]);
                    let n = nc.as_deref_mut().map(|c| &mut c[k_e * 3..k_e * 3 + 3]);
                    body(chunk * EDGE_CHUNK + k_e, w, n);
                }
            });
        });
}
