//! Branch-free, auto-vectorisable f32 kernels for the activations and the radial basis: the
//! scalar `expf`/`log1pf` calls of a plain implementation cost about 30% of a SchNet step.
//!
//! Accuracy: relative error below 1e-6 over the ranges used (checked against f64 in the tests).

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// Adding this to a float in [0, 2^22) rounds it to an integer held in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23

/// `e^-a` for `a >= 0` (clamped to 87, below which no result is subnormal). Only float
/// arithmetic and bit operations, so loops over it vectorise (a saturating `as i32` does not).
#[inline(always)]
pub fn exp_neg(a: f32) -> f32 {
    let a = a.clamp(0.0, 87.0);
    let z = a * LOG2E + ROUND_MAGIC; // n = round(a log2 e) in the low bits of z
    let nf = z - ROUND_MAGIC;
    let n = z.to_bits().wrapping_sub(ROUND_MAGIC.to_bits()); // 0 ..= 126
    let r = (nf * LN2_HI - a) + nf * LN2_LO; // -a = -n ln2 + r, |r| <= ln2 / 2
    // e^r by its Taylor polynomial to degree 7 (error < 3e-8 on |r| <= 0.35)
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(127u32.wrapping_sub(n) << 23)
}

/// `ln(1 + t)` for `t` in `[0, 1]`, through `2 atanh(t / (2 + t))`.
#[inline(always)]
pub fn ln1p_unit(t: f32) -> f32 {
    let s = t / (2.0 + t);
    let s2 = s * s;
    let q = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0
                + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0))))));
    2.0 * s * q
}

/// Shifted softplus `ln(1 + e^x) - ln 2` of every element, in place.
pub fn ssp_in_place(x: &mut [f32]) {
    pulp::Arch::new().dispatch(|| {
        for v in x.iter_mut() {
            *v = ssp_one(*v).0;
        }
    });
}

/// Shifted softplus of every element (in place) and its slope `sigmoid(x)`, in one pass: the
/// forward pass keeps the slope so the backward pass is one multiplication.
pub fn ssp_with_slope_in_place(x: &mut [f32], slope: &mut [f32]) {
    pulp::Arch::new().dispatch(|| {
        for (v, s) in x.iter_mut().zip(slope.iter_mut()) {
            (*v, *s) = ssp_one(*v);
        }
    });
}

/// SiLU `x sigmoid(x)` of every element (in place) and its slope
/// `sigmoid(x) (1 + x (1 - sigmoid(x)))`, in one pass.
pub fn silu_with_slope_in_place(x: &mut [f32], slope: &mut [f32]) {
    pulp::Arch::new().dispatch(|| {
        for (v, s) in x.iter_mut().zip(slope.iter_mut()) {
            let sig = sigmoid(*v);
            *s = sig * (1.0 + *v * (1.0 - sig));
            *v *= sig;
        }
    });
}

/// SiLU `x sigmoid(x)` of every element, in place.
pub fn silu_in_place(x: &mut [f32]) {
    pulp::Arch::new().dispatch(|| {
        for v in x.iter_mut() {
            *v *= sigmoid(*v);
        }
    });
}

/// The logistic function from one exponential of a non-positive number (no overflow).
#[inline(always)]
fn sigmoid(v: f32) -> f32 {
    let t = exp_neg(v.abs());
    let num = if v >= 0.0 { 1.0 } else { t };
    num / (1.0 + t)
}

/// `(ssp(v), sigmoid(v))` from one exponential.
#[inline(always)]
fn ssp_one(v: f32) -> (f32, f32) {
    let t = exp_neg(v.abs());
    let y = v.max(0.0) + ln1p_unit(t) - std::f32::consts::LN_2;
    let num = if v >= 0.0 { 1.0 } else { t };
    (y, num / (1.0 + t))
}

/// Exponents past which a basis value is 0: `e^-60` is about `9e-27`, far below what float32
/// resolves in any sum the value enters beside the basis' larger terms (each row has a term
/// near 1). Left in, such values (down to `exp_neg`'s `e^-87`) times small weights and
/// gradients make subnormal products, which x86 cores compute in microcode: SchNet's step on
/// QM9 at bs 32 took 240 ms instead of 64 (docs/training.md).
pub const RBF_CUT: f32 = 60.0;

