//! The node classifier (spec ibmb §5): `layers` message-passing blocks of conv → LayerNorm
//! (optional) → ReLU → dropout, then a linear classifier on the output nodes; log-softmax.
//!
//! * GCN conv: `Â (H W)` with `Â` the batch's slice of the full-graph `D⁻¹A` (self-loops
//!   included, not renormalised).
//! * SAGE conv: `mean_{in-batch neighbours}(H) W_n + H W_r` (edge values dropped).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use geobatch_nn::fused::FusedOps;
use geobatch_nn::init::ParamInit;
use geobatch_nn::layers::{Linear, gather_rows, segment_sum};
use geobatch_node::NodeBatch;

/// The batch as tensors.
#[derive(Debug, Clone)]
pub struct NodeInputs<B: Backend> {
    /// Features `[N, F]`.
    pub x: Tensor<B, 2>,
    /// Row (receiver) of every entry `[E]`.
    pub rows: Tensor<B, 1, Int>,
    /// Column (sender) of every entry `[E]`.
    pub cols: Tensor<B, 1, Int>,
    /// GCN weights `[E, 1]` (full-graph `D⁻¹A`).
    pub values: Tensor<B, 2>,
    /// SAGE weights `[E, 1]` (in-batch mean).
    pub mean_values: Tensor<B, 2>,
    /// Local indices of the output nodes `[O]`.
    pub outputs: Tensor<B, 1, Int>,
    /// Labels of the output nodes `[O, 1]` (`-1` replaced by 0 and masked out).
    pub labels: Tensor<B, 2, Int>,
    /// 1 for labelled outputs, 0 otherwise `[O, 1]`.
    pub labelled: Tensor<B, 2>,
    /// Output-row entries: row as an output index `[E_o]`.
    pub out_rows: Tensor<B, 1, Int>,
    /// Output-row entries: local column `[E_o]`.
    pub out_cols: Tensor<B, 1, Int>,
    /// Output-row GCN weights `[E_o, 1]`.
    pub out_values: Tensor<B, 2>,
    /// Output-row SAGE weights `[E_o, 1]`.
    pub out_mean_values: Tensor<B, 2>,
    /// Output nodes.
    pub n_outputs: usize,
    /// Labelled outputs.
    pub n_labelled: usize,
    /// Local nodes.
    pub n: usize,
}

impl<B: Backend> NodeInputs<B> {
    /// Copies a host batch to the device.
    pub fn new(b: &NodeBatch, device: &B::Device) -> Self {
        let n = b.n_nodes();
        let o = b.n_outputs();
        let ints = |v: &[u32]| {
            Tensor::<B, 1, Int>::from_data(
                TensorData::new(v.iter().map(|&x| x as i64).collect::<Vec<_>>(), [v.len()]),
                device,
            )
        };
        let col = |v: &[f32]| {
            Tensor::<B, 2>::from_data(TensorData::new(v.to_vec(), [v.len(), 1]), device)
        };
        let labelled: Vec<f32> = b
            .labels
            .iter()
            .map(|&l| f32::from(u8::from(l >= 0)))
            .collect();
        let labels: Vec<i64> = b.labels.iter().map(|&l| i64::from(l.max(0))).collect();
        NodeInputs {
            x: Tensor::from_data(
                TensorData::new(b.features.clone(), [n, b.n_features]),
                device,
            ),
            rows: ints(&b.rows),
            cols: ints(&b.cols),
            values: col(&b.values),
            mean_values: col(&b.mean_values),
            outputs: ints(&b.outputs),
            out_rows: ints(&b.out_rows),
            out_cols: ints(&b.out_cols),
            out_values: col(&b.out_values),
            out_mean_values: col(&b.out_mean_values),
            n_outputs: o,
            labels: Tensor::from_data(TensorData::new(labels, [o, 1]), device),
            n_labelled: labelled.iter().filter(|&&x| x > 0.0).count(),
            labelled: Tensor::from_data(TensorData::new(labelled, [o, 1]), device),
            n,
        }
    }
}

