//! Checks of a model trained as a potential, shared by the models' tests (SchNet, PaiNN): its
//! forces and stress against central differences of its own energy, padding that adds zero, the
//! parameter gradient of its loss against the loss's finite difference, and a loss that falls.
//!
//! The structures are given as (atomic numbers, positions, cell) and made into a labelled set by
//! the caller's `set_of` (the tests label them with a Morse pair potential).

use super::ForceTrainer;
use crate::backend::CpuAutodiff;
use crate::trainer::GraphRegressor;
use burn::module::{AutodiffModule, HasAutodiffModule, ModuleMapper, Param, ParamId};
use burn::tensor::{Tensor, TensorData};
use burn_autodiff::Autodiff;
use geobatch_core::{Cell, GraphBatch, GraphSet, Learner, Plan, Shape, Trainer};
use geobatch_potential::ForcePredictions;

/// One structure: atomic numbers, Cartesian positions, cell.
pub type Structure = (Vec<u8>, Vec<[f64; 3]>, Cell);

/// The outer backend of a potential's step on the CPU.
type Outer = Autodiff<CpuAutodiff>;

/// A model the checks train: a potential's module on the CPU autodiff backend.
pub trait Checked:
    AutodiffModule<CpuAutodiff> + GraphRegressor<CpuAutodiff> + HasAutodiffModule<Outer> + Send
where
    <Self as HasAutodiffModule<Outer>>::TrainModule: GraphRegressor<Outer>,
{
}

impl<M> Checked for M
where
    M: AutodiffModule<CpuAutodiff> + GraphRegressor<CpuAutodiff> + HasAutodiffModule<Outer> + Send,
    M::TrainModule: GraphRegressor<Outer>,
{
}

/// Two small triclinic cells: three atoms of atomic numbers 29, 8, 29 and two of 8.
pub fn structures() -> Vec<Structure> {
    let cell = |p: [f64; 6]| Cell::from_parameters(p[0], p[1], p[2], p[3], p[4], p[5]);
    let (Some(a), Some(b)) = (
        cell([4.3, 4.6, 4.9, 86.0, 95.0, 99.0]),
        cell([3.9, 5.2, 4.4, 92.0, 88.0, 104.0]),
    ) else {
        unreachable!("valid cells")
    };
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

/// Every graph of `set` in one batch with `extra` padding.
///
/// # Panics
/// When the set cannot be collated (a test's own data).
pub fn batch(set: &GraphSet, extra: Shape) -> GraphBatch {
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
    b.collate(set, &plan).expect("a test batch");
    b
}

fn predict<M: Checked>(t: &mut ForceTrainer<CpuAutodiff, M>, set: &GraphSet) -> ForcePredictions
where
    M::TrainModule: GraphRegressor<Outer>,
{
    let mut p = ForcePredictions::default();
    t.predict(&batch(set, Shape::new(1, 0, 1)), &mut p)
        .expect("predictions");
    p
}

/// The largest error of the forces against central differences (h = 5e-3 A) of the trainer's
/// energies, relative to the force (floored at a tenth of the largest force component, so that a
/// term missing from every force is seen however small the forces are), and of the stress
/// (floored at 1e-3) against the energy of the first structure's cell strained by +-1e-3, after
/// three training steps.
///
/// # Panics
/// When a step or a prediction fails.
pub fn derivative_errors<M: Checked>(
    t: &mut ForceTrainer<CpuAutodiff, M>,
    base: &[Structure],
    set_of: &dyn Fn(&[Structure]) -> GraphSet,
) -> (f64, f64)
where
    M::TrainModule: GraphRegressor<Outer>,
{
    let set = set_of(base);
    for step in 0..3 {
        t.train_step(&batch(&set, Shape::new(1, 0, 1)), step)
            .expect("a step");
    }
    let p = predict(t, &set);
    let h = 5e-3;
    let floor = p
        .forces
        .iter()
        .flatten()
        .fold(0.0f64, |m, f| m.max(f64::from(f.abs())))
        / 10.0;
    let (mut forces, mut atom) = (0.0f64, 0);
    for (g, (_, pos, _)) in base.iter().enumerate() {
        for i in 0..pos.len() {
            for k in 0..3 {
                let mut moved = |d: f64| {
                    let mut s = base.to_vec();
                    s[g].1[i][k] += d;
                    predict(t, &set_of(&s)).energy[g]
                };
                let fd = -(moved(h) - moved(-h)) / (2.0 * h);
                let f = f64::from(p.forces[atom][k]);
                forces = forces.max((fd - f).abs() / f.abs().max(floor).max(1e-6));
            }
            atom += 1;
        }
    }
    let (z, pos, cell) = &base[0];
    let volume = cell.volume();
    let mut stress = 0.0f64;
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
            let moved = [(z.clone(), pos.iter().map(|x| apply(*x)).collect(), c)];
            predict(t, &set_of(&moved)).energy[0]
        };
        let fd = (strained(1e-3) - strained(-1e-3)) / 2e-3 / volume;
        let s = f64::from(p.stress[0][3 * a + b]);
        stress = stress.max((fd - s).abs() / s.abs().max(1e-3));
    }
    (forces, stress)
}

