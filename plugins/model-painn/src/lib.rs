//! The `painn` model: PaiNN as the study profiled it (spec §3.4; tisabe/jraph_MPEU
//! `models/painn.py`, a port of gerkone/painn-jax).
//!
//! Scalar features s `[N, F]` and vector features v `[N, 3, F]` (zero at the start). Edges carry
//! the 3-D displacement r = receiver - sender (+ image shift): norm = sqrt(|r|^2 + 1e-8),
//! direction = r / (norm + 1e-8), 20 Gaussians exp(-0.5 (d - mu)^2 / 0.3^2) on linspace(0, 6, 20)
//! and a cosine cutoff at 6 A. One Linear(20 -> 3 F L) with bias, times the cutoff, gives every
//! layer's filter. Each of the L layers (separate weights):
//!
//! * message: x = [Linear(F) -> SiLU -> Linear(3F)](s); gather x and v at the receivers;
//!   (ds, dv1, dv2) = split(W ⊙ x_j); dv = dv1 ⊗ dir + dv2 ⊙ v_j; sum over the senders;
//!   s += clip(ds, ±100), v += clip(dv, ±100);
//! * update: (v_l, v_r) = split(Linear_noBias(2F)(v)); |v_r| = sqrt(Σ_xyz v_r^2 + 1e-8);
//!   (a_ss, a_vv, a_sv) = split([Linear(F) -> SiLU -> Linear(3F)](s ‖ |v_r|));
//!   s += clip(a_ss + a_sv Σ_xyz(v_r v_l), ±100); v += clip(a_vv ⊙ v_l, ±100).
//!
//! Readout: per node Linear(F) -> SiLU -> Linear(targets) on s, mean over the graph's nodes.
//!
//! As a potential (a dataset with forces, DESIGN.md §16) the same network reads its inputs
//! smooth: the geometry from the differentiated edge vectors, the message block differentiated by
//! the directions too (fused kernels to second order on the CPU, gathers and sums elsewhere),
//! per-atom outputs summed into the energy; the model's cutoff must lie within the graph's radius.
//! Embedding and every Linear: Xavier-uniform weights, zero biases.

pub mod gates;
pub mod message;
pub mod norms;
#[cfg(test)]
mod testing;

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use gates::GateOps;
use geobatch_core::engine::BasisPlace;
use geobatch_core::{Error, ModelContext, ModelSpec, Result, Trainer, plugin_options};
use geobatch_nn::fused::FusedOps;
use geobatch_nn::init::ParamInit;
use geobatch_nn::layers::{Linear, add_bias, gather_rows, matmul, silu};
use geobatch_nn::{BatchInputs, GraphRegressor};
use geobatch_potential::{Potential, PotentialContext};
use message::MessageOps;
use norms::NormOps;
use serde::{Deserialize, Serialize};

/// Clip of every feature update (spec §3.4).
pub const CLIP: f64 = 100.0;
/// Epsilon inside the norms.
pub const NORM_EPS: f32 = 1e-8;

/// Config of PaiNN.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PainnSpec {
    /// Hidden size F.
    #[option(ty = "integer", default = 256, doc = "hidden size F")]
    pub hidden: usize,
    /// Layers, each with its own weights.
    #[option(
        ty = "integer",
        default = 3,
        doc = "message + update layers (separate weights)"
    )]
    pub layers: usize,
    /// Number of Gaussians.
    #[option(
        ty = "integer",
        default = 20,
        doc = "Gaussians on [0, cutoff], width cutoff / rbf"
    )]
    pub rbf: usize,
    /// Cosine cutoff radius (Angstrom); the Gaussians span [0, cutoff].
    #[option(
        ty = "float",
        default = 6.0,
        doc = "cosine cutoff radius in Angstrom (edges beyond it carry zero filters)"
    )]
    pub cutoff: f64,
    /// How a potential's forces are made: the energy's negative gradient, or a direct head.
    #[serde(default, skip_serializing_if = "ForceHead::is_conservative")]
    #[option(
        ty = "\"conservative\" | \"direct\"",
        toml = "conservative (left out of resolved configs)",
        doc = "a potential's forces: conservative (-dE/dx, with stress) or direct (a linear head on the vector features, fairchem's option: faster, not a gradient, no stress)"
    )]
    pub forces: ForceHead,
}

