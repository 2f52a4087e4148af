//! The fused block's kernels against burn's tensor operations, to first and second order.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use super::{MessageOps, Part, chains, composite, message};
use burn::backend::Autodiff;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Int, Tensor, TensorData, TensorPrimitive};
use geobatch_nn::backend::{Cpu, CpuAutodiff};
use geobatch_nn::index::Segments;
use rand::{Rng, SeedableRng};

const N: usize = 7;
const E: usize = 17;
const F: usize = 5;
/// Unsorted senders, receivers with repeats, a padding-like self edge on the last node.
const SND: [i32; E] = [1, 0, 3, 2, 4, 1, 0, 2, 4, 6, 5, 5, 3, 6, 0, 2, 6];
const RCV: [i32; E] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 0, 6, 1, 2, 5, 6];

fn random(shape: [usize; 2], seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..shape[0] * shape[1])
        .map(|_| rng.random_range(-1.0..1.0))
        .collect()
}

fn tensor<B: burn::tensor::backend::Backend>(shape: [usize; 2], seed: u64) -> Tensor<B, 2> {
    Tensor::from_data(
        TensorData::new(random(shape, seed), shape),
        &Default::default(),
    )
}

fn index<B: burn::tensor::backend::Backend>(v: [i32; E]) -> Tensor<B, 1, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), [E]), &Default::default())
}

fn prim(t: Tensor<Cpu, 2>) -> FloatTensor<Cpu> {
    t.into_primitive().tensor()
}

fn vals(t: FloatTensor<Cpu>) -> Vec<f32> {
    Tensor::<Cpu, 2>::from_primitive(TensorPrimitive::Float(t))
        .into_data()
        .to_vec()
        .unwrap()
}

/// `a` equals `b` to `tol` of `b`'s largest element.
fn close(name: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{name}: lengths");
    let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    let worst = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst <= tol * scale, "{name}: {worst} (largest {scale})");
}

/// The backward pass' inputs (output gradient, w, xs, v, directions, edges) on the CPU.
fn inputs() -> super::BackwardInputs<Cpu> {
    (
        prim(tensor([4 * N, F], 1)),
        prim(tensor([E, 3 * F], 2)),
        prim(tensor([N, 3 * F], 3)),
        prim(tensor([3 * N, F], 4)),
        prim(tensor([E, 3], 5)),
        index::<Cpu>(SND).into_primitive(),
        index::<Cpu>(RCV).into_primitive(),
    )
}

#[test]
fn the_backward_kernel_with_directions_equals_the_tensor_operations() {
    let (g, w, xs, v, dir, snd, rcv) = inputs();
    let fused = Cpu::painn_message_backward(
        g.clone(),
        w.clone(),
        xs.clone(),
        v.clone(),
        dir.clone(),
        snd.clone(),
        rcv.clone(),
        true,
    );
    let plain = chains::message_backward::<Cpu>(g, w, xs, v, dir, snd, rcv, true);
    close("gw", &vals(fused.0), &vals(plain.0), 1e-5);
    close("gx", &vals(fused.1), &vals(plain.1), 1e-5);
    close("gv", &vals(fused.2), &vals(plain.2), 1e-5);
    close(
        "gdir",
        &vals(fused.3.unwrap()),
        &vals(plain.3.unwrap()),
        1e-5,
    );
}

#[test]
fn the_second_order_kernels_equal_the_tensor_operations() {
    let shapes = [[E, 3 * F], [N, 3 * F], [3 * N, F], [E, 3]];
    let names = ["dG", "dw", "dx", "dv", "ddir"];
    for (p, part) in [Part::W, Part::X, Part::V, Part::Dir]
        .into_iter()
        .enumerate()
    {
        let a = prim(tensor(shapes[p], 10 + p as u64));
        let fused = Cpu::painn_message_second(part, a.clone(), inputs(), [true; 5]);
        let plain = chains::second::<Cpu>(part, a, inputs(), [true; 5]);
        for ((name, x), y) in names.iter().zip(fused).zip(plain) {
            match (x, y) {
                (Some(x), Some(y)) => close(&format!("{part:?} {name}"), &vals(x), &vals(y), 1e-5),
                (None, None) => {}
                (x, y) => panic!("{part:?} {name}: {} vs {}", x.is_some(), y.is_some()),
            }
        }
        // only what is asked for
        let some =
            Cpu::painn_message_second(part, prim(tensor(shapes[p], 1)), inputs(), [false; 5]);
        assert!(
            some.iter().all(Option::is_none),
            "{part:?}: gradients nobody asked for"
        );
    }
}

/// A potential's use of the block under nested autodiff: `L = Σ probe ⊙ m²` for the summed
/// messages m, its gradients by every input (outer), and the gradients of `Σ u ⊙ grad` by the
/// inputs and the probe (inner) equal those of the block composed of gathers and sums.
#[test]
fn the_fused_block_differentiates_twice_like_the_composition() {
    type Outer = Autodiff<CpuAutodiff>;
    let run = |fused: bool| {
        let leaf = |shape, seed| tensor::<CpuAutodiff>(shape, seed).require_grad();
        let inner = [
            leaf([E, 3 * F], 2),
            leaf([N, 3 * F], 3),
            leaf([3 * N, F], 4),
            leaf([E, 3], 5),
        ];
        let probe = leaf([4 * N, F], 6);
        let outer = inner
            .clone()
            .map(|t| Tensor::<Outer, 2>::from_inner(t).require_grad());
        let (snd, rcv) = (
            Segments::new(index::<Outer>(SND), N),
            Segments::new(index::<Outer>(RCV), N),
        );
        let [w, xs, v, dir] = outer.clone();
        let m = if fused {
            message(w, xs, v, dir, &snd, &rcv, N)
        } else {
            composite(w, xs, v, dir, &snd, &rcv, N)
        };
        let energy = (m.clone() * m * Tensor::from_inner(probe.clone())).sum();
        let grads = energy.backward();
        let first: Vec<Tensor<CpuAutodiff, 2>> =
            outer.iter().map(|t| t.grad(&grads).unwrap()).collect();
        let loss = first
            .iter()
            .enumerate()
            .map(|(k, g)| (g.clone() * tensor::<CpuAutodiff>(g.dims(), 20 + k as u64)).sum())
            .reduce(|a, b| a + b)
            .unwrap();
        let second = loss.backward();
        let mut out: Vec<Vec<f32>> = first
            .into_iter()
            .map(|g| g.inner().into_data().to_vec().unwrap())
            .collect();
        for t in inner.iter().chain([&probe]) {
            out.push(t.grad(&second).unwrap().into_data().to_vec().unwrap());
        }
        out
    };
    let names = [
        "dL/dw",
        "dL/dx",
        "dL/dv",
        "dL/ddir",
        "d2/dw",
        "d2/dx",
        "d2/dv",
        "d2/ddir",
        "d2/dprobe",
    ];
    for ((name, a), b) in names.iter().zip(run(true)).zip(run(false)) {
        close(name, &a, &b, 1e-5);
    }
}
