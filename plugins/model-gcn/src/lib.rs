//! Node classifiers for node-level tasks: `gcn` and `sage` (GraphSAGE with mean aggregation),
//! trained with Adam (optional L2 weight decay) on the output nodes of each batch.

pub mod net;

use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig};
use burn::tensor::ElementConversion;
use burn::tensor::backend::AutodiffBackend;
use geobatch_core::{Error, Learner, ModelSpec, Result, StepStats, Trainer, plugin_options};
use geobatch_nn::backend::{DeviceKind, parse_device};
use geobatch_nn::fused::FusedOps;
use geobatch_nn::state::TrainState;
use geobatch_nn::trainer::timed_update;
use geobatch_node::{NodeBatch, NodeLevel, NodeModelContext, NodePredictions};
use net::{NodeInputs, NodeNet, nll};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Options shared by both models.
#[plugin_options]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeNetSpec {
    /// Hidden width.
    #[option(ty = "integer", default = 256, doc = "hidden width")]
    pub hidden: usize,
    /// Message-passing layers.
    #[option(ty = "integer", default = 3, doc = "message-passing layers")]
    pub layers: usize,
    /// Dropout probability after every block.
    #[option(ty = "float", default = 0.5, doc = "dropout after every block")]
    pub dropout: f64,
    /// LayerNorm after every conv (the IBMB architecture).
    #[option(ty = "bool", default = true, doc = "LayerNorm after every conv")]
    pub layer_norm: bool,
    /// Dropout probability on the input features (0: none; Kipf & Welling's GCN uses 0.5).
    #[serde(default)]
    #[option(ty = "float", doc = "dropout on the input features")]
    pub input_dropout: f64,
}

impl NodeNetSpec {
    fn validate(&self) -> Result<()> {
        if self.hidden == 0 || self.layers == 0 {
            return Err(Error::invalid("hidden and layers must be at least 1"));
        }
        // per edge: the messages of every layer (node features are counted as edges too)
        let (h, l) = (self.hidden as f64, self.layers as f64);
        geobatch_nn::sizes::check_memory(
            &format!(
                "model.hidden = {}, model.layers = {}",
                self.hidden, self.layers
            ),
            l * h * h,
            2.0 * l * h,
        )?;
        for (name, p) in [
            ("dropout", self.dropout),
            ("input_dropout", self.input_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::invalid(format!("{name} = {p}: must lie in [0, 1)")));
            }
        }
        Ok(())
    }

    /// The network and its trainer on the autodiff backend `B`.
    fn trainer<B: AutodiffBackend + FusedOps>(
        &self,
        sage: bool,
        ctx: &NodeModelContext,
        device: B::Device,
    ) -> Box<dyn Trainer<NodeLevel>>
    where
        B::InnerBackend: FusedOps,
        B::Device: Send,
    {
        let net = NodeNet::<B>::new(
            sage,
            ctx.n_features,
            self.hidden,
            self.layers,
            ctx.n_classes,
            self.layer_norm,
            self.dropout,
            self.input_dropout,
            ctx.seed,
            &device,
        );
        Box::new(GcnTrainer::<B>::new(net, ctx, device))
    }

    fn build(&self, sage: bool, ctx: &NodeModelContext) -> Result<Box<dyn Trainer<NodeLevel>>> {
        self.validate()?;
        if ctx.n_features == 0 {
            return Err(Error::invalid(
                "the graph has no node features: GCN and SAGE need at least one",
            ));
        }
        if ctx.n_classes < 2 {
            return Err(Error::invalid(format!(
                "{} classes: a classifier needs at least 2",
                ctx.n_classes
            )));
        }
        match parse_device(&ctx.device).map_err(Error::invalid)? {
            DeviceKind::Cpu => Ok(self.trainer::<geobatch_nn::backend::CpuAutodiff>(
                sage,
                ctx,
                Default::default(),
            )),
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda(i) => {
                let device = geobatch_nn::backend::cuda_device(i).map_err(Error::invalid)?;
                Ok(self.trainer::<geobatch_nn::backend::GpuAutodiff>(sage, ctx, device))
            }
            #[cfg(not(feature = "cuda"))]
            DeviceKind::Cuda(_) => Err(Error::invalid(
                "this geobatch was built without the `cuda` feature",
            )),
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => {
                let device = geobatch_nn::backend::wgpu_device().map_err(Error::invalid)?;
                Ok(self.trainer::<geobatch_nn::backend::WgpuAutodiff>(sage, ctx, device))
            }
            #[cfg(not(feature = "wgpu"))]
            DeviceKind::Wgpu => Err(Error::invalid(
                "this geobatch was built without the `wgpu` feature",
            )),
        }
    }
}

/// `gcn`: graph convolution with the full-graph `D⁻¹A` sliced to the batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GcnSpec {
    /// Architecture.
    pub net: NodeNetSpec,
}

