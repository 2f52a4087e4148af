//! Influence-based mini-batching (spec ibmb §3, §4): node-wise (`ibmb-node`: per-output PPR push,
//! top-k auxiliary sets, affinity grouping) and batch-wise (`ibmb-batch`: partition, then
//! topic-sensitive PPR per batch).

use crate::fixed::FixedBatches;
use crate::grouping::{
    affinity_pairs, aux_capped_groups, balanced_cap, greedy_groups, union_sorted,
};
use crate::order::Order;
use crate::partition::{Partitioner, check_parts, inference_parts, partition};
use crate::ppr::{push_all, top_k, topic_ppr};
use geobatch_core::{Batcher, BatcherSpec, Error, Result, plugin_options};
use geobatch_node::{NodeBatcherContext, NodeBatcherFacts, NodeLevel, NodePlan};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Node-wise IBMB.
#[plugin_options]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IbmbNodeSpec {
    /// Output nodes per batch (a cap, balanced over the batches).
    #[option(
        ty = "integer",
        default = 1000,
        doc = "output nodes per batch (cap, balanced); inference uses inference_scale times more"
    )]
    pub outputs_per_batch: usize,
    /// Auxiliary nodes kept per output node (top-k PPR entries).
    #[option(
        ty = "integer",
        default = 16,
        doc = "auxiliary nodes per output node (largest PPR entries)"
    )]
    pub topk: usize,
    /// PPR teleport probability.
    #[serde(default = "d_alpha")]
    #[option(ty = "float", doc = "PPR teleport probability")]
    pub alpha: f32,
    /// Push tolerance (residual below `alpha · eps · degree`).
    #[option(ty = "float", default = 2e-4, doc = "push tolerance")]
    pub eps: f32,
    /// Cap on auxiliary nodes per batch instead of outputs (the spec's aux-oriented merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "integer",
        toml = "none",
        doc = "cap auxiliary nodes per batch instead (aux-oriented merge)"
    )]
    pub max_aux: Option<usize>,
    /// Batch order in training.
    #[serde(default = "d_order")]
    #[option(ty = "string", doc = crate::ORDER_DOC)]
    pub order: Order,
    /// Inference batches are this many times larger.
    #[option(
        ty = "integer",
        default = 2,
        doc = "inference batches are this many times larger"
    )]
    pub inference_scale: usize,
}

fn d_alpha() -> f32 {
    0.25
}
fn d_order() -> Order {
    Order::Order
}

fn check_alpha(alpha: f32) -> Result<()> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(Error::invalid(format!(
            "alpha = {alpha}: must lie in (0, 1)"
        )));
    }
    Ok(())
}

/// The most pushes per output node the PPR tolerance may ask for (`1 / (alpha eps)`).
pub const MAX_PUSHES: f64 = 1e8;

#[geobatch_core::plugin(
    name = "ibmb-node",
    summary = "node-wise IBMB: PPR push per output node, top-k auxiliary nodes, outputs grouped by PPR affinity (fixed batches)",
    example = "outputs_per_batch = 70\ntopk = 32\neps = 1e-4\n",
    batch_size = outputs_per_batch
)]
impl BatcherSpec<NodeLevel> for IbmbNodeSpec {
    fn label(&self) -> String {
        format!("ibmb-node-k{}", self.topk)
    }

    fn validate(&self) -> Result<()> {
        check_alpha(self.alpha)?;
        if self.outputs_per_batch == 0 || self.inference_scale == 0 {
            return Err(Error::invalid(
                "outputs_per_batch and inference_scale must be at least 1",
            ));
        }
        if self.eps.is_nan() || self.eps <= 0.0 {
            return Err(Error::invalid("eps must be positive"));
        }
        // the push does up to 1 / (alpha eps) pushes per output node: bounded time needs a
        // bounded product
        let pushes = 1.0 / (f64::from(self.alpha) * f64::from(self.eps));
        if pushes > MAX_PUSHES {
            return Err(Error::invalid(format!(
                "batcher.eps = {:e} with alpha = {}: the PPR push may take up to 1 / (alpha eps) \
                 = {pushes:.1e} pushes per output node, more than {MAX_PUSHES:.0e}; give eps of at \
                 least {:.1e}",
                self.eps,
                self.alpha,
                1.0 / (MAX_PUSHES * f64::from(self.alpha))
            )));
        }
        if let Some(m) = self.max_aux
            && m < self.topk + 1
        {
            return Err(Error::invalid(format!(
                "max_aux = {m} is smaller than one output node's top-k set \
                 (topk {} + the node itself = {} nodes)",
                self.topk,
                self.topk + 1
            )));
        }
        Ok(())
    }

