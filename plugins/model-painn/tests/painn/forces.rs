//! PaiNN's direct force head (fairchem's option, DESIGN.md §16) on periodic cells labelled by the
//! Morse pair potential: it trains, predicts forces and no stress, and padding adds nothing. The
//! checks of PaiNN as a conservative potential are the catalog's `tests/models/potentials.rs`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{GraphRule, Shape, Trainer};
use geobatch_dataset_synthetic::pair::{Morse, labelled_set};
use geobatch_model_painn::{ForceHead, Painn, PainnSpec};
use geobatch_nn::potential::checks;
use geobatch_potential::ForcePredictions;

#[test]
fn a_direct_force_head_trains_and_predicts_forces_without_stress() {
    let radius = 4.0;
    let rule = GraphRule::Cutoff { radius };
    let set = labelled_set(
        &Morse::default(),
        &checks::structures(),
        &rule,
        Some(&[29, 8]),
    )
    .unwrap();
    let spec = PainnSpec {
        hidden: 16,
        layers: 2,
        rbf: 20,
        cutoff: radius,
        forces: ForceHead::Direct,
    };
    let mut t = checks::trainer(
        Painn::new(&spec, 2, 1, 7, &Default::default()),
        &set,
        radius,
    );
    checks::assert_loss_falls(&mut t, &set);
    let mut p = ForcePredictions::default();
    t.predict(&checks::batch(&set, Shape::new(1, 0, 1)), &mut p)
        .unwrap();
    assert_eq!(p.forces.len(), set.total_nodes());
    assert!(p.forces.iter().flatten().any(|f| *f != 0.0));
    assert!(
        p.stress.iter().flatten().all(|s| *s == 0.0),
        "a direct head predicts no stress"
    );
    // the head's forces are not the energy's gradient: padding still adds nothing
    checks::assert_padding_adds_nothing(&mut t, &set);
}
