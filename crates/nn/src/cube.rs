//! geobatch's operations on burn's CubeCL backends (CUDA, wgpu), with and without kernel fusion.
//!
//! * [`FusedOps`] for [`Cube<R>`](crate::backend::Cube) (one kernel a tensor operation) and
//!   [`Fused<R>`](crate::backend::Fused) (burn's fusion over it), for every CubeCL runtime `R`:
//!   the activations as element-wise chains (which fusion compiles into one kernel), index-adds in
//!   parallel chunks ([`crate::index`]), and sums over a grouping of rows by segment
//!   ([`grouped_sum`]), and message means as one kernel each way over the edges' groupings
//!   (`messages`).
//! * [`grouped_sum`]: one thread per output element adds the rows of its segment, in order (no
//!   atomics, no partial buffers, the same bits every run). Under fusion it is a custom
//!   operation of the fusion stream: the stream runs the kernel on the inner backend's tensors,
//!   and fusion carries on around it.

use crate::backend::{Cube, Fused};
use crate::fused::{EdgeIndex, FusedOps};
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{DType, Shape, Tensor, TensorMetadata, TensorPrimitive};
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

    /// Segment sums over rows sorted by segment: output element (s, c) adds `values[j, c]` for `j` in
    /// `offsets[s]..offsets[s + 1]`.
    #[cube(launch)]
    pub fn sorted_sum_kernel(
        values: &Tensor<f32>,
        offsets: &Tensor<i32>,
        output: &mut Tensor<f32>,
    ) {
        let width = output.shape(1);
        if ABSOLUTE_POS >= output.shape(0) * width {
            terminate!();
        }
        let segment = ABSOLUTE_POS / width;
        let column = ABSOLUTE_POS % width;
        let start = usize::cast_from(offsets[segment * offsets.stride(0)]);
        let end = usize::cast_from(offsets[(segment + 1) * offsets.stride(0)]);
        let mut acc = 0.0f32;
        for row in start..end {
            acc += values[row * values.stride(0) + column * values.stride(1)];
        }
        output[segment * output.stride(0) + column * output.stride(1)] = acc;
    }

    /// Segment sums over rows grouped by `order`: output element (s, c) adds `values[order[j], c]`
    /// for `j` in `offsets[s]..offsets[s + 1]`.
    #[cube(launch)]
    pub fn ordered_sum_kernel(
        values: &Tensor<f32>,
        order: &Tensor<i32>,
        offsets: &Tensor<i32>,
        output: &mut Tensor<f32>,
    ) {
        let width = output.shape(1);
        if ABSOLUTE_POS >= output.shape(0) * width {
            terminate!();
        }
        let segment = ABSOLUTE_POS / width;
        let column = ABSOLUTE_POS % width;
        let start = usize::cast_from(offsets[segment * offsets.stride(0)]);
        let end = usize::cast_from(offsets[(segment + 1) * offsets.stride(0)]);
        let mut acc = 0.0f32;
        for j in start..end {
            let row = usize::cast_from(order[j * order.stride(0)]);
            acc += values[row * values.stride(0) + column * values.stride(1)];
        }
        output[segment * output.stride(0) + column * output.stride(1)] = acc;
    }
}

/// Rows of `values` `[E, C]` summed into `n` segments over their grouping (`order` `[E]` or
/// `None` for rows sorted by segment, `offsets` `[n + 1]`), `[n, C]`: one thread an output
/// element.
pub fn grouped_sum<R: CubeRuntime>(
    values: CubeTensor<R>,
    order: Option<CubeTensor<R>>,
    offsets: CubeTensor<R>,
    n: usize,
) -> CubeTensor<R> {
    let c = values.meta.shape()[1];
    let output = empty_device_dtype(
        values.client.clone(),
        values.device.clone(),
        Shape::new([n, c]),
        DType::F32,
    );
    let units = n * c;
    if units == 0 {
        return output;
    }
    let client = output.client.clone();
    let cube_dim = CubeDim::new(&client, units);
    let cube_count = calculate_cube_count_elemwise(&client, units, cube_dim);
    let (values, offsets) = (into_contiguous(values), into_contiguous(offsets));
    // bounds-checked launches: a grouping that does not fit its rows reads zeros, it cannot
    // touch memory outside the tensors
    match order {
        None => kernels::sorted_sum_kernel::launch::<R>(
            &client,
            cube_count,
            cube_dim,
            values.into_tensor_arg(),
            offsets.into_tensor_arg(),
            output.clone().into_tensor_arg(),
        ),
        Some(order) => kernels::ordered_sum_kernel::launch::<R>(
            &client,
            cube_count,
            cube_dim,
            values.into_tensor_arg(),
            into_contiguous(order).into_tensor_arg(),
            offsets.into_tensor_arg(),
            output.clone().into_tensor_arg(),
        ),
    }
    output
}

/// [`grouped_sum`] as an operation of a fusion stream: inputs `values`, `offsets` (and `order`),
/// output the sums.
#[derive(Debug)]
struct GroupedSumOp<R: CubeRuntime> {
    desc: CustomOpIr,
    n: usize,
    _runtime: PhantomData<R>,
}

impl<R: CubeRuntime> Operation<FusionCubeRuntime<R>> for GroupedSumOp<R> {
    fn execute(
        &self,
        handles: &mut HandleContainer<<FusionCubeRuntime<R> as FusionRuntime>::FusionHandle>,
    ) {
        let (inputs, outputs) = (&self.desc.inputs, &self.desc.outputs);
        let values = handles.get_float_tensor::<Cube<R>>(&inputs[0]);
        let offsets = handles.get_int_tensor::<Cube<R>>(&inputs[1]);
        let order = inputs
            .get(2)
            .map(|ir| handles.get_int_tensor::<Cube<R>>(ir));
        let out = grouped_sum::<R>(values, order, offsets, self.n);
        handles.register_float_tensor::<Cube<R>>(&outputs[0].id, out);
    }
}

