//! `round`: static batching (`batch_size - 1` graphs per batch, in stream order) with nodes and
//! edges padded up to a multiple of `step`. `step = 64` is the study's static-64; a larger step
//! gives fewer distinct shapes (fewer compilations on a JIT engine) for more padding.

use geobatch_core::{
    BatchSize, Batcher, BatcherContext, BatcherSpec, Budget, Error, GraphDraw, Plan, Result, Shape,
    plugin_options,
};
use serde::{Deserialize, Serialize};

/// Config of the round batcher: a `[batcher]` table with `kind = "round"`.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundSpec {
    /// Graph slots per batch: `batch_size - 1` real graphs and one for padding (a `BatchSize`:
    /// at least 2, refused where the config is read).
    #[option(ty = "integer >= 2", doc = "graph slots per batch (one pads)")]
    pub batch_size: BatchSize,
    /// Nodes and edges are padded up to a multiple of this.
    #[option(
        ty = "integer >= 1",
        default = 128,
        doc = "nodes and edges are padded up to a multiple of this"
    )]
    pub step: usize,
}

/// The runtime round batcher.
#[derive(Debug, Clone)]
pub struct RoundBatcher {
    batch_size: usize,
    step: usize,
}

impl RoundBatcher {
    /// The smallest multiple of `step` that is at least `x`.
    fn round_up(&self, x: usize) -> usize {
        x.div_ceil(self.step) * self.step
    }
}

impl Batcher for RoundBatcher {
    fn next_plan(
        &mut self,
        GraphDraw { stream, sizes }: GraphDraw<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        plan.clear();
        while plan.real.graphs < self.batch_size - 1 {
            let Some(g) = stream.next_index() else { break };
            plan.push(g, sizes[g as usize]);
        }
        // jraph's rules: one more node and graph than the real content, edges at least as many
        plan.padded = Shape::new(
            self.round_up(plan.real.nodes + 1),
            self.round_up(plan.real.edges),
            self.batch_size,
        );
        Ok(!plan.is_empty())
    }

    fn budget(&self) -> Option<Budget> {
        None // shapes vary from batch to batch
    }
}

#[geobatch_core::plugin(
    name = "round",
    summary = "batch_size - 1 graphs per batch, nodes and edges padded to a multiple of step",
    example = "batch_size = 32\nstep = 128\n",
    batch_size = batch_size
)]
impl BatcherSpec for RoundSpec {
    fn label(&self) -> String {
        format!("round-{}", self.step)
    }

    fn validate(&self) -> Result<()> {
        if self.step == 0 {
            return Err(Error::invalid("batcher.step must be at least 1"));
        }
        Ok(())
    }

    fn build(&self, ctx: &BatcherContext<'_>) -> Result<Box<dyn Batcher>> {
        self.validate()?;
        if ctx.sizes.is_empty() {
            return Err(Error::EmptySplit(ctx.split.to_string()));
        }
        Ok(Box::new(RoundBatcher {
            batch_size: self.batch_size.get(),
            step: self.step,
        }))
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog` once it is registered there).
pub fn link() {}
