//! MPEU: parameter count against the hand count (the checks every model passes, padding and
//! gradients, are the catalog's `tests/models.rs`).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_model_mpeu::MpeuSpec;

#[test]
fn parameter_count_matches_the_hand_count() {
    // QM9: 5 species, C = 64, K = 150, 3 steps, 1 target:
    // embedding 5*64 = 320; edge networks (2*64 + 150)*128 + 128*64 = 43776 in step 1 and
    // 192*128 + 128*64 = 32768 in steps 2 and 3; per step the message network 2 * 4096, the sender
    // map 4096 and the update 2 * 4096 (20480 per step); readout 64*32 + 32*1 = 2080.
    let by_hand = 320
        + (278 * 128 + 128 * 64)
        + 2 * (192 * 128 + 128 * 64)
        + 3 * (2 * 4096 + 4096 + 2 * 4096)
        + 64 * 32
        + 32;
    assert_eq!(by_hand, 173_152);
    let spec = MpeuSpec::default();
    assert_eq!(spec.parameter_count(5, 1), by_hand);
    geobatch_testkit::models::assert_built_parameters(&spec, 5, by_hand);
}
