//! PaiNN: parameter count by hand, invariance of the energy and equivariance of the vector
//! features under rotations and translations, permutation equivariance, and the fused message op
//! against finite differences and a plain reference (padding: the catalog's `tests/catalog/models.rs`).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use burn::tensor::{Distribution, Int, Tensor, TensorData};
use geobatch_core::{GraphRule, GraphSet, Shape, TargetStats};
use geobatch_dataset_synthetic::SyntheticSpec;
use geobatch_geometry::GraphSetBuilder;
use geobatch_model_painn::message::message;
use geobatch_model_painn::{Painn, PainnSpec};
use geobatch_nn::BatchInputs;
use geobatch_nn::backend::{Cpu, CpuAutodiff};
use geobatch_nn::index::Segments;
use geobatch_nn::trainer::GraphRegressor;

#[test]
fn parameter_count_matches_the_hand_count() {
    // QM9: 5 species, F = 256, 20 Gaussians, 3 layers, 1 target:
    // embedding 5*256 = 1280; filter 20*2304 + 2304 = 48384;
    // per layer: message (256*256 + 256) + (256*768 + 768) = 263168, mix 256*512 = 131072,
    // update (512*256 + 256) + (256*768 + 768) = 328704 -> 722944, three layers 2168832;
    // readout (256*256 + 256) + (256 + 1) = 66049. PyTorch's counterpart counts 2284545 too.
    let by_hand = 1280 + 48384 + 3 * (263168 + 131072 + 328704) + 66049;
    assert_eq!(by_hand, 2_284_545);
    let spec = PainnSpec::default();
    assert_eq!(spec.parameter_count(5, 1), by_hand);
    geobatch_testkit::models::assert_built_parameters(&spec, 5, by_hand);
}

fn molecules(n: usize, seed: u64) -> GraphSet {
    toml::from_str::<SyntheticSpec>(&format!("graphs = {n}"))
        .unwrap()
        .generate(seed)
        .unwrap()
}

/// One molecule of `set` moved by `f` (positions) and with its atoms listed in `order`.
fn moved(set: &GraphSet, g: usize, order: &[usize], f: impl Fn([f32; 3]) -> [f32; 3]) -> GraphSet {
    let r = set.node_range(g);
    let z: Vec<u8> = order
        .iter()
        .map(|&i| set.atomic_numbers()[r.start + i])
        .collect();
    let pos: Vec<[f64; 3]> = order
        .iter()
        .map(|&i| f(set.positions()[r.start + i]).map(f64::from))
        .collect();
    let mut b = GraphSetBuilder::new(vec!["y".into()]);
    b.push("m", &z, &pos, None, &[0.0]).unwrap();
    b.build(&GraphRule::Full, Some(set.species_classes()))
        .unwrap()
}

fn features(model: &Painn<Cpu>, set: &GraphSet) -> (Vec<f32>, Vec<f32>, f32) {
    let batch = geobatch_testkit::models::collate(set, &[0], |r| {
        Shape::new(r.nodes + 1, r.edges, r.graphs + 1)
    });
    let stats = [TargetStats {
        mean: 0.0,
        std: 1.0,
    }];
    let inputs = BatchInputs::<Cpu>::new(&batch, &stats, &Default::default(), &Default::default());
    let (s, v) = model.features(&inputs);
    let e = model.forward(&inputs);
    let vec = |t: Tensor<Cpu, 2>| t.into_data().convert::<f32>().into_vec::<f32>().unwrap();
    let energy = vec(e)[0];
    let v: Vec<f32> = v.into_data().convert::<f32>().into_vec().unwrap();
    (vec(s), v, energy)
}

