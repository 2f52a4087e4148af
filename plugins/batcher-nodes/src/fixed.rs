//! [`FixedBatches`]: precomputed plans replayed every epoch in a scheduled order.

use crate::order::{Order, Scheduler, histogram};
use geobatch_core::{Batcher, Error, Result};
use geobatch_node::{NodeBatcherContext, NodeGraph, NodeLevel, NodePlan};
use std::time::Instant;

/// Fixed, precomputed batches (IBMB, Cluster-GCN): built once, replayed every epoch.
#[derive(Debug)]
pub struct FixedBatches {
    plans: Vec<NodePlan>,
    scheduler: Scheduler,
    current: Vec<usize>,
    pos: usize,
    precompute_ns: u64,
    threads: usize,
}

impl FixedBatches {
    /// Wraps the plans a batcher built from `ctx` since `start` (its pre-computation time), for
    /// `outputs`. Training replays them in `order`, using the label histograms of their output
    /// nodes; inference keeps the build order. Checks that the plans' outputs partition `outputs`
    /// (every output exactly once).
    pub fn built(
        ctx: &NodeBatcherContext<'_>,
        outputs: &[u32],
        plans: Vec<NodePlan>,
        order: Order,
        start: Instant,
    ) -> Result<Self> {
        let precompute_ns = start.elapsed().as_nanos() as u64;
        check_partition(outputs, &plans)?;
        let order = if ctx.training { order } else { Order::Fixed };
        let graph = ctx.graph;
        let labels = graph.labels();
        let hists: Vec<Vec<f64>> = plans
            .iter()
            .map(|p| {
                histogram(
                    p.outputs.iter().map(|&v| labels[v as usize]),
                    graph.n_classes(),
                )
            })
            .collect();
        Ok(FixedBatches {
            scheduler: Scheduler::new(order, &hists, ctx.seed),
            plans,
            current: Vec::new(),
            pos: 0,
            precompute_ns,
            threads: 1,
        })
    }

    /// Records that the pre-computation ran on `threads` threads (rayon's pool).
    pub fn on_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The plans in build order.
    pub fn plans(&self) -> &[NodePlan] {
        &self.plans
    }
}

/// Errors unless the plans' output sets partition `outputs` and each lies inside its aux set.
pub fn check_partition(outputs: &[u32], plans: &[NodePlan]) -> Result<()> {
    let mut all: Vec<u32> = plans
        .iter()
        .flat_map(|p| p.outputs.iter().copied())
        .collect();
    all.sort_unstable();
    let mut want = outputs.to_vec();
    want.sort_unstable();
    want.dedup();
    if all != want {
        return Err(Error::invalid(format!(
            "internal: batches cover {} output slots for {} output nodes",
            all.len(),
            want.len()
        )));
    }
    for p in plans {
        if p.outputs.iter().any(|o| p.aux.binary_search(o).is_err()) {
            return Err(Error::invalid(
                "internal: an output node is outside its batch",
            ));
        }
    }
    Ok(())
}

impl Batcher<NodeLevel> for FixedBatches {
    fn start_epoch(&mut self, epoch: u64) -> Result<()> {
        self.current = self.scheduler.epoch(epoch);
        self.pos = 0;
        Ok(())
    }

    fn next_plan(&mut self, _graph: &NodeGraph, plan: &mut NodePlan) -> Result<bool> {
        let Some(&i) = self.current.get(self.pos) else {
            return Ok(false);
        };
        self.pos += 1;
        plan.copy_from(&self.plans[i]);
        Ok(true)
    }

    fn batches_per_epoch(&self) -> Option<usize> {
        Some(self.plans.len())
    }

    fn precompute_ns(&self) -> u64 {
        self.precompute_ns
    }

    fn precompute_threads(&self) -> usize {
        self.threads
    }
}
