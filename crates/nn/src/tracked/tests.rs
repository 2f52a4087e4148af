//! Tests of the autodiff backend's fused operations against burn's own operations.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use crate::backend::{Cpu, CpuAutodiff};
use crate::layers::{
    Segments, gather_rows, matmul, message_mean, pair_gather_add, segment_mean, segment_sum,
};
use crate::parallel::CHUNK_ROWS;
use burn::tensor::{Int, Tensor, TensorData};
use burn_autodiff::Autodiff;
use rand::{Rng, SeedableRng};

type B = CpuAutodiff;

fn random(rows: usize, cols: usize, seed: u64) -> Tensor<B, 2> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), &Default::default())
}

fn values(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data().into_vec::<f32>().unwrap()
}

fn bits(t: Tensor<B, 2>) -> Vec<u32> {
    values(t).into_iter().map(f32::to_bits).collect()
}

/// `run(fused)` (a value and two gradients, as bits) of a fused op on 1 and 3 threads, and of
/// its unfused composition on 3 threads, equal the composition on 1 thread.
fn same_bits_as_the_composition<T: PartialEq + Send>(
    run: impl Fn(bool) -> (T, T, T) + Sync,
    names: [&str; 3],
) {
    let one = crate::parallel::pool(1).unwrap().install(|| run(false));
    for (threads, fused) in [(1, true), (3, true), (3, false)] {
        let got = crate::parallel::pool(threads)
            .unwrap()
            .install(|| run(fused));
        assert!(
            got.0 == one.0,
            "{}, {threads} threads, fused {fused}",
            names[0]
        );
        assert!(
            got.1 == one.1,
            "{}, {threads} threads, fused {fused}",
            names[1]
        );
        assert!(
            got.2 == one.2,
            "{}, {threads} threads, fused {fused}",
            names[2]
        );
    }
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * y.abs().max(1.0),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// The parallel product and its two gradients against burn's `matmul`, over more rows than
/// one chunk (the weight gradient is then a sum of partial products).
#[test]
fn product_and_gradients_match_burns_matmul() {
    let m = 2 * CHUNK_ROWS + 37;
    let (x, w, up) = (random(m, 20, 1), random(20, 9, 2), random(m, 9, 3));
    let run = |fused: bool| {
        let (xt, wt) = (x.clone().require_grad(), w.clone().require_grad());
        let y = if fused {
            matmul(xt.clone(), wt.clone())
        } else {
            xt.clone().matmul(wt.clone())
        };
        let grads = (y.clone() * up.clone()).sum().backward();
        let gx = xt.grad(&grads).unwrap();
        let gw = wt.grad(&grads).unwrap();
        (
            values(y),
            gx.into_data().into_vec::<f32>().unwrap(),
            gw.into_data().into_vec::<f32>().unwrap(),
        )
    };
    let (fused, plain) = (run(true), run(false));
    close(&fused.0, &plain.0, "x w");
    close(&fused.1, &plain.1, "dx");
    close(&fused.2, &plain.2, "dw");
}

/// The bias add and its gradients against burn's broadcast add (values and `dx` bit for bit,
/// `db` to rounding: its sum runs over fixed row chunks), and the same bits on 1 and 3
/// threads; more rows than one chunk.
#[test]
fn bias_add_and_gradients_match_burns_add() {
    let m = 2 * CHUNK_ROWS + 37;
    let (x, b, up) = (random(m, 9, 21), random(1, 9, 22), random(m, 9, 23));
    let run = |fused: bool| {
        let (xt, bt) = (x.clone().require_grad(), b.clone().require_grad());
        let y = if fused {
            crate::layers::add_bias(xt.clone(), bt.clone())
        } else {
            xt.clone() + bt.clone()
        };
        let grads = (y.clone() * up.clone()).sum().backward();
        let (gx, gb) = (xt.grad(&grads).unwrap(), bt.grad(&grads).unwrap());
        (
            values(y),
            gx.into_data().into_vec::<f32>().unwrap(),
            gb.into_data().into_vec::<f32>().unwrap(),
        )
    };
    let (fused, plain) = (run(true), run(false));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&fused.0), bits(&plain.0), "x + b");
    assert_eq!(bits(&fused.1), bits(&plain.1), "dx");
    close(&fused.2, &plain.2, "db");
    let three = crate::parallel::pool(3).unwrap().install(|| run(true));
    assert_eq!(bits(&three.2), bits(&fused.2), "db on 3 threads");
}

