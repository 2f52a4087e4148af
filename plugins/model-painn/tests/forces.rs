//! PaiNN as a potential (DESIGN.md §16) on periodic cells labelled by the Morse pair potential:
//! its forces are the negative gradient of its own energy, its stress the strain derivative per
//! volume, padding changes nothing, and the parameter gradient of the force loss (second order,
//! nested autodiff) is the loss's finite difference.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use geobatch_core::{
    AtomLabels, Cell, ForceContext, ForcePredictions, GraphBatch, GraphRule, GraphSet,
    GraphSetBuilder, LabelKinds, LossWeights, Plan, Shape, Trainer,
};
use geobatch_dataset_synthetic::pair::Morse;
use geobatch_model_painn::{Painn, PainnSpec};
use geobatch_nn::backend::CpuAutodiff;
use geobatch_nn::potential::ForceTrainer;

const RADIUS: f64 = 4.0;

fn spec() -> PainnSpec {
    PainnSpec {
        hidden: 16,
        layers: 2,
        rbf: 20,
        cutoff: RADIUS,
    }
}

/// Two small triclinic cells (and a third: a molecule-like open structure is not allowed under
/// stress, so cells only), labelled by Morse.
fn structures() -> Vec<(Vec<u8>, Vec<[f64; 3]>, Cell)> {
    let a = Cell::from_parameters(4.3, 4.6, 4.9, 86.0, 95.0, 99.0).unwrap();
    let b = Cell::from_parameters(3.9, 5.2, 4.4, 92.0, 88.0, 104.0).unwrap();
    let fa = [[0.1, 0.2, 0.3], [0.6, 0.55, 0.8], [0.35, 0.9, 0.05]];
    let fb = [[0.0, 0.1, 0.2], [0.5, 0.6, 0.7]];
    vec![
        (
            vec![29, 8, 29],
            fa.iter().map(|f| a.to_cartesian(*f)).collect(),
            a,
        ),
        (
            vec![8, 8],
            fb.iter().map(|f| b.to_cartesian(*f)).collect(),
            b,
        ),
    ]
}

fn set_of(structures: &[(Vec<u8>, Vec<[f64; 3]>, Cell)]) -> GraphSet {
    let morse = Morse::default();
    let mut b = GraphSetBuilder::new(vec!["energy".into()]).carrying(LabelKinds {
        forces: true,
        stress: true,
    });
    for (k, (z, p, cell)) in structures.iter().enumerate() {
        let l = morse.label(p, Some(cell)).unwrap();
        let labels = AtomLabels {
            forces: Some(&l.forces),
            stress: l.stress,
        };
        b.push_labelled(
            &format!("s{k}"),
            z,
            p,
            Some(*cell),
            &[l.energy as f32],
            labels,
        )
        .unwrap();
    }
    b.build(&GraphRule::Cutoff { radius: RADIUS }, Some(&[29, 8]))
        .unwrap()
}

fn batch(set: &GraphSet, extra: Shape) -> GraphBatch {
    let mut plan = Plan::default();
    for g in 0..set.len() as u32 {
        plan.push(g, set.sizes()[g as usize]);
    }
    plan.padded = Shape::new(
        plan.real.nodes + extra.nodes,
        plan.real.edges + extra.edges,
        plan.real.graphs + extra.graphs,
    );
    let mut b = GraphBatch::new();
    b.collate(set, &plan).unwrap();
    b
}

fn trainer(set: &GraphSet) -> ForceTrainer<CpuAutodiff, Painn<CpuAutodiff>> {
    let setup = ForceContext::fit(set, LossWeights::default(), Some(RADIUS)).unwrap();
    let model = Painn::new(&spec(), 2, 1, 7, &Default::default());
    let optimizer = geobatch_core::OptimizerSpec {
        learning_rate: 1e-3,
        ..Default::default()
    };
    ForceTrainer::new(
        model,
        optimizer,
        setup,
        Default::default(),
        Default::default(),
    )
}

