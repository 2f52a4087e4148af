//! Tests of `parallel`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use super::*;
use rand::{Rng, SeedableRng};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// Every kernel on 1, 2, 3 and 5 threads, at sizes with a partial last chunk.
fn on_threads<T: PartialEq + std::fmt::Debug + Send>(f: impl Fn() -> T + Sync) {
    let one = pool(1).unwrap().install(&f);
    for t in [2, 3, 5] {
        assert_eq!(pool(t).unwrap().install(&f), one, "{t} threads");
    }
}

#[test]
fn kernels_give_the_same_bits_on_any_number_of_threads() {
    let (m, k, n) = (3 * CHUNK_ROWS + 17, 40, 24);
    let x = random(m * k, 1);
    let g = random(m * n, 2);
    let w = random(k * n, 3);
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    on_threads(|| bits(matmul(&x, m, MatRef::row_major(&w, k, n))));
    on_threads(|| bits(matmul(&g, m, MatRef::row_major(&w, k, n).t())));
    on_threads(|| bits(matmul_tn(&x, &g, m, k, n)));
    // a node-sized product: many small chunks, so many partial sums
    let small: usize = 300;
    assert!(small.div_ceil(product_rows(small)) >= 8);
    on_threads(|| bits(matmul(&x[..small * k], small, MatRef::row_major(&w, k, n))));
    on_threads(|| bits(matmul_tn(&x[..small * k], &g[..small * n], small, k, n)));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let index: Vec<usize> = (0..m).map(|_| rng.random_range(0..300)).collect();
    on_threads(|| bits(index_add_rows(&g, n, &index, 300)));
    on_threads(|| bits(gather_rows(&g, n, &index)));
    let receivers: Vec<usize> = (0..m).map(|_| rng.random_range(0..300)).collect();
    let table = random(300 * 2 * n, 8);
    on_threads(|| {
        let mut base = g.clone();
        pair_gather_add(&mut base, &table, n, &index, &receivers);
        bits(base)
    });
    on_threads(|| bits(pair_index_add(&g, n, &index, &receivers, 300)));
    on_threads(|| {
        let mut a = g.clone();
        mul_in_place(&mut a, &x[..g.len()]);
        bits(a)
    });
    on_threads(|| {
        let mut a = g.clone();
        add_row(&mut a, &w[..n]);
        bits(a)
    });
    on_threads(|| bits(column_sums(&g, n)));
}

/// The bias kernels against plain loops: the add exactly, the column sums (a different
/// summation order over more than one chunk) to rounding.
#[test]
fn bias_kernels_match_plain_loops() {
    let (m, n) = (2 * CHUNK_ROWS + 9, 7);
    let (g, b) = (random(m * n, 11), random(n, 12));
    let mut added = g.clone();
    add_row(&mut added, &b);
    for (i, v) in added.iter().enumerate() {
        assert_eq!(v.to_bits(), (g[i] + b[i % n]).to_bits());
    }
    let sums = column_sums(&g, n);
    for (j, s) in sums.iter().enumerate() {
        let want: f64 = (0..m).map(|i| f64::from(g[i * n + j])).sum();
        assert!(
            (f64::from(*s) - want).abs() < 1e-4,
            "column {j}: {s} vs {want}"
        );
    }
}

#[test]
fn product_chunks_depend_on_the_rows_only() {
    assert_eq!(product_rows(1), MIN_PRODUCT_ROWS);
    assert_eq!(product_rows(640), 48);
    assert_eq!(product_rows(100_000), CHUNK_ROWS);
    for m in [1, 31, 640, 1920, 10_112, 1 << 20] {
        let rows = product_rows(m);
        assert!(rows.is_multiple_of(16) && (MIN_PRODUCT_ROWS..=CHUNK_ROWS).contains(&rows));
    }
}

#[test]
fn pair_kernels_match_plain_loops() {
    let (e, n, d) = (CHUNK_ROWS + 9, 13, 3);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let senders: Vec<usize> = (0..e).map(|_| rng.random_range(0..n)).collect();
    let receivers: Vec<usize> = (0..e).map(|_| rng.random_range(0..n - 1)).collect();
    let (p, base, g) = (random(n * 2 * d, 10), random(e * d, 11), random(e * d, 12));
    let mut out = base.clone();
    pair_gather_add(&mut out, &p, d, &senders, &receivers);
    let grad = pair_index_add(&g, d, &senders, &receivers, n);
    let mut want_grad = vec![0.0f32; n * 2 * d];
    for k in 0..e {
        let (s, r) = (senders[k], receivers[k]);
        for j in 0..d {
            let want = base[k * d + j] + p[s * 2 * d + j] + p[r * 2 * d + d + j];
            assert_eq!(out[k * d + j], want, "edge {k}, column {j}");
            want_grad[s * 2 * d + j] += g[k * d + j];
            want_grad[r * 2 * d + d + j] += g[k * d + j];
        }
    }
    assert_eq!(grad, want_grad, "the serial loop's order, so the same bits");
    assert!(
        grad[(n - 1) * 2 * d + d..].iter().all(|&v| v == 0.0),
        "node n - 1 receives nothing"
    );
}

#[test]
#[should_panic(expected = "not below")]
fn a_pair_index_beyond_the_table_is_refused() {
    let mut base = vec![0.0; 2];
    pair_gather_add(&mut base, &[0.0; 4], 1, &[0, 2], &[1, 1]);
}

#[test]
fn kernels_match_plain_loops() {
    let (m, k, n) = (2 * CHUNK_ROWS + 3, 9, 5);
    let x = random(m * k, 5);
    let g = random(m * n, 6);
    let w = random(k * n, 7);
    let y = matmul(&x, m, MatRef::row_major(&w, k, n));
    let gw = matmul_tn(&x, &g, m, k, n);
    for i in [0, CHUNK_ROWS, m - 1] {
        for j in 0..n {
            let want: f32 = (0..k).map(|p| x[i * k + p] * w[p * n + j]).sum();
            assert!((y[i * n + j] - want).abs() < 1e-5);
        }
    }
    for p in 0..k {
        for j in 0..n {
            let want: f64 = (0..m)
                .map(|i| f64::from(x[i * k + p]) * f64::from(g[i * n + j]))
                .sum();
            assert!((f64::from(gw[p * n + j]) - want).abs() < 1e-4);
        }
    }
    let index: Vec<usize> = (0..m).map(|i| (i * 7) % 11).collect();
    let sums = index_add_rows(&g, n, &index, 12);
    let mut want = vec![0.0f32; 12 * n];
    for (i, &s) in index.iter().enumerate() {
        for j in 0..n {
            want[s * n + j] += g[i * n + j];
        }
    }
    assert_eq!(sums, want, "the serial loop's order, so the same bits");
    let rows = gather_rows(&g, n, &index);
    assert_eq!(&rows[n..2 * n], &g[7 * n..8 * n]);
}

#[test]
#[should_panic(expected = "not below")]
fn an_index_beyond_the_result_is_refused() {
    let _ = index_add_rows(&[1.0, 2.0], 1, &[0, 5], 3);
}