/// A gather followed by a segment sum (an edge round trip) and the gradient through both.
#[test]
fn gather_and_segment_sum_gradients_match_burns_select() {
    let (n, e) = (40, 3 * CHUNK_ROWS + 5);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let idx: Vec<i32> = (0..e).map(|_| rng.random_range(0..n as i32)).collect();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [e]), &Default::default());
    let (table, up) = (random(n, 6, 5), random(n, 6, 6));
    let run = |fused: bool| {
        let t = table.clone().require_grad();
        let y = if fused {
            segment_sum(
                gather_rows(t.clone(), index.clone()).exp(),
                index.clone(),
                n,
            )
        } else {
            Tensor::zeros([n, 6], &Default::default()).select_assign(
                0,
                index.clone(),
                t.clone().select(0, index.clone()).exp(),
                burn::tensor::IndexingUpdateOp::Add,
            )
        };
        let grads = (y.clone() * up.clone()).sum().backward();
        (
            values(y),
            t.grad(&grads)
                .unwrap()
                .into_data()
                .into_vec::<f32>()
                .unwrap(),
        )
    };
    let (fused, plain) = (run(true), run(false));
    close(&fused.0, &plain.0, "sum of gathered rows");
    close(&fused.1, &plain.1, "gradient");
}

/// The fused edge input `base + p[s, ..d] + p[r, d..]` gives the same bits as two gathers and
/// two sums one by one, values and both gradients, on 1 and 3 threads.
#[test]
fn pair_gather_add_is_the_unfused_composition_bit_for_bit() {
    let (n, e, d) = (41, 2 * CHUNK_ROWS + 7, 5);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let mut ints = |hi: i32| {
        let v: Vec<i32> = (0..e).map(|_| rng.random_range(0..hi)).collect();
        Tensor::<B, 1, Int>::from_data(TensorData::new(v, [e]), &Default::default())
    };
    let (s, r) = (ints(n as i32), ints(n as i32 - 1));
    let (p, base, up) = (random(n, 2 * d, 13), random(e, d, 14), random(e, d, 15));
    let run = |fused: bool| {
        let (pt, bt) = (p.clone().require_grad(), base.clone().require_grad());
        let y = if fused {
            pair_gather_add(
                pt.clone(),
                &Segments::new(s.clone(), n),
                &Segments::new(r.clone(), n),
                bt.clone(),
            )
        } else {
            bt.clone()
                + gather_rows(pt.clone().slice([0..n, 0..d]), s.clone())
                + gather_rows(pt.clone().slice([0..n, d..2 * d]), r.clone())
        };
        let grads = (y.clone() * up.clone()).sum().backward();
        let (gp, gb) = (pt.grad(&grads).unwrap(), bt.grad(&grads).unwrap());
        (
            bits(y),
            bits(Tensor::from_inner(gp)),
            bits(Tensor::from_inner(gb)),
        )
    };
    same_bits_as_the_composition(run, ["values", "dp", "dbase"]);
}