#[test]
fn energy_is_invariant_and_vectors_rotate_with_the_molecule() {
    let set = molecules(3, 11);
    let spec = PainnSpec {
        hidden: 8,
        ..Default::default()
    };
    let model = Painn::<Cpu>::new(
        &spec,
        set.species_classes().len(),
        1,
        4,
        &Default::default(),
    );
    let n = set.sizes()[0].nodes as usize;
    let identity: Vec<usize> = (0..n).collect();
    let base = moved(&set, 0, &identity, |p| p);
    let (s0, v0, e0) = features(&model, &base);
    // a proper rotation (about the axis (1, 2, 2)/3 by 1 rad) and a translation
    let (ax, th) = ([1.0f64 / 3.0, 2.0 / 3.0, 2.0 / 3.0], 1.0f64);
    let (c, sn) = (th.cos(), th.sin());
    let mut r = [[0.0f64; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let cross = match (i, j) {
                (0, 1) => -ax[2],
                (0, 2) => ax[1],
                (1, 0) => ax[2],
                (1, 2) => -ax[0],
                (2, 0) => -ax[1],
                (2, 1) => ax[0],
                _ => 0.0,
            };
            r[i][j] = if i == j { c } else { 0.0 } + (1.0 - c) * ax[i] * ax[j] + sn * cross;
        }
    }
    let rot = |p: [f32; 3]| {
        [0, 1, 2].map(|i| (0..3).map(|j| r[i][j] * f64::from(p[j])).sum::<f64>() as f32)
    };
    let turned = moved(&set, 0, &identity, |p| {
        let q = rot(p);
        [q[0] + 3.0, q[1] - 1.5, q[2] + 0.25]
    });
    let (s1, v1, e1) = features(&model, &turned);
    assert!(
        (e0 - e1).abs() <= 1e-4 * e0.abs().max(1.0),
        "energy {e0} vs {e1}"
    );
    let scale = s0.iter().fold(0f32, |m, x| m.max(x.abs())).max(1.0);
    for (a, b) in s0.iter().zip(&s1) {
        assert!((a - b).abs() <= 2e-4 * scale, "scalar {a} vs {b}");
    }
    // v is [N_padded, 3, F]: every real node's vector rotates
    let f = spec.hidden;
    let vscale = v0.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(vscale > 1e-3, "vector features are not all zero");
    for node in 0..n {
        for k in 0..f {
            let at = |v: &[f32], c: usize| v[(node * 3 + c) * f + k];
            let want = rot([at(&v0, 0), at(&v0, 1), at(&v0, 2)]);
            for (c, w) in want.iter().enumerate() {
                assert!(
                    (at(&v1, c) - w).abs() <= 2e-4 * vscale,
                    "node {node} feature {k}"
                );
            }
        }
    }
    // listing the atoms in another order permutes the features
    let order: Vec<usize> = (0..n).rev().collect();
    let (s2, _, e2) = features(&model, &moved(&set, 0, &order, |p| p));
    assert!((e0 - e2).abs() <= 1e-4 * e0.abs().max(1.0));
    for (new, &old) in order.iter().enumerate() {
        for k in 0..f {
            let (a, b) = (s0[old * f + k], s2[new * f + k]);
            assert!(
                (a - b).abs() <= 2e-4 * scale,
                "atom {old} -> {new}: {a} vs {b}"
            );
        }
    }
}

/// The message block written with plain tensor operations (the reference the fused op matches).
fn reference(
    w: Tensor<CpuAutodiff, 2>,
    xs: Tensor<CpuAutodiff, 2>,
    v: Tensor<CpuAutodiff, 2>,
    dir: Tensor<CpuAutodiff, 2>,
    snd: Tensor<CpuAutodiff, 1, Int>,
    rcv: Tensor<CpuAutodiff, 1, Int>,
    n: usize,
) -> Tensor<CpuAutodiff, 2> {
    let f = xs.dims()[1] / 3;
    let e = w.dims()[0];
    let m = w * xs.select(0, rcv.clone());
    let ds = m.clone().narrow(1, 0, f);
    let (dv1, dv2) = (m.clone().narrow(1, f, f), m.narrow(1, 2 * f, f));
    let zeros = |rows| Tensor::<CpuAutodiff, 2>::zeros([rows, f], &Default::default());
    let mut blocks =
        vec![zeros(n).select_assign(0, snd.clone(), ds, burn::tensor::IndexingUpdateOp::Add)];
    for c in 0..3 {
        let vc = v.clone().narrow(0, c * n, n).select(0, rcv.clone());
        let dc = dir.clone().narrow(1, c, 1);
        let dv = dv1.clone() * dc + dv2.clone() * vc;
        assert_eq!(dv.dims(), [e, f]);
        blocks.push(zeros(n).select_assign(
            0,
            snd.clone(),
            dv,
            burn::tensor::IndexingUpdateOp::Add,
        ));
    }
    Tensor::cat(blocks, 0)
}

