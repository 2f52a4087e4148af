//! How geobatch's engine runs a training step: the variants `scripts/gpu-ab.sh` measures
//! against each other on a GPU (`[training.engine]`). The defaults depend on the device and are
//! the fastest measured there (docs/gpu.md §7): on a GPU, fusion with the basis on the device and
//! the CSR sums; on the CPU, its own kernels with the basis on the host.

use crate::registry::Task;
use serde::{Deserialize, Serialize};

/// The `[training.engine]` table as a config writes it: an option left out takes its device's
/// default when the run starts ([`EngineTable::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineTable {
    /// burn's kernel fusion (GPU devices; default there: on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion: Option<bool>,
    /// Where the radial bases are computed (default: `device` on a GPU, `host` on the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<BasisPlace>,
    /// How a GPU sums rows into segments (default there: `csr`, or `chunked` for a potential
    /// under fusion, whose second-order gradients are wrong with `csr`; the CPU has its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<SegmentKernel>,
    /// Where a batch becomes device tensors in prefetch mode (default: `step`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<Upload>,
    /// How a GPU computes a message mean (gather, product, sum): `fused` is one kernel over the
    /// CSR grouping each way, and asks for the CSR sums (default: `composed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<MessageKernel>,
}

impl EngineTable {
    /// Whether no option is written (a resolved config then leaves the table out, so the run
    /// identities of configs without it do not change).
    pub fn is_empty(&self) -> bool {
        *self == EngineTable::default()
    }

    /// Refuses options that contradict each other: fused messages read the CSR grouping, so
    /// `messages = "fused"` with `segments = "chunked"` is an error naming both keys.
    pub fn check(&self) -> Result<(), String> {
        if self.messages == Some(MessageKernel::Fused)
            && self.segments == Some(SegmentKernel::Chunked)
        {
            return Err(
                "training.engine: messages = \"fused\" reads the CSR grouping of the \
                        edges: set segments = \"csr\" (or leave it out) or messages = \
                        \"composed\""
                    .into(),
            );
        }
        Ok(())
    }

    /// The options a run on `device` uses: those written, the device's defaults for the rest.
    /// A potential (`task`: [`Task::Potential`]) trains on forces (nested autodiff), whose
    /// second-order gradients are wrong under fusion with the CSR sums on a GPU
    /// (docs/potentials.md), so a potential's default there is the chunked sums; written
    /// explicitly, that pair is refused when the potential is built.
    pub fn resolve(&self, device: DeviceKind, task: Task) -> EngineOptions {
        let gpu = device != DeviceKind::Cpu;
        let potential = task == Task::Potential;
        let fusion = self.fusion.unwrap_or(gpu);
        let messages = self.messages.unwrap_or_default();
        let segments = self.segments.unwrap_or(
            if messages == MessageKernel::Fused || gpu && !(potential && fusion) {
                SegmentKernel::Csr
            } else {
                SegmentKernel::Chunked
            },
        );
        EngineOptions {
            fusion,
            basis: self.basis.unwrap_or(if gpu {
                BasisPlace::Device
            } else {
                BasisPlace::Host
            }),
            segments,
            upload: self.upload.unwrap_or_default(),
            messages,
        }
    }

    /// A short label of the written options (`fusion=false+basis=host`), or `default`: the
    /// variant column of `geobatch bench step --csv` and `scripts/gpu-ab.sh`'s table.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = self.fusion {
            parts.push(format!("fusion={f}"));
        }
        if let Some(b) = self.basis {
            parts.push(format!("basis={}", b.as_str()));
        }
        if let Some(s) = self.segments {
            parts.push(format!("segments={}", s.as_str()));
        }
        if let Some(u) = self.upload {
            parts.push(format!("upload={}", u.as_str()));
        }
        if let Some(m) = self.messages {
            parts.push(format!("messages={}", m.as_str()));
        }
        if parts.is_empty() {
            "default".into()
        } else {
            parts.join("+")
        }
    }
}

/// The options a step runs with, resolved for its device ([`EngineTable::resolve`]); its
/// `Default` is the CPU's. The CPU uses `basis` and `upload` and keeps its own kernels for the
/// rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineOptions {
    /// burn's kernel fusion: chains of element-wise operations (and reductions and matrix
    /// products with their element-wise neighbours) compiled into one kernel at run time.
    pub fusion: bool,
    /// Where the models' radial bases are computed.
    pub basis: BasisPlace,
    /// How rows of edges are summed into nodes and graphs (and so the gradient of every gather).
    pub segments: SegmentKernel,
    /// Where a batch is turned into device tensors in prefetch mode.
    pub upload: Upload,
    /// How a message mean is computed on a GPU.
    pub messages: MessageKernel,
}

