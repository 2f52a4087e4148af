//! SchNet: parameter count against the hand count, and padding never changes a prediction.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{GraphLevel, ModelSpec, Shape, TargetStats};
use geobatch_dataset_synthetic::SyntheticSpec;
use geobatch_model_schnet::SchNetSpec;

use geobatch_testkit::models::context as ctx;

#[test]
fn parameter_count_matches_the_hand_count() {
    // QM9: 5 species, C = 64, K = 150, 3 steps, 1 target:
    // embedding 5*64 = 320; per step filter 150*64 + 64*64 = 13696, sender map 4096,
    // update 2 * 4096 = 8192, so 25984 per step and 77952 for three; readout 64*32 + 32*1 = 2080.
    let by_hand = 320 + 3 * (150 * 64 + 64 * 64 + 64 * 64 + 2 * 64 * 64) + 64 * 32 + 32;
    assert_eq!(by_hand, 80_352);
    let spec = SchNetSpec::default();
    assert_eq!(spec.parameter_count(5, 1), by_hand);
    assert_eq!(
        ModelSpec::<GraphLevel>::build(&spec, &ctx(5))
            .unwrap()
            .parameter_count(),
        by_hand
    );
}

#[test]
fn padded_batches_and_single_graphs_predict_the_same() {
    let set = toml::from_str::<SyntheticSpec>("graphs = 12")
        .unwrap()
        .generate(5)
        .unwrap();
    let mut trainer = SchNetSpec {
        latent: 16,
        ..Default::default()
    }
    .build(&ctx(set.species_classes().len()))
    .unwrap();
    let graphs: Vec<u32> = (0..6).collect();
    // heavily padded: many extra nodes, edges and empty padding graphs
    geobatch_testkit::models::assert_padding_keeps_predictions(
        trainer.as_mut(),
        &set,
        &graphs,
        Shape::new(100, 500, 5),
    );
}

#[test]
fn model_gradients_match_finite_differences_on_a_padded_batch() {
    use geobatch_model_schnet::SchNet;
    use geobatch_nn::backend::CpuAutodiff as B;

    let set = toml::from_str::<SyntheticSpec>("graphs = 8")
        .unwrap()
        .generate(2)
        .unwrap();
    let batch = geobatch_testkit::models::collate(&set, &[0, 1, 2], |r| {
        Shape::new(r.nodes + 20, r.edges + 30, r.graphs + 3)
    });
    let spec = SchNetSpec {
        latent: 8,
        rbf: 30,
        rbf_spacing: 0.5,
        ..Default::default()
    };
    let species = set.species_classes().len();
    geobatch_nn::checks::assert_embedding_gradient(
        &batch,
        &TargetStats::of(&set),
        || SchNet::<B>::new(&spec, species, 1, 1, &Default::default()),
        |m| &mut m.embed,
    );
}

/// A potential's checks (issue 65), in this binary: one test binary a crate links.
#[path = "schnet/forces.rs"]
mod forces;
