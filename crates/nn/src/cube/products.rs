//! Matrix products on the CubeCL backends by a chosen cubek kernel: what a full-f32 engine
//! option (issue 78, item 2) will call in place of burn's product, whose kernel is always cubek's
//! `Strategy::Auto` (on CUDA, tensor cores with f32 inputs staged as TF32).

use burn::tensor::{DType, Shape};
use burn_cubecl::CubeRuntime;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubek::matmul::definition::{MatmulElems, MatmulGlobalElems};
use cubek::matmul::launch::Strategy;
use cubek::std::InputBinding;

/// Which cubek kernel multiplies two f32 matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductKernel {
    /// cubek's choice (`Strategy::Auto`), burn's own: tensor cores where the device has them,
    /// with f32 inputs staged as TF32 on CUDA.
    Auto,
    /// cubek's unit kernel (tiles on plain threads, no tensor cores): full f32.
    Unit,
    /// cubek's double-buffered unit kernel: full f32.
    DoubleUnit,
}

impl ProductKernel {
    /// Every kernel, in the order the device tests time them.
    pub const ALL: [ProductKernel; 3] = [
        ProductKernel::Auto,
        ProductKernel::Unit,
        ProductKernel::DoubleUnit,
    ];

    fn strategy(self) -> Strategy {
        match self {
            ProductKernel::Auto => Strategy::Auto,
            ProductKernel::Unit => Strategy::SimpleUnit(Default::default()),
            ProductKernel::DoubleUnit => Strategy::DoubleUnit(Default::default()),
        }
    }
}

/// `lhs` `[m, k]` times `rhs` `[k, n]` (either may be a strided view, a transpose included) as a
/// new `[m, n]` f32 tensor, by `kernel`; cubek's refusal to set the kernel up, as text.
pub fn product<R: CubeRuntime>(
    lhs: CubeTensor<R>,
    rhs: CubeTensor<R>,
    kernel: ProductKernel,
) -> Result<CubeTensor<R>, String> {
    let (m, n) = (lhs.meta.shape()[0], rhs.meta.shape()[1]);
    let out = empty_device_dtype(
        lhs.client.clone(),
        lhs.device.clone(),
        Shape::new([m, n]),
        DType::F32,
    );
    let f32_type = DType::F32.into();
    let mut dtypes = MatmulElems::from_globals(&MatmulGlobalElems {
        lhs: f32_type,
        rhs: f32_type,
        out: f32_type,
    });
    let client = out.client.clone();
    cubek::matmul::launch::launch_ref(
        &kernel.strategy(),
        &client,
        InputBinding::new(lhs.binding(), f32_type),
        InputBinding::new(rhs.binding(), f32_type),
        out.clone().binding(),
        &mut dtypes,
    )
    .map_err(|e| format!("{kernel:?}: {e:?}"))?;
    Ok(out)
}
