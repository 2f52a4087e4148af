//! Checks every graph model's tests share (test support: behind the `checks` feature, which only
//! the model plugins' dev-dependencies turn on; a potential's are `crate::potential::checks`).

use crate::BatchInputs;
use crate::backend::CpuAutodiff;
use crate::layers::Dense;
use crate::trainer::{GraphRegressor, masked_mse};
use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use geobatch_core::{GraphBatch, GraphSet, Plan, Shape, TargetStats};

fn values<B: Backend>(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec()
        .expect("f32 values")
}

/// Asserts that the gradient of the masked MSE by a model's species embedding matches central
/// finite differences, every weight within 2% relative or 3e-5 absolute (the f32 loss's noise),
/// on the first three graphs of `set` in a padded batch (20 nodes, 30 edges and 3 graphs of
/// padding; targets standardised by the set's statistics). `make` builds the model for a number
/// of species classes the same way every call (seeded); `embedding` reaches its embedding layer.
///
/// # Panics
/// When a weight's gradient is off.
pub fn assert_embedding_gradient<M>(
    set: &GraphSet,
    make: impl Fn(usize) -> M,
    embedding: impl Fn(&mut M) -> &mut Dense<CpuAutodiff>,
) where
    M: GraphRegressor<CpuAutodiff>,
{
    let mut plan = Plan::default();
    for g in 0..3 {
        plan.push(g, set.sizes()[g as usize]);
    }
    let r = plan.real;
    plan.padded = Shape::new(r.nodes + 20, r.edges + 30, r.graphs + 3);
    let mut batch = GraphBatch::new();
    batch.collate(set, &plan).expect("a valid plan collates");
    let (batch, stats) = (&batch, &TargetStats::of(set)[..]);
    let make = || make(set.species_classes().len());
    let device = Default::default();
    let inputs = BatchInputs::<CpuAutodiff>::new(batch, stats, &device, &Default::default());
    let mut model = make();
    let weight = embedding(&mut model).weight.val();
    let (w0, dims) = (values(weight.clone()), weight.dims());
    let loss_with = |w: &[f32]| -> f64 {
        let mut m = make();
        embedding(&mut m).weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(w.to_vec(), dims),
            &device,
        ));
        let l: f32 = masked_mse(m.forward(&inputs), &inputs).into_scalar();
        f64::from(l)
    };
    let grads = masked_mse(model.forward(&inputs), &inputs).backward();
    let g = values(
        embedding(&mut model)
            .weight
            .grad(&grads)
            .expect("a gradient of the embedding"),
    );
    for i in 0..w0.len() {
        let h = 5e-3f32;
        let (mut up, mut down) = (w0.clone(), w0.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (loss_with(&up) - loss_with(&down)) / (f64::from(up[i]) - f64::from(down[i]));
        let a = f64::from(g[i]);
        let tol = 2e-2 * numeric.abs().max(a.abs()) + 3e-5;
        assert!(
            (a - numeric).abs() <= tol,
            "embedding[{i}]: analytic {a} vs numeric {numeric}"
        );
    }
}
