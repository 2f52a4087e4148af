//! Test helpers shared by the fused operations' tests: random inputs, and the check of a fused
//! op against burn's composition and across thread counts.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use burn::tensor::Tensor;
use geobatch_nn::backend::CpuAutodiff;
use rand::{Rng, SeedableRng};

/// The backend the tests run on.
pub(crate) type B = CpuAutodiff;

/// Uniform values in ±`scale`: with a scale above `CLIP` some elements are clipped.
pub(crate) fn random(rows: usize, cols: usize, scale: f32, seed: u64) -> Tensor<B, 2> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| rng.random_range(-scale..scale))
        .collect();
    Tensor::from_data(
        burn::tensor::TensorData::new(v, [rows, cols]),
        &Default::default(),
    )
}

fn values(t: Tensor<B, 2>) -> Vec<u32> {
    t.into_data()
        .into_vec::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

/// Runs `f` on fresh copies of `inputs` (with gradients), then returns the result and every
/// input's gradient for the upstream gradient `up`, as bits.
fn run(
    inputs: &[Tensor<B, 2>],
    up: &Tensor<B, 2>,
    f: &dyn Fn(&[Tensor<B, 2>]) -> Tensor<B, 2>,
) -> Vec<Vec<u32>> {
    let xs: Vec<_> = inputs.iter().map(|x| x.clone().require_grad()).collect();
    let y = f(&xs);
    let grads = (y.clone() * up.clone()).sum().backward();
    let mut out = vec![values(y)];
    out.extend(xs.iter().map(|x| {
        x.grad(&grads)
            .unwrap()
            .into_data()
            .into_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }));
    out
}

/// The fused op against burn's composition (the other backends' path) and on 1 and 3
/// threads: values and every gradient. Sizes span several element chunks; inputs reach past
/// `CLIP` so that the clamp binds for some elements.
pub(crate) fn check(
    inputs: &[Tensor<B, 2>],
    up: &Tensor<B, 2>,
    fused: &(dyn Fn(&[Tensor<B, 2>]) -> Tensor<B, 2> + Sync),
    composite: &dyn Fn(&[Tensor<B, 2>]) -> Tensor<B, 2>,
) {
    let plain = run(inputs, up, composite);
    let one = geobatch_nn::parallel::pool(1)
        .unwrap()
        .install(|| run(inputs, up, fused));
    let three = geobatch_nn::parallel::pool(3)
        .unwrap()
        .install(|| run(inputs, up, fused));
    assert_eq!(one, three, "bits differ between 1 and 3 threads");
    for (k, (a, b)) in one.iter().zip(&plain).enumerate() {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let (x, y) = (f32::from_bits(*x), f32::from_bits(*y));
            assert!(
                (x - y).abs() <= 1e-5 * y.abs().max(1.0),
                "output {k}[{i}]: {x} vs {y}"
            );
        }
    }
}
