//! The baselines IBMB is compared with: `cluster` (Cluster-GCN: partition the graph, a batch is
//! the outputs of one part with the part's nodes as context, no expansion) and `neighbor`
//! (GraphSAGE-style uniform fixed-fanout neighbourhood samples, drawn anew every epoch; the batch
//! is the induced subgraph of the sampled nodes).

use crate::fixed::FixedBatches;
use crate::ibmb::outputs_by_part;
use crate::order::Order;
use crate::partition::{Partitioner, check_parts, inference_parts, partition};
use geobatch_core::{Batcher, BatcherSpec, Error, Result, plugin_options};
use geobatch_node::{NodeBatcherContext, NodeBatcherFacts, NodeGraph, NodeLevel, NodePlan};
use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Cluster-GCN batches.
#[plugin_options]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Parts for training.
    #[option(ty = "integer", default = 4, doc = "parts for training")]
    pub num_parts: usize,
    /// Parts for inference (default: half of `num_parts`, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(ty = "integer", toml = "num_parts / 2", doc = "parts for inference")]
    pub inference_parts: Option<usize>,
    /// Partitioner.
    #[serde(default)]
    #[option(ty = "string", doc = "auto | metis | grow")]
    pub partitioner: Partitioner,
    /// Batch order in training.
    #[serde(default)]
    #[option(ty = "string", doc = crate::ORDER_DOC)]
    pub order: Order,
}

#[geobatch_core::plugin(
    name = "cluster",
    summary = "Cluster-GCN baseline: partition the graph; a batch is one part's outputs with the part as context",
    example = "num_parts = 8\n",
    batch_size = num_parts
)]
impl BatcherSpec<NodeLevel> for ClusterSpec {
    fn label(&self) -> String {
        format!("cluster-p{}", self.num_parts)
    }

    fn validate(&self) -> Result<()> {
        check_parts(self.num_parts, self.inference_parts, self.partitioner)
    }

    fn facts(&self) -> NodeBatcherFacts {
        let parts = inference_parts(self.num_parts, self.inference_parts);
        NodeBatcherFacts::inferring(ClusterSpec {
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
        let part = partition(g, self.num_parts, self.partitioner, ctx.seed)?;
        let mut members = vec![Vec::new(); self.num_parts];
        for (v, &p) in part.iter().enumerate() {
            members[p as usize].push(v as u32);
        }
        let mut out_part = vec![false; self.num_parts];
        for &o in ctx.outputs {
            out_part[part[o as usize] as usize] = true;
        }
        let groups = outputs_by_part(&part, ctx.outputs, self.num_parts);
        if groups.is_empty() {
            return Err(Error::EmptySplit(ctx.split.to_string()));
        }
        let nodes: Vec<Vec<u32>> = members
            .into_iter()
            .zip(out_part)
            .filter(|(_, has)| *has)
            .map(|(m, _)| m)
            .collect();
        let plans = groups
            .into_iter()
            .zip(nodes)
            .map(|(o, a)| NodePlan::new(o, a))
            .collect();
        Ok(Box::new(FixedBatches::built(
            ctx,
            ctx.outputs,
            plans,
            self.order,
            start,
        )?))
    }
}

/// Neighbour sampling.
#[plugin_options]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighborSpec {
    /// Output nodes per batch.
    #[option(ty = "integer", default = 512, doc = "output nodes per batch")]
    pub batch_size: usize,
    /// Neighbours sampled per node, one entry per hop (outermost last).
    #[option(ty = "[integer]", default = vec![10, 5], doc = "neighbours sampled per node per hop")]
    pub fanouts: Vec<usize>,
    /// Inference batches are this many times larger.
    #[option(
        ty = "integer",
        default = 2,
        doc = "inference batches are this many times larger"
    )]
    pub inference_scale: usize,
}

#[geobatch_core::plugin(
    name = "neighbor",
    summary = "neighbour-sampling baseline: uniform fixed-fanout neighbourhoods of random output batches, resampled every epoch",
    example = "batch_size = 256\nfanouts = [10, 5]\n",
    batch_size = batch_size
)]
impl BatcherSpec<NodeLevel> for NeighborSpec {
    fn label(&self) -> String {
        let f: Vec<String> = self.fanouts.iter().map(|f| f.to_string()).collect();
        format!("neighbor-{}", f.join("x"))
    }

    fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.inference_scale == 0 {
            return Err(Error::invalid(
                "batch_size and inference_scale must be at least 1",
            ));
        }
        // no hop, or a hop of no neighbour: the model sees the output nodes without the graph
        // (test accuracy 0.09-0.14 on Cora against 0.78), which no one means
        if self.fanouts.is_empty() {
            return Err(Error::invalid(
                "batcher.fanouts = []: neighbour sampling needs a fanout per hop (one per layer \
                 of the model), e.g. [10, 5]",
            ));
        }
        if let Some(k) = self.fanouts.iter().position(|&f| f == 0) {
            return Err(Error::invalid(format!(
                "batcher.fanouts[{k}] = 0: a hop that samples no neighbour cuts the graph there; \
                 each fanout must be at least 1"
            )));
        }
        Ok(())
    }

    fn facts(&self) -> NodeBatcherFacts {
        NodeBatcherFacts {
            inference: Some(Box::new(NeighborSpec {
                batch_size: self.batch_size * self.inference_scale,
                inference_scale: 1,
                ..self.clone()
            })),
            hops: Some((self.fanouts.len(), "batcher.fanouts")),
        }
    }

    fn build(&self, ctx: &NodeBatcherContext<'_>) -> Result<Box<dyn Batcher<NodeLevel>>> {
        self.validate()?;
        if ctx.outputs.is_empty() {
            return Err(Error::EmptySplit(ctx.split.to_string()));
        }
        Ok(Box::new(NeighborSampler {
            outputs: ctx.outputs.to_vec(),
            batch: self.batch_size,
            fanouts: self.fanouts.clone(),
            training: ctx.training,
            seed: ctx.seed,
            order: Vec::new(),
            pos: 0,
            rng: ChaCha8Rng::seed_from_u64(ctx.seed),
            seen: vec![false; ctx.graph.n_nodes()],
        }))
    }
}

/// The runtime neighbour sampler.
#[derive(Debug)]
struct NeighborSampler {
    outputs: Vec<u32>,
    batch: usize,
    fanouts: Vec<usize>,
    training: bool,
    seed: u64,
    order: Vec<u32>,
    pos: usize,
    rng: ChaCha8Rng,
    seen: Vec<bool>,
}

impl Batcher<NodeLevel> for NeighborSampler {
    fn start_epoch(&mut self, epoch: u64) -> Result<()> {
        self.order.clone_from(&self.outputs);
        let seed = if self.training {
            self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        } else {
            self.seed
        };
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        if self.training {
            self.order.shuffle(&mut self.rng);
        }
        self.pos = 0;
        Ok(())
    }

    fn next_plan(&mut self, graph: &NodeGraph, plan: &mut NodePlan) -> Result<bool> {
        if self.pos >= self.order.len() {
            return Ok(false);
        }
        let end = (self.pos + self.batch).min(self.order.len());
        let outs = &self.order[self.pos..end];
        self.pos = end;
        let mut aux: Vec<u32> = outs.to_vec();
        for &v in outs {
            self.seen[v as usize] = true;
        }
        let mut frontier: Vec<u32> = outs.to_vec();
        let mut next = Vec::new();
        let mut pool = Vec::new();
        let mut edges = Vec::new();
        for &f in &self.fanouts {
            next.clear();
            for &u in &frontier {
                pool.clear();
                pool.extend(graph.neighbors(u).iter().copied().filter(|&w| w != u));
                for &w in pool.choose_multiple(&mut self.rng, f) {
                    edges.push((u, w));
                    if !self.seen[w as usize] {
                        self.seen[w as usize] = true;
                        aux.push(w);
                        next.push(w);
                    }
                }
            }
            std::mem::swap(&mut frontier, &mut next);
        }
        for &v in &aux {
            self.seen[v as usize] = false;
        }
        *plan = NodePlan::new(outs.to_vec(), aux).with_edges(edges);
        Ok(true)
    }

    fn batches_per_epoch(&self) -> Option<usize> {
        Some(self.outputs.len().div_ceil(self.batch))
    }

    fn precompute_ns(&self) -> u64 {
        0
    }
}

/// Full-batch training: one batch holding every output node and the whole graph.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullSpec {}

#[geobatch_core::plugin(
    name = "full",
    summary = "full-batch reference: one batch with every output node and the whole graph",
    example = "",
    options = &[]
)]
impl BatcherSpec<NodeLevel> for FullSpec {
    fn batch_size(&self) -> usize {
        0
    }

    fn set_batch_size(&mut self, _batch_size: usize) -> Result<()> {
        Ok(())
    }

    fn label(&self) -> String {
        "full".into()
    }

    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn build(&self, ctx: &NodeBatcherContext<'_>) -> Result<Box<dyn Batcher<NodeLevel>>> {
        if ctx.outputs.is_empty() {
            return Err(Error::EmptySplit(ctx.split.to_string()));
        }
        let start = Instant::now();
        let plan = NodePlan::new(
            ctx.outputs.to_vec(),
            (0..ctx.graph.n_nodes() as u32).collect(),
        );
        Ok(Box::new(FixedBatches::built(
            ctx,
            ctx.outputs,
            vec![plan],
            Order::Fixed,
            start,
        )?))
    }
}
