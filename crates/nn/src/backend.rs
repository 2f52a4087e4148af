//! Backends: burn's flex backend on the CPU (default) and CUDA behind the `cuda` feature.

/// The CPU backend.
pub type Cpu = burn::backend::Flex;
/// The CPU backend with autodiff, for training.
pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;

/// The CUDA backend (kernels compiled at run time; no toolkit needed to build).
#[cfg(feature = "cuda")]
pub type Gpu = burn::backend::Cuda;
/// The CUDA backend with autodiff, for training.
#[cfg(feature = "cuda")]
pub type GpuAutodiff = burn::backend::Autodiff<Gpu>;

/// The CUDA device with this index.
#[cfg(feature = "cuda")]
pub fn cuda_device(index: usize) -> burn::backend::cuda::CudaDevice {
    burn::backend::cuda::CudaDevice::new(index)
}

/// Where a model trains, parsed from a `--device` / `training.device` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// The CPU (flex backend).
    Cpu,
    /// CUDA device number N.
    Cuda(usize),
}

/// Parses a device value: `cpu`, `cuda` (= `cuda:0`) or `cuda:N`; CUDA needs a build with the
/// `cuda` feature.
pub fn parse_device(device: &str) -> Result<DeviceKind, String> {
    match device {
        "cpu" => Ok(DeviceKind::Cpu),
        d if d == "cuda" || d.starts_with("cuda:") => {
            let index = match d.strip_prefix("cuda:") {
                None => 0,
                Some(n) => n
                    .parse()
                    .map_err(|_| format!("device {d:?}: expected cuda:N with N a device number"))?,
            };
            if cfg!(feature = "cuda") {
                Ok(DeviceKind::Cuda(index))
            } else {
                Err(format!(
                    "device {d:?}: this geobatch was built without the `cuda` feature (cargo build --release --features geobatch-cli/cuda)"
                ))
            }
        }
        d => Err(format!("unknown device {d:?}; expected cpu or cuda[:N]")),
    }
}

/// Checks a device value (see [`parse_device`]).
pub fn check_device(device: &str) -> Result<(), String> {
    parse_device(device).map(|_| ())
}
