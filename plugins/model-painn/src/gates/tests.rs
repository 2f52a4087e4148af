//! Tests of `gates`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use super::*;
use crate::testing::{check, random};

#[test]
fn residual_matches_clamp_and_add() {
    let (n, f) = (70, 251);
    let (base, delta, up) = (
        random(n, f, 1.0, 1),
        random(4 * n, f, 150.0, 2),
        random(n, f, 1.0, 3),
    );
    for offset in [0, n, 3 * n] {
        check(
            &[base.clone(), delta.clone()],
            &up,
            &|x| residual_of(x[0].clone(), x[1].clone(), offset),
            &|x| x[0].clone() + x[1].clone().narrow(0, offset, n).clamp(-CLIP, CLIP),
        );
    }
}

#[test]
fn scalar_gate_matches_the_composition() {
    let (n, f) = (70, 251);
    let up = random(n, f, 1.0, 9);
    let inputs = [
        random(n, f, 1.0, 4),
        random(n, f, 60.0, 5),
        random(n, f, 12.0, 6),
        random(n, f, 12.0, 7),
    ];
    check(
        &inputs,
        &up,
        &|x| gate_scalar_of(x[0].clone(), x[1].clone(), x[2].clone(), x[3].clone()),
        &|x| x[0].clone() + (x[1].clone() + x[2].clone() * x[3].clone()).clamp(-CLIP, CLIP),
    );
}

#[test]
fn vector_gate_matches_the_composition() {
    let (n, f) = (70, 251);
    let up = random(3 * n, f, 1.0, 13);
    let inputs = [
        random(3 * n, f, 1.0, 10),
        random(n, f, 15.0, 11),
        random(3 * n, f, 15.0, 12),
    ];
    check(
        &inputs,
        &up,
        &|x| gate_vector_of(x[0].clone(), x[1].clone(), x[2].clone()),
        &|x| {
            let a = x[1].clone();
            x[0].clone()
                + (Tensor::cat(vec![a.clone(), a.clone(), a], 0) * x[2].clone()).clamp(-CLIP, CLIP)
        },
    );
}

/// The clamp's edge cases follow burn's: ±CLIP itself passes its gradient, beyond it does
/// not, and NaN passes through.
#[test]
fn clip_convention_is_burns() {
    let c = CLIP as f32;
    assert_eq!(clip(c + 1.0), c);
    assert_eq!(clip(-c - 1.0), -c);
    assert_eq!(clip(3.0), 3.0);
    assert!(clip(f32::NAN).is_nan());
    assert!(passes(c) && passes(-c) && passes(f32::NAN));
    assert!(!passes(c + 1.0) && !passes(-c - 1.0));
}