/// The largest relative difference (floored at 1e-4) between the predictions and the loss of
/// `set` padded tightly and padded by 37 nodes, 101 edges and 4 graphs.
///
/// # Panics
/// When a prediction fails or the two give forces of different atom counts.
pub fn padding_difference<M: Checked>(t: &mut ForceTrainer<CpuAutodiff, M>, set: &GraphSet) -> f64
where
    M::TrainModule: GraphRegressor<Outer>,
{
    let run = |t: &mut ForceTrainer<CpuAutodiff, M>, extra: Shape| {
        let mut p = ForcePredictions::default();
        t.predict(&batch(set, extra), &mut p).expect("predictions");
        p
    };
    let (tight, padded) = (run(t, Shape::new(1, 0, 1)), run(t, Shape::new(37, 101, 4)));
    assert_eq!(
        tight.forces.len(),
        padded.forces.len(),
        "a force for every real atom"
    );
    let flat = |p: &ForcePredictions| -> Vec<f64> {
        let f = p.forces.iter().flatten().chain(p.stress.iter().flatten());
        let e = p.energy.iter().copied();
        e.chain(f.map(|&x| f64::from(x))).collect()
    };
    let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(1e-4);
    let worst = flat(&tight)
        .into_iter()
        .zip(flat(&padded))
        .fold(0.0f64, |m, (a, b)| m.max(rel(a, b)));
    let model = t.model().expect("a model").clone();
    let loss = |extra: Shape| f64::from(super::scalar(t.loss(&model, &batch(set, extra))));
    worst.max(rel(loss(Shape::new(1, 0, 1)), loss(Shape::new(37, 101, 4))))
}

/// Replaces one parameter's value.
struct Swap {
    id: ParamId,
    value: Tensor<CpuAutodiff, 2>,
}

