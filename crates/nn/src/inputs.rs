//! A padded host batch as backend tensors.

use crate::fused::FusedOps;
use crate::index::Segments;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use geobatch_core::engine::{BasisPlace, MessageKernel, SegmentKernel};
use geobatch_core::{EngineOptions, GraphBatch, TargetStats};

/// The tensors every model reads. Shapes: N padded nodes, E padded edges, G padded graphs,
/// T targets.
#[derive(Debug, Clone)]
pub struct BatchInputs<B: Backend> {
    /// Species class of every node, `[N]`.
    pub species: Tensor<B, 1, Int>,
    /// Edge length, `[E, 1]` (Angstrom; 0 on padding edges).
    pub distances: Tensor<B, 2>,
    /// Sender of every edge, `[E]`, into the N nodes.
    pub senders: Segments<B>,
    /// Receiver of every edge (non-decreasing), `[E]`, into the N nodes.
    pub receivers: Segments<B>,
    /// Graph of every node (non-decreasing), `[N]`, into the G graphs.
    pub node_graph: Segments<B>,
    /// 1 / max(in-degree, 1) of every node, `[N, 1]`: turns segment sums into means.
    pub inv_in_degree: Tensor<B, 2>,
    /// 1 / max(nodes, 1) of every graph, `[G, 1]`: turns per-graph sums into means.
    pub inv_n_node: Tensor<B, 2>,
    /// 1 for real graphs, 0 for padding graphs, `[G, 1]`.
    pub mask: Tensor<B, 2>,
    /// Standardised targets, `[G, T]` (0 on padding graphs).
    pub targets: Tensor<B, 2>,
    /// Padded node count.
    pub n_nodes: usize,
    /// Padded graph count.
    pub n_graphs: usize,
    /// Real graph count.
    pub n_real: usize,
    /// Edge lengths on the host, for bases computed there.
    pub distances_host: Vec<f32>,
    /// Edge vectors (receiver minus sender, image shift included) on the host, for models that
    /// need directions.
    pub vectors_host: Vec<[f32; 3]>,
    /// Where the models' radial bases are computed (`training.engine.basis`).
    pub basis: BasisPlace,
    /// Edge vectors as a tensor `[E, 3]`, when the inputs are a potential's
    /// ([`BatchInputs::smooth`]): differentiated by the engine, padding edges moved beyond the
    /// cutoff. `None` for the study's targets (models read `vectors_host`).
    pub vectors: Option<Tensor<B, 2>>,
    /// A potential's cosine envelope of every edge, `[E, 1]`: 1 at length 0, 0 from the cutoff
    /// on, with a zero slope there (`None`: no cutoff, or not a potential's inputs).
    pub envelope: Option<Tensor<B, 2>>,
}

fn ints<B: Backend>(v: &[u32], device: &B::Device) -> Tensor<B, 1, Int> {
    let data: Vec<i32> = v.iter().map(|&x| x as i32).collect();
    Tensor::from_data(TensorData::new(data, [v.len()]), device)
}

fn floats<B: Backend>(v: Vec<f32>, shape: [usize; 2], device: &B::Device) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