fn predict(
    t: &mut ForceTrainer<CpuAutodiff, Painn<CpuAutodiff>>,
    set: &GraphSet,
) -> ForcePredictions {
    let mut p = ForcePredictions::default();
    t.predict_forces(&batch(set, Shape::new(1, 0, 1)), &mut p)
        .unwrap();
    p
}

#[test]
fn forces_and_stress_are_the_derivatives_of_the_models_energy() {
    let base = structures();
    let set = set_of(&base);
    let mut t = trainer(&set);
    // a few steps first, so that the weights are not the initial ones
    for step in 0..3 {
        t.train_step(&batch(&set, Shape::new(1, 0, 1)), step)
            .unwrap();
    }
    let p = predict(&mut t, &set);
    let h = 5e-3;
    let mut worst: f64 = 0.0;
    let mut atom = 0;
    for (g, (_, pos, _)) in base.iter().enumerate() {
        for i in 0..pos.len() {
            for k in 0..3 {
                let mut moved = |d: f64| {
                    let mut s = base.clone();
                    s[g].1[i][k] += d;
                    predict(&mut t, &set_of(&s)).energy[g]
                };
                let fd = -(moved(h) - moved(-h)) / (2.0 * h);
                let f = f64::from(p.forces[atom][k]);
                worst = worst.max((fd - f).abs() / f.abs().max(1e-2));
            }
            atom += 1;
        }
    }
    assert!(
        worst < 0.02,
        "forces vs central differences: worst relative error {worst}"
    );
    // the stress of a strained cell
    let (z, pos, cell) = &base[0];
    let volume = {
        let l = cell.lattice;
        geobatch_core::neighbors::dot(l[0], geobatch_core::neighbors::cross(l[1], l[2])).abs()
    };
    for (a, b) in [(0, 0), (1, 2), (2, 1), (0, 1)] {
        let mut strained = |h: f64| {
            let mut eps = [[0.0; 3]; 3];
            eps[a][b] += h / 2.0;
            eps[b][a] += h / 2.0;
            let apply = |x: [f64; 3]| -> [f64; 3] {
                std::array::from_fn(|k| x[k] + (0..3).map(|m| eps[k][m] * x[m]).sum::<f64>())
            };
            let c = Cell {
                lattice: cell.lattice.map(apply),
                pbc: cell.pbc,
            };
            let s = vec![(z.clone(), pos.iter().map(|x| apply(*x)).collect(), c)];
            predict(&mut t, &set_of(&s)).energy[0]
        };
        let fd = (strained(1e-3) - strained(-1e-3)) / 2e-3 / volume;
        let s = f64::from(p.stress[0][3 * a + b]);
        assert!(
            (fd - s).abs() <= 0.02 * s.abs().max(1e-3),
            "stress {a}{b}: {fd} vs {s}"
        );
    }
}

#[test]
fn padding_adds_exactly_zero_energy_and_force() {
    let set = set_of(&structures());
    let mut t = trainer(&set);
    let run = |t: &mut ForceTrainer<_, _>, extra: Shape| {
        let mut p = ForcePredictions::default();
        t.predict_forces(&batch(&set, extra), &mut p).unwrap();
        p
    };
    let tight = run(&mut t, Shape::new(1, 0, 1));
    let padded = run(&mut t, Shape::new(37, 101, 4));
    // equal to the rounding of sums whose chunks the padded sizes move (the parallel kernels
    // split rows by size): padding itself contributes exactly zero
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs().max(1e-4);
    assert_eq!(tight.energy.len(), padded.energy.len());
    assert_eq!(
        tight.forces.len(),
        padded.forces.len(),
        "a force for every real atom"
    );
    for (a, b) in tight.energy.iter().zip(&padded.energy) {
        assert!(close(*a, *b), "energy {a} vs {b}");
    }
    let flat = |p: &ForcePredictions| -> Vec<f64> {
        let f = p.forces.iter().flatten();
        f.chain(p.stress.iter().flatten())
            .map(|&x| f64::from(x))
            .collect()
    };
    for (a, b) in flat(&tight).into_iter().zip(flat(&padded)) {
        assert!(close(a, b), "force or stress {a} vs {b}");
    }
    let loss = |extra: Shape| {
        let model = t.model().unwrap().clone();
        f64::from(geobatch_nn::potential::scalar(
            t.loss(&model, &batch(&set, extra)),
        ))
    };
    assert!(close(
        loss(Shape::new(1, 0, 1)),
        loss(Shape::new(37, 101, 4))
    ));
}

