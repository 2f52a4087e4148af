//! The checks the catalog's graph-level models pass: SchNet's and MPEU's parameter counts against the hand count, padding never changes
//! a prediction (SchNet, MPEU, PaiNN), the gradient of the loss by the species embedding is its
//! finite difference on a padded batch (SchNet, MPEU: the models whose embedding is a
//! [`geobatch_nn::layers::Dense`]), and every potential's checks ([`potentials`]).

use geobatch_catalog::dataset_synthetic::SyntheticSpec;
use geobatch_catalog::model_mpeu::{Mpeu, MpeuSpec};
use geobatch_catalog::model_painn::PainnSpec;
use geobatch_catalog::model_schnet::{SchNet, SchNetSpec};
use geobatch_core::{GraphSet, Shape};
use geobatch_nn::backend::CpuAutodiff as B;
use geobatch_testkit::models::{assert_built_parameters, assert_padding_keeps_predictions};

#[path = "models/potentials.rs"]
mod potentials;

#[test]
fn schnet_parameter_count_matches_the_hand_count() {
    // QM9: 5 species, C = 64, K = 150, 3 steps, 1 target:
    // embedding 5*64 = 320; per step filter 150*64 + 64*64 = 13696, sender map 4096,
    // update 2 * 4096 = 8192, so 25984 per step and 77952 for three; readout 64*32 + 32*1 = 2080.
    let by_hand = 320 + 3 * (150 * 64 + 64 * 64 + 64 * 64 + 2 * 64 * 64) + 64 * 32 + 32;
    assert_eq!(by_hand, 80_352);
    let spec = SchNetSpec::default();
    assert_eq!(spec.parameter_count(5, 1), by_hand);
    assert_built_parameters(&spec, 5, by_hand);
}

#[test]
fn mpeu_parameter_count_matches_the_hand_count() {
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
    assert_built_parameters(&spec, 5, by_hand);
}

/// `graphs` molecules of the synthetic dataset, generated from `seed`.
fn molecules(graphs: usize, seed: u64) -> GraphSet {
    toml::from_str::<SyntheticSpec>(&format!("graphs = {graphs}"))
        .unwrap()
        .generate(seed)
        .unwrap()
}

#[test]
fn padded_batches_and_single_graphs_predict_the_same() {
    // heavily padded: many extra nodes, edges and empty padding graphs
    let (set, padding) = (molecules(12, 5), Shape::new(100, 500, 5));
    let schnet = SchNetSpec {
        latent: 16,
        ..Default::default()
    };
    assert_padding_keeps_predictions(&schnet, &set, 6, padding);
    let mpeu = MpeuSpec {
        latent: 16,
        ..Default::default()
    };
    assert_padding_keeps_predictions(&mpeu, &set, 6, padding);
    let painn = PainnSpec {
        hidden: 16,
        ..Default::default()
    };
    assert_padding_keeps_predictions(&painn, &molecules(10, 5), 5, Shape::new(50, 300, 4));
}

#[test]
fn embedding_gradients_match_finite_differences_on_a_padded_batch() {
    let set = molecules(8, 2);
    let device = Default::default();
    let schnet = SchNetSpec {
        latent: 8,
        rbf: 30,
        rbf_spacing: 0.5,
        ..Default::default()
    };
    let model = |species| SchNet::<B>::new(&schnet, species, 1, 1, &device);
    geobatch_nn::checks::assert_embedding_gradient(&set, model, |m| &mut m.embed);
    let mpeu = MpeuSpec {
        latent: 8,
        rbf: 30,
        rbf_spacing: 0.5,
        ..Default::default()
    };
    let model = |species| Mpeu::<B>::new(&mpeu, species, 1, 1, &device);
    geobatch_nn::checks::assert_embedding_gradient(&set, model, |m| &mut m.embed);
}