/// How a PaiNN potential makes its forces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForceHead {
    /// The negative gradient of the energy (exact second-order training; with stress).
    #[default]
    Conservative,
    /// A bias-free linear map of the vector features `[N, 3, F] -> [N, 3]` (fairchem's PaiNN
    /// option): one forward pass, forces that are not a gradient, no stress.
    Direct,
}

impl ForceHead {
    /// Whether this is the default, conservative forces.
    pub fn is_conservative(&self) -> bool {
        *self == ForceHead::Conservative
    }
}

impl Default for PainnSpec {
    fn default() -> Self {
        PainnSpec {
            hidden: Self::option_default_hidden(),
            layers: Self::option_default_layers(),
            rbf: Self::option_default_rbf(),
            cutoff: Self::option_default_cutoff(),
            forces: ForceHead::Conservative,
        }
    }
}

impl PainnSpec {
    /// Trainable scalars, counted from the architecture: embedding S F; filter 20 (3 F L) + 3 F L;
    /// per layer the message MLP (F F + F) + (F 3F + 3F), the vector mix F 2F, the update MLP
    /// (2F F + F) + (F 3F + 3F); readout (F F + F) + (F T + T).
    pub fn parameter_count(&self, species: usize, targets: usize) -> usize {
        let (f, k, l) = (self.hidden, self.rbf, self.layers);
        species * f
            + k * 3 * f * l
            + 3 * f * l
            + l * ((f * f + f)
                + (f * 3 * f + 3 * f)
                + f * 2 * f
                + (2 * f * f + f)
                + (f * 3 * f + 3 * f))
            + (f * f + f)
            + (f * targets + targets)
    }
}

/// A two-layer MLP with biases and SiLU between.
#[derive(Module, Debug)]
pub struct Mlp2<B: Backend> {
    /// First layer.
    pub first: Linear<B>,
    /// Second layer.
    pub second: Linear<B>,
}

impl<B: FusedOps> Mlp2<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.second.forward(silu(self.first.forward(x)))
    }
}

impl<B: Backend> Mlp2<B> {
    fn new(init: &mut ParamInit, widths: [usize; 3], device: &B::Device) -> Self {
        Mlp2 {
            first: Linear::new(init, widths[0], widths[1], device),
            second: Linear::new(init, widths[1], widths[2], device),
        }
    }
}

/// One PaiNN layer.
#[derive(Module, Debug)]
pub struct Layer<B: Backend> {
    /// Message MLP on s: F -> F -> 3F.
    pub message: Mlp2<B>,
    /// Vector mix without bias: F -> 2F.
    pub mix: Param<Tensor<B, 2>>,
    /// Update MLP on s ‖ |v_r|: 2F -> F -> 3F.
    pub update: Mlp2<B>,
}

/// PaiNN.
#[derive(Module, Debug)]
pub struct Painn<B: Backend> {
    /// Species embedding `[S, F]`.
    pub embed: Param<Tensor<B, 2>>,
    /// Filters of every layer from the radial basis: K -> 3 F L.
    pub filter: Linear<B>,
    /// The layers.
    pub layers: Vec<Layer<B>>,
    /// Per-node readout: F -> F -> targets.
    pub readout: Mlp2<B>,
    /// Hidden size.
    pub hidden: usize,
    /// Number of Gaussians.
    pub rbf: usize,
    /// Cutoff radius.
    pub cutoff: f64,
    /// The direct force head `[F, 1]` (`forces = "direct"`), if any.
    pub force_head: Option<Param<Tensor<B, 2>>>,
}

/// Per-edge geometry on the host: `[E, K + 1]` rows of the Gaussian basis times the cosine cutoff
/// followed by the cutoff itself (so `rows @ [W; b]` is the study's `(basis @ W + b) * cutoff` in
/// one product), and the unit directions `[E, 3]`.
pub fn edge_geometry(vectors: &[[f32; 3]], k: usize, cutoff: f64) -> (Vec<f32>, Vec<f32>) {
    let e = vectors.len();
    let (mut basis, mut dir) = (Vec::with_capacity(e * (k + 1)), Vec::with_capacity(3 * e));
    let width = cutoff / k as f64;
    let step = if k > 1 { cutoff / (k - 1) as f64 } else { 0.0 };
    for v in vectors {
        let sq = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
        let norm = (sq + NORM_EPS).sqrt();
        dir.extend(v.iter().map(|x| x / (norm + NORM_EPS)));
        let d = f64::from(norm);
        let fcut = if d < cutoff {
            0.5 * ((std::f64::consts::PI * d / cutoff).cos() + 1.0)
        } else {
            0.0
        };
        for i in 0..k {
            let z = (d - i as f64 * step) / width;
            basis.push(((-0.5 * z * z).exp() * fcut) as f32);
        }
        basis.push(fcut as f32);
    }
    (basis, dir)
}

