//! Potentials (DESIGN.md §16): a model's per-graph output read as an energy of the batch's
//! geometry, forces as its negative gradient by the atoms' positions, stress as its strain
//! derivative per volume, trained on energies, forces and stresses with exact second-order
//! gradients.
//!
//! * **Geometry.** The differentiated leaf is the edge vectors `v = x_r - x_s - S . cell`
//!   ([`BatchInputs::smooth`]): for `g = dE/dv`, the force on atom i is
//!   `sum_{e: s(e) = i} g_e - sum_{e: r(e) = i} g_e` and the stress of a graph
//!   `(1/V) sum_e v_e (x) g_e` (symmetrised): the same numbers as differentiating by positions and
//!   a strain of the cell, with one gradient for both.
//! * **Energy.** The model's per-graph sum of per-atom outputs `eps` (its readout with unit
//!   inverse counts) gives `E = scale . sum eps + sum_atoms e0(species)`: `e0` are reference
//!   energies fitted on the training split and `scale` the RMS force component
//!   ([`ForceContext`]).
//! * **Second order.** burn's backends nest: the model is lifted onto `Autodiff<B>` with its
//!   parameters untracked there (they stay tracked by `B`), the energy's gradient by `v` is taken on
//!   the outer backend, and its operations are recorded by the inner one; the loss of forces and
//!   stresses made from it is then differentiated by the parameters on `B`. geobatch's fused kernels
//!   build their backward passes from tracked operations of the inner backend ([`crate::tracked`]).
//! * **Loss.** `w_E mse(E/N) / s_E + w_F mse(F) / s_F + w_S mse(stress) / s_S` over real graphs,
//!   real atoms and graphs with a stress; `s` the labels' spreads ([`ForceContext::spread`]).

