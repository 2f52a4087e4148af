//! Personalised PageRank: the forward push per source (node-wise IBMB), top-k selection, and
//! power iteration (the dense reference and batch-wise IBMB's topic-sensitive PPR).
//!
//! The random walk is `D⁻¹A` on the pre-processed graph (self-loops included); teleport `alpha`.

use geobatch_node::NodeGraph;
use rayon::prelude::*;

/// Reusable dense scratch of one push: estimate, residual, queue flag, touched list.
#[derive(Debug, Default)]
pub struct PushScratch {
    p: Vec<f32>,
    r: Vec<f32>,
    queued: Vec<bool>,
    touched: Vec<u32>,
    stack: Vec<u32>,
}

impl PushScratch {
    /// Scratch for a graph of `n` nodes.
    pub fn new(n: usize) -> Self {
        PushScratch {
            p: vec![0.0; n],
            r: vec![0.0; n],
            queued: vec![false; n],
            touched: Vec::new(),
            stack: Vec::new(),
        }
    }
}

/// Approximate PPR row of `source` by forward push (Andersen–Chung–Lang, PPRGo variant): returns
/// the nonzero estimates as `(node, value)`, sorted by node.
///
/// Guarantee (undirected graph): `0 ≤ π_s(v) − p(v) < eps · deg(v)` for every node `v`.
pub fn push(
    graph: &NodeGraph,
    source: u32,
    alpha: f32,
    eps: f32,
    s: &mut PushScratch,
) -> Vec<(u32, f32)> {
    let touch = |s: &mut PushScratch, v: u32| {
        if s.p[v as usize] == 0.0 && s.r[v as usize] == 0.0 {
            s.touched.push(v);
        }
    };
    touch(s, source);
    s.r[source as usize] = alpha;
    s.stack.push(source);
    s.queued[source as usize] = true;
    while let Some(u) = s.stack.pop() {
        s.queued[u as usize] = false;
        let res = s.r[u as usize];
        s.p[u as usize] += res;
        s.r[u as usize] = 0.0;
        let nbrs = graph.neighbors(u);
        let share = (1.0 - alpha) * res / nbrs.len() as f32;
        for &v in nbrs {
            touch(s, v);
            s.r[v as usize] += share;
            let deg = graph.degree(v) as f32;
            if !s.queued[v as usize] && s.r[v as usize] >= alpha * eps * deg {
                s.queued[v as usize] = true;
                s.stack.push(v);
            }
        }
    }
    let mut out = Vec::new();
    for &v in &s.touched {
        let p = s.p[v as usize];
        if p > 0.0 {
            out.push((v, p));
        }
        s.p[v as usize] = 0.0;
        s.r[v as usize] = 0.0;
    }
    s.touched.clear();
    out.sort_unstable_by_key(|e| e.0);
    out
}

/// Pushes from every source in parallel and maps each result with `f` (rayon, one scratch per
/// worker).
pub fn push_all<T: Send>(
    graph: &NodeGraph,
    sources: &[u32],
    alpha: f32,
    eps: f32,
    f: impl Fn(u32, Vec<(u32, f32)>) -> T + Sync + Send,
) -> Vec<T> {
    let n = graph.n_nodes();
    sources
        .par_iter()
        .map_init(
            || PushScratch::new(n),
            |scratch, &s| f(s, push(graph, s, alpha, eps, scratch)),
        )
        .collect()
}

/// The `k` largest entries by value (ties to the smaller node id), sorted by node id.
pub fn top_k(mut entries: Vec<(u32, f32)>, k: usize) -> Vec<u32> {
    let better = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if entries.len() > k {
        if k == 0 {
            return Vec::new();
        }
        entries.select_nth_unstable_by(k - 1, better);
        entries.truncate(k);
    }
    let mut ids: Vec<u32> = entries.into_iter().map(|e| e.0).collect();
    ids.sort_unstable();
    ids
}

/// One step `y = (D⁻¹A) x` for a dense `n x b` block (row-major).
fn propagate(graph: &NodeGraph, x: &[f32], y: &mut [f32], b: usize) {
    y.par_chunks_mut(b).enumerate().for_each(|(i, row)| {
        row.iter_mut().for_each(|v| *v = 0.0);
        let nbrs = graph.neighbors(i as u32);
        let w = 1.0 / nbrs.len() as f32;
        for &j in nbrs {
            let xj = &x[j as usize * b..(j as usize + 1) * b];
            for (r, &v) in row.iter_mut().zip(xj) {
                *r += w * v;
            }
        }
    });
}

