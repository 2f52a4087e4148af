//! Message means (SchNet's and MPEU's messages) as geobatch's kernels over the edges' groupings
//! (`training.engine.messages = "fused"`), on CubeCL's backends with and without fusion.
//!
//! * Forward: one thread an output element (node r, column c) gathers, multiplies and adds r's
//!   incoming edges in order, then scales by `1 / max(in-degree, 1)`: the `[E, C]` gather and
//!   product burn's operations write are never written.
//! * Backward: the weight gradient one thread an edge element, and the input gradient one thread
//!   a node element adding its outgoing edges over the senders' grouping: no atomics, the same
//!   bits every run, and the same order of additions as the composed operations over the CSR sums.

use super::{Cube, Fused};
use crate::fused::{EdgeIndex, FusedOps, message_mean_backward_composed, message_mean_composed};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_cubecl::CubeRuntime;
use burn_cubecl::fusion::FusionCubeRuntime;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::{FusionRuntime, FusionTensor};
use burn_ir::{CustomOpIr, HandleContainer, OperationIr, TensorIr};
use cubecl::{CubeDim, calculate_cube_count_elemwise};
use std::marker::PhantomData;

/// The CubeCL kernels (cubecl's own `Tensor` type, apart from burn's).
mod kernels {
    use cubecl::prelude::*;

    /// Sums of gathered products over a grouping: output element (v, c) is
    /// `sum_j w[e_j, c] * table[index[e_j], c]` over v's edges `e_j` (`order[j]`, or `j` itself
    /// when the edges are sorted by v), for `j` in `offsets[v]..offsets[v + 1]`, times `inv[v]`
    /// when `scaled`. The message mean is this over the receivers' grouping (table `x`, index
    /// the senders, scaled); its input gradient over the senders' grouping (table `g * inv`,
    /// index the receivers).
    #[cube(launch)]
    pub fn gathered_sum_kernel(
        w: &Tensor<f32>,
        table: &Tensor<f32>,
        index: &Tensor<i32>,
        inv: &Tensor<f32>,
        order: &Tensor<i32>,
        offsets: &Tensor<i32>,
        output: &mut Tensor<f32>,
        #[comptime] ordered: bool,
        #[comptime] scaled: bool,
    ) {
        let width = output.shape(1);
        if ABSOLUTE_POS >= output.shape(0) * width {
            terminate!();
        }
        let node = ABSOLUTE_POS / width;
        let column = ABSOLUTE_POS % width;
        let start = usize::cast_from(offsets[node * offsets.stride(0)]);
        let end = usize::cast_from(offsets[(node + 1) * offsets.stride(0)]);
        let mut acc = 0.0f32;
        for j in start..end {
            let mut edge = j;
            if ordered {
                edge = usize::cast_from(order[j * order.stride(0)]);
            }
            let row = usize::cast_from(index[edge * index.stride(0)]);
            acc += w[edge * w.stride(0) + column * w.stride(1)]
                * table[row * table.stride(0) + column * table.stride(1)];
        }
        if scaled {
            acc *= inv[node * inv.stride(0)];
        }
        output[node * output.stride(0) + column * output.stride(1)] = acc;
    }

    /// The weight gradient of a message mean, one thread an element:
    /// `dw[e, c] = gs[r, c] * x[s, c]` for the edge's receiver r and sender s (`gs = g * inv`).
    #[cube(launch)]
    pub fn message_weight_grad_kernel(
        gs: &Tensor<f32>,
        x: &Tensor<f32>,
        senders: &Tensor<i32>,
        receivers: &Tensor<i32>,
        dw: &mut Tensor<f32>,
    ) {
        let width = dw.shape(1);
        if ABSOLUTE_POS >= dw.shape(0) * width {
            terminate!();
        }
        let edge = ABSOLUTE_POS / width;
        let column = ABSOLUTE_POS % width;
        let sender = usize::cast_from(senders[edge * senders.stride(0)]);
        let receiver = usize::cast_from(receivers[edge * receivers.stride(0)]);
        dw[edge * dw.stride(0) + column * dw.stride(1)] = gs
            [receiver * gs.stride(0) + column * gs.stride(1)]
            * x[sender * x.stride(0) + column * x.stride(1)];
    }
}

