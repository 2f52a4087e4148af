//! The checks every graph-level model of the catalog passes, in one place: padding never changes
//! a prediction (SchNet, MPEU, PaiNN), and the gradient of the loss by the species embedding is
//! its finite difference on a padded batch (SchNet, MPEU: the models whose embedding is a
//! [`geobatch_nn::layers::Dense`]).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_catalog::dataset_synthetic::SyntheticSpec;
use geobatch_catalog::model_mpeu::{Mpeu, MpeuSpec};
use geobatch_catalog::model_painn::PainnSpec;
use geobatch_catalog::model_schnet::{SchNet, SchNetSpec};
use geobatch_core::{GraphSet, Shape};
use geobatch_nn::backend::CpuAutodiff as B;
use geobatch_testkit::models::assert_padding_keeps_predictions;

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
