//! The one trainer of every graph-level task ([`ModelTrainer`]): Adam with the staircase learning
//! rate, the timed update, checkpoints and the best parameters, with the task's [`Objective`]:
//! [`Regression`] (MSE of standardised targets over real graphs, predictions in target units)
//! here, the potential's in `crate::potential`.

use crate::fused::FusedOps;
use crate::inputs::BatchInputs;
use crate::state::TrainState;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use geobatch_core::engine::Upload;
use geobatch_core::{
    EngineOptions, Error, GraphBatch, Learner, OptimizerSpec, Result, Staged, Stager, StepStats,
    TargetStats, Trainer, World,
};
use std::path::Path;
use std::time::Instant;

/// A model that maps a padded batch to standardised predictions `[G, T]`.
pub trait GraphRegressor<B: Backend> {
    /// Per-graph predictions of standardised targets, `[G, T]` (padding rows are ignored).
    fn forward(&self, inputs: &BatchInputs<B>) -> Tensor<B, 2>;

    /// A potential with a direct force head (fairchem's option, never the default): its per-graph
    /// energies `[G, 1]` and per-atom forces `[N, 3]` from one forward pass, both in units of
    /// the potential's scale; the forces are then predicted, not the energy's gradient, and no
    /// stress is. `None` (the default): the forces are the energy's negative gradient.
    fn direct_forces(&self, _inputs: &BatchInputs<B>) -> Option<(Tensor<B, 2>, Tensor<B, 2>)> {
        None
    }
}

/// Mean squared error over the real graphs (and every target) of a batch.
pub fn masked_mse<B: Backend>(pred: Tensor<B, 2>, inputs: &BatchInputs<B>) -> Tensor<B, 1> {
    let t = pred.dims()[1];
    let diff = (pred - inputs.targets.clone()) * inputs.mask.clone();
    (diff.clone() * diff)
        .sum()
        .div_scalar((inputs.n_real.max(1) * t) as f64)
}

/// What a task adds to a [`ModelTrainer`]: the loss a step minimises, the device inputs it is
/// computed from (made on the prefetch worker where the objective has a [`Stager`]) and the
/// check a batch passes first. The task's predictions are its `Trainer<T>` impl.
pub trait Objective<B: AutodiffBackend, M>: Send + 'static {
    /// A step's device inputs.
    type Inputs: Send + 'static;

    /// The device inputs of `batch`.
    fn inputs(
        &self,
        batch: &GraphBatch,
        device: &B::Device,
        engine: &EngineOptions,
    ) -> Self::Inputs;

    /// The loss of `batch` for `model` (parameters tracked on `B`): what a step differentiates.
    fn loss(
        &self,
        model: &M,
        batch: &GraphBatch,
        inputs: &Self::Inputs,
        device: &B::Device,
        engine: &EngineOptions,
    ) -> Tensor<B, 1>;

    /// Why `batch` cannot be trained on, if it cannot.
    fn check(&self, _batch: &GraphBatch) -> Result<()> {
        Ok(())
    }

    /// A [`Stager`] making [`Objective::Inputs`] on another thread, where the objective has one.
    fn stager(&self, _device: &B::Device, _engine: &EngineOptions) -> Option<Box<dyn Stager>> {
        None
    }
}

/// The study's objective: MSE of standardised targets over real graphs, predictions in target
/// units.
pub struct Regression {
    stats: Vec<TargetStats>,
}

impl Regression {
    /// The objective of targets standardised by `stats`.
    pub fn new(stats: Vec<TargetStats>) -> Self {
        Regression { stats }
    }
}