/// Topic-sensitive PPR by power iteration for `b` teleport sets at once (batch-wise IBMB, spec
/// ibmb §4): `x ← (1 − alpha) · (D⁻¹A) · x + alpha · t`, `t` uniform on each set, `iters` times
/// from `x = t`. Returns the dense `n x b` block, row-major.
pub fn topic_ppr(graph: &NodeGraph, sets: &[&[u32]], alpha: f32, iters: usize) -> Vec<f32> {
    let (n, b) = (graph.n_nodes(), sets.len());
    let mut t = vec![0f32; n * b];
    for (c, set) in sets.iter().enumerate() {
        let w = 1.0 / set.len().max(1) as f32;
        for &v in *set {
            t[v as usize * b + c] = w;
        }
    }
    let mut x = t.clone();
    let mut y = vec![0f32; n * b];
    for _ in 0..iters {
        propagate(graph, &x, &mut y, b);
        x.par_iter_mut()
            .zip(y.par_iter())
            .zip(t.par_iter())
            .for_each(|((x, &y), &t)| *x = (1.0 - alpha) * y + alpha * t);
    }
    x
}

/// Dense PPR row of `source` for the walk `D⁻¹A` by power iteration on the row vector
/// (`π ← alpha e_s + (1 − alpha) π D⁻¹A`), in f64: the reference the push is checked against.
pub fn dense_ppr(graph: &NodeGraph, source: u32, alpha: f64, iters: usize) -> Vec<f64> {
    let n = graph.n_nodes();
    let mut pi = vec![0f64; n];
    pi[source as usize] = alpha;
    let mut next = vec![0f64; n];
    for _ in 0..iters {
        next.iter_mut().for_each(|v| *v = 0.0);
        next[source as usize] = alpha;
        for u in 0..n as u32 {
            let nbrs = graph.neighbors(u);
            let share = (1.0 - alpha) * pi[u as usize] / nbrs.len() as f64;
            for &v in nbrs {
                next[v as usize] += share;
            }
        }
        std::mem::swap(&mut pi, &mut next);
    }
    pi
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    pub(crate) fn random_graph(n: usize, m: usize, seed: u64) -> NodeGraph {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let edges: Vec<(u32, u32)> = (0..m)
            .map(|_| (rng.random_range(0..n as u32), rng.random_range(0..n as u32)))
            .collect();
        let labels = (0..n).map(|v| (v % 3) as i32).collect();
        NodeGraph::from_edges(n, &edges, vec![0.0; n], 1, labels, Default::default()).unwrap()
    }

    #[test]
    fn push_is_within_its_epsilon_bound_of_dense_ppr() {
        for (seed, eps) in [(1u64, 1e-2f32), (2, 1e-3), (3, 1e-4)] {
            let g = random_graph(300, 900, seed);
            let mut s = PushScratch::new(g.n_nodes());
            for source in [0u32, 17, 299] {
                let exact = dense_ppr(&g, source, 0.25, 200);
                let approx = push(&g, source, 0.25, eps, &mut s);
                let mut p = vec![0f64; g.n_nodes()];
                for (v, x) in approx {
                    p[v as usize] = x as f64;
                }
                let mut worst = 0f64;
                for v in 0..g.n_nodes() {
                    let err = exact[v] - p[v];
                    let bound = eps as f64 * g.degree(v as u32) as f64;
                    assert!(
                        err > -1e-6 && err < bound + 1e-6,
                        "v {v}: err {err} bound {bound}"
                    );
                    worst = worst.max(err / bound);
                }
                assert!(
                    worst > 0.0,
                    "the push is approximate: some error is expected"
                );
                // the scratch is clean again
                assert!(s.p.iter().all(|&x| x == 0.0) && s.r.iter().all(|&x| x == 0.0));
            }
        }
    }

    #[test]
    fn top_k_breaks_ties_by_id_and_returns_sorted_ids() {
        let e = vec![(5, 0.1), (2, 0.3), (9, 0.3), (1, 0.2), (7, 0.3)];
        assert_eq!(top_k(e.clone(), 2), vec![2, 7]);
        assert_eq!(top_k(e.clone(), 10), vec![1, 2, 5, 7, 9]);
        assert!(top_k(e, 0).is_empty());
    }

    #[test]
    fn topic_ppr_of_a_single_source_matches_the_column_recursion() {
        // x ← (1−α) P x + α t, solved exactly by a dense f64 iteration of the same recursion
        let g = random_graph(60, 150, 4);
        let set = [3u32, 8];
        let x = topic_ppr(&g, &[&set], 0.25, 50);
        let mut r = vec![0f64; 60];
        let t: Vec<f64> = (0..60)
            .map(|v| if set.contains(&(v as u32)) { 0.5 } else { 0.0 })
            .collect();
        r.clone_from(&t);
        for _ in 0..50 {
            let next: Vec<f64> = (0..60u32)
                .map(|i| {
                    let nb = g.neighbors(i);
                    0.75 * nb.iter().map(|&j| r[j as usize]).sum::<f64>() / nb.len() as f64
                        + 0.25 * t[i as usize]
                })
                .collect();
            r = next;
        }
        for v in 0..60 {
            assert!((x[v] as f64 - r[v]).abs() < 1e-5);
        }
    }
}
