//! Backends: burn's flex backend on the CPU (default) and CUDA behind the `cuda` feature.

/// The CPU backend.
pub type Cpu = burn::backend::Flex;
/// The CPU backend with autodiff, for training.
pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;

/// Parses a `--device` value; only `cpu` exists in builds without the `cuda` feature.
pub fn check_device(device: &str) -> Result<(), String> {
    match device {
        "cpu" => Ok(()),
        d if d == "cuda" || d.starts_with("cuda:") => {
            if cfg!(feature = "cuda") {
                Err(format!(
                    "device {d:?}: CUDA training is not wired up yet in this build"
                ))
            } else {
                Err(format!(
                    "device {d:?}: this geobatch was built without the `cuda` feature (cargo build --release --features cuda)"
                ))
            }
        }
        d => Err(format!("unknown device {d:?}; expected cpu or cuda[:N]")),
    }
}