/// [`grouped_sum`] on the fused backend: registered in the fusion stream as a custom operation.
fn fused_grouped_sum<R: CubeRuntime>(
    values: FusionTensor<FusionCubeRuntime<R>>,
    order: Option<FusionTensor<FusionCubeRuntime<R>>>,
    offsets: FusionTensor<FusionCubeRuntime<R>>,
    n: usize,
) -> FusionTensor<FusionCubeRuntime<R>> {
    let client = values.client.clone();
    let c = values.shape()[1];
    let streams = OperationStreams::with_inputs([&values, &offsets].into_iter().chain(&order));
    let out = TensorIr::uninit(client.create_empty_handle(), Shape::new([n, c]), DType::F32);
    let mut inputs = vec![values.into_ir(), offsets.into_ir()];
    inputs.extend(order.map(FusionTensor::into_ir));
    let desc = CustomOpIr::new("geobatch_grouped_sum", &inputs, &[out]);
    let op = GroupedSumOp::<R> {
        desc: desc.clone(),
        n,
        _runtime: PhantomData,
    };
    client
        .register(streams, OperationIr::Custom(desc), op)
        .remove(0)
}

fn wrap<B: burn::tensor::backend::Backend>(x: FloatTensor<B>) -> Tensor<B, 1> {
    // element-wise only: the rank tag does not matter to these operations
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

fn unwrap<B: burn::tensor::backend::Backend>(t: Tensor<B, 1>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// The activations as chains of element-wise operations (fusion compiles each into one kernel):
/// the same values and slopes as the CPU kernels.
mod chains {
    use super::{unwrap, wrap};
    use burn::tensor::activation;
    use burn::tensor::backend::Backend;
    use burn::tensor::ops::FloatTensor;

    pub fn ssp<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
        unwrap(crate::layers::ssp_composite(wrap::<B>(x)))
    }

    pub fn ssp_with_slope<B: Backend>(x: FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>) {
        let x = wrap::<B>(x);
        let slope = activation::sigmoid(x.clone());
        (unwrap(crate::layers::ssp_composite(x)), unwrap(slope))
    }

    pub fn silu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
        let x = wrap::<B>(x);
        unwrap(x.clone() * activation::sigmoid(x))
    }

    pub fn silu_with_slope<B: Backend>(x: FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>) {
        let x = wrap::<B>(x);
        let s = activation::sigmoid(x.clone());
        let slope = s.clone() * (x.clone() * (s.clone().neg().add_scalar(1.0))).add_scalar(1.0);
        (unwrap(x * s), unwrap(slope))
    }
}

/// The message means of a CubeCL backend's [`FusedOps`]: geobatch's kernels (`messages`), the
/// same for [`Cube`] and [`Fused`].
macro_rules! message_ops {
    () => {
        fn message_mean(
            w: FloatTensor<Self>,
            x: FloatTensor<Self>,
            senders: EdgeIndex<Self>,
            receivers: EdgeIndex<Self>,
            inv_count: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            messages::mean::<Self>(w, x, senders, receivers, inv_count)
        }

        fn message_mean_backward(
            g: FloatTensor<Self>,
            w: FloatTensor<Self>,
            x: FloatTensor<Self>,
            senders: EdgeIndex<Self>,
            receivers: EdgeIndex<Self>,
            inv_count: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>) {
            messages::mean_backward::<Self>(g, w, x, senders, receivers, inv_count)
        }
    };
}

impl<R: CubeRuntime> FusedOps for Cube<R> {
    const CHUNKED_INDEX_ADD: bool = true;
    const GROUPED_SUMS: bool = true;
    const FUSED_MESSAGES: bool = true;

    message_ops!();

    fn ssp(x: FloatTensor<Self>) -> FloatTensor<Self> {
        chains::ssp::<Self>(x)
    }

    fn ssp_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        chains::ssp_with_slope::<Self>(x)
    }

    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        chains::silu::<Self>(x)
    }

    fn silu_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        chains::silu_with_slope::<Self>(x)
    }

    fn segment_sum_grouped(
        values: FloatTensor<Self>,
        _index: IntTensor<Self>,
        order: Option<IntTensor<Self>>,
        offsets: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        grouped_sum::<R>(values, order, offsets, n)
    }
}

impl<R: CubeRuntime> FusedOps for Fused<R> {
    const CHUNKED_INDEX_ADD: bool = true;
    const GROUPED_SUMS: bool = true;
    const FUSED_MESSAGES: bool = true;

    message_ops!();

    fn ssp(x: FloatTensor<Self>) -> FloatTensor<Self> {
        chains::ssp::<Self>(x)
    }

    fn ssp_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        chains::ssp_with_slope::<Self>(x)
    }

    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        chains::silu::<Self>(x)
    }

    fn silu_with_slope(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        chains::silu_with_slope::<Self>(x)
    }

    fn segment_sum_grouped(
        values: FloatTensor<Self>,
        _index: IntTensor<Self>,
        order: Option<IntTensor<Self>>,
        offsets: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        fused_grouped_sum::<R>(values, order, offsets, n)
    }
}

#[cfg(test)]
pub(crate) mod device_tests;
mod messages;
pub mod products;