/// Which kernel a launch runs. Its inputs, in order (`gs = g * inv`, the output gradient over
/// the in-degrees):
/// * [`Kernel::Mean`]: `w`, `x`, senders, `inv`, the receivers' offsets (and order);
/// * [`Kernel::InputGrad`]: `w`, `gs`, receivers, `inv` (not read), the senders' offsets (and
///   order);
/// * [`Kernel::WeightGrad`]: `gs`, `x`, senders, receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernel {
    /// The message mean.
    Mean,
    /// Its input gradient.
    InputGrad,
    /// Its weight gradient.
    WeightGrad,
}

impl Kernel {
    /// Whether input `i` is an integer tensor.
    fn int_input(self, i: usize) -> bool {
        match self {
            Kernel::Mean | Kernel::InputGrad => matches!(i, 2 | 4 | 5),
            Kernel::WeightGrad => matches!(i, 2 | 3),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kernel::Mean => "geobatch_message_mean",
            Kernel::InputGrad => "geobatch_message_input_grad",
            Kernel::WeightGrad => "geobatch_message_weight_grad",
        }
    }
}

/// Runs `kernel` on CubeCL tensors (the inputs as [`Kernel`] lists them), bounds-checked: a
/// grouping that does not fit its rows reads zeros, it cannot touch memory outside the tensors.
fn launch<R: CubeRuntime>(kernel: Kernel, inputs: Vec<CubeTensor<R>>) -> CubeTensor<R> {
    let inputs: Vec<CubeTensor<R>> = inputs.into_iter().map(into_contiguous).collect();
    let c = inputs[0].meta.shape()[1];
    let rows = match kernel {
        // one row a segment: the offsets have one entry more
        Kernel::Mean | Kernel::InputGrad => inputs[4].meta.shape()[0].saturating_sub(1),
        Kernel::WeightGrad => inputs[2].meta.shape()[0],
    };
    let output = empty_device_dtype(
        inputs[0].client.clone(),
        inputs[0].device.clone(),
        Shape::new([rows, c]),
        DType::F32,
    );
    let units = rows * c;
    if units == 0 {
        return output;
    }
    let client = output.client.clone();
    let cube_dim = CubeDim::new(&client, units);
    let count = calculate_cube_count_elemwise(&client, units, cube_dim);
    let arg = |i: usize| inputs[i].clone().into_tensor_arg();
    let out = output.clone().into_tensor_arg();
    match kernel {
        Kernel::WeightGrad => kernels::message_weight_grad_kernel::launch::<R>(
            &client,
            count,
            cube_dim,
            arg(0),
            arg(1),
            arg(2),
            arg(3),
            out,
        ),
        Kernel::Mean | Kernel::InputGrad => {
            // without an order the offsets stand in for it (never read)
            let ordered = inputs.len() > 5;
            let order = arg(if ordered { 5 } else { 4 });
            kernels::gathered_sum_kernel::launch::<R>(
                &client,
                count,
                cube_dim,
                arg(0),
                arg(1),
                arg(2),
                arg(3),
                order,
                arg(4),
                out,
                ordered,
                kernel == Kernel::Mean,
            )
        }
    }
    output
}

/// A [`Kernel`] as an operation of a fusion stream: the stream runs it on the inner backend's
/// tensors, and fusion carries on around it.
#[derive(Debug)]
struct KernelOp<R: CubeRuntime> {
    desc: CustomOpIr,
    kernel: Kernel,
    _runtime: PhantomData<R>,
}

impl<R: CubeRuntime> Operation<FusionCubeRuntime<R>> for KernelOp<R> {
    fn execute(
        &self,
        handles: &mut HandleContainer<<FusionCubeRuntime<R> as FusionRuntime>::FusionHandle>,
    ) {
        let inputs = self
            .desc
            .inputs
            .iter()
            .enumerate()
            .map(|(i, ir)| {
                if self.kernel.int_input(i) {
                    handles.get_int_tensor::<Cube<R>>(ir)
                } else {
                    handles.get_float_tensor::<Cube<R>>(ir)
                }
            })
            .collect();
        let out = launch::<R>(self.kernel, inputs);
        handles.register_float_tensor::<Cube<R>>(&self.desc.outputs[0].id, out);
    }
}