impl<B: FusedOps> BatchInputs<B> {
    /// Builds the tensors of `batch`, standardising targets with `stats`; with
    /// `engine.segments = "csr"`, on backends with kernels over groupings
    /// ([`FusedOps::GROUPED_SUMS`]), the edges grouped by sender and by receiver and the nodes by
    /// graph ride along.
    pub fn new(
        batch: &GraphBatch,
        stats: &[TargetStats],
        device: &B::Device,
        engine: &EngineOptions,
    ) -> Self {
        let (n, e, g) = (batch.species.len(), batch.senders.len(), batch.n_node.len());
        let t = batch.n_targets();
        let vectors = batch.edge_vectors().into_owned();
        let distances: Vec<f32> = vectors
            .iter()
            .map(|v| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt())
            .collect();
        let mut degree = vec![0u32; n];
        for &r in &batch.receivers {
            degree[r as usize] += 1;
        }
        let inv_in_degree: Vec<f32> = degree.iter().map(|&d| 1.0 / d.max(1) as f32).collect();
        let inv_n_node: Vec<f32> = batch
            .n_node
            .iter()
            .map(|&c| 1.0 / c.max(1) as f32)
            .collect();
        let mask: Vec<f32> = batch
            .graph_mask
            .iter()
            .map(|&m| if m { 1.0 } else { 0.0 })
            .collect();
        let targets: Vec<f32> = batch
            .targets
            .iter()
            .enumerate()
            .map(|(i, &y)| {
                let s = stats[i % t];
                if batch.graph_mask[i / t] {
                    ((f64::from(y) - s.mean) / s.std) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let grouped = B::GROUPED_SUMS && engine.segments == SegmentKernel::Csr;
        BatchInputs {
            species: ints(&batch.species, device),
            distances: floats(distances.clone(), [e, 1], device),
            senders: Segments::from_host(&batch.senders, n, grouped, device),
            receivers: Segments::from_host(&batch.receivers, n, grouped, device)
                .fusing_messages(engine.messages == MessageKernel::Fused),
            node_graph: Segments::from_host(&batch.node_graph, g, grouped, device),
            inv_in_degree: floats(inv_in_degree, [n, 1], device),
            inv_n_node: floats(inv_n_node, [g, 1], device),
            mask: floats(mask, [g, 1], device),
            targets: floats(targets, [g, t], device),
            n_nodes: n,
            n_graphs: g,
            n_real: batch.real().graphs,
            distances_host: distances,
            vectors_host: vectors,
            basis: engine.basis,
            vectors: None,
            envelope: None,
        }
    }

    /// A potential's inputs (DESIGN.md §16): geometry from the edge vectors `vectors` `[E, 3]`
    /// (the engine differentiates through them), smooth in the positions. Padding edges are
    /// moved `2 x cutoff` (1,000 Angstrom without a cutoff) along x, beyond every basis and
    /// envelope, so that they add exactly zero; messages are summed (a mean over a cutoff's
    /// neighbours jumps as one crosses it) and graphs read out as sums (energy is extensive):
    /// both inverse counts are 1. The basis is made on the device, from the tensors.
    pub fn smooth(
        batch: &GraphBatch,
        vectors: Tensor<B, 2>,
        cutoff: Option<f64>,
        device: &B::Device,
        engine: &EngineOptions,
    ) -> Self {
        let (n, e, g) = (batch.species.len(), batch.senders.len(), batch.n_node.len());
        let far = cutoff.map_or(1000.0, |c| 2.0 * c) as f32;
        let real = batch.real().edges;
        let mut offset = vec![0.0f32; 3 * e];
        for row in offset.chunks_exact_mut(3).skip(real) {
            row[0] = far;
        }
        let vectors = vectors + floats(offset, [e, 3], device);
        let distances = (vectors.clone() * vectors.clone()).sum_dim(1).sqrt();
        let envelope = cutoff.map(|rc| {
            let inside = distances.clone().lower_elem(rc).float();
            (distances.clone() * (std::f64::consts::PI / rc))
                .cos()
                .add_scalar(1.0)
                .mul_scalar(0.5)
                * inside
        });
        let mask: Vec<f32> = batch
            .graph_mask
            .iter()
            .map(|&m| if m { 1.0 } else { 0.0 })
            .collect();
        let grouped = B::GROUPED_SUMS && engine.segments == SegmentKernel::Csr;
        BatchInputs {
            species: ints(&batch.species, device),
            distances,
            senders: Segments::from_host(&batch.senders, n, grouped, device),
            receivers: Segments::from_host(&batch.receivers, n, grouped, device)
                .fusing_messages(engine.messages == MessageKernel::Fused),
            node_graph: Segments::from_host(&batch.node_graph, g, grouped, device),
            inv_in_degree: Tensor::ones([n, 1], device),
            inv_n_node: Tensor::ones([g, 1], device),
            mask: floats(mask, [g, 1], device),
            targets: Tensor::zeros([g, batch.n_targets().max(1)], device),
            n_nodes: n,
            n_graphs: g,
            n_real: batch.real().graphs,
            distances_host: Vec::new(),
            vectors_host: Vec::new(),
            basis: BasisPlace::Device,
            vectors: Some(vectors),
            envelope,
        }
    }

    /// The study's Gaussian basis of the edge lengths, `[E, k]`: on the host with the vectorised
    /// kernel of [`crate::fastmath`] (distances are data), or on the device from
    /// [`BatchInputs::distances`] through the fused basis ([`crate::fused::gaussian_basis`],
    /// differentiated twice in a potential's inputs) when `training.engine.basis = "device"`.
    pub fn rbf(&self, k: usize, delta: f64) -> Tensor<B, 2> {
        if self.basis == BasisPlace::Device {
            return crate::fused::gaussian_basis(self.distances.clone(), k, delta);
        }
        let mut out = Vec::new();
        crate::fastmath::gaussian_rbf(&self.distances_host, k, delta as f32, &mut out);
        floats(out, [self.distances_host.len(), k], &self.species.device())
    }

    /// The edge vectors of `batch` `[E, 3]` as stored (padding: zeros), for [`BatchInputs::smooth`].
    pub fn edge_vector_tensor(batch: &GraphBatch, device: &B::Device) -> Tensor<B, 2> {
        let v = batch.edge_vectors();
        let flat: Vec<f32> = v.iter().flatten().copied().collect();
        floats(flat, [v.len(), 3], device)
    }
}

impl<B: Backend> BatchInputs<B> {
    /// A float tensor of shape `shape` on this batch's device.
    pub fn tensor(&self, values: Vec<f32>, shape: [usize; 2]) -> Tensor<B, 2> {
        floats(values, shape, &self.species.device())
    }
}