#[test]
fn the_second_order_gradient_is_the_losss_finite_difference() {
    let set = set_of(&structures());
    let t = trainer(&set);
    let b = batch(&set, Shape::new(3, 7, 1));
    let model = t.model().unwrap().clone();
    let grads = t.loss(&model, &b).backward();
    // one weight of the first filter layer and one of the readout, moved by +-h
    let probe = |pick: fn(&Painn<CpuAutodiff>) -> &Param<Tensor<CpuAutodiff, 2>>| {
        let w = pick(&model).val();
        let g: Vec<f32> = w.grad(&grads).unwrap().into_data().to_vec().unwrap();
        let values: Vec<f32> = w.clone().into_data().to_vec().unwrap();
        let k = (0..g.len())
            .max_by(|&i, &j| g[i].abs().total_cmp(&g[j].abs()))
            .unwrap();
        let dims = w.dims();
        let at = |d: f32| {
            let mut v = values.clone();
            v[k] += d;
            let moved = model.clone().map(&mut Swap {
                id: pick(&model).id,
                value: Tensor::from_data(
                    burn::tensor::TensorData::new(v, dims),
                    &Default::default(),
                ),
            });
            f64::from(geobatch_nn::potential::scalar(t.loss(&moved, &b)))
        };
        let h = 2e-3;
        let fd = (at(h) - at(-h)) / (2.0 * f64::from(h));
        (f64::from(g[k]), fd)
    };
    for (name, pick) in [
        (
            "filter",
            (|m: &Painn<CpuAutodiff>| &m.filter.weight)
                as fn(&Painn<CpuAutodiff>) -> &Param<Tensor<CpuAutodiff, 2>>,
        ),
        ("mix", |m: &Painn<CpuAutodiff>| &m.layers[0].mix),
        ("embedding", |m: &Painn<CpuAutodiff>| &m.embed),
    ] {
        let (g, fd) = probe(pick);
        assert!(
            (g - fd).abs() <= 0.03 * g.abs().max(1e-4),
            "{name}: autodiff {g} vs finite difference {fd}"
        );
    }
}

/// Replaces one parameter's value.
struct Swap {
    id: burn::module::ParamId,
    value: Tensor<CpuAutodiff, 2>,
}

impl burn::module::ModuleMapper<CpuAutodiff> for Swap {
    fn map_float<const D: usize>(
        &mut self,
        param: Param<Tensor<CpuAutodiff, D>>,
    ) -> Param<Tensor<CpuAutodiff, D>> {
        if param.id != self.id {
            return param;
        }
        let value: Tensor<CpuAutodiff, D> = self.value.clone().reshape(param.dims());
        Param::initialized(param.id, value.require_grad())
    }
}

#[test]
fn training_lowers_the_force_error() {
    let set = set_of(&structures());
    let mut t = trainer(&set);
    let b = batch(&set, Shape::new(1, 0, 1));
    let mut losses = Vec::new();
    for step in 0..60 {
        losses.push(t.train_step(&b, step).unwrap().loss);
    }
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(
        losses[59] < 0.5 * losses[0],
        "loss {} -> {}",
        losses[0],
        losses[59]
    );
}