/// GCN or GraphSAGE-mean node classifier.
#[derive(Module, Debug)]
pub struct NodeNet<B: Backend> {
    /// Per-layer weights (GCN: `W`; SAGE: `W_n`).
    pub convs: Vec<Linear<B>>,
    /// SAGE root weights `W_r` (empty for GCN).
    pub roots: Vec<Linear<B>>,
    /// Per-layer LayerNorm (empty when disabled).
    pub norms: Vec<LayerNorm<B>>,
    /// Classifier.
    pub head: Linear<B>,
    /// Dropout after every block.
    pub dropout: Dropout,
    /// Dropout on the input features.
    pub input_dropout: Dropout,
    /// GraphSAGE (true) or GCN (false).
    pub sage: bool,
}

impl<B: FusedOps> NodeNet<B> {
    /// A network with `layers` blocks of width `hidden`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sage: bool,
        n_features: usize,
        hidden: usize,
        layers: usize,
        n_classes: usize,
        layer_norm: bool,
        dropout: f64,
        input_dropout: f64,
        seed: u64,
        device: &B::Device,
    ) -> Self {
        let mut init = ParamInit::new(seed);
        let mut convs = Vec::new();
        let mut roots = Vec::new();
        let mut norms = Vec::new();
        for l in 0..layers {
            let d_in = if l == 0 { n_features } else { hidden };
            convs.push(Linear::new(&mut init, d_in, hidden, device));
            if sage {
                roots.push(Linear::new(&mut init, d_in, hidden, device));
            }
            if layer_norm {
                norms.push(LayerNormConfig::new(hidden).init(device));
            }
        }
        NodeNet {
            convs,
            roots,
            norms,
            head: Linear::new(&mut init, hidden, n_classes, device),
            dropout: DropoutConfig::new(dropout).init(),
            input_dropout: DropoutConfig::new(input_dropout).init(),
            sage,
        }
    }

    /// Log-probabilities of the output nodes `[O, classes]`. The last block computes only the
    /// output rows (spec ibmb §5): it aggregates the output rows' entries alone.
    pub fn forward(&self, inp: &NodeInputs<B>) -> Tensor<B, 2> {
        let mut h = self.input_dropout.forward(inp.x.clone());
        let last = self.convs.len() - 1;
        for (l, conv) in self.convs.iter().enumerate() {
            let (rows, cols, n) = if l == last {
                (&inp.out_rows, &inp.out_cols, inp.n_outputs)
            } else {
                (&inp.rows, &inp.cols, inp.n)
            };
            h = if self.sage {
                let w = if l == last {
                    &inp.out_mean_values
                } else {
                    &inp.mean_values
                };
                let gathered = gather_rows(h.clone(), cols.clone()) * w.clone();
                let mean = segment_sum(gathered, rows.clone(), n);
                let root = if l == last {
                    h.select(0, inp.outputs.clone())
                } else {
                    h
                };
                conv.forward(mean) + self.roots[l].forward(root)
            } else {
                let w = if l == last {
                    &inp.out_values
                } else {
                    &inp.values
                };
                let gathered = gather_rows(conv.forward(h), cols.clone()) * w.clone();
                segment_sum(gathered, rows.clone(), n)
            };
            if let Some(norm) = self.norms.get(l) {
                h = norm.forward(h);
            }
            h = self.dropout.forward(relu(h));
        }
        log_softmax(self.head.forward(h), 1)
    }
}

/// Mean negative log-likelihood over the labelled outputs.
pub fn nll<B: Backend>(logp: Tensor<B, 2>, inp: &NodeInputs<B>) -> Tensor<B, 1> {
    let picked = logp.gather(1, inp.labels.clone()) * inp.labelled.clone();
    picked.sum().neg().div_scalar(inp.n_labelled.max(1) as f64)
}
