//! Gradients of every geobatch layer against central finite differences, on padded inputs
//! (padding edges on the first padding node, empty padding graphs), through burn's autodiff.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use burn::tensor::{Int, Tensor, TensorData};
use geobatch_nn::backend::CpuAutodiff as B;
use geobatch_nn::init::ParamInit;
use geobatch_nn::layers::{Dense, Mlp, gaussian_rbf, segment_mean, segment_sum, ssp};

fn tensor(v: &[f32], shape: [usize; 2]) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), &Default::default())
}

fn ints(v: &[i32]) -> Tensor<B, 1, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Default::default())
}

fn values(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec().unwrap()
}

/// Checks d(sum(w * f(x)))/dx from autodiff against central differences in f64 arithmetic on the
/// f32 function, for every input coordinate.
fn check(name: &str, x: &[f32], shape: [usize; 2], f: impl Fn(Tensor<B, 2>) -> Tensor<B, 2>) {
    let probe = f(tensor(x, shape));
    let out_dims = probe.dims();
    let w: Vec<f32> = ParamInit::new(9).truncated_normal(out_dims[0] * out_dims[1], 1.0);
    let loss = |x: &[f32]| -> f64 {
        let y = values(f(tensor(x, shape)));
        y.iter()
            .zip(&w)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum()
    };
    let xt = tensor(x, shape).require_grad();
    let l = (f(xt.clone()) * tensor(&w, out_dims)).sum();
    let grads = l.backward();
    let analytic = xt
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap();
    for i in 0..x.len() {
        let h = 1e-2f32 * x[i].abs().max(1.0);
        let (mut up, mut down) = (x.to_vec(), x.to_vec());
        up[i] += h;
        down[i] -= h;
        let numeric = (loss(&up) - loss(&down)) / (f64::from(up[i]) - f64::from(down[i]));
        let a = f64::from(analytic[i]);
        let tol = 2e-2 * numeric.abs().max(a.abs()).max(1e-2);
        assert!(
            (a - numeric).abs() <= tol,
            "{name}: d/dx[{i}] analytic {a} vs numeric {numeric}"
        );
    }
}

#[test]
fn shifted_softplus() {
    let x = [
        -30.0, -5.0, -1.0, -0.1, 0.0, 0.3, 1.0, 4.0, 25.0, 2.5, -2.5, 0.7,
    ];
    check("ssp", &x, [3, 4], ssp);
    // and the values: ssp(0) = 0, ssp(x) ~ x - ln 2 for large x, ~ -ln 2 for very negative x
    let y = values(ssp(tensor(&[0.0, 40.0, -40.0], [1, 3])));
    assert!(
        y[0].abs() < 1e-7
            && (y[1] - (40.0 - std::f32::consts::LN_2)).abs() < 1e-4
            && (y[2] + std::f32::consts::LN_2).abs() < 1e-6
    );
}

#[test]
fn gaussian_radial_basis() {
    let d = [0.0, 0.96, 1.5, 2.2, 3.7];
    check("rbf", &d, [5, 1], |d| gaussian_rbf(d, 40, 0.1));
    // e_k = exp(-(d - k delta)^2 / delta): at d = 0.96, k = 10: exp(-(0.04)^2 / 0.1)
    let e = values(gaussian_rbf(tensor(&[0.96], [1, 1]), 40, 0.1));
    assert!((f64::from(e[10]) - (-(0.04f64 * 0.04) / 0.1).exp()).abs() < 1e-6);
}

#[test]
fn segment_mean_and_sum_on_a_padded_batch() {
    // 3 real nodes + 2 padding nodes; 5 real edges sorted by receiver + 3 padding edges on node 3
    let receivers = [0, 0, 1, 2, 2, 3, 3, 3];
    let inv_deg = [0.5, 1.0, 0.5, 1.0 / 3.0, 1.0];
    let vals: Vec<f32> = ParamInit::new(2).truncated_normal(8 * 3, 1.0);
    check("segment_mean", &vals, [8, 3], |v| {
        segment_mean(v, ints(&receivers), tensor(&inv_deg, [5, 1]))
    });
    check("segment_sum", &vals, [8, 3], |v| {
        segment_sum(v, ints(&receivers), 5)
    });
    let m = values(segment_mean(
        tensor(&vals, [8, 3]),
        ints(&receivers),
        tensor(&inv_deg, [5, 1]),
    ));
    assert!(
        (m[0] - (vals[0] + vals[3]) / 2.0).abs() < 1e-6,
        "node 0 averages its two edges"
    );
    assert_eq!(m[4 * 3], 0.0, "a node without edges gets 0");
}

#[test]
fn dense_layers_and_mlps() {
    let x: Vec<f32> = ParamInit::new(4).truncated_normal(6 * 5, 1.0);
    let device = Default::default();
    let dense = Dense::<B>::new(&mut ParamInit::new(5), 5, 3, &device);
    check("dense", &x, [6, 5], |x| dense.forward(x));
    let mlp = Mlp::<B>::new(&mut ParamInit::new(6), &[5, 4, 3], true, &device);
    check("mlp", &x, [6, 5], |x| mlp.forward(x));
}