    fn facts(&self) -> NodeBatcherFacts {
        NodeBatcherFacts::inferring(IbmbNodeSpec {
            outputs_per_batch: self.outputs_per_batch * self.inference_scale,
            max_aux: self.max_aux.map(|m| m * self.inference_scale),
            order: Order::Fixed,
            inference_scale: 1,
            ..self.clone()
        })
    }

    fn build(&self, ctx: &NodeBatcherContext<'_>) -> Result<Box<dyn Batcher<NodeLevel>>> {
        self.validate()?;
        let start = Instant::now();
        let g = ctx.graph;
        let mut outputs = ctx.outputs.to_vec();
        outputs.sort_unstable();
        outputs.dedup();
        if outputs.is_empty() {
            return Err(Error::EmptySplit(ctx.split.to_string()));
        }
        let mut index = vec![u32::MAX; g.n_nodes()];
        for (i, &o) in outputs.iter().enumerate() {
            index[o as usize] = i as u32;
        }
        let k = self.topk;
        let results = push_all(g, &outputs, self.alpha, self.eps, |s, entries| {
            let row: Vec<(u32, f32)> = entries
                .iter()
                .filter(|(v, _)| index[*v as usize] != u32::MAX)
                .map(|&(v, p)| (index[v as usize], p))
                .collect();
            let aux = union_sorted(&top_k(entries, k), &[s]);
            (row, aux)
        });
        let (rows, aux): (Vec<_>, Vec<_>) = results.into_iter().unzip();
        let pairs = affinity_pairs(&rows);
        drop(rows);
        let groups = match self.max_aux {
            Some(m) => {
                if let Some((i, a)) = aux.iter().enumerate().find(|(_, a)| a.len() > m) {
                    return Err(Error::invalid(format!(
                        "max_aux = {m} is smaller than output node {}'s top-k set ({} nodes)",
                        outputs[i],
                        a.len()
                    )));
                }
                aux_capped_groups(&aux, &pairs, m)
            }
            None => greedy_groups(
                outputs.len(),
                &pairs,
                balanced_cap(outputs.len(), self.outputs_per_batch),
            ),
        };
        let plans: Vec<NodePlan> = groups
            .iter()
            .map(|grp| {
                let members: Vec<u32> = grp.iter().map(|&i| outputs[i as usize]).collect();
                let mut a: Vec<u32> = grp
                    .iter()
                    .flat_map(|&i| aux[i as usize].iter().copied())
                    .collect();
                a.sort_unstable();
                a.dedup();
                NodePlan::new(members, a)
            })
            .collect();
        Ok(Box::new(
            FixedBatches::built(ctx, &outputs, plans, self.order, start)?
                .on_threads(rayon::current_num_threads()),
        ))
    }
}

/// Batch-wise IBMB.
#[plugin_options]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IbmbBatchSpec {
    /// Parts the whole graph is partitioned into for training.
    #[option(
        ty = "integer",
        default = 4,
        doc = "parts of the whole graph for training"
    )]
    pub num_parts: usize,
    /// Parts for inference (default: half of `num_parts`, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(ty = "integer", toml = "num_parts / 2", doc = "parts for inference")]
    pub inference_parts: Option<usize>,
    /// Auxiliary nodes per batch: `ceil(expand_ratio · nodes / num_parts)`.
    #[serde(default = "d_ratio")]
    #[option(
        ty = "float",
        doc = "auxiliary nodes per batch = ceil(ratio x nodes / num_parts)"
    )]
    pub expand_ratio: f64,
    /// PPR teleport probability.
    #[serde(default = "d_alpha")]
    #[option(ty = "float", doc = "PPR teleport probability")]
    pub alpha: f32,
    /// Power iterations of the topic-sensitive PPR.
    #[option(ty = "integer", default = 50, doc = "power iterations")]
    pub iters: usize,
    /// Partitioner.
    #[serde(default)]
    #[option(ty = "string", doc = "auto (METIS if built with it) | metis | grow")]
    pub partitioner: Partitioner,
    /// Batch order in training.
    #[serde(default = "d_order")]
    #[option(ty = "string", doc = crate::ORDER_DOC)]
    pub order: Order,
}