impl ModuleMapper<CpuAutodiff> for Swap {
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

/// A parameter of a model, picked by the caller.
pub type Pick<M> = fn(&M) -> &Param<Tensor<CpuAutodiff, 2>>;

/// The gradient of the whole loss (energy, forces, stress) by the largest-gradient element of
/// the parameter `pick` chooses, and the loss's central difference (h = 2e-3) there.
///
/// # Panics
/// When the parameter has no gradient.
pub fn second_order<M: Checked>(
    t: &ForceTrainer<CpuAutodiff, M>,
    b: &GraphBatch,
    pick: Pick<M>,
) -> (f64, f64)
where
    M::TrainModule: GraphRegressor<Outer>,
{
    let model = t.model().expect("a model").clone();
    let grads = t.loss(&model, b).backward();
    let w = pick(&model).val();
    let g: Vec<f32> = w
        .grad(&grads)
        .expect("the parameter has a gradient")
        .into_data()
        .to_vec()
        .unwrap_or_default();
    let values: Vec<f32> = w.clone().into_data().to_vec().unwrap_or_default();
    let k = (0..g.len())
        .max_by(|&i, &j| g[i].abs().total_cmp(&g[j].abs()))
        .unwrap_or(0);
    let dims = w.dims();
    let at = |d: f32| {
        let mut v = values.clone();
        v[k] += d;
        let moved = model.clone().map(&mut Swap {
            id: pick(&model).id,
            value: Tensor::from_data(TensorData::new(v, dims), &Default::default()),
        });
        f64::from(super::scalar(t.loss(&moved, b)))
    };
    let h = 2e-3;
    (f64::from(g[k]), (at(h) - at(-h)) / (2.0 * f64::from(h)))
}

/// The losses of 60 steps on `set` (one batch).
///
/// # Panics
/// When a step fails.
pub fn losses<M: Checked>(t: &mut ForceTrainer<CpuAutodiff, M>, set: &GraphSet) -> Vec<f32>
where
    M::TrainModule: GraphRegressor<Outer>,
{
    let b = batch(set, Shape::new(1, 0, 1));
    (0..60)
        .map(|step| t.train_step(&b, step).expect("a step").loss)
        .collect()
}

/// A trainer of `model` as a potential of `set`'s labels (default loss weights, `radius` its
/// graphs' cutoff, Adam at 1e-3), as the models' tests train one.
///
/// # Panics
/// When the set carries no forces.
pub fn trainer<M: Checked>(model: M, set: &GraphSet, radius: f64) -> ForceTrainer<CpuAutodiff, M>
where
    M::TrainModule: GraphRegressor<Outer>,
{
    let setup = geobatch_potential::ForceContext::fit(
        set,
        geobatch_potential::LossWeights::default(),
        Some(radius),
    )
    .expect("a set with forces");
    let optimizer = geobatch_core::OptimizerSpec {
        learning_rate: 1e-3,
        ..Default::default()
    };
    ForceTrainer::new(
        model,
        optimizer,
        super::PotentialLoss::new(setup),
        Default::default(),
        Default::default(),
    )
}

/// Asserts that the forces and stress are the derivatives of the model's own energy
/// ([`derivative_errors`] under 2%).
///
/// # Panics
/// When they are not.
pub fn assert_derivatives<M: Checked>(
    t: &mut ForceTrainer<CpuAutodiff, M>,
    base: &[Structure],
    set_of: &dyn Fn(&[Structure]) -> GraphSet,
) where
    M::TrainModule: GraphRegressor<Outer>,
{
    let (forces, stress) = derivative_errors(t, base, set_of);
    assert!(forces < 0.02, "forces vs central differences: {forces}");
    assert!(stress < 0.02, "stress vs a strained cell: {stress}");
}

/// Asserts that padding adds nothing ([`padding_difference`] at most 1e-5: the rounding of
/// sums whose chunks the padded sizes move).
///
/// # Panics
/// When it adds more.
pub fn assert_padding_adds_nothing<M: Checked>(t: &mut ForceTrainer<CpuAutodiff, M>, set: &GraphSet)
where
    M::TrainModule: GraphRegressor<Outer>,
{
    let worst = padding_difference(t, set);
    assert!(
        worst <= 1e-5,
        "padding changed a prediction or the loss by {worst}"
    );
}

/// Asserts that each picked parameter's loss gradient is the loss's finite difference (3%).
///
/// # Panics
/// When one is not.
pub fn assert_second_order<M: Checked>(
    t: &ForceTrainer<CpuAutodiff, M>,
    b: &GraphBatch,
    picks: &[(&str, Pick<M>)],
) where
    M::TrainModule: GraphRegressor<Outer>,
{
    for (name, pick) in picks {
        let (g, fd) = second_order(t, b, *pick);
        assert!(
            (g - fd).abs() <= 0.03 * g.abs().max(1e-4),
            "{name}: autodiff {g} vs finite difference {fd}"
        );
    }
}

/// Asserts that 60 steps halve the loss, every loss finite.
///
/// # Panics
/// When they do not.
pub fn assert_loss_falls<M: Checked>(t: &mut ForceTrainer<CpuAutodiff, M>, set: &GraphSet)
where
    M::TrainModule: GraphRegressor<Outer>,
{
    let losses = losses(t, set);
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(
        losses[59] < 0.5 * losses[0],
        "loss {} -> {}",
        losses[0],
        losses[59]
    );
}

/// Every check of a conservative potential, each on a fresh trainer of the model `model` makes
/// (seeded: the same model each call) with the cutoff `radius`, over the cells of [`structures`]
/// as `set_of` labels them: [`assert_derivatives`], [`assert_padding_adds_nothing`],
/// [`assert_second_order`] of the `picks` (on a batch padded by 3 nodes, 7 edges and a graph),
/// [`assert_loss_falls`] and [`assert_shared_steps`] (a batch of each structure).
///
/// # Panics
/// When one of them fails.
pub fn assert_a_potential<M: Checked>(
    model: impl Fn() -> M,
    radius: f64,
    set_of: &dyn Fn(&[Structure]) -> GraphSet,
    picks: &[(&str, Pick<M>)],
) where
    M::TrainModule: GraphRegressor<Outer>,
{
    let base = structures();
    let set = set_of(&base);
    let fresh = || trainer(model(), &set, radius);
    assert_derivatives(&mut fresh(), &base, set_of);
    assert_padding_adds_nothing(&mut fresh(), &set);
    assert_second_order(&fresh(), &batch(&set, Shape::new(3, 7, 1)), picks);
    assert_loss_falls(&mut fresh(), &set);
    let one = |s: &[Structure]| batch(&set_of(s), Shape::new(1, 0, 1));
    assert_shared_steps(fresh, &one(&base[..1]), &one(&base[1..]));
}

/// A shared step (`Learner::train_shared`, as data-parallel ranks and `training.accumulate`
/// take it) of one batch in a world of one is the plain step, to the bit, for three steps; and a
/// step shared by batches `a` and `b` has the mean of their losses as its loss (1e-6).
///
/// # Panics
/// When a step fails or differs.
pub fn assert_shared_steps<M: Checked>(
    fresh: impl Fn() -> ForceTrainer<CpuAutodiff, M>,
    a: &GraphBatch,
    b: &GraphBatch,
) where
    M::TrainModule: GraphRegressor<Outer>,
{
    let alone = geobatch_core::Alone;
    let (mut plain, mut shared) = (fresh(), fresh());
    for step in 0..3 {
        let p = plain.train_step(a, step).expect("a step").loss;
        let s = shared
            .train_shared(&[a], step, &alone)
            .expect("a step")
            .loss;
        assert_eq!(p.to_bits(), s.to_bits(), "step {step}: {p} against {s}");
    }
    let la = fresh().train_step(a, 0).expect("a step").loss;
    let lb = fresh().train_step(b, 0).expect("a step").loss;
    let both = fresh()
        .train_shared(&[a, b], 0, &alone)
        .expect("a step")
        .loss;
    let mean = (la + lb) / 2.0;
    assert!(
        (both - mean).abs() <= 1e-6 * mean.abs().max(1e-6),
        "a step shared by two batches: loss {both}, their mean {mean}"
    );
}
