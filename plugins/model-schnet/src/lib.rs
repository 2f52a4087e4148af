//! The `schnet` model: SchNet as the study defines it (spec §3.1-3.2).
//!
//! Node input: species class -> one-hot -> Linear(C) (no bias). Edge input: 150 Gaussians of the
//! distance, `exp(-(d - k delta)^2 / delta)`, delta = 0.1 Angstrom. For each of T steps, with its
//! own weights: filter W = [Linear(C) -> ssp -> Linear(C) -> ssp](e); x_j = Linear(C)(h_sender);
//! m = W * x_j; h <- h + [Linear(C) -> ssp -> Linear(C)](mean of m over incoming edges). Readout:
//! per node Linear(C/2) -> ssp -> Linear(targets), mean over the graph's nodes. No biases anywhere;
//! weights truncated normal with std 1/sqrt(fan_in).
//!
//! As a potential (a dataset with forces, DESIGN.md §16) the same network reads its inputs
//! smooth ([`geobatch_nn::BatchInputs::smooth`]): filters times the cosine envelope of the
//! graph's cutoff, messages summed, per-atom outputs summed into the energy; forces and stress
//! are its derivatives ([`geobatch_nn::potential`]).

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use geobatch_core::{ModelContext, ModelSpec, Result, Trainer, plugin_options};
use geobatch_nn::fused::FusedOps;
use geobatch_nn::init::ParamInit;
use geobatch_nn::layers::{Dense, Mlp, message_mean};
use geobatch_nn::sizes;
use geobatch_nn::{BatchInputs, GraphRegressor};
use geobatch_potential::{Potential, PotentialContext};
use serde::{Deserialize, Serialize};

/// Config of SchNet.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchNetSpec {
    /// Latent size C.
    #[serde(default = "sizes::default_latent")]
    #[option(row = sizes::LATENT)]
    pub latent: usize,
    /// Message-passing steps, each with its own weights.
    #[serde(default = "sizes::default_steps")]
    #[option(row = sizes::STEPS)]
    pub steps: usize,
    /// Number of Gaussians K.
    #[serde(default = "sizes::default_rbf")]
    #[option(row = sizes::RBF)]
    pub rbf: usize,
    /// Gaussian spacing delta (Angstrom).
    #[serde(default = "sizes::default_rbf_spacing")]
    #[option(row = sizes::RBF_SPACING)]
    pub rbf_spacing: f64,
}

impl Default for SchNetSpec {
    fn default() -> Self {
        SchNetSpec {
            latent: sizes::default_latent(),
            steps: sizes::default_steps(),
            rbf: sizes::default_rbf(),
            rbf_spacing: sizes::default_rbf_spacing(),
        }
    }
}

/// One interaction step.
#[derive(Module, Debug)]
pub struct Interaction<B: Backend> {
    /// Filter network on the radial basis, activated output.
    pub filter: Mlp<B>,
    /// Linear map of the sender state.
    pub node_in: Dense<B>,
    /// Node update network on the aggregated messages.
    pub update: Mlp<B>,
}

/// SchNet.
#[derive(Module, Debug)]
pub struct SchNet<B: Backend> {
    /// One-hot species to latent.
    pub embed: Dense<B>,
    /// The interaction steps.
    pub interactions: Vec<Interaction<B>>,
    /// Per-node readout network.
    pub readout: Mlp<B>,
    /// Number of Gaussians.
    pub rbf: usize,
    /// Gaussian spacing.
    pub delta: f64,
}

impl<B: Backend> SchNet<B> {
    /// A SchNet for `species` classes and `targets` outputs, initialised from `seed`.
    pub fn new(
        spec: &SchNetSpec,
        species: usize,
        targets: usize,
        seed: u64,
        device: &B::Device,
    ) -> Self {
        let mut init = ParamInit::new(seed);
        let c = spec.latent;
        let embed = Dense::new(&mut init, species, c, device);
        let interactions = (0..spec.steps)
            .map(|_| Interaction {
                filter: Mlp::new(&mut init, &[spec.rbf, c, c], true, device),
                node_in: Dense::new(&mut init, c, c, device),
                update: Mlp::new(&mut init, &[c, c, c], false, device),
            })
            .collect();
        let readout = Mlp::new(&mut init, &[c, c / 2, targets], false, device);
        SchNet {
            embed,
            interactions,
            readout,
            rbf: spec.rbf,
            delta: spec.rbf_spacing,
        }
    }
}

