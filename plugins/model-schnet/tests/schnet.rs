//! SchNet: parameter count against the hand count (the checks every model and every potential
//! passes are the catalog's `tests/models.rs` and `tests/potentials.rs`).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_model_schnet::SchNetSpec;

#[test]
fn parameter_count_matches_the_hand_count() {
    // QM9: 5 species, C = 64, K = 150, 3 steps, 1 target:
    // embedding 5*64 = 320; per step filter 150*64 + 64*64 = 13696, sender map 4096,
    // update 2 * 4096 = 8192, so 25984 per step and 77952 for three; readout 64*32 + 32*1 = 2080.
    let by_hand = 320 + 3 * (150 * 64 + 64 * 64 + 64 * 64 + 2 * 64 * 64) + 64 * 32 + 32;
    assert_eq!(by_hand, 80_352);
    let spec = SchNetSpec::default();
    assert_eq!(spec.parameter_count(5, 1), by_hand);
    geobatch_testkit::models::assert_built_parameters(&spec, 5, by_hand);
}