/// The study's Gaussian basis of every distance, row-major `[distances, k]`:
/// `exp(-(d - i delta)^2 / delta)`, 0 where the exponent passes [`RBF_CUT`].
pub fn gaussian_rbf(d: &[f32], k: usize, delta: f32, out: &mut Vec<f32>) {
    out.clear();
    out.resize(d.len() * k, 0.0);
    let inv = 1.0 / delta;
    let centres: Vec<f32> = (0..k).map(|i| i as f32 * delta).collect();
    pulp::Arch::new().dispatch(|| {
        for (row, &di) in out.chunks_exact_mut(k).zip(d) {
            for (o, &c) in row.iter_mut().zip(&centres) {
                let x = di - c;
                let a = x * x * inv;
                *o = if a > RBF_CUT { 0.0 } else { exp_neg(a) };
            }
        }
    });
}

/// Rows of the basis computed per parallel task.
const BASIS_ROWS: usize = 256;

/// Runs `f(first_row, rows of out)` over chunks of [`BASIS_ROWS`] rows of `out` (`width` values
/// a row) in parallel: chunk boundaries independent of the thread count, rows independent.
fn by_rows(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    use rayon::prelude::*;
    out.par_chunks_mut((BASIS_ROWS * width).max(1))
        .enumerate()
        .for_each(|(c, chunk)| pulp::Arch::new().dispatch(|| f(c * BASIS_ROWS, chunk)));
}

/// The Gaussian basis `[distances, k]` of [`gaussian_rbf`], rows computed in parallel.
pub fn gaussian_basis(d: &[f32], k: usize, delta: f32) -> Vec<f32> {
    let mut out = vec![0.0; d.len() * k];
    let inv = 1.0 / delta;
    by_rows(&mut out, k, |first, rows| {
        for (r, row) in rows.chunks_exact_mut(k).enumerate() {
            let di = d[first + r];
            for (i, o) in row.iter_mut().enumerate() {
                let x = di - i as f32 * delta;
                let a = x * x * inv;
                *o = if a > RBF_CUT { 0.0 } else { exp_neg(a) };
            }
        }
    });
    out
}

/// Per distance, `sum_i g_i b_i c_i` with `b` the basis and `c = -2 (d - mu_i) / delta` its
/// log-slope (`c' = weights(i)` of `x = d - mu_i` when given): the basis' backward pass
/// (`weights` none) and its second derivative (`weights(x) = c^2 - 2 / delta`).
fn basis_sums(
    g: &[f32],
    d: &[f32],
    k: usize,
    delta: f32,
    weight: impl Fn(f32) -> f32 + Sync,
) -> Vec<f32> {
    let inv = 1.0 / delta;
    let mut out = vec![0.0; d.len()];
    by_rows(&mut out, 1, |first, rows| {
        for (r, o) in rows.iter_mut().enumerate() {
            let e = first + r;
            let di = d[e];
            let mut acc = 0.0f32;
            for (i, &gi) in g[e * k..(e + 1) * k].iter().enumerate() {
                let x = di - i as f32 * delta;
                let a = x * x * inv;
                if a <= RBF_CUT {
                    acc += gi * exp_neg(a) * weight(x);
                }
            }
            *o = acc;
        }
    });
    out
}

/// The basis' backward pass: `dL/dd = sum_i g_i b_i (-2 (d - mu_i) / delta)` per distance.
pub fn gaussian_basis_backward(g: &[f32], d: &[f32], k: usize, delta: f32) -> Vec<f32> {
    let c = -2.0 / delta;
    basis_sums(g, d, k, delta, |x| c * x)
}

/// The derivative of the basis' backward pass by the distance: `sum_i g_i b_i (c_i^2 - 2 /
/// delta)` with `c_i = -2 (d - mu_i) / delta`.
pub fn gaussian_basis_curvature(g: &[f32], d: &[f32], k: usize, delta: f32) -> Vec<f32> {
    let c = -2.0 / delta;
    basis_sums(g, d, k, delta, |x| (c * x) * (c * x) + c)
}

