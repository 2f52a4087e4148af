//! The `pack` batcher: every batch has one padded shape, like `dynamic`, and fills it nearly as
//! well as `static-64` fills its many shapes (docs/batching.md, "pack").
//!
//! **Budget.** Sized for `batch_size` graphs *on average* rather than at most: the node budget is
//! dynamic's (`next64(max(mean nodes * batch_size, max nodes))`, strict rounding), the edge budget
//! is sized for the same number of mean graphs as the node budget holds (`k = nodes / mean
//! nodes`, edges = `next64(max(mean edges * k, max edges))`), and there are `ceil(graph_slack * k)
//! + 1` graph slots, so the graph count rarely binds and node and edge fill turn into real graphs.
//!
//! **Rule.** First fit over a look-ahead window: a batch first takes, in arrival order, every
//! held graph that still fits, then draws graphs from the stream, taking each one that fits and
//! holding the others, until `window` graphs are held. A held graph is offered first to the next
//! batch, which starts empty, so it waits at most one batch. Every batch is padded to the budget.
//!
//! **Passes.** A graph of a later training pass is never taken while a graph of an earlier pass
//! is held back, so every pass is emitted exactly once, in order, as with every other batcher.
//!
//! **State.** The held graphs are the batcher's state ([`Batcher::state`]), saved in checkpoints.

use geobatch_core::rounding::next_multiple_of_64_strict;
use geobatch_core::{
    BatchSize, Batcher, BatcherContext, BatcherSpec, Budget, Error, GraphBatcherFacts, GraphDraw,
    GraphSize, Plan, Result, Shape, SizeStats, plugin_options,
};
use serde::{Deserialize, Serialize};

/// The largest look-ahead window: every batch scans it.
pub const MAX_WINDOW: usize = 65_536;

/// Config of the pack batcher.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackSpec {
    /// Mean number of graphs the budget is sized for (more fit when they are small).
    #[option(
        ty = "integer >= 2",
        doc = "mean number of graphs the node budget is sized for (small graphs make more)"
    )]
    pub batch_size: BatchSize,
    /// Graphs held back at most (the look-ahead window).
    #[option(
        ty = "integer 1..=65536",
        default = 32,
        doc = "graphs held back at most for later batches (1 behaves like dynamic's carry-over)"
    )]
    pub window: usize,
    /// Leading graphs (stored order) the budget is estimated from; `None`: every graph (clean),
    /// or the study's first 1,000 (reference quirks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "integer >= 1",
        toml = "every graph (clean); 1000 (reference quirks)",
        doc = "graphs the budget is estimated from: left out, every graph, so the order of the data does not matter (the study's first 1,000 in stored order under quirks = \"reference\"); given, the first k in stored order"
    )]
    pub num_estimation_graphs: Option<usize>,
    /// Graph slots per mean graph the node budget holds.
    #[option(
        ty = "number >= 1",
        default = 1.25,
        doc = "graph slots per mean graph the node budget holds"
    )]
    pub graph_slack: f64,
    /// An explicit budget (nodes, edges, graphs) instead of the estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "{ nodes, edges, graphs }",
        toml = "estimated",
        doc = "the padded shape of every batch, instead of the estimate"
    )]
    pub budget: Option<Budget>,
}

/// The pack budget for graphs of these sizes (see the crate's text).
pub fn estimate_budget(stats: &SizeStats, batch_size: usize, graph_slack: f64) -> Budget {
    let nodes = next_multiple_of_64_strict(
        (stats.mean_nodes * batch_size as f64).max(f64::from(stats.max_nodes)),
    );
    let mean_graphs = nodes as f64 / stats.mean_nodes.max(1.0);
    let edges = next_multiple_of_64_strict(
        (stats.mean_edges * mean_graphs).max(f64::from(stats.max_edges)),
    );
    let graphs = (graph_slack * mean_graphs).ceil() as usize + 1;
    Shape::new(nodes, edges, graphs.max(2))
}

/// Graphs whose sizes are read from the stream in one go.
const LOOKAHEAD: usize = 32;

/// A graph drawn from the stream and held back: its index, size and training pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Index in the split.
    pub graph: u32,
    /// Nodes.
    pub nodes: u32,
    /// Edges.
    pub edges: u32,
    /// The stream's pass it was drawn in.
    pub pass: u64,
}

/// The runtime pack batcher.
#[derive(Debug, Clone)]
pub struct PackBatcher {
    budget: Budget,
    window: usize,
    held: Vec<Held>,
    keep: Vec<Held>,
}

/// What is left of a budget while a batch is filled.
struct Room {
    nodes: u32,
    edges: u32,
    graphs: usize,
    /// The pass of the first graph left behind: later passes wait.
    blocked: Option<u64>,
}

impl Room {
    /// Takes `h` into `plan` when it fits and its pass is not blocked; else blocks its pass.
    fn offer(&mut self, h: Held, plan: &mut Plan) -> bool {
        let fits = h.nodes <= self.nodes
            && h.edges <= self.edges
            && self.graphs > 0
            && self.blocked.is_none_or(|p| h.pass <= p);
        if fits {
            self.nodes -= h.nodes;
            self.edges -= h.edges;
            self.graphs -= 1;
            plan.push(
                h.graph,
                GraphSize {
                    nodes: h.nodes,
                    edges: h.edges,
                },
            );
        } else {
            self.blocked.get_or_insert(h.pass);
        }
        fits
    }
}

