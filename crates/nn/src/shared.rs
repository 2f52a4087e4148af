//! A step shared between batches and ranks (DESIGN.md §17): the gradient of each of this rank's
//! batches is added into one flat buffer of every trainable parameter (f64, in the model's
//! parameter order), the buffer is summed over the world's ranks, divided by the step's batch
//! count, and handed back to the optimiser as the step's gradients. One process taking all of a
//! step's batches and W ranks taking one each thus make the same update.

use crate::trainer::Objective;
use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use geobatch_core::{EngineOptions, Error, GraphBatch, Result, StepStats, World};
use std::marker::PhantomData;
use std::time::Instant;

/// Adds the gradients in `grads` into `sum`, parameter after parameter (zeros for a trainable
/// parameter the batch did not reach), growing `sum` on first use.
struct Add<'a, B> {
    grads: &'a mut GradientsParams,
    sum: &'a mut Vec<f64>,
    at: usize,
    backend: PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Add<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let tensor = param.val();
        if !tensor.is_require_grad() {
            return;
        }
        let n = tensor.shape().num_elements();
        if self.sum.len() < self.at + n {
            self.sum.resize(self.at + n, 0.0);
        }
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let values = g.into_data().convert::<f32>().into_vec::<f32>();
            for (s, v) in self.sum[self.at..self.at + n]
                .iter_mut()
                .zip(values.unwrap_or_default())
            {
                *s += f64::from(v);
            }
        }
        self.at += n;
    }
}

/// Makes the optimiser's gradients from `sum` (laid out as [`Add`] lays it out), each value
/// times `scale`.
struct Restore<'a, B: AutodiffBackend> {
    sum: &'a [f64],
    scale: f64,
    at: usize,
    grads: GradientsParams,
    device: &'a B::Device,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Restore<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let tensor = param.val();
        if !tensor.is_require_grad() {
            return;
        }
        let shape = tensor.shape();
        let n = shape.num_elements();
        let values: Vec<f32> = self.sum[self.at..self.at + n]
            .iter()
            .map(|v| (v * self.scale) as f32)
            .collect();
        self.at += n;
        let g =
            Tensor::<B::InnerBackend, D>::from_data(TensorData::new(values, shape), self.device);
        self.grads.register::<B::InnerBackend, D>(param.id, g);
    }
}

/// The gradients of a shared step, as they are added batch by batch.
#[derive(Debug, Default)]
pub struct SharedGradients {
    sum: Vec<f64>,
    loss: f64,
    batches: usize,
}

impl SharedGradients {
    /// Adds one batch's gradients (taken from `grads`) and loss.
    pub fn add<B: AutodiffBackend, M: AutodiffModule<B>>(
        &mut self,
        model: &M,
        mut grads: GradientsParams,
        loss: f32,
    ) {
        let mut add = Add::<B> {
            grads: &mut grads,
            sum: &mut self.sum,
            at: 0,
            backend: PhantomData,
        };
        model.visit(&mut add);
        self.loss += f64::from(loss);
        self.batches += 1;
    }

    /// Sums what every rank added over `world` and returns the step's gradients (the mean over
    /// every batch of the step) and its loss (the same mean), equal on every rank.
    pub fn reduce<B: AutodiffBackend, M: AutodiffModule<B>>(
        mut self,
        model: &M,
        world: &dyn World,
        device: &B::Device,
    ) -> Result<(GradientsParams, f32)> {
        self.sum.push(self.loss);
        self.sum.push(self.batches as f64);
        world.sum(&mut self.sum)?;
        let (Some(batches), Some(loss)) = (self.sum.pop(), self.sum.pop()) else {
            return Err(Error::invalid("a shared step without batches"));
        };
        if batches < 1.0 {
            return Err(Error::invalid("a shared step without batches"));
        }
        let mut restore = Restore::<B> {
            sum: &self.sum,
            scale: 1.0 / batches,
            at: 0,
            grads: GradientsParams::new(),
            device,
        };
        model.visit(&mut restore);
        if restore.at != self.sum.len() {
            return Err(Error::invalid(format!(
                "the ranks' gradients hold {} values, this model {}: ranks training different models",
                self.sum.len(),
                restore.at
            )));
        }
        Ok((restore.grads, (loss / batches) as f32))
    }
}

/// What a shared step works with: the task's objective on its device and engine variant.
pub(crate) struct StepParts<'a, B: AutodiffBackend, O> {
    /// The task's loss and inputs.
    pub objective: &'a O,
    /// The device the step runs on.
    pub device: &'a B::Device,
    /// The engine variant.
    pub engine: &'a EngineOptions,
}

fn ns(a: Instant) -> u64 {
    a.elapsed().as_nanos() as u64
}

/// One update of `model` on this rank's `batches` of a step shared over `world` (see the module
/// docs), timed by phases summed over the batches; the optimiser's phase holds the sum over
/// ranks. The model comes back whatever happens, so a failed step leaves the trainer whole.
pub(crate) fn shared_update<B, M, O, Opt>(
    model: M,
    optim: &mut Opt,
    lr: f64,
    parts: &StepParts<'_, B, O>,
    batches: &[&GraphBatch],
    world: &dyn World,
) -> (M, Result<StepStats>)
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O: Objective<B, M>,
    Opt: Optimizer<M, B>,
{
    let (mut transfer, mut forward, mut backward) = (0, 0, 0);
    let mut shared = SharedGradients::default();
    for batch in batches {
        let t = Instant::now();
        let inputs = parts.objective.inputs(batch, parts.device, parts.engine);
        let _ = B::sync(parts.device);
        transfer += ns(t);
        let t = Instant::now();
        let loss = parts
            .objective
            .loss(&model, batch, &inputs, parts.device, parts.engine);
        let _ = B::sync(parts.device);
        forward += ns(t);
        let t = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let value: f32 = loss.into_scalar().elem();
        shared.add::<B, M>(&model, grads, value);
        backward += ns(t);
    }
    let t = Instant::now();
    let (grads, loss) = match shared.reduce::<B, M>(&model, world, parts.device) {
        Ok(reduced) => reduced,
        Err(e) => return (model, Err(e)),
    };
    let model = optim.step(lr, model, grads);
    let _ = B::sync(parts.device);
    let stats = StepStats {
        loss,
        transfer_ns: transfer,
        forward_ns: Some(forward),
        backward_ns: Some(backward),
        optimizer_ns: Some(ns(t)),
    };
    (model, Ok(stats))
}