/// The derivative of the basis' backward pass by its output gradient, times `u` per distance:
/// `u b_i (-2 (d - mu_i) / delta)`, `[distances, k]`.
pub fn gaussian_basis_slope(u: &[f32], d: &[f32], k: usize, delta: f32) -> Vec<f32> {
    let mut out = vec![0.0; d.len() * k];
    let inv = 1.0 / delta;
    let c = -2.0 / delta;
    by_rows(&mut out, k, |first, rows| {
        for (r, row) in rows.chunks_exact_mut(k).enumerate() {
            let (di, ui) = (d[first + r], u[first + r]);
            for (i, o) in row.iter_mut().enumerate() {
                let x = di - i as f32 * delta;
                let a = x * x * inv;
                *o = if a > RBF_CUT {
                    0.0
                } else {
                    ui * exp_neg(a) * c * x
                };
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_f64_reference() {
        let mut worst: f64 = 0.0;
        for i in 0..20_000 {
            let a = i as f32 * 0.0045; // 0 .. 90
            let want = (-f64::from(a)).exp();
            let got = f64::from(exp_neg(a));
            if want > 1e-30 {
                worst = worst.max(((got - want) / want).abs());
            }
        }
        assert!(worst < 1e-6, "exp_neg relative error {worst}");
        let xs: Vec<f32> = (0..4000).map(|i| -40.0 + i as f32 * 0.02).collect();
        let mut y = xs.clone();
        ssp_in_place(&mut y);
        for (&x, &v) in xs.iter().zip(&y) {
            let want = (1.0 + f64::from(x).exp()).ln() - std::f64::consts::LN_2;
            assert!(
                (f64::from(v) - want).abs() <= 2e-6 * want.abs().max(1.0),
                "ssp({x}) = {v}, want {want}"
            );
        }
        let mut y2 = xs.clone();
        let mut slope = vec![0.0; xs.len()];
        ssp_with_slope_in_place(&mut y2, &mut slope);
        assert_eq!(y, y2, "one-pass forward gives the same values");
        for (&x, &v) in xs.iter().zip(&slope) {
            let want = 1.0 / (1.0 + (-f64::from(x)).exp());
            assert!(
                (f64::from(v) - want).abs() <= 1e-6,
                "sigmoid({x}) = {v}, want {want}"
            );
        }
        let mut y = xs.clone();
        let mut slope = vec![0.0; xs.len()];
        silu_with_slope_in_place(&mut y, &mut slope);
        let mut y2 = xs.clone();
        silu_in_place(&mut y2);
        assert_eq!(y, y2);
        for ((&x, &v), &d) in xs.iter().zip(&y).zip(&slope) {
            let x = f64::from(x);
            let sig = 1.0 / (1.0 + (-x).exp());
            assert!(
                (f64::from(v) - x * sig).abs() <= 1e-6 * x.abs().max(1.0),
                "silu({x}) = {v}"
            );
            let want = sig * (1.0 + x * (1.0 - sig));
            assert!(
                (f64::from(d) - want).abs() <= 1e-6,
                "silu'({x}) = {d}, want {want}"
            );
        }
        let mut e = Vec::new();
        gaussian_rbf(&[0.96, 3.0], 40, 0.1, &mut e);
        assert!((f64::from(e[10]) - (-(0.04f64 * 0.04) / 0.1).exp()).abs() < 1e-6);
        assert!((f64::from(e[40 + 30]) - 1.0).abs() < 1e-6);
    }

    /// The basis has no value a matrix product could turn subnormal: every value is 0 or at
    /// least `e^-RBF_CUT`, and values past the cut are exactly 0 (QM9's distances against the
    /// study's 150 centres).
    #[test]
    fn the_basis_has_no_vanishing_values() {
        let d: Vec<f32> = (0..2_000).map(|i| i as f32 * 0.006).collect(); // 0 .. 12 Angstrom
        let mut e = Vec::new();
        gaussian_rbf(&d, 150, 0.1, &mut e);
        let floor = (-f64::from(RBF_CUT)).exp() as f32;
        let zeros = e.iter().filter(|&&v| v == 0.0).count();
        assert!(e.iter().all(|&v| v == 0.0 || v >= floor * 0.999));
        assert!(zeros > e.len() / 2, "{zeros} of {} are 0", e.len());
        for (row, &di) in e.chunks_exact(150).zip(&d) {
            for (i, &v) in row.iter().enumerate() {
                let a = (f64::from(di) - i as f64 * 0.1).powi(2) / 0.1;
                if a > f64::from(RBF_CUT) + 1e-3 {
                    assert_eq!(v, 0.0, "d = {di}, centre {i}");
                } else if a < f64::from(RBF_CUT) - 1e-3 {
                    // float32 rounding of d - c and of its square: relative 1e-4 at exponents near 60
                    assert!(
                        (f64::from(v) / (-a).exp() - 1.0).abs() < 1e-4,
                        "d = {di}, centre {i}"
                    );
                }
            }
        }
    }
}
