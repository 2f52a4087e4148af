//! geobatch's own CubeCL kernels against the CPU: the fused message means and cubek's product
//! kernels (the full-f32 unit kernels beside burn's TF32 default).

use super::*;
use crate::index::Segments;
use burn::tensor::TensorPrimitive;

/// A message mean and the gradients of a weighted sum of it, by `w` and by `x`:
/// `[mean, dw, dx]`, over grouped indices with the fused kernels when `fused`.
fn message_and_grads<B: AutodiffBackend + FusedOps>(
    device: &B::Device,
    (w, x, up): (&[f32], &[f32], &[f32]),
    (senders, receivers): (&[u32], &[u32]),
    (e, n, c): (usize, usize, usize),
    fused: bool,
) -> [Vec<f32>; 3] {
    let f = |v: &[f32], s: [usize; 2]| {
        Tensor::<B, 2>::from_data(TensorData::new(v.to_vec(), s), device)
    };
    let (wt, xt) = (f(w, [e, c]).require_grad(), f(x, [n, c]).require_grad());
    let mut degree = vec![0.0f32; n];
    receivers.iter().for_each(|&r| degree[r as usize] += 1.0);
    let inv: Vec<f32> = degree.iter().map(|d| 1.0 / d.max(1.0)).collect();
    let s = Segments::<B>::from_host(senders, n, fused, device);
    let r = Segments::<B>::from_host(receivers, n, fused, device).fusing_messages(fused);
    let m = crate::index::message_mean(wt.clone(), xt.clone(), &s, &r, f(&inv, [n, 1]));
    let grads = (m.clone() * f(up, [n, c])).sum().backward();
    [
        out(m),
        out(wt.grad(&grads).unwrap()),
        out(xt.grad(&grads).unwrap()),
    ]
}

/// The fused message kernels (sorted and unsorted receivers, unsorted senders, nodes without
/// edges) give the CPU's mean and gradients.
#[test]
fn fused_messages_match_the_cpu() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let cpu = Default::default();
    let mut cases = Vec::new();
    for (e, n, c) in [(1, 2, 1), (97, 13, 5), (9_920, 608, 64)] {
        // node n - 1 sends and receives nothing: empty segments both ways
        let mut pick =
            || -> Vec<u32> { (0..e).map(|_| rng.random_range(0..n as u32 - 1)).collect() };
        let (senders, unsorted) = (pick(), pick());
        let mut sorted = unsorted.clone();
        sorted.sort_unstable();
        let data = (
            random(e * c, rng.random()),
            random(n * c, rng.random()),
            random(n * c, rng.random()),
        );
        cases.push((e, n, c, data.clone(), senders.clone(), sorted));
        cases.push((e, n, c, data, senders, unsorted));
    }
    for_each_gpu!(|G, device, name| {
        for (e, n, c, (w, x, up), senders, receivers) in &cases {
            let dims = (*e, *n, *c);
            let args = ((&w[..], &x[..], &up[..]), (&senders[..], &receivers[..]));
            let want = message_and_grads::<CpuAutodiff>(&cpu, args.0, args.1, dims, false);
            let got = message_and_grads::<G>(&device, args.0, args.1, dims, true);
            for (k, what) in ["mean", "dw", "dx"].iter().enumerate() {
                let d = worst(&got[k], &want[k]);
                assert!(d < 1e-4, "{name} e={e} n={n} c={c} {what}: {d:e}");
            }
        }
        eprintln!("{name}: fused messages agree with the CPU");
    });
}