impl PackBatcher {
    /// A pack batcher with an explicit budget and window.
    pub fn new(budget: Budget, window: usize) -> Result<Self> {
        if budget.graphs < 2 {
            return Err(Error::BatchSize(budget.graphs));
        }
        if budget.nodes < 2 {
            return Err(Error::invalid("a pack budget needs at least 2 nodes"));
        }
        if budget.nodes > u32::MAX as usize || budget.edges > u32::MAX as usize {
            return Err(Error::invalid(format!("pack budget {budget} is too large")));
        }
        if window == 0 {
            return Err(Error::invalid("batcher.window must be at least 1"));
        }
        Ok(PackBatcher {
            budget,
            window,
            held: Vec::with_capacity(window),
            keep: Vec::with_capacity(window),
        })
    }

    /// The graphs held back now, in arrival order.
    pub fn held(&self) -> &[Held] {
        &self.held
    }
}

impl Batcher for PackBatcher {
    fn next_plan(
        &mut self,
        GraphDraw { stream, sizes }: GraphDraw<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        plan.clear();
        let mut room = Room {
            nodes: (self.budget.nodes - 1) as u32,
            edges: self.budget.edges as u32,
            graphs: self.budget.graphs - 1,
            blocked: None,
        };
        // the held graphs first, in arrival order
        self.keep.clear();
        for &h in &self.held {
            if !room.offer(h, plan) {
                self.keep.push(h);
            }
        }
        std::mem::swap(&mut self.held, &mut self.keep);
        // then the stream, until the window is full; sizes are read LOOKAHEAD at a time so
        // that their cache misses overlap
        let mut ahead = [(0u32, GraphSize::default()); LOOKAHEAD];
        'fill: while self.held.len() < self.window {
            let n = stream.peek_sizes(sizes, &mut ahead);
            if n == 0 {
                break;
            }
            // after the peek, which may start a pass; the graphs peeked are all of this pass
            let pass = stream.pass();
            for &(graph, s) in &ahead[..n] {
                if self.held.len() >= self.window {
                    break 'fill;
                }
                stream.advance();
                if !self
                    .budget
                    .admits(&Shape::new(s.nodes as usize, s.edges as usize, 1))
                {
                    return Err(Error::GraphTooLarge {
                        index: graph,
                        nodes: s.nodes,
                        edges: s.edges,
                        budget: self.budget,
                    });
                }
                let h = Held {
                    graph,
                    nodes: s.nodes,
                    edges: s.edges,
                    pass,
                };
                if !room.offer(h, plan) {
                    self.held.push(h);
                }
            }
        }
        if plan.is_empty() && !self.held.is_empty() {
            // cannot happen: the oldest held graph always fits an empty budget
            return Err(Error::invalid("pack: a held graph fits no batch"));
        }
        plan.padded = self.budget;
        Ok(!plan.is_empty())
    }

    fn budget(&self) -> Option<Budget> {
        Some(self.budget)
    }

    fn state(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.held).map_err(|e| Error::invalid(e.to_string()))
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<()> {
        let held: Vec<Held> = serde_json::from_value(state)
            .map_err(|e| Error::invalid(format!("the checkpoint's pack window: {e}")))?;
        if held.len() > self.window {
            return Err(Error::invalid(format!(
                "the checkpoint holds {} graphs, more than the window of {}",
                held.len(),
                self.window
            )));
        }
        self.held = held;
        Ok(())
    }
}

#[geobatch_core::plugin(
    name = "pack",
    summary = "one padded shape filled nearly full: first fit over a look-ahead window of the stream",
    example = "batch_size = 32\n",
    batch_size = batch_size
)]
impl BatcherSpec for PackSpec {
    fn label(&self) -> String {
        "pack".into()
    }

    fn validate(&self) -> Result<()> {
        if self.window == 0 {
            return Err(Error::invalid("batcher.window must be at least 1"));
        }
        if self.window > MAX_WINDOW {
            return Err(Error::invalid(format!(
                "batcher.window = {}: at most {MAX_WINDOW} (every batch scans the graphs held \
                 back: a window of 10^8 took 358 ms a batch, and beyond a few hundred graphs the \
                 fill no longer improves)",
                self.window
            )));
        }
        if self.num_estimation_graphs == Some(0) {
            return Err(Error::invalid(
                "batcher.num_estimation_graphs must be at least 1",
            ));
        }
        if !(self.graph_slack.is_finite() && self.graph_slack >= 1.0) {
            return Err(Error::invalid(format!(
                "batcher.graph_slack must be a number >= 1, got {}",
                self.graph_slack
            )));
        }
        if let Some(b) = self.budget.filter(|b| b.nodes < 2 || b.graphs < 2) {
            return Err(Error::invalid(format!(
                "batcher.budget {b} needs at least 2 nodes and 2 graphs (one of each pads)"
            )));
        }
        Ok(())
    }

    fn build(&self, ctx: &BatcherContext<'_>) -> Result<Box<dyn Batcher>> {
        self.validate()?;
        let head = ctx.estimation_sizes(self.num_estimation_graphs);
        let stats = SizeStats::of(head).ok_or_else(|| Error::EmptySplit(ctx.split.to_string()))?;
        let budget = self
            .budget
            .unwrap_or_else(|| estimate_budget(&stats, self.batch_size.get(), self.graph_slack));
        // an explicit budget for more graphs than the split holds would put every graph into
        // each batch several times (an estimated one follows the split's sizes)
        let n = ctx.sizes.len();
        if let Some(explicit) = self.budget.filter(|b| b.graphs > n + 1) {
            return Err(Error::invalid(format!(
                "batcher.budget.graphs = {}: more than the {n} graphs of the {} split + 1 (the \
                 padding graph); each batch would hold every graph several times: at most {}",
                explicit.graphs,
                ctx.split,
                n + 1
            )));
        }
        Ok(Box::new(PackBatcher::new(budget, self.window)?))
    }

    fn facts(&self) -> GraphBatcherFacts {
        GraphBatcherFacts {
            budget: self.budget,
        }
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}

#[cfg(test)]
mod tests;