impl EngineOptions {
    /// Whether every option is the CPU's default.
    pub fn is_default(&self) -> bool {
        *self == EngineOptions::default()
    }

    /// A short label of the options that differ from the CPU's (`fusion+basis=device`), or
    /// `default`: how the engine's device tests name a variant.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if self.fusion {
            parts.push("fusion".to_string());
        }
        if self.basis != BasisPlace::default() {
            parts.push(format!("basis={}", self.basis.as_str()));
        }
        if self.segments != SegmentKernel::default() {
            parts.push(format!("segments={}", self.segments.as_str()));
        }
        if self.upload != Upload::default() {
            parts.push(format!("upload={}", self.upload.as_str()));
        }
        if self.messages != MessageKernel::default() {
            parts.push(format!("messages={}", self.messages.as_str()));
        }
        if parts.is_empty() {
            "default".into()
        } else {
            parts.join("+")
        }
    }
}

/// Where a model trains: a `training.device` value, parsed. Which devices a build can use is
/// the engine's to say (`geobatch_nn::backend::parse_device`); this is the one spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// The CPU (burn's flex backend).
    Cpu,
    /// CUDA device number N (`cuda` is `cuda:0`).
    Cuda(usize),
    /// The default wgpu adapter (Vulkan, Metal, DX12; Mesa's lavapipe without a GPU).
    Wgpu,
}

impl DeviceKind {
    /// The accepted spellings, for messages.
    pub const EXPECTED: &'static str = "expected \"cpu\", \"cuda\", \"cuda:N\" or \"wgpu\"";

    /// Parses `cpu`, `cuda`, `cuda:N` or `wgpu`; the error says what is accepted.
    pub fn parse(device: &str) -> Result<DeviceKind, String> {
        match device {
            "cpu" => Ok(DeviceKind::Cpu),
            "wgpu" => Ok(DeviceKind::Wgpu),
            "cuda" => Ok(DeviceKind::Cuda(0)),
            d => d
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceKind::Cuda)
                .ok_or_else(|| format!("device {d:?}: {}", DeviceKind::EXPECTED)),
        }
    }
}

/// Where a radial basis (`[E, K]` floats) is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BasisPlace {
    /// On the host, by one vectorised CPU pass, then copied to the device with the batch.
    #[default]
    Host,
    /// On the device, from the edge lengths (only `E` floats are copied).
    Device,
}

impl BasisPlace {
    /// The spelling in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            BasisPlace::Host => "host",
            BasisPlace::Device => "device",
        }
    }
}

/// How a GPU sums rows into segments (edges into their receivers or senders, nodes into graphs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentKernel {
    /// burn's index-add over K chunks of about 32 rows, summed in parallel, then added up.
    #[default]
    Chunked,
    /// geobatch's kernel over compressed rows: the batch carries every segment's range of
    /// (sorted) rows, and one thread per output element adds its range, in order (no atomics,
    /// no partial buffers, the same bits every run).
    Csr,
}

impl SegmentKernel {
    /// The spelling in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKernel::Chunked => "chunked",
            SegmentKernel::Csr => "csr",
        }
    }
}

/// How a GPU computes the mean over a node's incoming edges of `w[e] * x[sender[e]]` (SchNet's
/// and MPEU's messages) and its backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKernel {
    /// burn's operations: a gather and a product (two `[E, C]` tensors written), then the sum;
    /// the backward pass likewise.
    #[default]
    Composed,
    /// geobatch's kernels over the CSR grouping: one thread per output element gathers, multiplies
    /// and adds its node's edges in order (no `[E, C]` tensor written); the backward pass is two
    /// kernels, the weight gradient element-wise and the input gradient summed over the senders'
    /// grouping (no atomics).
    Fused,
}

impl MessageKernel {
    /// The spelling in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKernel::Composed => "composed",
            MessageKernel::Fused => "fused",
        }
    }
}

/// Where a batch becomes device tensors when batches are prefetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Upload {
    /// In the step (its `transfer` phase), as in serial mode.
    #[default]
    Step,
    /// On the prefetch worker, while the previous step computes (on a GPU, the copy runs on the
    /// worker's own stream); the step's `transfer` phase is then only the hand-over.
    Worker,
}