/// The CubeCL backends' way of running a [`Kernel`] (their float and integer tensors are one
/// type).
pub(super) trait Launch: FusedOps {
    /// Runs `kernel` on `inputs`.
    fn run(kernel: Kernel, inputs: Vec<FloatTensor<Self>>) -> FloatTensor<Self>;
    /// An integer tensor as the input type of [`Launch::run`].
    fn int(t: burn::tensor::ops::IntTensor<Self>) -> FloatTensor<Self>;
}

impl<R: CubeRuntime> Launch for Cube<R> {
    fn run(kernel: Kernel, inputs: Vec<CubeTensor<R>>) -> CubeTensor<R> {
        launch::<R>(kernel, inputs)
    }

    fn int(t: CubeTensor<R>) -> CubeTensor<R> {
        t
    }
}

impl<R: CubeRuntime> Launch for Fused<R> {
    fn run(
        kernel: Kernel,
        inputs: Vec<FusionTensor<FusionCubeRuntime<R>>>,
    ) -> FusionTensor<FusionCubeRuntime<R>> {
        let client = inputs[0].client.clone();
        let c = inputs[0].shape()[1];
        let rows = match kernel {
            Kernel::Mean | Kernel::InputGrad => inputs[4].shape()[0].saturating_sub(1),
            Kernel::WeightGrad => inputs[2].shape()[0],
        };
        let streams = OperationStreams::with_inputs(&inputs);
        let out = TensorIr::uninit(
            client.create_empty_handle(),
            Shape::new([rows, c]),
            DType::F32,
        );
        let irs: Vec<TensorIr> = inputs.into_iter().map(FusionTensor::into_ir).collect();
        let desc = CustomOpIr::new(kernel.name(), &irs, &[out]);
        let op = KernelOp::<R> {
            desc: desc.clone(),
            kernel,
            _runtime: PhantomData,
        };
        client
            .register(streams, OperationIr::Custom(desc), op)
            .remove(0)
    }

    fn int(t: FusionTensor<FusionCubeRuntime<R>>) -> FusionTensor<FusionCubeRuntime<R>> {
        t
    }
}

/// [`FusedOps::message_mean`] by [`Kernel::Mean`] over the receivers' grouping, composed where
/// the receivers carry none.
pub(super) fn mean<B: Launch>(
    w: FloatTensor<B>,
    x: FloatTensor<B>,
    senders: EdgeIndex<B>,
    receivers: EdgeIndex<B>,
    inv: FloatTensor<B>,
) -> FloatTensor<B> {
    let Some((order, offsets)) = receivers.grouping.clone() else {
        return message_mean_composed::<B>(w, x, senders, receivers, inv);
    };
    let mut inputs = vec![w, x, B::int(senders.index), inv, B::int(offsets)];
    inputs.extend(order.map(B::int));
    B::run(Kernel::Mean, inputs)
}

/// [`FusedOps::message_mean_backward`]: `dw` by [`Kernel::WeightGrad`], `dx` by
/// [`Kernel::InputGrad`] over the senders' grouping; composed where the senders carry none.
pub(super) fn mean_backward<B: Launch>(
    g: FloatTensor<B>,
    w: FloatTensor<B>,
    x: FloatTensor<B>,
    senders: EdgeIndex<B>,
    receivers: EdgeIndex<B>,
    inv: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let Some((order, offsets)) = senders.grouping.clone() else {
        return message_mean_backward_composed::<B>(g, w, x, senders, receivers, inv);
    };
    let gs = B::float_mul(g, inv.clone());
    let dw = B::run(
        Kernel::WeightGrad,
        vec![
            gs.clone(),
            x,
            B::int(senders.index),
            B::int(receivers.index.clone()),
        ],
    );
    let mut inputs = vec![w, gs, B::int(receivers.index), inv, B::int(offsets)];
    inputs.extend(order.map(B::int));
    (dw, B::run(Kernel::InputGrad, inputs))
}
