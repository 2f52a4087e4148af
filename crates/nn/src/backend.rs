//! Backends: burn's flex backend on the CPU (default) and CUDA behind the `cuda` feature.

/// The CPU backend.
pub type Cpu = burn::backend::Flex;
/// The CPU backend with autodiff, for training.
pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;

/// The runtimes of burn's CubeCL backend (CUDA, wgpu).
#[cfg(feature = "cube")]
pub use burn_cubecl::CubeRuntime;

/// burn's CubeCL backend on runtime `R` (one kernel launch per tensor operation), with the
/// element types every geobatch model uses.
#[cfg(feature = "cube")]
pub type Cube<R> = burn_cubecl::CubeBackend<R, f32, i32, u8>;
/// [`Cube`] under burn's kernel fusion: element-wise chains (and reductions and matrix products
/// with their element-wise neighbours) are compiled into one kernel at run time.
#[cfg(feature = "cube")]
pub type Fused<R> = burn_fusion::Fusion<Cube<R>>;

/// The CUDA backend without fusion (kernels compiled at run time; no toolkit needed to build).
#[cfg(feature = "cuda")]
pub type Gpu = Cube<cubecl::cuda::CudaRuntime>;
/// The CUDA backend with autodiff, for training.
#[cfg(feature = "cuda")]
pub type GpuAutodiff = burn::backend::Autodiff<Gpu>;
/// The CUDA backend with kernel fusion (`training.gpu.fusion = true`).
#[cfg(feature = "cuda")]
pub type GpuFused = Fused<cubecl::cuda::CudaRuntime>;
/// [`GpuFused`] with autodiff, for training.
#[cfg(feature = "cuda")]
pub type GpuFusedAutodiff = burn::backend::Autodiff<GpuFused>;

/// The wgpu backend without fusion (Vulkan, Metal, DX12; Mesa's lavapipe on a machine without a
/// GPU).
#[cfg(feature = "wgpu")]
pub type Wgpu = Cube<cubecl::wgpu::WgpuRuntime>;
/// The wgpu backend with autodiff.
#[cfg(feature = "wgpu")]
pub type WgpuAutodiff = burn::backend::Autodiff<Wgpu>;
/// The wgpu backend with kernel fusion.
#[cfg(feature = "wgpu")]
pub type WgpuFused = Fused<cubecl::wgpu::WgpuRuntime>;
/// [`WgpuFused`] with autodiff.
#[cfg(feature = "wgpu")]
pub type WgpuFusedAutodiff = burn::backend::Autodiff<WgpuFused>;

/// The default wgpu device, once an adapter is found (a Vulkan, Metal or DX12 driver; on a Linux
/// machine without a GPU, Mesa's lavapipe: Debian's `mesa-vulkan-drivers`); the device is set
/// up here, so that a missing adapter is an error, not a panic on first use.
#[cfg(feature = "wgpu")]
pub fn wgpu_device() -> Result<burn::backend::wgpu::WgpuDevice, String> {
    use std::sync::OnceLock;
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let device = burn::backend::wgpu::WgpuDevice::DefaultDevice;
    let ready =
        READY.get_or_init(|| {
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let made = std::panic::catch_unwind(|| {
                let t = burn::tensor::Tensor::<Wgpu, 1>::zeros([1], &device);
                t.into_data();
            });
            std::panic::set_hook(hook);
            made.map_err(|e| {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_default();
            format!(
                "no usable wgpu adapter (a Vulkan, Metal or DX12 driver; on Linux without a GPU, \
                 Mesa's lavapipe from the package mesa-vulkan-drivers){}",
                if why.is_empty() { String::new() } else { format!(": {why}") }
            )
        })
        });
    ready.clone().map(|()| device)
}

/// The CUDA device with this index, once the driver loads and reports that device (burn's CUDA
/// runtime panics on first use otherwise).
#[cfg(feature = "cuda")]
pub fn cuda_device(index: usize) -> Result<burn::backend::cuda::CudaDevice, String> {
    let count = cuda_device_count()?;
    if index >= count {
        return Err(format!(
            "device \"cuda:{index}\": this machine has {count} CUDA device(s)"
        ));
    }
    Ok(burn::backend::cuda::CudaDevice::new(index))
}

/// CUDA devices the driver reports, or why there is no driver.
#[cfg(feature = "cuda")]
pub fn cuda_device_count() -> Result<usize, String> {
    // cudarc panics, instead of returning an error, when it cannot load the driver library; the
    // panic is caught here, with the default hook's message silenced, and becomes an error.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let count = std::panic::catch_unwind(cudarc::driver::CudaContext::device_count);
    std::panic::set_hook(hook);
    match count {
        Ok(Ok(n)) => Ok(usize::try_from(n).unwrap_or(0)),
        Ok(Err(e)) => Err(format!("no usable CUDA device: the CUDA driver says {e}")),
        Err(_) => Err(
            "no CUDA driver found (libcuda.so could not be loaded): CUDA needs an NVIDIA GPU and \
             its driver; train on this machine with device = \"cpu\""
                .into(),
        ),
    }
}

/// Where a model trains (the one spelling of a device, in core).
pub use geobatch_core::engine::DeviceKind;

/// Parses a device value ([`DeviceKind::parse`]) and checks that this build has its backend:
/// CUDA and wgpu need a build with the `cuda` or `wgpu` feature.
pub fn parse_device(device: &str) -> Result<DeviceKind, String> {
    let kind = DeviceKind::parse(device)?;
    match kind {
        DeviceKind::Wgpu if !cfg!(feature = "wgpu") => Err(format!(
            "device {device:?}: this geobatch was built without the `wgpu` feature (cargo build \
             --release --features geobatch-cli/wgpu)"
        )),
        DeviceKind::Cuda(_) if !cfg!(feature = "cuda") => Err(format!(
            "device {device:?}: this geobatch was built without the `cuda` feature (cargo build \
             --release --features geobatch-cli/cuda)"
        )),
        _ => Ok(kind),
    }
}

/// Checks a device value (see [`parse_device`]).
pub fn check_device(device: &str) -> Result<(), String> {
    parse_device(device).map(|_| ())
}

#[cfg(all(test, feature = "cuda"))]
mod cuda_tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly on purpose

    use super::{cuda_device, cuda_device_count};

    #[test]
    fn a_missing_driver_or_device_is_an_error_not_a_panic() {
        match cuda_device_count() {
            // a GPU machine: the index past the last device is refused
            Ok(n) => {
                let e = cuda_device(n).unwrap_err();
                assert!(e.contains(&format!("has {n} CUDA device")), "{e}");
                if n > 0 {
                    assert!(cuda_device(0).is_ok());
                }
            }
            // no driver (CI): every device is refused with the reason, twice in a row
            Err(e) => {
                assert!(e.contains("CUDA"), "{e}");
                assert_eq!(cuda_device(0).unwrap_err(), e);
            }
        }
    }
}
