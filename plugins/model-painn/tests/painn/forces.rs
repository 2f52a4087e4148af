//! PaiNN as a potential (DESIGN.md §16) on periodic cells labelled by the Morse pair potential,
//! through the shared checks of `geobatch_nn::potential::checks`: its forces are the negative
//! gradient of its own energy, its stress the strain derivative per volume, padding changes
//! nothing, and the parameter gradient of the force loss (second order, nested autodiff) is the
//! loss's finite difference.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{GraphRule, GraphSet, Shape};
use geobatch_dataset_synthetic::pair::{Morse, labelled_set};
use geobatch_model_painn::{ForceHead, Painn, PainnSpec};
use geobatch_nn::backend::CpuAutodiff;
use geobatch_nn::potential::ForceTrainer;
use geobatch_nn::potential::checks::{self, Pick, Structure};

const RADIUS: f64 = 4.0;
type Model = Painn<CpuAutodiff>;

fn set_of(structures: &[Structure]) -> GraphSet {
    let rule = GraphRule::Cutoff { radius: RADIUS };
    labelled_set(&Morse::default(), structures, &rule, Some(&[29, 8])).unwrap()
}

fn trainer(set: &GraphSet) -> ForceTrainer<CpuAutodiff, Model> {
    trainer_with(set, ForceHead::Conservative)
}

fn trainer_with(set: &GraphSet, forces: ForceHead) -> ForceTrainer<CpuAutodiff, Model> {
    let spec = PainnSpec {
        hidden: 16,
        layers: 2,
        rbf: 20,
        cutoff: RADIUS,
        forces,
    };
    checks::trainer(Painn::new(&spec, 2, 1, 7, &Default::default()), set, RADIUS)
}

#[test]
fn forces_and_stress_are_the_derivatives_of_the_models_energy() {
    let base = checks::structures();
    checks::assert_derivatives(&mut trainer(&set_of(&base)), &base, &set_of);
}

#[test]
fn padding_adds_exactly_zero_energy_and_force() {
    let set = set_of(&checks::structures());
    checks::assert_padding_adds_nothing(&mut trainer(&set), &set);
}

#[test]
fn the_second_order_gradient_is_the_losss_finite_difference() {
    let set = set_of(&checks::structures());
    let picks: [(&str, Pick<Model>); 3] = [
        ("filter", |m| &m.filter.weight),
        ("mix", |m| &m.layers[0].mix),
        ("embedding", |m| &m.embed),
    ];
    checks::assert_second_order(
        &trainer(&set),
        &checks::batch(&set, Shape::new(3, 7, 1)),
        &picks,
    );
}

#[test]
fn training_lowers_the_force_error() {
    let set = set_of(&checks::structures());
    checks::assert_loss_falls(&mut trainer(&set), &set);
}

#[test]
fn a_direct_force_head_trains_and_predicts_forces_without_stress() {
    use geobatch_core::{ForcePredictions, Trainer};
    let set = set_of(&checks::structures());
    let mut t = trainer_with(&set, ForceHead::Direct);
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