fn d_ratio() -> f64 {
    1.0
}

/// Columns of the dense topic-PPR block per pass: keeps it near 256 MB.
fn chunk_columns(n: usize) -> usize {
    ((256usize << 20) / (n.max(1) * 4)).clamp(1, 50)
}

#[geobatch_core::plugin(
    name = "ibmb-batch",
    summary = "batch-wise IBMB: graph partition of the outputs, then topic-sensitive PPR auxiliary nodes per batch (fixed batches)",
    example = "num_parts = 8\n",
    batch_size = num_parts
)]
impl BatcherSpec<NodeLevel> for IbmbBatchSpec {
    fn label(&self) -> String {
        format!("ibmb-batch-p{}", self.num_parts)
    }

    fn validate(&self) -> Result<()> {
        check_alpha(self.alpha)?;
        check_parts(self.num_parts, self.inference_parts, self.partitioner)?;
        if self.expand_ratio.is_nan() || self.expand_ratio <= 0.0 {
            return Err(Error::invalid("expand_ratio must be positive"));
        }
        if self.iters == 0 {
            return Err(Error::invalid(
                "batcher.iters = 0: without a power iteration the PPR scores are the teleport \
                 vector alone and no auxiliary node is chosen by influence; at least 1 (the \
                 study's default is 50)",
            ));
        }
        Ok(())
    }

    fn facts(&self) -> NodeBatcherFacts {
        let parts = inference_parts(self.num_parts, self.inference_parts);
        NodeBatcherFacts::inferring(IbmbBatchSpec {
            num_parts: parts,
            inference_parts: Some(parts),
            order: Order::Fixed,
            ..self.clone()
        })
    }

    fn build(&self, ctx: &NodeBatcherContext<'_>) -> Result<Box<dyn Batcher<NodeLevel>>> {
        self.validate()?;
        let start = Instant::now();
        let g = ctx.graph;
        let n = g.n_nodes();
        let part = partition(g, self.num_parts, self.partitioner, ctx.seed)?;
        let groups = outputs_by_part(&part, ctx.outputs, self.num_parts);
        if groups.is_empty() {
            return Err(Error::EmptySplit(ctx.split.to_string()));
        }
        let k = (self.expand_ratio * n as f64 / self.num_parts as f64).ceil() as usize;
        let mut plans = Vec::with_capacity(groups.len());
        for chunk in groups.chunks(chunk_columns(n)) {
            let sets: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            let x = topic_ppr(g, &sets, self.alpha, self.iters);
            let b = sets.len();
            for (c, outs) in chunk.iter().enumerate() {
                let entries: Vec<(u32, f32)> = (0..n)
                    .filter_map(|v| {
                        let p = x[v * b + c];
                        (p > 0.0).then_some((v as u32, p))
                    })
                    .collect();
                plans.push(NodePlan::new(outs.clone(), top_k(entries, k)));
            }
        }
        Ok(Box::new(
            FixedBatches::built(ctx, ctx.outputs, plans, self.order, start)?
                .on_threads(rayon::current_num_threads()),
        ))
    }
}

/// Output nodes grouped by part, empty parts dropped, each sorted.
pub fn outputs_by_part(part: &[u32], outputs: &[u32], k: usize) -> Vec<Vec<u32>> {
    let mut groups = vec![Vec::new(); k];
    for &o in outputs {
        groups[part[o as usize] as usize].push(o);
    }
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(|mut g| {
            g.sort_unstable();
            g.dedup();
            g
        })
        .collect()
}