impl<B: FusedOps> GraphRegressor<B> for SchNet<B> {
    fn forward(&self, x: &BatchInputs<B>) -> Tensor<B, 2> {
        let e = x.rbf(self.rbf, self.delta);
        let mut h = self.embed.embed(x.species.clone());
        for step in &self.interactions {
            let w = step.filter.forward(e.clone());
            // a potential's edges fade to zero at the cutoff (SchNet's cosine cutoff)
            let w = match &x.envelope {
                Some(envelope) => w * envelope.clone(),
                None => w,
            };
            let agg = message_mean(
                w,
                step.node_in.forward(h.clone()),
                &x.senders,
                &x.receivers,
                x.inv_in_degree.clone(),
            );
            h = h + step.update.forward(agg);
        }
        let per_node = self.readout.forward(h);
        x.node_graph.mean(per_node, x.inv_n_node.clone())
    }
}

impl SchNetSpec {
    /// Trainable scalars, counted from the architecture: embedding S*C; per step the filter
    /// K*C + C*C, the sender map C*C and the update 2*C*C; readout C*(C/2) + (C/2)*T.
    pub fn parameter_count(&self, species: usize, targets: usize) -> usize {
        let (c, k) = (self.latent, self.rbf);
        species * c
            + self.steps * (k * c + c * c + c * c + 2 * c * c)
            + c * (c / 2)
            + (c / 2) * targets
    }
}

#[geobatch_core::plugin(
    name = "schnet",
    summary = "SchNet as in the study: 150 Gaussians (exponent / delta), filter MLP x sender, mean aggregation, no biases",
    example = "latent = 64\nsteps = 3\n"
)]
impl ModelSpec for SchNetSpec {
    fn validate(&self) -> Result<()> {
        sizes::check_sizes(self.latent, self.steps, self.rbf, self.rbf_spacing)?;
        sizes::check_message_passing_memory(self.latent, self.steps, self.rbf, 4.0, 2.0)
    }

    fn step_memory(&self) -> Option<geobatch_core::step_memory::StepMemory> {
        Some(sizes::message_passing_step_memory(
            self.latent,
            self.steps,
            self.rbf,
            4.0,
            2.0,
        ))
    }

    fn build(&self, ctx: &ModelContext) -> Result<Box<dyn Trainer>> {
        <Self as ModelSpec>::validate(self)?;
        let (species, targets) = (ctx.n_species, ctx.target_stats.len());
        geobatch_nn::trainer!(ctx, |B, device| SchNet::<B>::new(
            self, species, targets, ctx.seed, device
        ))
    }
}

#[geobatch_core::plugin(
    name = "schnet",
    summary = "SchNet as a potential: the energy of the positions (filters faded by a cosine envelope at the graph's radius), forces as its negative gradient, stress as its strain derivative",
    example = "latent = 64\nsteps = 3\n"
)]
impl ModelSpec<Potential> for SchNetSpec {
    fn validate(&self) -> Result<()> {
        <Self as ModelSpec>::validate(self)
    }

    fn step_memory(&self) -> Option<geobatch_core::step_memory::StepMemory> {
        <Self as ModelSpec>::step_memory(self)
    }

    fn build(&self, ctx: &PotentialContext) -> Result<Box<dyn Trainer<Potential>>> {
        <Self as ModelSpec>::validate(self)?;
        let m = &ctx.model;
        let (species, targets) = (m.n_species, m.target_stats.len());
        geobatch_nn::potential_trainer!(ctx, |B, device| SchNet::<B>::new(
            self, species, targets, m.seed, device
        ))
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
