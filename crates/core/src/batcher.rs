//! The batcher plugin contract.

use crate::Budget;
use crate::error::{Error, Result};
use crate::graph::GraphSize;
use crate::registry::{PluginKind, PluginRole, Task};
use crate::stream::{GraphStream, Quirks};
use crate::task::{GraphLevel, TaskType};
use std::fmt::Debug;

/// What a batcher is built for: the split it serves and how the stream behaves.
#[derive(Debug, Clone, Copy)]
pub struct BatcherContext<'a> {
    /// Sizes of the split's graphs in stored order.
    pub sizes: &'a [GraphSize],
    /// Name of the split, for messages.
    pub split: &'a str,
    /// Clean behaviour or the reference's quirks.
    pub quirks: Quirks,
}

/// The leading graphs (stored order) the study's estimator reads under `quirks = "reference"`
/// when no `num_estimation_graphs` is given (spec §1.2).
pub const REFERENCE_ESTIMATION_GRAPHS: usize = 1000;

impl BatcherContext<'_> {
    /// The sizes a budget is estimated from. `Some(k)`: the first `k` graphs in stored order, as
    /// asked. `None`: every graph of the split (clean: the estimate never depends on the order the
    /// data is stored in), or the study's first [`REFERENCE_ESTIMATION_GRAPHS`] under the reference
    /// quirks.
    pub fn estimation_sizes(&self, leading: Option<usize>) -> &[GraphSize] {
        let k = match (leading, self.quirks) {
            (Some(k), _) => k,
            (None, Quirks::Clean) => self.sizes.len(),
            (None, Quirks::Reference) => REFERENCE_ESTIMATION_GRAPHS,
        };
        &self.sizes[..self.sizes.len().min(k)]
    }
}

/// A warning when a budget given by hand is far from the sizes of the graphs it batches: most of
/// every batch padding (under half the nodes or edges filled by graphs of mean size), or room for
/// fewer than two mean graphs. `None` when it fits or there is no graph.
pub fn budget_warning(sizes: &[GraphSize], budget: Budget) -> Option<String> {
    let stats = crate::graph::SizeStats::of(sizes)?;
    let room_nodes = budget.nodes.saturating_sub(1) as f64;
    let per_nodes = room_nodes / stats.mean_nodes.max(1.0);
    let per_edges = if stats.mean_edges > 0.0 {
        budget.edges as f64 / stats.mean_edges
    } else {
        f64::INFINITY
    };
    let graphs = per_nodes
        .min(per_edges)
        .min(budget.graphs.saturating_sub(1) as f64);
    let node_fill = graphs * stats.mean_nodes / budget.nodes.max(1) as f64;
    let edge_fill = if budget.edges == 0 {
        1.0
    } else {
        graphs * stats.mean_edges / budget.edges as f64
    };
    let about = format!(
        "the budget {budget} holds about {graphs:.1} graphs of mean size ({:.1} nodes, {:.1} \
         edges; the largest {} nodes, {} edges)",
        stats.mean_nodes, stats.mean_edges, stats.max_nodes, stats.max_edges
    );
    if graphs < 2.0 {
        Some(format!(
            "{about}: most batches will hold one graph; raise the budget (or leave it out to \
             have it estimated from batch_size)"
        ))
    } else if node_fill < 0.5 || edge_fill < 0.5 {
        Some(format!(
            "{about}, filling {:.0}% of its nodes and {:.0}% of its edges: most of every batch \
             will be padding; lower the counts that do not bind (or leave the budget out to have \
             it estimated from batch_size)",
            100.0 * node_fill,
            100.0 * edge_fill
        ))
    } else {
        None
    }
}

/// What a graph-level batcher draws a plan from: the split's stream of graph indices and the
/// sizes of its graphs.
#[derive(Debug)]
pub struct GraphDraw<'a> {
    /// The seeded stream of the split's graph indices.
    pub stream: &'a mut GraphStream,
    /// Sizes of the split's graphs in stored order.
    pub sizes: &'a [GraphSize],
}

impl<'a> GraphDraw<'a> {
    /// What a batcher draws from: `stream` over a split whose graphs have `sizes`.
    pub fn new(stream: &'a mut GraphStream, sizes: &'a [GraphSize]) -> Self {
        GraphDraw { stream, sizes }
    }
}