impl<B, M> Objective<B, M> for Regression
where
    B: AutodiffBackend + FusedOps,
    B::Device: Send,
    M: GraphRegressor<B>,
{
    type Inputs = BatchInputs<B>;

    fn inputs(
        &self,
        batch: &GraphBatch,
        device: &B::Device,
        engine: &EngineOptions,
    ) -> Self::Inputs {
        BatchInputs::<B>::new(batch, &self.stats, device, engine)
    }

    fn loss(
        &self,
        model: &M,
        _batch: &GraphBatch,
        inputs: &Self::Inputs,
        _device: &B::Device,
        _engine: &EngineOptions,
    ) -> Tensor<B, 1> {
        masked_mse(model.forward(inputs), inputs)
    }

    fn stager(&self, device: &B::Device, engine: &EngineOptions) -> Option<Box<dyn Stager>> {
        (engine.upload == Upload::Worker).then(|| {
            Box::new(InputStager::<B> {
                stats: self.stats.clone(),
                device: device.clone(),
                engine: *engine,
            }) as Box<dyn Stager>
        })
    }
}

/// Trains a module on an autodiff backend for a task: the parts every task shares (Adam with the
/// staircase learning rate, the timed update, checkpoints, the best parameters) and the task's
/// [`Objective`]: [`Regression`] for the study's targets ([`GnnTrainer`]),
/// `crate::potential::PotentialLoss` for a potential.
pub struct ModelTrainer<B: AutodiffBackend, M: AutodiffModule<B>, O> {
    pub(crate) state: TrainState<M, OptimizerAdaptor<Adam, M, B>>,
    spec: OptimizerSpec,
    pub(crate) objective: O,
    pub(crate) device: B::Device,
    pub(crate) engine: EngineOptions,
    params: usize,
}

/// A trainer of the study's per-graph targets.
pub type GnnTrainer<B, M> = ModelTrainer<B, M, Regression>;

impl<B: AutodiffBackend, M: AutodiffModule<B>, O> ModelTrainer<B, M, O> {
    /// A trainer for `model` with the given optimiser, objective and engine variant.
    pub fn new(
        model: M,
        spec: OptimizerSpec,
        objective: O,
        device: B::Device,
        engine: EngineOptions,
    ) -> Self {
        let optim = fresh_optimizer::<B, M>(&spec);
        let params = model.num_params();
        ModelTrainer {
            state: TrainState::new(model, optim),
            spec,
            objective,
            device,
            engine,
            params,
        }
    }

    /// The model being trained.
    pub fn model(&self) -> Option<&M> {
        self.state.model().ok()
    }
}

/// Makes a [`GnnTrainer`]'s device inputs on the prefetch worker (`training.engine.upload =
/// "worker"`): on a GPU the copies run on the worker's own stream while the trainer's step runs
/// on its stream, and each batch is handed over once its copies are done.
struct InputStager<B: Backend> {
    stats: Vec<TargetStats>,
    device: B::Device,
    engine: EngineOptions,
}

impl<B: FusedOps> Stager for InputStager<B>
where
    B::Device: Send,
{
    fn stage(&mut self, batch: &GraphBatch) -> Result<Staged> {
        let inputs = BatchInputs::<B>::new(batch, &self.stats, &self.device, &self.engine);
        B::sync(&self.device).map_err(|e| Error::invalid(format!("device: {e:?}")))?;
        Ok(Staged(Box::new(inputs)))
    }
}

fn ns(a: Instant, b: Instant) -> u64 {
    (b - a).as_nanos() as u64
}

/// One gradient update timed by the protocol's phases, with a device synchronisation after each
/// (a no-op on the CPU): `inputs` copies the host batch to the device, `loss` runs the forward
/// pass; then backward and the optimiser step at learning rate `lr`. Returns the updated model and
/// the step's loss and phase times.
pub fn timed_update<B, M, O, I>(
    model: M,
    optim: &mut O,
    lr: f64,
    device: &B::Device,
    inputs: impl FnOnce() -> I,
    loss: impl FnOnce(&M, &I) -> Tensor<B, 1>,
) -> (M, StepStats)
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    let t0 = Instant::now();
    let inputs = inputs();
    let _ = B::sync(device);
    let t1 = Instant::now();
    let loss = loss(&model, &inputs);
    // on an asynchronous device, wait for the work of each phase before timing it
    let _ = B::sync(device);
    let t2 = Instant::now();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let _ = B::sync(device);
    let t3 = Instant::now();
    let model = optim.step(lr, model, grads);
    let value: f32 = loss.into_scalar().elem();
    let t4 = Instant::now();
    (
        model,
        StepStats {
            loss: value,
            transfer_ns: ns(t0, t1),
            forward_ns: Some(ns(t1, t2)),
            backward_ns: Some(ns(t2, t3)),
            optimizer_ns: Some(ns(t3, t4)),
        },
    )
}

