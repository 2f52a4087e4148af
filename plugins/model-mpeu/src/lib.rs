//! The `mpeu` model: message passing with edge updates (Jorgensen et al. 2018) as the study
//! defines it (spec §3.1, §3.3).
//!
//! Inputs as SchNet (one-hot -> Linear(C); 150 Gaussians with the exponent divided by delta). For
//! each of T steps, with its own weights:
//! * edge update: e <- [Linear(2C) -> ssp -> Linear(C)](concat(h_sender, h_receiver, e)), input
//!   width 2C + 150 in step 1 and 3C afterwards, the last layer linear;
//! * message: m = [Linear(C) -> ssp -> Linear(C) -> ssp](e) * Linear(C)(h_sender);
//! * node update: h <- h + [Linear(C) -> ssp -> Linear(C)](mean of m over incoming edges).
//!
//! Readout as SchNet. No biases.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use geobatch_core::{ModelContext, ModelSpec, Result, Trainer, plugin_options};
use geobatch_nn::fused::FusedOps;
use geobatch_nn::init::ParamInit;
use geobatch_nn::layers::{Dense, Mlp, matmul, message_mean, pair_gather_add, ssp};
use geobatch_nn::sizes;
use geobatch_nn::{BatchInputs, GraphRegressor};
use serde::{Deserialize, Serialize};

/// Config of MPEU.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpeuSpec {
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

impl Default for MpeuSpec {
    fn default() -> Self {
        MpeuSpec {
            latent: sizes::default_latent(),
            steps: sizes::default_steps(),
            rbf: sizes::default_rbf(),
            rbf_spacing: sizes::default_rbf_spacing(),
        }
    }
}

/// One MPEU step.
#[derive(Module, Debug)]
pub struct Step<B: Backend> {
    /// Edge update network (linear output).
    pub edge: Mlp<B>,
    /// Message network on the edge state (activated output).
    pub message: Mlp<B>,
    /// Linear map of the sender state.
    pub node_in: Dense<B>,
    /// Node update network.
    pub update: Mlp<B>,
}

/// MPEU.
#[derive(Module, Debug)]
pub struct Mpeu<B: Backend> {
    /// One-hot species to latent.
    pub embed: Dense<B>,
    /// The steps.
    pub steps: Vec<Step<B>>,
    /// Per-node readout network.
    pub readout: Mlp<B>,
    /// Number of Gaussians.
    pub rbf: usize,
    /// Gaussian spacing.
    pub delta: f64,
}

impl<B: Backend> Mpeu<B> {
    /// An MPEU for `species` classes and `targets` outputs, initialised from `seed`.
    pub fn new(
        spec: &MpeuSpec,
        species: usize,
        targets: usize,
        seed: u64,
        device: &B::Device,
    ) -> Self {
        let mut init = ParamInit::new(seed);
        let c = spec.latent;
        let embed = Dense::new(&mut init, species, c, device);
        let steps = (0..spec.steps)
            .map(|t| {
                let edge_in = if t == 0 { 2 * c + spec.rbf } else { 3 * c };
                Step {
                    edge: Mlp::new(&mut init, &[edge_in, 2 * c, c], false, device),
                    message: Mlp::new(&mut init, &[c, c, c], true, device),
                    node_in: Dense::new(&mut init, c, c, device),
                    update: Mlp::new(&mut init, &[c, c, c], false, device),
                }
            })
            .collect();
        let readout = Mlp::new(&mut init, &[c, c / 2, targets], false, device);
        Mpeu {
            embed,
            steps,
            readout,
            rbf: spec.rbf,
            delta: spec.rbf_spacing,
        }
    }
}

impl<B: FusedOps> Step<B> {
    /// The edge update `ssp(concat(h_s, h_r, e) W_a) W_b`, with `W_a` split by its rows into the
    /// sender, receiver and edge parts: `e W_e + (h [W_s | W_r])` gathered by sender and receiver
    /// ([`pair_gather_add`]), so the node parts are multiplied once per node, not once per edge,
    /// and no `[E, 2C + _]` concatenation is made.
    fn edge_update(&self, h: &Tensor<B, 2>, e: Tensor<B, 2>, x: &BatchInputs<B>) -> Tensor<B, 2> {
        let [first, second] = [&self.edge.layers[0], &self.edge.layers[1]];
        let w = first.weight.val();
        let [rows, width] = w.dims();
        let c = h.dims()[1];
        let node_part = Tensor::cat(
            vec![
                w.clone().slice([0..c, 0..width]),
                w.clone().slice([c..2 * c, 0..width]),
            ],
            1,
        );
        let z = pair_gather_add(
            matmul(h.clone(), node_part),
            &x.senders,
            &x.receivers,
            matmul(e, w.slice([2 * c..rows, 0..width])),
        );
        second.forward(ssp(z))
    }
}

impl<B: FusedOps> GraphRegressor<B> for Mpeu<B> {
    fn forward(&self, x: &BatchInputs<B>) -> Tensor<B, 2> {
        let mut e = x.rbf(self.rbf, self.delta);
        let mut h = self.embed.embed(x.species.clone());
        for step in &self.steps {
            e = step.edge_update(&h, e, x);
            let agg = message_mean(
                step.message.forward(e.clone()),
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

impl MpeuSpec {
    /// Trainable scalars, counted from the architecture: embedding S*C; edge networks
    /// (2C+K)*2C + 2C*C in step 1 and 3C*2C + 2C*C afterwards; per step the message network 2*C*C,
    /// the sender map C*C and the update 2*C*C; readout C*(C/2) + (C/2)*T.
    pub fn parameter_count(&self, species: usize, targets: usize) -> usize {
        let (c, k, t) = (self.latent, self.rbf, self.steps);
        let edges = (2 * c + k) * 2 * c + 2 * c * c + (t - 1) * (3 * c * 2 * c + 2 * c * c);
        species * c + edges + t * (2 * c * c + c * c + 2 * c * c) + c * (c / 2) + (c / 2) * targets
    }
}

#[geobatch_core::plugin(
    name = "mpeu",
    summary = "MPEU as in the study: edge updates from (h_s, h_r, e), activated message net x sender, mean aggregation, no biases",
    example = "latent = 64\nsteps = 3\n"
)]
impl ModelSpec for MpeuSpec {
    fn validate(&self) -> Result<()> {
        sizes::check_sizes(self.latent, self.steps, self.rbf, self.rbf_spacing)?;
        sizes::check_message_passing_memory(self.latent, self.steps, self.rbf, 6.0, 3.0)
    }

    fn step_memory(&self) -> Option<geobatch_core::step_memory::StepMemory> {
        Some(sizes::message_passing_step_memory(
            self.latent,
            self.steps,
            self.rbf,
            6.0,
            3.0,
        ))
    }

    fn build(&self, ctx: &ModelContext) -> Result<Box<dyn Trainer>> {
        self.validate()?;
        let (species, targets) = (ctx.n_species, ctx.target_stats.len());
        geobatch_nn::trainer!(ctx, |B, device| Mpeu::<B>::new(
            self, species, targets, ctx.seed, device
        ))
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