impl Upload {
    /// The spelling in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Upload::Step => "step",
            Upload::Worker => "worker",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_have_one_spelling() {
        assert_eq!(DeviceKind::parse("cpu"), Ok(DeviceKind::Cpu));
        assert_eq!(DeviceKind::parse("cuda"), Ok(DeviceKind::Cuda(0)));
        assert_eq!(DeviceKind::parse("cuda:3"), Ok(DeviceKind::Cuda(3)));
        assert_eq!(DeviceKind::parse("wgpu"), Ok(DeviceKind::Wgpu));
        for bad in ["tpu", "cuda:", "cuda:x", "CPU", ""] {
            let e = DeviceKind::parse(bad).unwrap_err();
            assert!(e.contains(DeviceKind::EXPECTED), "{e}");
        }
    }

    #[test]
    fn a_gpu_defaults_to_its_fastest_variant_and_the_cpu_to_its_kernels() {
        let fast = EngineOptions {
            fusion: true,
            basis: BasisPlace::Device,
            segments: SegmentKernel::Csr,
            upload: Upload::Step,
            messages: MessageKernel::Composed,
        };
        let table = EngineTable::default();
        assert_eq!(table.resolve(DeviceKind::Cuda(0), Task::Graph), fast);
        assert_eq!(table.resolve(DeviceKind::Wgpu, Task::Graph), fast);
        assert_eq!(
            table.resolve(DeviceKind::Cpu, Task::Graph),
            EngineOptions::default()
        );
        assert_eq!(
            table.resolve(DeviceKind::Cpu, Task::Potential),
            EngineOptions::default()
        );
        // a potential under fusion sums by chunks unless told otherwise; without fusion, by CSR
        let potential = table.resolve(DeviceKind::Cuda(0), Task::Potential);
        assert_eq!(potential.segments, SegmentKernel::Chunked);
        assert!(potential.fusion);
        let unfused = EngineTable {
            fusion: Some(false),
            ..EngineTable::default()
        };
        assert_eq!(
            unfused
                .resolve(DeviceKind::Cuda(0), Task::Potential)
                .segments,
            SegmentKernel::Csr
        );
        // what is written wins on every device
        let written = EngineTable {
            fusion: Some(false),
            basis: Some(BasisPlace::Host),
            segments: Some(SegmentKernel::Chunked),
            upload: Some(Upload::Worker),
            messages: None,
        };
        for device in [DeviceKind::Cpu, DeviceKind::Wgpu, DeviceKind::Cuda(1)] {
            let got = written.resolve(device, Task::Potential);
            assert_eq!(got.basis, BasisPlace::Host);
            assert_eq!(got.segments, SegmentKernel::Chunked);
            assert_eq!(got.upload, Upload::Worker);
            assert!(!got.fusion);
        }
        assert_eq!(
            written.label(),
            "fusion=false+basis=host+segments=chunked+upload=worker"
        );
        assert_eq!(table.label(), "default");
        // fused messages read the CSR grouping, on the CPU too (which keeps its own kernels)
        let fused = EngineTable {
            messages: Some(MessageKernel::Fused),
            ..EngineTable::default()
        };
        for device in [DeviceKind::Cpu, DeviceKind::Cuda(0)] {
            let got = fused.resolve(device, Task::Graph);
            assert_eq!(got.segments, SegmentKernel::Csr);
            assert_eq!(got.messages, MessageKernel::Fused);
        }
        assert_eq!(fused.label(), "messages=fused");
        assert_eq!(fused.check(), Ok(()));
        let chunked = EngineTable {
            segments: Some(SegmentKernel::Chunked),
            ..fused
        };
        let e = chunked.check().unwrap_err();
        assert!(e.contains("messages") && e.contains("segments"), "{e}");
    }

    #[test]
    fn an_engine_table_reads_only_what_is_written() {
        let t: EngineTable = toml::from_str("basis = \"host\"").unwrap();
        assert_eq!(t.basis, Some(BasisPlace::Host));
        assert_eq!(t.fusion, None);
        assert!(toml::from_str::<EngineTable>("fuson = true").is_err());
        assert_eq!(toml::to_string(&EngineTable::default()).unwrap(), "");
    }

    #[test]
    fn labels_name_the_non_default_options() {
        assert_eq!(EngineOptions::default().label(), "default");
        assert!(EngineOptions::default().is_default());
        let o = EngineOptions {
            fusion: true,
            basis: BasisPlace::Device,
            segments: SegmentKernel::Csr,
            upload: Upload::Worker,
            messages: MessageKernel::Fused,
        };
        assert_eq!(
            o.label(),
            "fusion+basis=device+segments=csr+upload=worker+messages=fused"
        );
        assert!(!o.is_default());
    }
}