/// [`edge_geometry`] on the device from the edge vectors `[E, 3]`
/// (`training.engine.basis = "device"`): the same rows in f32 arithmetic.
pub fn device_geometry<B: Backend>(
    vectors: Tensor<B, 2>,
    k: usize,
    cutoff: f64,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let device = vectors.device();
    let norm = (vectors.clone() * vectors.clone())
        .sum_dim(1)
        .add_scalar(f64::from(NORM_EPS))
        .sqrt();
    let dir = vectors / norm.clone().add_scalar(f64::from(NORM_EPS));
    let inside = norm.clone().lower_elem(cutoff).float();
    let fcut = (norm.clone() * (std::f64::consts::PI / cutoff))
        .cos()
        .add_scalar(1.0)
        * 0.5
        * inside;
    let width = cutoff / k as f64;
    let step = if k > 1 { cutoff / (k - 1) as f64 } else { 0.0 };
    let centres: Vec<f32> = (0..k).map(|i| (i as f64 * step) as f32).collect();
    let centres = Tensor::<B, 2>::from_data(TensorData::new(centres, [1, k]), &device);
    let z = (norm - centres) / width;
    let basis = (z.clone() * z).mul_scalar(-0.5).exp() * fcut.clone();
    (Tensor::cat(vec![basis, fcut], 1), dir)
}

impl<B: Backend> Painn<B> {
    /// A PaiNN for `species` classes and `targets` outputs, initialised from `seed`.
    pub fn new(
        spec: &PainnSpec,
        species: usize,
        targets: usize,
        seed: u64,
        device: &B::Device,
    ) -> Self {
        let mut init = ParamInit::new(seed);
        let f = spec.hidden;
        let embed = init.xavier_uniform(species * f, species, f);
        let embed = Param::from_tensor(Tensor::from_data(
            TensorData::new(embed, [species, f]),
            device,
        ));
        let filter = Linear::new(&mut init, spec.rbf, 3 * f * spec.layers, device);
        let layers = (0..spec.layers)
            .map(|_| Layer {
                message: Mlp2::new(&mut init, [f, f, 3 * f], device),
                mix: Param::from_tensor(Tensor::from_data(
                    TensorData::new(init.xavier_uniform(f * 2 * f, f, 2 * f), [f, 2 * f]),
                    device,
                )),
                update: Mlp2::new(&mut init, [2 * f, f, 3 * f], device),
            })
            .collect();
        let readout = Mlp2::new(&mut init, [f, f, targets], device);
        let force_head = (spec.forces == ForceHead::Direct).then(|| {
            Param::from_tensor(Tensor::from_data(
                TensorData::new(init.xavier_uniform(f, f, 1), [f, 1]),
                device,
            ))
        });
        Painn {
            force_head,
            embed,
            filter,
            layers,
            readout,
            hidden: f,
            rbf: spec.rbf,
            cutoff: spec.cutoff,
        }
    }
}

/// `x W[:, cols] + b[cols]`: some output columns of a linear layer, as a contiguous tensor.
fn linear_cols<B: FusedOps>(
    x: Tensor<B, 2>,
    layer: &Linear<B>,
    cols: std::ops::Range<usize>,
) -> Tensor<B, 2> {
    let rows = layer.weight.dims()[0];
    add_bias(
        matmul(x, layer.weight.val().slice([0..rows, cols.clone()])),
        layer.bias.val().slice([0..1, cols]),
    )
}