/// The fused message mean gives the same bits as the gather, product, segment sum and
/// scaling one by one, values and both gradients, on 1 and 3 threads.
#[test]
fn message_mean_is_the_unfused_composition_bit_for_bit() {
    let (n, e, c) = (57, 2 * CHUNK_ROWS + 11, 7);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let mut receivers: Vec<i32> = (0..e).map(|_| rng.random_range(0..n as i32 - 1)).collect();
    receivers.sort_unstable(); // node n - 1 receives nothing
    let senders: Vec<i32> = (0..e).map(|_| rng.random_range(0..n as i32)).collect();
    let mut degree = vec![0.0f32; n];
    receivers.iter().for_each(|&r| degree[r as usize] += 1.0);
    let inv: Vec<f32> = degree.iter().map(|d| 1.0 / d.max(1.0)).collect();
    let ints =
        |v: Vec<i32>| Tensor::<B, 1, Int>::from_data(TensorData::new(v, [e]), &Default::default());
    let (s, r) = (ints(senders), ints(receivers));
    let inv = Tensor::<B, 2>::from_data(TensorData::new(inv, [n, 1]), &Default::default());
    let (w, x, up) = (random(e, c, 9), random(n, c, 10), random(n, c, 11));
    let run = |fused: bool| {
        let (wt, xt) = (w.clone().require_grad(), x.clone().require_grad());
        let y = if fused {
            message_mean(
                wt.clone(),
                xt.clone(),
                &Segments::new(s.clone(), n),
                &Segments::new(r.clone(), n),
                inv.clone(),
            )
        } else {
            segment_mean(
                wt.clone() * gather_rows(xt.clone(), s.clone()),
                r.clone(),
                inv.clone(),
            )
        };
        let grads = (y.clone() * up.clone()).sum().backward();
        let (gw, gx) = (wt.grad(&grads).unwrap(), xt.grad(&grads).unwrap());
        (
            bits(y),
            bits(Tensor::from_inner(gw)),
            bits(Tensor::from_inner(gx)),
        )
    };
    same_bits_as_the_composition(run, ["values", "dw", "dx"]);
}

/// The fused Gaussian basis under nested autodiff (a potential's forces): the first and second
/// derivatives by the distances, and the first by the basis' weights, equal those of the
/// composition of burn's operations.
#[test]
fn the_fused_basis_differentiates_twice_like_the_composition() {
    type Outer = Autodiff<CpuAutodiff>;
    let dev = Default::default();
    let (e, k, delta) = (37usize, 40usize, 0.1);
    let d: Vec<f32> = (0..e).map(|i| 0.3 + 0.11 * i as f32).collect();
    let w: Vec<f32> = (0..e * k)
        .map(|i| ((i * 7919) % 23) as f32 / 23.0 - 0.5)
        .collect();
    let v: Vec<f32> = (0..e).map(|i| ((i * 31) % 7) as f32 / 7.0 - 0.4).collect();
    // energy sum(w . basis(d)); its gradient g by d (outer); loss sum(g . v) by d and w (inner)
    let run = |fused: bool| {
        let d1 = Tensor::<CpuAutodiff, 2>::from_data(TensorData::new(d.clone(), [e, 1]), &dev)
            .require_grad();
        let w1 = Tensor::<CpuAutodiff, 2>::from_data(TensorData::new(w.clone(), [e, k]), &dev)
            .require_grad();
        let d2 = Tensor::<Outer, 2>::from_inner(d1.clone()).require_grad();
        let w2 = Tensor::<Outer, 2>::from_inner(w1.clone());
        let basis = if fused {
            crate::fused::gaussian_basis(d2.clone(), k, delta)
        } else {
            crate::layers::gaussian_rbf(d2.clone(), k, delta)
        };
        let energy = (basis * w2).sum();
        let g = d2.grad(&energy.backward()).unwrap();
        let v1 = Tensor::<CpuAutodiff, 2>::from_data(TensorData::new(v.clone(), [e, 1]), &dev);
        let grads = (g.clone() * v1).sum().backward();
        let vals = |t: Tensor<Cpu, 2>| t.into_data().to_vec::<f32>().unwrap();
        (
            vals(g.inner()),
            vals(d1.grad(&grads).unwrap()),
            vals(w1.grad(&grads).unwrap()),
        )
    };
    let (fused, composite) = (run(true), run(false));
    for (name, a, b) in [
        ("dE/dd", &fused.0, &composite.0),
        ("d2E/dd2", &fused.1, &composite.1),
        ("d2E/dd dw", &fused.2, &composite.2),
    ] {
        let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
        let worst = a
            .iter()
            .zip(b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst <= 1e-5 * scale, "{name}: {worst} (largest {scale})");
    }
}