#[test]
fn fused_message_matches_the_reference_and_finite_differences() {
    let dev = Default::default();
    let (n, e, f) = (5, 9, 3);
    let t = |rows, cols| {
        Tensor::<CpuAutodiff, 2>::random([rows, cols], Distribution::Normal(0.0, 1.0), &dev)
    };
    let (w, xs, v) = (
        t(e, 3 * f).require_grad(),
        t(n, 3 * f).require_grad(),
        t(3 * n, f).require_grad(),
    );
    let dir = t(e, 3);
    // unsorted senders, receivers with repeats, a padding-like self edge on the last node
    let snd = Tensor::<CpuAutodiff, 1, Int>::from_data(
        TensorData::new(vec![1, 0, 3, 2, 4, 1, 0, 2, 4], [e]),
        &dev,
    );
    let rcv = Tensor::<CpuAutodiff, 1, Int>::from_data(
        TensorData::new(vec![0, 1, 1, 2, 2, 3, 3, 4, 4], [e]),
        &dev,
    );
    let probe = t(4 * n, f);
    let (senders, receivers) = (Segments::new(snd.clone(), n), Segments::new(rcv.clone(), n));
    let fused = message(
        w.clone(),
        xs.clone(),
        v.clone(),
        dir.clone(),
        &senders,
        &receivers,
        n,
    );
    let plain = reference(
        w.clone(),
        xs.clone(),
        v.clone(),
        dir.clone(),
        snd.clone(),
        rcv.clone(),
        n,
    );
    let vals =
        |x: Tensor<CpuAutodiff, 2>| x.into_data().convert::<f32>().into_vec::<f32>().unwrap();
    for (a, b) in vals(fused.clone()).iter().zip(vals(plain.clone())) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    let g_fused = (fused * probe.clone()).sum().backward();
    let g_plain = (plain * probe.clone()).sum().backward();
    for (name, x) in [("w", &w), ("xs", &xs), ("v", &v)] {
        let a: Vec<f32> = x
            .grad(&g_fused)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .into_vec()
            .unwrap();
        let b: Vec<f32> = x
            .grad(&g_plain)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .into_vec()
            .unwrap();
        for (p, q) in a.iter().zip(&b) {
            assert!(
                (p - q).abs() < 1e-4,
                "d/d{name}: fused {p} vs reference {q}"
            );
        }
        // and against central differences of L = sum(message * probe)
        let x0 = vals(x.clone());
        let dims = x.dims();
        for i in (0..x0.len()).step_by(3) {
            let h = 1e-2f32;
            let l = |delta: f32| -> f64 {
                let mut p = x0.clone();
                p[i] += delta;
                let moved = Tensor::<CpuAutodiff, 2>::from_data(TensorData::new(p, dims), &dev);
                let (w, xs, v) = match name {
                    "w" => (moved, xs.clone(), v.clone()),
                    "xs" => (w.clone(), moved, v.clone()),
                    _ => (w.clone(), xs.clone(), moved),
                };
                let out = message(w, xs, v, dir.clone(), &senders, &receivers, n);
                f64::from((out * probe.clone()).sum().into_scalar())
            };
            let numeric = (l(h) - l(-h)) / (2.0 * f64::from(h));
            let analytic = f64::from(a[i]);
            assert!(
                (numeric - analytic).abs() <= 2e-3 * numeric.abs().max(1.0),
                "d/d{name}[{i}]: analytic {analytic} vs numeric {numeric}"
            );
        }
    }
}

/// A potential's checks (issue 65), in this binary: one test binary a crate links.
#[path = "painn/forces.rs"]
mod forces;