impl<B, M, O> Learner for ModelTrainer<B, M, O>
where
    B: AutodiffBackend,
    B::Device: Send,
    M: AutodiffModule<B> + Send,
    O: Objective<B, M>,
{
    fn train_step(&mut self, batch: &GraphBatch, step: u64) -> Result<StepStats> {
        self.objective.check(batch)?;
        self.update(
            batch,
            |o, device, engine| o.inputs(batch, device, engine),
            step,
        )
    }

    fn stager(&self) -> Option<Box<dyn Stager>> {
        self.objective.stager(&self.device, &self.engine)
    }

    fn train_staged(&mut self, batch: &GraphBatch, staged: Staged, step: u64) -> Result<StepStats> {
        let Ok(inputs) = staged.0.downcast::<O::Inputs>() else {
            return self.train_step(batch, step);
        };
        self.objective.check(batch)?;
        self.update(batch, |_, _, _| *inputs, step)
    }

    fn train_shared(
        &mut self,
        batches: &[&GraphBatch],
        step: u64,
        world: &dyn World,
    ) -> Result<StepStats> {
        for batch in batches {
            self.objective.check(batch)?;
        }
        let model = self.state.take()?;
        let lr = self.spec.learning_rate_at(step);
        let parts = crate::shared::StepParts {
            objective: &self.objective,
            device: &self.device,
            engine: &self.engine,
        };
        let (model, stats) =
            crate::shared::shared_update(model, &mut self.state.optim, lr, &parts, batches, world);
        self.state.put(model);
        stats
    }

    fn parameter_count(&self) -> usize {
        self.params
    }

    fn parameters(&self) -> Result<Vec<geobatch_core::NamedTensor>> {
        Ok(crate::export::parameters(self.state.model()?))
    }

    fn save(&self, dir: &Path) -> Result<()> {
        self.state.save::<B>(dir)
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let fresh = fresh_optimizer::<B, M>(&self.spec);
        self.state.load::<B>(dir, fresh, &self.device)
    }

    fn keep_best(&mut self) -> Result<()> {
        self.state.keep_best()
    }

    fn restore_best(&mut self) -> Result<bool> {
        Ok(self.state.restore_best())
    }
}

impl<B, M, O> ModelTrainer<B, M, O>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O: Objective<B, M>,
{
    /// One timed update on `batch` whose device inputs `inputs` makes (timed as the transfer).
    fn update(
        &mut self,
        batch: &GraphBatch,
        inputs: impl FnOnce(&O, &B::Device, &EngineOptions) -> O::Inputs,
        step: u64,
    ) -> Result<StepStats> {
        let model = self.state.take()?;
        let ModelTrainer {
            state,
            spec,
            objective,
            device,
            engine,
            ..
        } = self;
        let (model, stats) = timed_update(
            model,
            &mut state.optim,
            spec.learning_rate_at(step),
            device,
            || inputs(objective, device, engine),
            |model, inputs| objective.loss(model, batch, inputs, device, engine),
        );
        state.put(model);
        Ok(stats)
    }
}

