//! The batcher plugin contract.

use crate::error::{Error, Result};
use crate::graph::GraphSize;
use crate::plan::Plan;
use crate::shape::Budget;
use crate::stream::{GraphStream, Quirks};
use std::fmt::Debug;

/// What a batcher is built for: the split it serves and how the stream behaves.
#[derive(Debug, Clone, Copy)]
pub struct BatcherContext<'a> {
    /// Sizes of the split's graphs in stored order (budget estimation reads these).
    pub sizes: &'a [GraphSize],
    /// Name of the split, for messages.
    pub split: &'a str,
    /// Clean behaviour or the reference's quirks.
    pub quirks: Quirks,
}

/// A runtime batcher: turns a stream of graph indices into plans.
///
/// Contract: every plan respects the jraph padding rules (`padded` has strictly more nodes and
/// graphs than `real`, and at least as many edges); a graph the batcher cannot place is an error,
/// never silently dropped (except the documented reference quirks).
pub trait Batcher: Send + Debug {
    /// Fills `plan` with the next batch. Returns `Ok(false)` when an evaluation stream is
    /// exhausted and nothing is left to emit.
    fn next_plan(
        &mut self,
        stream: &mut GraphStream,
        sizes: &[GraphSize],
        plan: &mut Plan,
    ) -> Result<bool>;

    /// The fixed padded shape of every batch, for budgeted batchers (dynamic, static-constant).
    fn budget(&self) -> Option<Budget>;

    /// The configured batch size.
    fn batch_size(&self) -> usize;

    /// What the batcher holds between plans (graphs drawn from the stream but not yet emitted),
    /// for checkpoints: saved with the stream's position so that `--resume` continues exactly.
    /// Batchers that hold nothing keep the default, `Null`.
    fn state(&self) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }

    /// Restores what [`Batcher::state`] returned (for the same split and config).
    fn restore(&mut self, state: serde_json::Value) -> Result<()> {
        if state.is_null() {
            Ok(())
        } else {
            Err(Error::invalid(
                "the checkpoint holds a batcher state, but this batcher keeps none: \
                 was it written with another batcher?",
            ))
        }
    }
}

/// The largest batch size any config may ask for (a million graphs; QM9's training split holds
/// 104,665): checked by `geobatch validate`, before any data is loaded.
pub const MAX_BATCH_SIZE: usize = 1 << 20;

/// Builds `spec`'s batcher for a training split after checking that the batch size is one the
/// split can fill: at most the split's graphs plus the padding graph (a larger batch would repeat
/// graphs within one batch, and a huge one would exhaust memory before its first step).
pub fn build_for_training(
    spec: &dyn BatcherSpec,
    ctx: &BatcherContext<'_>,
) -> Result<Box<dyn Batcher>> {
    let (bs, n) = (spec.batch_size(), ctx.sizes.len());
    if n == 0 {
        return Err(Error::EmptySplit(ctx.split.to_string()));
    }
    if bs > n + 1 {
        return Err(Error::invalid(format!(
            "batcher.batch_size = {bs} is more than the {} split can fill ({n} graphs, so at most batch_size = {}): lower batch_size",
            ctx.split,
            n + 1
        )));
    }
    spec.build(ctx)
}

/// Config of a batcher, registered by name with `#[typetag::serde(name = "...")]`.
#[typetag::serde(tag = "kind")]
pub trait BatcherSpec: Debug + Send + Sync {
    /// The configured batch size.
    fn batch_size(&self) -> usize;

    /// A short label for tables and plots (e.g. `static-64`).
    fn label(&self) -> String;

    /// Checks the options without data (`geobatch validate`).
    fn validate(&self) -> Result<()>;

    /// Builds the runtime batcher for one split.
    fn build(&self, ctx: &BatcherContext<'_>) -> Result<Box<dyn Batcher>>;
}