impl<B: FusedOps + MessageOps + NormOps + GateOps> Painn<B> {
    /// The node features after the last layer: scalars `[N, F]` and vectors `[N, 3, F]`.
    pub fn features(&self, x: &BatchInputs<B>) -> (Tensor<B, 2>, Tensor<B, 3>) {
        let f = self.hidden;
        let n = x.n_nodes;
        let e = x.senders.index.dims()[0];
        let (basis, dir) = if let Some(v) = &x.vectors {
            // a potential's inputs: the geometry from the differentiated edge vectors
            device_geometry(v.clone(), self.rbf, self.cutoff)
        } else if x.basis == BasisPlace::Device {
            let flat = x.vectors_host.iter().flatten().copied().collect();
            device_geometry(x.tensor(flat, [e, 3]), self.rbf, self.cutoff)
        } else {
            let (basis, dir) = edge_geometry(&x.vectors_host, self.rbf, self.cutoff);
            (x.tensor(basis, [e, self.rbf + 1]), x.tensor(dir, [e, 3]))
        };
        // a potential differentiates its energy by the edge vectors, the directions included:
        // fused kernels to second order where the backend has them, else gathers and sums
        let smooth = x
            .vectors
            .as_ref()
            .is_some_and(|v| B::painn_tracked(&v.clone().into_primitive().tensor()));
        let mut s = gather_rows(self.embed.val(), x.species.clone());
        // vector features component-outer: [3N, F] = the x rows of every node, then y, then z
        let mut v = Tensor::<B, 2>::zeros([3 * n, f], &s.device());
        for (l, layer) in self.layers.iter().enumerate() {
            // this layer's columns of the one filter Linear(K -> 3 F L), times the cutoff
            let cols = 3 * f * l..3 * f * (l + 1);
            let weight = self.filter.weight.val().slice([0..self.rbf, cols.clone()]);
            let bias = self.filter.bias.val().slice([0..1, cols]);
            let w = matmul(basis.clone(), Tensor::cat(vec![weight, bias], 0));
            let xs = layer.message.forward(s.clone());
            let sums = if smooth && !B::FUSED_SMOOTH {
                message::composite(w, xs, v.clone(), dir.clone(), &x.senders, &x.receivers, n)
            } else {
                message::message(w, xs, v.clone(), dir.clone(), &x.senders, &x.receivers, n)
            };
            s = gates::residual_of(s, sums.clone(), 0);
            v = gates::residual_of(v, sums, n);
            // update
            let vl = matmul(v.clone(), layer.mix.val().slice([0..f, 0..f]));
            let vr = matmul(v.clone(), layer.mix.val().slice([0..f, f..2 * f]));
            let norm_dot = norms::norm_dot_of(vl.clone(), vr);
            let (vr_norm, dot) = (norm_dot.clone().narrow(0, 0, n), norm_dot.narrow(0, n, n));
            // Linear(s ‖ |v_r|) as two products by the weight's row blocks (no column concat)
            let first = &layer.update.first;
            let w = first.weight.val();
            let hidden = silu(add_bias(
                matmul(s.clone(), w.clone().slice([0..f, 0..f]))
                    + matmul(vr_norm, w.slice([f..2 * f, 0..f])),
                first.bias.val(),
            ));
            let a_ss = linear_cols(hidden.clone(), &layer.update.second, 0..f);
            let a_vv = linear_cols(hidden.clone(), &layer.update.second, f..2 * f);
            let a_sv = linear_cols(hidden, &layer.update.second, 2 * f..3 * f);
            s = gates::gate_scalar_of(s, a_ss, a_sv, dot);
            v = gates::gate_vector_of(v, a_vv, vl);
        }
        (s, v.reshape([3, n, f]).swap_dims(0, 1))
    }
}

impl<B: FusedOps + MessageOps + NormOps + GateOps> GraphRegressor<B> for Painn<B> {
    fn forward(&self, x: &BatchInputs<B>) -> Tensor<B, 2> {
        let (s, _) = self.features(x);
        let per_node = self.readout.forward(s);
        x.node_graph.mean(per_node, x.inv_n_node.clone())
    }

    fn direct_forces(&self, x: &BatchInputs<B>) -> Option<(Tensor<B, 2>, Tensor<B, 2>)> {
        let head = self.force_head.as_ref()?;
        let (s, v) = self.features(x);
        let [n, _, f] = v.dims();
        let energy = x
            .node_graph
            .mean(self.readout.forward(s), x.inv_n_node.clone());
        let forces = matmul(v.reshape([n * 3, f]), head.val()).reshape([n, 3]);
        Some((energy, forces))
    }
}