impl<B, M> Trainer for GnnTrainer<B, M>
where
    B: AutodiffBackend + FusedOps,
    B::InnerBackend: FusedOps,
    B::Device: Send,
    M: AutodiffModule<B> + GraphRegressor<B> + Send,
    M::InnerModule: GraphRegressor<B::InnerBackend>,
{
    fn predict(&mut self, batch: &GraphBatch, out: &mut Vec<f32>) -> Result<()> {
        let model = self.state.model()?.valid();
        let stats = &self.objective.stats;
        let inputs = BatchInputs::<B::InnerBackend>::new(batch, stats, &self.device, &self.engine);
        let pred = model.forward(&inputs);
        let t = pred.dims()[1];
        let values: Vec<f32> = pred
            .into_data()
            .convert::<f32>()
            .into_vec()
            .map_err(|e| Error::invalid(format!("{e:?}")))?;
        out.clear();
        for g in 0..batch.real().graphs {
            for k in 0..t {
                let s = stats[k];
                out.push((f64::from(values[g * t + k]) * s.std + s.mean) as f32);
            }
        }
        Ok(())
    }
}

pub(crate) fn fresh_optimizer<B: AutodiffBackend, M: AutodiffModule<B>>(
    spec: &OptimizerSpec,
) -> OptimizerAdaptor<Adam, M, B> {
    AdamConfig::new()
        .with_beta_1(spec.beta1 as f32)
        .with_beta_2(spec.beta2 as f32)
        .with_epsilon(spec.epsilon as f32)
        .init::<B, M>()
}

/// A boxed [`GnnTrainer`] for a model built by `make` on `device` of the autodiff backend `B`.
pub fn boxed_trainer<B, M>(
    ctx: &geobatch_core::ModelContext,
    device: B::Device,
    make: impl FnOnce(&B::Device) -> M,
) -> Result<Box<dyn Trainer>>
where
    B: AutodiffBackend + FusedOps,
    B::InnerBackend: FusedOps,
    M: AutodiffModule<B> + GraphRegressor<B> + Send + 'static,
    M::InnerModule: GraphRegressor<B::InnerBackend>,
    B::Device: Send,
{
    let model = make(&device);
    Ok(Box::new(GnnTrainer::new(
        model,
        ctx.optimizer.clone(),
        Regression::new(ctx.target_stats.clone()),
        device,
        ctx.engine,
    )))
}

/// A boxed trainer for a model built on the CPU autodiff backend: checks the device named in the
/// context, builds the model with `make` and wraps it in a [`GnnTrainer`].
pub fn cpu_trainer<M>(
    ctx: &geobatch_core::ModelContext,
    make: impl FnOnce(&burn_flex::FlexDevice) -> M,
) -> Result<Box<dyn Trainer>>
where
    M: AutodiffModule<crate::backend::CpuAutodiff>
        + GraphRegressor<crate::backend::CpuAutodiff>
        + Send
        + 'static,
    M::InnerModule: GraphRegressor<crate::backend::Cpu>,
{
    crate::backend::check_device(&ctx.device).map_err(Error::invalid)?;
    boxed_trainer::<crate::backend::CpuAutodiff, M>(ctx, Default::default(), make)
}

/// Builds a model's trainer on the device the [`geobatch_core::ModelContext`] names: `B` is bound
/// to the autodiff backend (CPU; CUDA or wgpu in builds with the `cuda` or `wgpu` feature, fused
/// or not as `training.engine.fusion` says) and `device` to its device, then `make` builds the
/// model.
///
/// ```ignore
/// geobatch_nn::trainer!(ctx, |B, device| SchNet::<B>::new(self, species, targets, ctx.seed, device))
/// ```
#[macro_export]
macro_rules! trainer {
    ($ctx:expr, |$b:ident, $device:ident| $make:expr) => {
        $crate::__on_device!(
            $ctx,
            $ctx,
            [$crate::trainer::boxed_trainer],
            |$b, $device| $make
        )
    };
}