#[geobatch_core::plugin(
    name = "gcn",
    summary = "GCN node classifier (full-graph D^-1 A sliced to the batch; conv, LayerNorm, ReLU, dropout; linear head)",
    example = "hidden = 64\nlayers = 2\ndropout = 0.5\nlayer_norm = false\n",
    options = NodeNetSpec::OPTIONS
)]
impl ModelSpec<NodeLevel> for GcnSpec {
    fn validate(&self) -> Result<()> {
        self.net.validate()
    }
    fn layers(&self) -> Option<usize> {
        Some(self.net.layers)
    }
    fn build(&self, ctx: &NodeModelContext) -> Result<Box<dyn Trainer<NodeLevel>>> {
        self.net.build(false, ctx)
    }
}

/// `sage`: GraphSAGE with mean aggregation over in-batch neighbours and a root term.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SageSpec {
    /// Architecture.
    pub net: NodeNetSpec,
}

#[geobatch_core::plugin(
    name = "sage",
    summary = "GraphSAGE-mean node classifier (mean over in-batch neighbours plus a root term)",
    example = "hidden = 64\nlayers = 2\n",
    options = NodeNetSpec::OPTIONS
)]
impl ModelSpec<NodeLevel> for SageSpec {
    fn validate(&self) -> Result<()> {
        self.net.validate()
    }
    fn layers(&self) -> Option<usize> {
        Some(self.net.layers)
    }
    fn build(&self, ctx: &NodeModelContext) -> Result<Box<dyn Trainer<NodeLevel>>> {
        self.net.build(true, ctx)
    }
}

/// Trains a [`NodeNet`] on an autodiff backend.
pub struct GcnTrainer<B: AutodiffBackend> {
    state: TrainState<NodeNet<B>, OptimizerAdaptor<Adam, NodeNet<B>, B>>,
    weight_decay: f64,
    lr: f64,
    seed: u64,
    device: B::Device,
    params: usize,
}

/// Adam, with L2 weight decay when `weight_decay > 0`.
fn adam<B: AutodiffBackend>(weight_decay: f64) -> OptimizerAdaptor<Adam, NodeNet<B>, B> {
    AdamConfig::new()
        .with_weight_decay(
            (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)),
        )
        .init::<B, NodeNet<B>>()
}

impl<B: AutodiffBackend> GcnTrainer<B> {
    /// A trainer for `model` with the context's optimiser.
    pub fn new(model: NodeNet<B>, ctx: &NodeModelContext, device: B::Device) -> Self {
        GcnTrainer {
            params: model.num_params(),
            state: TrainState::new(model, adam::<B>(ctx.optimizer.weight_decay)),
            weight_decay: ctx.optimizer.weight_decay,
            lr: ctx.optimizer.learning_rate,
            seed: ctx.seed,
            device,
        }
    }
}

/// The seed of step `step`'s random draws (dropout): a function of the run's seed and the step
/// only, so a resumed run draws what the uninterrupted one drew.
fn step_seed(seed: u64, step: u64) -> u64 {
    // SplitMix64's finaliser over the pair
    let mut z = seed ^ step.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<B: AutodiffBackend + FusedOps> Learner<NodeBatch> for GcnTrainer<B>
where
    B::InnerBackend: FusedOps,
    B::Device: Send,
{
    fn train_step(&mut self, batch: &NodeBatch, step: u64) -> Result<StepStats> {
        let model = self.state.take()?;
        B::seed(&self.device, step_seed(self.seed, step));
        let (model, stats) = timed_update(
            model,
            &mut self.state.optim,
            self.lr,
            &self.device,
            || NodeInputs::<B>::new(batch, &self.device),
            |model, inputs| nll(model.forward(inputs), inputs),
        );
        self.state.put(model);
        Ok(stats)
    }

    fn parameter_count(&self) -> usize {
        self.params
    }

    fn save(&self, dir: &Path) -> Result<()> {
        self.state.save::<B>(dir)
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let fresh = adam::<B>(self.weight_decay);
        self.state.load::<B>(dir, fresh, &self.device)
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.lr = lr;
        Ok(())
    }

    fn keep_best(&mut self) -> Result<()> {
        self.state.keep_best()
    }

    fn restore_best(&mut self) -> Result<bool> {
        Ok(self.state.restore_best())
    }
}

impl<B: AutodiffBackend + FusedOps> Trainer<NodeLevel> for GcnTrainer<B>
where
    B::InnerBackend: FusedOps,
    B::Device: Send,
{
    fn predict(&mut self, batch: &NodeBatch, out: &mut NodePredictions) -> Result<()> {
        let model = self.state.model()?.valid();
        let inputs = NodeInputs::<B::InnerBackend>::new(batch, &self.device);
        let logp = model.forward(&inputs);
        let loss: f32 = nll(logp.clone(), &inputs).into_scalar().elem();
        let best: Vec<i64> = logp
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .into_vec()
            .map_err(|e| Error::invalid(format!("{e:?}")))?;
        out.classes.clear();
        out.classes.extend(best.into_iter().map(|c| c as u32));
        // a batch without labelled outputs adds nothing (its mean over none is not a number)
        out.nll = if inputs.n_labelled == 0 {
            0.0
        } else {
            f64::from(loss) * inputs.n_labelled as f64
        };
        Ok(())
    }
}

/// Referenced by `geobatch-catalog` so the linker keeps this crate's plugin registrations.
pub fn link() {}
