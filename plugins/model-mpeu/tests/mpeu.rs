//! MPEU: parameter count against the hand count, and padding never changes a prediction.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{ModelSpec, Shape, TargetStats};
use geobatch_dataset_synthetic::SyntheticSpec;
use geobatch_model_mpeu::MpeuSpec;

use geobatch_testkit::models::context as ctx;

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
    assert_eq!(spec.build(&ctx(5)).unwrap().parameter_count(), by_hand);
}

#[test]
fn padded_batches_and_single_graphs_predict_the_same() {
    let set = toml::from_str::<SyntheticSpec>("graphs = 12")
        .unwrap()
        .generate(5)
        .unwrap();
    let mut trainer = MpeuSpec {
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
    use geobatch_model_mpeu::Mpeu;
    use geobatch_nn::backend::CpuAutodiff as B;

    let set = toml::from_str::<SyntheticSpec>("graphs = 8")
        .unwrap()
        .generate(2)
        .unwrap();
    let batch = geobatch_testkit::models::collate(&set, &[0, 1, 2], |r| {
        Shape::new(r.nodes + 20, r.edges + 30, r.graphs + 3)
    });
    let spec = MpeuSpec {
        latent: 8,
        rbf: 30,
        rbf_spacing: 0.5,
        ..Default::default()
    };
    let species = set.species_classes().len();
    geobatch_nn::checks::assert_embedding_gradient(
        &batch,
        &TargetStats::of(&set),
        || Mpeu::<B>::new(&spec, species, 1, 1, &Default::default()),
        |m| &mut m.embed,
    );
}
