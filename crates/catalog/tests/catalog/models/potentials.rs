//! The checks every potential of the catalog passes (DESIGN.md §16), on periodic cells labelled
//! by the Morse pair potential, through `geobatch_nn::potential::checks`: its forces are the
//! negative gradient of its own energy and its stress the strain derivative per volume, padding
//! adds exactly nothing, the parameter gradient of the force loss (second order, nested
//! autodiff) is the loss's finite difference, and training lowers the force error. SchNet and
//! PaiNN (conservative forces); PaiNN's direct force head is its own crate's test.

use geobatch_catalog::dataset_synthetic::pair::{Morse, labelled_set};
use geobatch_catalog::model_painn::{ForceHead, Painn, PainnSpec};
use geobatch_catalog::model_schnet::{SchNet, SchNetSpec};
use geobatch_core::{GraphRule, GraphSet};
use geobatch_nn::backend::CpuAutodiff;
use geobatch_nn::potential::checks::{self, Pick, Structure};

/// The cutoff of the cells' graphs and of the models (Angstrom).
const RADIUS: f64 = 4.0;

fn set_of(structures: &[Structure]) -> GraphSet {
    let rule = GraphRule::Cutoff { radius: RADIUS };
    labelled_set(&Morse::default(), structures, &rule, Some(&[29, 8])).unwrap()
}

#[test]
fn schnet_is_a_potential() {
    let spec = SchNetSpec {
        latent: 16,
        steps: 2,
        rbf: 40,
        rbf_spacing: 0.1,
    };
    let picks: [(&str, Pick<SchNet<CpuAutodiff>>); 3] = [
        ("filter", |m| &m.interactions[0].filter.layers[0].weight),
        ("update", |m| &m.interactions[1].update.layers[1].weight),
        ("embedding", |m| &m.embed.weight),
    ];
    let model = || SchNet::new(&spec, 2, 1, 7, &Default::default());
    checks::assert_a_potential(model, RADIUS, &set_of, &picks);
}

#[test]
fn painn_is_a_potential() {
    let spec = PainnSpec {
        hidden: 16,
        layers: 2,
        rbf: 20,
        cutoff: RADIUS,
        forces: ForceHead::Conservative,
    };
    let picks: [(&str, Pick<Painn<CpuAutodiff>>); 3] = [
        ("filter", |m| &m.filter.weight),
        ("mix", |m| &m.layers[0].mix),
        ("embedding", |m| &m.embed),
    ];
    let model = || Painn::new(&spec, 2, 1, 7, &Default::default());
    checks::assert_a_potential(model, RADIUS, &set_of, &picks);
}