use crate::fused::FusedOps;
use crate::index::segment_sum;
use crate::inputs::BatchInputs;
use crate::trainer::{GraphRegressor, ModelTrainer, Objective};
use burn::module::{AutodiffModule, HasAutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use burn_autodiff::Autodiff;
use geobatch_core::engine::SegmentKernel;
use geobatch_core::{EngineOptions, Error, GraphBatch, Result, Trainer};
use geobatch_potential::{ForceContext, ForcePredictions, Potential, PotentialContext};

/// A batch's labels and constants on the host, for one potential step.
struct HostLabels {
    /// Total energy minus the reference energies of its atoms (eV), per graph; 0 on padding.
    residual: Vec<f32>,
    /// Sum of the reference energies of every graph's atoms (eV).
    references: Vec<f64>,
    /// 1 / atoms of every real graph, 0 on padding, `[G]`.
    inv_atoms: Vec<f32>,
    /// 1 on real atoms, 0 on padding atoms, `[N]`.
    atom_mask: Vec<f32>,
    /// 1 / volume of every real graph periodic in three directions, 0 elsewhere, `[G]`.
    inv_volume: Vec<f32>,
    /// Graph of every edge (its receiver's), `[E]`.
    edge_graph: Vec<u32>,
}

impl HostLabels {
    fn of(batch: &GraphBatch, setup: &ForceContext) -> Self {
        let (n, g) = (batch.species.len(), batch.n_node.len());
        let t = batch.n_targets().max(1);
        let real = batch.real();
        let mut references = vec![0.0f64; g];
        for (i, &s) in batch.species.iter().enumerate().take(real.nodes) {
            references[batch.node_graph[i] as usize] +=
                setup.atom_energies.get(s as usize).copied().unwrap_or(0.0);
        }
        let residual = (0..g)
            .map(|k| {
                if k < real.graphs && batch.n_targets() > 0 {
                    (f64::from(batch.targets[k * t]) - references[k]) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let inv_atoms = (0..g)
            .map(|k| {
                if k < real.graphs {
                    1.0 / batch.n_node[k].max(1) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let atom_mask = (0..n)
            .map(|i| f32::from(u8::from(i < real.nodes)))
            .collect();
        let inv_volume = (0..g)
            .map(|k| match batch.cells.get(k) {
                Some(c) if k < real.graphs => {
                    let l = c.map(f64::from);
                    let cross = [
                        l[4] * l[8] - l[5] * l[7],
                        l[5] * l[6] - l[3] * l[8],
                        l[3] * l[7] - l[4] * l[6],
                    ];
                    let v = (l[0] * cross[0] + l[1] * cross[1] + l[2] * cross[2]).abs();
                    if v > 0.0 { (1.0 / v) as f32 } else { 0.0 }
                }
                _ => 0.0,
            })
            .collect();
        let edge_graph = batch
            .receivers
            .iter()
            .map(|&r| batch.node_graph[r as usize])
            .collect();
        HostLabels {
            residual,
            references,
            inv_atoms,
            atom_mask,
            inv_volume,
            edge_graph,
        }
    }
}

fn column<B: Backend>(v: Vec<f32>, device: &B::Device) -> Tensor<B, 2> {
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n, 1]), device)
}

fn table<B: Backend>(v: Vec<f32>, cols: usize, device: &B::Device) -> Tensor<B, 2> {
    let n = v.len() / cols.max(1);
    Tensor::from_data(TensorData::new(v, [n, cols]), device)
}

fn index<B: Backend>(v: &[u32], device: &B::Device) -> Tensor<B, 1, Int> {
    let data: Vec<i32> = v.iter().map(|&x| x as i32).collect();
    Tensor::from_data(TensorData::new(data, [v.len()]), device)
}

/// The model's energies in units of `scale` per graph `[G, 1]` (padding graphs: 0) and their
/// summed gradient by the edge vectors `[E, 3]`, both on `B`'s inner backend (recorded there
/// when it is itself an autodiff backend).
fn energy_and_gradient<B, U>(
    model: &U,
    batch: &GraphBatch,
    cutoff: Option<f64>,
    device: &B::Device,
    engine: &EngineOptions,
) -> (Tensor<B::InnerBackend, 2>, Tensor<B::InnerBackend, 2>)
where
    B: AutodiffBackend + FusedOps,
    U: GraphRegressor<B>,
{
    let v = BatchInputs::<B>::edge_vector_tensor(batch, device).require_grad();
    let inputs = BatchInputs::<B>::smooth(batch, v.clone(), cutoff, device, engine);
    let energy = model.forward(&inputs) * inputs.mask.clone();
    let grads = energy.clone().sum().backward();
    let e = batch.senders.len();
    let dv = v
        .grad(&grads)
        .unwrap_or_else(|| Tensor::zeros([e, 3], device));
    (energy.inner(), dv)
}

/// Forces `[N, 3]` and, where asked, stresses `[G, 9]` (row-major, symmetrised) in units of
/// `scale`, from the energy's gradient `dv` by the edge vectors.
fn forces_and_stress<B: FusedOps>(
    batch: &GraphBatch,
    dv: Tensor<B, 2>,
    host: &HostLabels,
    stress: bool,
    device: &B::Device,
) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
    let n = batch.species.len();
    let by_sender = segment_sum(dv.clone(), index::<B>(&batch.senders, device), n);
    let by_receiver = segment_sum(dv.clone(), index::<B>(&batch.receivers, device), n);
    let forces = by_sender - by_receiver;
    if !stress {
        return (forces, None);
    }
    let g = batch.n_node.len();
    let e = batch.senders.len();
    let v = BatchInputs::<B>::edge_vector_tensor(batch, device);
    // v_a g_b for every edge, a-major: [E, 3, 1] x [E, 1, 3]
    let outer = (v.reshape([e, 3, 1]) * dv.reshape([e, 1, 3])).reshape([e, 9]);
    let virial = segment_sum(outer, index::<B>(&host.edge_graph, device), g);
    let transposed = virial
        .clone()
        .reshape([g, 3, 3])
        .swap_dims(1, 2)
        .reshape([g, 9]);
    let inv_volume = column::<B>(host.inv_volume.clone(), device);
    (forces, Some((virial + transposed) * inv_volume * 0.5))
}

/// The weighted loss of a batch's energies, forces and stresses (see the module documentation),
/// on the parameters' backend `B`, from the energy's gradient `dv` by the edge vectors.
fn potential_loss<B: FusedOps>(
    batch: &GraphBatch,
    setup: &ForceContext,
    energy: Tensor<B, 2>,
    dv: Tensor<B, 2>,
    device: &B::Device,
) -> Tensor<B, 1> {
    let host = HostLabels::of(batch, setup);
    let with_stress =
        setup.stress && setup.weights.stress() > 0.0 && !batch.stress_weight.is_empty();
    let (forces, stress) = forces_and_stress(batch, dv, &host, with_stress, device);
    loss_terms(batch, setup, &host, energy, forces, stress, device)
}

/// The weighted loss of energies `[G, 1]`, forces `[N, 3]` and, where given, stresses `[G, 9]`
/// (all in units of the scale) against the batch's labels.
fn loss_terms<B: FusedOps>(
    batch: &GraphBatch,
    setup: &ForceContext,
    host: &HostLabels,
    energy: Tensor<B, 2>,
    forces: Tensor<B, 2>,
    stress: Option<Tensor<B, 2>>,
    device: &B::Device,
) -> Tensor<B, 1> {
    let real = batch.real();
    let w = setup.weights;
    let scale = setup.scale;
    let [se, sf, ss] = setup.spread;
    let residual = column::<B>(host.residual.clone(), device);
    let per_atom = (energy * scale - residual) * column::<B>(host.inv_atoms.clone(), device);
    let mut loss = (per_atom.clone() * per_atom)
        .sum()
        .mul_scalar(w.energy / (real.graphs.max(1) as f64 * se));
    if w.forces > 0.0 {
        let labels = table::<B>(batch.forces.iter().flatten().copied().collect(), 3, device);
        let mask = column::<B>(host.atom_mask.clone(), device);
        let err = (forces * scale - labels) * mask;
        loss = loss
            + (err.clone() * err)
                .sum()
                .mul_scalar(w.forces / (3.0 * real.nodes.max(1) as f64 * sf));
    }
    if let Some(stress) = stress {
        let known: f64 = batch.stress_weight.iter().map(|&x| f64::from(x)).sum();
        if known > 0.0 {
            let labels = table::<B>(batch.stress.iter().flatten().copied().collect(), 9, device);
            let mask = column::<B>(batch.stress_weight.clone(), device);
            let err = (stress * scale - labels) * mask;
            loss = loss
                + (err.clone() * err)
                    .sum()
                    .mul_scalar(w.stress() / (9.0 * known * ss));
        }
    }
    loss
}

/// The energies `[G, 1]` (padding graphs 0) and forces `[N, 3]` of a model with a direct force
/// head, from one forward pass on `B` (`None`: the model's forces are its energy's gradient).
fn direct<B, M>(
    model: &M,
    batch: &GraphBatch,
    cutoff: Option<f64>,
    device: &B::Device,
    engine: &EngineOptions,
) -> Option<(Tensor<B, 2>, Tensor<B, 2>)>
where
    B: FusedOps,
    M: GraphRegressor<B>,
{
    let v = BatchInputs::<B>::edge_vector_tensor(batch, device);
    let inputs = BatchInputs::<B>::smooth(batch, v, cutoff, device, engine);
    let (energy, forces) = model.direct_forces(&inputs)?;
    Some((energy * inputs.mask.clone(), forces))
}

/// A potential's objective (see the module documentation): the weighted loss of energies,
/// forces and stresses, with the forces' and stresses' gradients taken on `Autodiff<B>`.
pub struct PotentialLoss {
    setup: ForceContext,
}

impl PotentialLoss {
    /// The objective of a potential built with `setup`.
    pub fn new(setup: ForceContext) -> Self {
        PotentialLoss { setup }
    }
}

/// Trains a model as a potential on the autodiff backend `B` (its parameters' backend).
pub type ForceTrainer<B, M> = ModelTrainer<B, M, PotentialLoss>;

impl<B, M> Objective<B, M> for PotentialLoss
where
    B: AutodiffBackend + FusedOps,
    M: AutodiffModule<B> + GraphRegressor<B> + HasAutodiffModule<Autodiff<B>>,
    M::TrainModule: GraphRegressor<Autodiff<B>>,
{
    type Inputs = ();

    fn inputs(&self, _: &GraphBatch, _: &B::Device, _: &EngineOptions) {}

    fn loss(
        &self,
        model: &M,
        batch: &GraphBatch,
        _inputs: &(),
        device: &B::Device,
        engine: &EngineOptions,
    ) -> Tensor<B, 1> {
        step_loss(model, batch, &self.setup, device, engine)
    }

    fn check(&self, batch: &GraphBatch) -> Result<()> {
        if batch.forces.is_empty() && self.setup.weights.forces > 0.0 {
            return Err(Error::invalid(
                "a potential's step needs a batch with forces (the dataset carries none)",
            ));
        }
        Ok(())
    }
}

impl<B, M> ForceTrainer<B, M>
where
    B: AutodiffBackend + FusedOps,
    M: AutodiffModule<B> + GraphRegressor<B> + HasAutodiffModule<Autodiff<B>>,
    M::TrainModule: GraphRegressor<Autodiff<B>>,
{
    /// The loss of `batch` for `model` (parameters tracked on `B`), without an update: what a
    /// step differentiates.
    pub fn loss(&self, model: &M, batch: &GraphBatch) -> Tensor<B, 1> {
        step_loss(
            model,
            batch,
            &self.objective.setup,
            &self.device,
            &self.engine,
        )
    }
}

/// The loss of `batch` for `model`: the model lifted onto `Autodiff<B>` with untracked
/// parameters there, the energy's gradient by the edge vectors taken on it, and the loss of
/// energies, forces and stresses recorded on `B`.
fn step_loss<B, M>(
    model: &M,
    batch: &GraphBatch,
    setup: &ForceContext,
    device: &B::Device,
    engine: &EngineOptions,
) -> Tensor<B, 1>
where
    B: AutodiffBackend + FusedOps,
    M: AutodiffModule<B> + GraphRegressor<B> + HasAutodiffModule<Autodiff<B>>,
    M::TrainModule: GraphRegressor<Autodiff<B>>,
{
    if let Some((energy, forces)) = direct(model, batch, setup.cutoff, device, engine) {
        let host = HostLabels::of(batch, setup);
        return loss_terms(batch, setup, &host, energy, forces, None, device);
    }
    let lifted =
        <M::TrainModule as AutodiffModule<Autodiff<B>>>::from_inner(model.clone()).no_grad();
    let (energy, dv) =
        energy_and_gradient::<Autodiff<B>, _>(&lifted, batch, setup.cutoff, device, engine);
    potential_loss(batch, setup, energy, dv, device)
}

fn host_values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .into_vec()
        .map_err(|e| Error::invalid(format!("{e:?}")))
}

impl<B, M> Trainer<Potential> for ForceTrainer<B, M>
where
    B: AutodiffBackend + FusedOps,
    B::InnerBackend: FusedOps,
    B::Device: Send,
    M: AutodiffModule<B> + GraphRegressor<B> + HasAutodiffModule<Autodiff<B>> + Send,
    M::TrainModule: GraphRegressor<Autodiff<B>>,
{
    fn predict(&mut self, batch: &GraphBatch, out: &mut ForcePredictions) -> Result<()> {
        let model = self.state.model()?.clone().no_grad();
        let host = HostLabels::of(batch, &self.objective.setup);
        let mut direct_head = false;
        let (energy, forces, stress) = match direct::<B, _>(
            &model,
            batch,
            self.objective.setup.cutoff,
            &self.device,
            &self.engine,
        ) {
            Some((energy, forces)) => {
                direct_head = true;
                (energy.inner(), forces.inner(), None)
            }
            None => {
                let (energy, dv) = energy_and_gradient::<B, _>(
                    &model,
                    batch,
                    self.objective.setup.cutoff,
                    &self.device,
                    &self.engine,
                );
                let periodic = batch.cells.len() == batch.n_node.len();
                let (forces, stress) = forces_and_stress(batch, dv, &host, periodic, &self.device);
                (energy, forces, stress)
            }
        };
        let scale = self.objective.setup.scale;
        let real = batch.real();
        let energy = host_values(energy)?;
        let forces = host_values(forces)?;
        out.energy.clear();
        out.energy
            .extend((0..real.graphs).map(|g| f64::from(energy[g]) * scale + host.references[g]));
        out.forces.clear();
        out.forces.extend(
            forces
                .chunks_exact(3)
                .take(real.nodes)
                .map(|f| [0, 1, 2].map(|k| (f64::from(f[k]) * scale) as f32)),
        );
        out.stress.clear();
        match stress {
            Some(s) => {
                let s = host_values(s)?;
                out.stress.extend(
                    s.chunks_exact(9)
                        .take(real.graphs)
                        .map(|row| std::array::from_fn(|k| (f64::from(row[k]) * scale) as f32)),
                );
            }
            // a direct force head predicts no stress: none is given
            None if direct_head => {}
            None => out.stress.resize(real.graphs, [0.0; 9]),
        }
        Ok(())
    }
}

/// A boxed [`ForceTrainer`] for a model built by `make` on `device` of the autodiff backend
/// `B`; the context must carry a potential's setup. Refused on a GPU backend under fusion with
/// `segments = "csr"`: that combination's second-order gradients are wrong (the first loss is
/// right, the update is not; `device_tests::a_potential_trains_like_the_cpu_on_every_gpu_backend`
/// found it on wgpu), until its cause is found.
pub fn boxed_potential<B, M>(
    ctx: &PotentialContext,
    device: B::Device,
    make: impl FnOnce(&B::Device) -> M,
) -> Result<Box<dyn Trainer<Potential>>>
where
    B: AutodiffBackend + FusedOps,
    B::InnerBackend: FusedOps,
    B::Device: Send,
    M: AutodiffModule<B> + GraphRegressor<B> + HasAutodiffModule<Autodiff<B>> + Send + 'static,
    M::TrainModule: GraphRegressor<Autodiff<B>>,
{
    let engine = ctx.model.engine;
    if B::GROUPED_SUMS && engine.fusion && engine.segments == SegmentKernel::Csr {
        return Err(Error::invalid(
            "training.engine: segments = \"csr\" with fusion = true (a GPU's default) gives a \
             potential wrong second-order gradients on the GPU backends (docs/potentials.md, \"On \
             a GPU\"): set segments = \"chunked\" (or leave it out) or fusion = false",
        ));
    }
    let model = make(&device);
    Ok(Box::new(ForceTrainer::new(
        model,
        ctx.model.optimizer.clone(),
        PotentialLoss::new(ctx.setup.clone()),
        device,
        engine,
    )))
}

#[cfg(any(test, feature = "checks"))]
pub mod checks;

/// The scalar value of a rank-1 tensor of one element.
pub fn scalar<B: Backend>(t: Tensor<B, 1>) -> f32 {
    t.into_scalar().elem()
}