/// [`trainer!`] for a model trained as a potential (`impl ModelSpec<Potential>`): from a
/// `PotentialContext`, a [`crate::potential::ForceTrainer`] trains it on energies, forces and
/// stresses on any device (nested autodiff over the CPU, CUDA or wgpu backend).
#[macro_export]
macro_rules! potential_trainer {
    ($ctx:expr, |$b:ident, $device:ident| $make:expr) => {
        $crate::__on_device!(
            &$ctx.model,
            $ctx,
            [$crate::potential::boxed_potential],
            |$b, $device| { $make }
        )
    };
}

/// The device dispatch of [`trainer!`] and [`potential_trainer!`]: `$boxed` (a path, in
/// brackets) is called with `$ctx` and the autodiff backend of the device that the model
/// context `$on` names.
#[doc(hidden)]
#[macro_export]
macro_rules! __on_device {
    ($on:expr, $ctx:expr, [$($boxed:tt)+], |$b:ident, $device:ident| $make:expr) => {{
        match $crate::backend::parse_device(&$on.device).map_err(geobatch_core::Error::invalid)? {
            $crate::backend::DeviceKind::Cpu => {
                type $b = $crate::backend::CpuAutodiff;
                $($boxed)+::<$b, _>($ctx, Default::default(), |$device| $make)
            }
            $crate::backend::DeviceKind::Cuda(index) => {
                $crate::__cuda_trainer!($on, $ctx, index, [$($boxed)+], |$b, $device| $make)
            }
            $crate::backend::DeviceKind::Wgpu => {
                $crate::__wgpu_trainer!($on, $ctx, [$($boxed)+], |$b, $device| $make)
            }
        }
    }};
}

/// The CUDA arm of [`trainer!`] in builds with the `cuda` feature.
#[cfg(feature = "cuda")]
#[doc(hidden)]
#[macro_export]
macro_rules! __cuda_trainer {
    ($on:expr, $ctx:expr, $index:expr, [$($boxed:tt)+], |$b:ident, $device:ident| $make:expr) => {{
        let device = $crate::backend::cuda_device($index).map_err(geobatch_core::Error::invalid)?;
        if $on.engine.fusion {
            type $b = $crate::backend::GpuFusedAutodiff;
            $($boxed)+::<$b, _>($ctx, device, |$device| $make)
        } else {
            type $b = $crate::backend::GpuAutodiff;
            $($boxed)+::<$b, _>($ctx, device, |$device| $make)
        }
    }};
}

/// The CUDA arm of [`trainer!`] in builds without the `cuda` feature (never reached: the device
/// check refuses CUDA first).
#[cfg(not(feature = "cuda"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __cuda_trainer {
    ($on:expr, $ctx:expr, $index:expr, [$($boxed:tt)+], |$b:ident, $device:ident| $make:expr) => {{
        let _ = $index;
        Err(geobatch_core::Error::invalid(
            "this geobatch was built without the `cuda` feature",
        ))
    }};
}

/// The wgpu arm of [`trainer!`] in builds with the `wgpu` feature.
#[cfg(feature = "wgpu")]
#[doc(hidden)]
#[macro_export]
macro_rules! __wgpu_trainer {
    ($on:expr, $ctx:expr, [$($boxed:tt)+], |$b:ident, $device:ident| $make:expr) => {{
        let device = $crate::backend::wgpu_device().map_err(geobatch_core::Error::invalid)?;
        if $on.engine.fusion {
            type $b = $crate::backend::WgpuFusedAutodiff;
            $($boxed)+::<$b, _>($ctx, device, |$device| $make)
        } else {
            type $b = $crate::backend::WgpuAutodiff;
            $($boxed)+::<$b, _>($ctx, device, |$device| $make)
        }
    }};
}

/// The wgpu arm of [`trainer!`] in builds without the `wgpu` feature (never reached: the device
/// check refuses wgpu first).
#[cfg(not(feature = "wgpu"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __wgpu_trainer {
    ($on:expr, $ctx:expr, [$($boxed:tt)+], |$b:ident, $device:ident| $make:expr) => {{
        Err(geobatch_core::Error::invalid(
            "this geobatch was built without the `wgpu` feature",
        ))
    }};
}
