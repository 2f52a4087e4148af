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