/// The median of 20 timed runs of `f` (after 3 untimed), in ms.
fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut ms: Vec<f64> = (0..23)
        .map(|_| {
            let start = std::time::Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .skip(3)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

/// `x w`, `g w^T` and `x^T g` by each cubek kernel on the device runtime `R`, against the CPU;
/// with `GEOBATCH_PRODUCT_TIMINGS=1`, each also timed at SchNet's edge shapes (`[E, 64]` by
/// `[64, 64]`, E = 10,000 and 40,000): median of 20 launches, each synchronised.
fn products_on<R: crate::backend::CubeRuntime>(device: &R::Device, name: &str) {
    use crate::cube::products::{ProductKernel, product};
    type C<R> = crate::backend::Cube<R>;
    let pair = |v: &[f32], s: [usize; 2]| {
        let data = || TensorData::new(v.to_vec(), s);
        let host = Tensor::<crate::backend::Cpu, 2>::from_data(data(), &Default::default());
        (Tensor::<C<R>, 2>::from_data(data(), device), host)
    };
    let prim = |t: Tensor<C<R>, 2>| t.into_primitive().tensor();
    let timings = std::env::var("GEOBATCH_PRODUCT_TIMINGS").as_deref() == Ok("1");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    const CHECKED: [(usize, usize, usize); 3] = [(1, 1, 1), (97, 20, 16), (1_001, 64, 64)];
    const TIMED: [(usize, usize, usize); 3] = [(1_001, 64, 64), (10_000, 64, 64), (40_000, 64, 64)];
    for (m, k, n) in if timings { TIMED } else { CHECKED } {
        let (xc, xh) = pair(&random(m * k, rng.random()), [m, k]);
        let (wc, wh) = pair(&random(k * n, rng.random()), [k, n]);
        let (gc, gh) = pair(&random(m * n, rng.random()), [m, n]);
        let forms = [
            (
                "x w",
                k,
                xc.clone(),
                wc.clone(),
                xh.clone().matmul(wh.clone()),
            ),
            (
                "g w^T",
                n,
                gc.clone(),
                wc.transpose(),
                gh.clone().matmul(wh.transpose()),
            ),
            ("x^T g", m, xc.transpose(), gc, xh.transpose().matmul(gh)),
        ];
        for (form, summed, a, b, want) in forms {
            let want = out(want);
            for kernel in ProductKernel::ALL {
                let got = match product::<R>(prim(a.clone()), prim(b.clone()), kernel) {
                    Ok(t) => out(Tensor::<C<R>, 2>::from_primitive(TensorPrimitive::Float(t))),
                    Err(e) => {
                        assert_ne!(
                            kernel,
                            ProductKernel::Unit,
                            "{name} {form} {m}x{k}x{n}: {e}"
                        );
                        eprintln!("{name} {form} {m}x{k}x{n} {kernel:?}: refused ({e})");
                        continue;
                    }
                };
                let d = worst(&got, &want);
                // TF32 (CUDA's Auto) keeps 10 mantissa bits; the unit kernels are full f32, whose
                // rounding grows with the length of the sum (1.7e-4 at 10,000 on lavapipe)
                let bound = if kernel == ProductKernel::Auto && name.starts_with("cuda") {
                    5e-2_f64
                } else {
                    (5e-6 * (summed as f64).sqrt()).max(1e-4_f64)
                };
                assert!(d < bound, "{name} {form} {m}x{k}x{n} {kernel:?}: {d:e}");
                if !timings {
                    continue;
                }
                let ms = median_ms(|| {
                    let t = product::<R>(prim(a.clone()), prim(b.clone()), kernel).unwrap();
                    <C<R> as Backend>::sync(device).unwrap();
                    drop(t);
                });
                eprintln!(
                    "{name} product {form} {m}x{k}x{n} {kernel:?}: median {ms:.4} ms, worst relative difference {d:.1e}"
                );
            }
        }
    }
}

/// cubek's product kernels (the TF32 default and the full-f32 unit kernels) multiply like the
/// CPU, plain and transposed, on every CubeCL runtime here (timed with
/// `GEOBATCH_PRODUCT_TIMINGS=1`).
#[test]
fn product_kernels_match_the_cpu() {
    let mut ran = false;
    #[cfg(feature = "wgpu")]
    if let Ok(device) = crate::backend::wgpu_device() {
        products_on::<cubecl::wgpu::WgpuRuntime>(&device, "wgpu");
        ran = true;
    }
    #[cfg(feature = "cuda")]
    if let Ok(device) = crate::backend::cuda_device(0) {
        products_on::<cubecl::cuda::CudaRuntime>(&device, "cuda");
        ran = true;
    }
    assert!(
        ran || std::env::var("GEOBATCH_WGPU_REQUIRED").as_deref() != Ok("1"),
        "no GPU backend"
    );
}