/// A runtime batcher of the task `T`: fills plans, one batch at a time, from what the task
/// draws them from ([`TaskType::Draw`]).
///
/// Graph-level contract: every plan respects the jraph padding rules (`padded` has strictly more
/// nodes and graphs than `real`, and at least as many edges); a graph the batcher cannot place
/// is an error, never silently dropped (except the documented reference quirks). Node-level
/// contract: one epoch's plans partition the batcher's output nodes (every output exactly once).
pub trait Batcher<T: TaskType = GraphLevel>: Send + Debug {
    /// Fills `plan` with the next batch. Returns `Ok(false)` when the epoch (or an evaluation
    /// stream) is over and nothing is left to emit.
    fn next_plan(&mut self, from: T::Draw<'_>, plan: &mut T::Plan) -> Result<bool>;

    /// Starts epoch `epoch` (0-based) for batchers that fix their order (and samples) per
    /// epoch; graph-level batchers follow their stream, which starts epochs itself.
    fn start_epoch(&mut self, _epoch: u64) -> Result<()> {
        Ok(())
    }

    /// Batches per epoch, for batchers that know it before drawing (every node-level one).
    fn batches_per_epoch(&self) -> Option<usize> {
        None
    }

    /// The fixed padded shape of every batch, for budgeted batchers (dynamic, static-constant).
    fn budget(&self) -> Option<Budget> {
        None
    }

    /// Time spent building the batcher (pre-computation: PPR, partitioning, grouping), ns.
    fn precompute_ns(&self) -> u64 {
        0
    }

    /// Threads the pre-computation ran on (1 unless it is parallel).
    fn precompute_threads(&self) -> usize {
        1
    }

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

/// Config of a batcher of the task `T`, registered by name with `#[plugin(name = "...")]`.
pub trait BatcherSpec<T: TaskType = GraphLevel>: dyn_clone::DynClone + Debug + Send + Sync {
    /// The registered name (`kind = "..."`); written by `#[plugin]`.
    fn plugin_name(&self) -> &'static str;

    /// The spec's options, for writing it back as a table; written by `#[plugin]`.
    fn as_serialize(&self) -> &dyn crate::tagged::ErasedSerialize;

    /// The configured `batch_size`, whose meaning is the batcher's own (docs/batching.md, "What
    /// batch_size means"): graph slots per batch, one kept for padding (`static`, `dynamic`'s
    /// graph budget), or the mean graphs a budget is sized for (`pack`). It names runs
    /// (`bs32`) and scales estimated budgets; it is not a count of real graphs. Written by
    /// `#[plugin]` from the field its `batch_size` key names.
    fn batch_size(&self) -> usize;

    /// Sets `batch_size` (`bench step --batch-sizes`: one config timed at several sizes; the spec
    /// is cloned, then edited as a value), refused where the field's type refuses it (a graph
    /// batcher's [`crate::BatchSize`]). Written by `#[plugin]` with [`BatcherSpec::batch_size`].
    fn set_batch_size(&mut self, batch_size: usize) -> Result<()>;

    /// A short label for tables and plots (e.g. `static-64`).
    fn label(&self) -> String;

    /// Checks the options without data (`geobatch validate`) beyond what their types check when
    /// they are read (a graph batcher's [`crate::BatchSize`]); by default nothing more.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Builds the runtime batcher (for one split; node-level pre-computation happens here and
    /// is timed).
    fn build(&self, ctx: &T::BatcherContext<'_>) -> Result<Box<dyn Batcher<T>>>;

    /// What the config tells its task beyond the batches it builds (the task's
    /// [`TaskType::BatcherFacts`]: a graph batcher's budget given by hand; a node batcher's
    /// inference variant and the hops it keeps); by default nothing.
    fn facts(&self) -> T::BatcherFacts {
        T::BatcherFacts::default()
    }
}

impl<T: TaskType> PluginRole for dyn BatcherSpec<T> {
    const KIND: PluginKind = PluginKind::Batcher;
    const TASK: Task = T::TASK;
}

crate::tagged::plugin_serde!(BatcherSpec<T>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;

    fn molecules(n: usize) -> Vec<GraphSize> {
        vec![
            GraphSize {
                nodes: 18,
                edges: 300
            };
            n
        ]
    }

    #[test]
    fn a_budget_that_fits_the_sizes_is_not_warned_about() {
        // 32 molecules of 18 nodes and 300 edges: 640 nodes, 9,664 edges, 33 graphs
        assert_eq!(
            budget_warning(&molecules(100), Shape::new(640, 9664, 33)),
            None
        );
        assert_eq!(budget_warning(&[], Shape::new(2, 0, 2)), None);
    }

    #[test]
    fn a_budget_far_from_the_sizes_is_warned_about_with_its_figures() {
        // room for one molecule only: the edges bind at 400 / 300 = 1.3
        let w = budget_warning(&molecules(100), Shape::new(32, 400, 33)).unwrap();
        assert!(
            w.contains("about 1.3 graphs") && w.contains("one graph"),
            "{w}"
        );
        // edges bind at 4 graphs: 6% of the nodes filled
        let w = budget_warning(&molecules(100), Shape::new(1024, 1200, 129)).unwrap();
        assert!(
            w.contains("about 4.0 graphs") && w.contains("filling 7% of its nodes"),
            "{w}"
        );
        // graph slots bind
        let w = budget_warning(&molecules(100), Shape::new(4096, 100_000, 3)).unwrap();
        assert!(
            w.contains("about 2.0 graphs") && w.contains("padding"),
            "{w}"
        );
    }

    #[test]
    fn clean_estimates_read_every_graph_and_reference_the_first_thousand() {
        let sizes = molecules(1500);
        let ctx = |quirks| BatcherContext {
            sizes: &sizes,
            split: "train",
            quirks,
        };
        assert_eq!(ctx(Quirks::Clean).estimation_sizes(None).len(), 1500);
        assert_eq!(ctx(Quirks::Reference).estimation_sizes(None).len(), 1000);
        assert_eq!(ctx(Quirks::Clean).estimation_sizes(Some(7)).len(), 7);
        assert_eq!(
            ctx(Quirks::Reference).estimation_sizes(Some(9000)).len(),
            1500
        );
    }
}