impl PainnSpec {
    /// What a step holds per batch: about `L (3 K F + 9 F^2)` parameters and `L (K + 6 F)`
    /// activations per edge.
    fn memory(&self) -> geobatch_core::step_memory::StepMemory {
        let (f, l, k) = (self.hidden as f64, self.layers as f64, self.rbf as f64);
        geobatch_nn::sizes::step_memory(
            &format!(
                "model.hidden = {}, model.layers = {}, model.rbf = {}",
                self.hidden, self.layers, self.rbf
            ),
            l * (3.0 * k * f + 9.0 * f * f),
            l * (k + 6.0 * f),
        )
    }
}

#[geobatch_core::plugin(
    name = "painn",
    summary = "PaiNN as in the study: scalar and vector features, 20 Gaussians on a 6 A cosine cutoff, SiLU, sum aggregation, clipped updates",
    example = "hidden = 256\nlayers = 3\n"
)]
impl ModelSpec for PainnSpec {
    fn validate(&self) -> Result<()> {
        if self.hidden == 0
            || self.layers == 0
            || self.rbf == 0
            || self.cutoff.is_nan()
            || self.cutoff <= 0.0
        {
            return Err(Error::invalid(
                "model: hidden >= 1, layers >= 1, rbf >= 1 and cutoff > 0 are required",
            ));
        }
        let m = self.memory();
        geobatch_nn::sizes::check_memory(&m.sizes, m.fixed / 16.0, m.per_edge / 4.0)
    }

    fn step_memory(&self) -> Option<geobatch_core::step_memory::StepMemory> {
        Some(self.memory())
    }

    fn build(&self, ctx: &ModelContext) -> Result<Box<dyn Trainer>> {
        <Self as ModelSpec>::validate(self)?;
        let (species, targets) = (ctx.n_species, ctx.target_stats.len());
        geobatch_nn::trainer!(ctx, |B, device| Painn::<B>::new(
            self, species, targets, ctx.seed, device
        ))
    }
}

#[geobatch_core::plugin(
    name = "painn",
    summary = "PaiNN as a potential: the energy of the positions, forces as its negative gradient (or a direct head, forces = \"direct\"), stress as its strain derivative",
    example = "hidden = 128\nlayers = 3\ncutoff = 5.0\n"
)]
impl ModelSpec<Potential> for PainnSpec {
    fn validate(&self) -> Result<()> {
        <Self as ModelSpec>::validate(self)
    }

    fn step_memory(&self) -> Option<geobatch_core::step_memory::StepMemory> {
        Some(self.memory())
    }

    fn build(&self, ctx: &PotentialContext) -> Result<Box<dyn Trainer<Potential>>> {
        <Self as ModelSpec>::validate(self)?;
        self.check_potential(ctx.setup.cutoff, ctx.trains_stress())?;
        let m = &ctx.model;
        let (species, targets) = (m.n_species, m.target_stats.len());
        geobatch_nn::potential_trainer!(ctx, |B, device| Painn::<B>::new(
            self, species, targets, m.seed, device
        ))
    }
}

impl PainnSpec {
    /// Whether PaiNN can be a smooth potential on graphs of this `cutoff` radius (`None`: fully
    /// connected molecules) trained on stresses (`stress`): its cosine cutoff within the graph's
    /// radius (beyond it an atom crossing the radius would change the energy by a jump), and a
    /// conservative head where stresses train (a direct head predicts none). Refused as the
    /// config's error (exit 2).
    fn check_potential(&self, cutoff: Option<f64>, stress: bool) -> Result<()> {
        if stress && self.forces == ForceHead::Direct {
            return Err(Error::Refused(
                "model.forces = \"direct\" predicts no stress, but the training split has \
                 stresses that training.loss.stress weighs: leave \"stress\" out of \
                 dataset.targets (or set training.loss.stress = 0), or use forces = \
                 \"conservative\""
                    .into(),
            ));
        }
        match cutoff {
            // edges between the graph's radius and the model's cutoff are missing: an atom
            // crossing the radius would change the energy by a jump
            Some(rc) if self.cutoff > rc => Err(Error::Refused(format!(
                "model.cutoff = {} is beyond the graph's radius ({rc} A): a potential's energy \
                 must be smooth in the positions, so the model's cosine cutoff must be within \
                 the edges the graph holds: set model.cutoff <= {rc} (or a larger graph radius)",
                self.cutoff
            ))),
            _ => Ok(()),
        }
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
