//! The `dynamic` batcher: jraph's `dynamically_batch` with the study's budget estimator
//! (spec §1.2).
//!
//! Graphs are added greedily in stream order while the batch holds at most `nodes - 1` nodes,
//! `edges` edges and `graphs - 1` graphs of the budget; the graph that does not fit stays in the
//! stream and starts the next batch. Every batch is padded to the budget, so all batches share one
//! shape.

use geobatch_core::rounding::next_multiple_of_64_strict;
use geobatch_core::{
    BatchSize, Batcher, BatcherContext, BatcherSpec, Budget, Error, GraphBatcherFacts, GraphDraw,
    GraphSize, Plan, Result, Shape, SizeStats, plugin_options,
};
use serde::{Deserialize, Serialize};

/// Graphs whose sizes are read from the stream in one go.
const LOOKAHEAD: usize = 32;

/// Config of the dynamic batcher.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicSpec {
    /// Graph budget; at most `batch_size - 1` real graphs per batch.
    #[option(
        ty = "integer >= 2",
        doc = "graph budget; at most batch_size - 1 real graphs per batch"
    )]
    pub batch_size: BatchSize,
    /// Leading graphs (stored order) the budget is estimated from; `None`: every graph (clean),
    /// or the study's first 1,000 (reference quirks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "integer >= 1",
        toml = "every graph (clean); 1000 (reference quirks)",
        doc = "graphs the budget is estimated from: left out, every graph, so the order of the data does not matter (the study's first 1,000 in stored order under quirks = \"reference\"); given, the first k in stored order"
    )]
    pub num_estimation_graphs: Option<usize>,
    /// An explicit budget (nodes, edges, graphs) instead of the estimate: at most `nodes - 1`
    /// nodes, `edges` edges and `graphs - 1` graphs per batch, every batch padded to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[option(
        ty = "{ nodes, edges, graphs }",
        toml = "estimated",
        doc = "the padded shape of every batch, instead of the estimate (batch_size is then only its label)"
    )]
    pub budget: Option<Budget>,
}

/// The study's budget estimator (`estimate_padding_budget_for_batch_size`).
///
/// From the graphs of `sizes` (the caller picks them: [`BatcherContext::estimation_sizes`]):
/// nodes = next64(max(mean_nodes * B, max_nodes)), edges = next64(max(mean_edges * B, max_edges)),
/// graphs = B, where next64 is the strict rounding.
pub fn estimate_budget(sizes: &[GraphSize], batch_size: usize) -> Result<Budget> {
    let Some(SizeStats {
        mean_nodes,
        mean_edges,
        max_nodes,
        max_edges,
    }) = SizeStats::of(sizes)
    else {
        return Err(Error::invalid(
            "cannot estimate a dynamic budget from zero graphs",
        ));
    };
    let b = batch_size as f64;
    Ok(Shape::new(
        next_multiple_of_64_strict((mean_nodes * b).max(f64::from(max_nodes))),
        next_multiple_of_64_strict((mean_edges * b).max(f64::from(max_edges))),
        batch_size,
    ))
}

/// The runtime dynamic batcher.
#[derive(Debug, Clone)]
pub struct DynamicBatcher {
    budget: Budget,
}

impl DynamicBatcher {
    /// A dynamic batcher with an explicit budget.
    pub fn with_budget(budget: Budget) -> Result<Self> {
        if budget.graphs < 2 {
            return Err(Error::BatchSize(budget.graphs));
        }
        if budget.nodes < 2 {
            return Err(Error::invalid("a dynamic budget needs at least 2 nodes"));
        }
        Ok(DynamicBatcher { budget })
    }
}

impl Batcher for DynamicBatcher {
    fn next_plan(
        &mut self,
        GraphDraw { stream, sizes }: GraphDraw<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        plan.clear();
        // sizes are read LOOKAHEAD at a time so that their cache misses overlap
        let mut ahead = [(0u32, GraphSize::default()); LOOKAHEAD];
        'fill: loop {
            let n = stream.peek_sizes(sizes, &mut ahead);
            if n == 0 {
                break;
            }
            for &(g, s) in &ahead[..n] {
                let next = Shape::new(
                    plan.real.nodes + s.nodes as usize,
                    plan.real.edges + s.edges as usize,
                    plan.real.graphs + 1,
                );
                if self.budget.admits(&next) {
                    stream.advance();
                    plan.push(g, s);
                } else if plan.is_empty() {
                    return Err(Error::GraphTooLarge {
                        index: g,
                        nodes: s.nodes,
                        edges: s.edges,
                        budget: self.budget,
                    });
                } else {
                    break 'fill; // the graph stays in the stream and starts the next batch
                }
            }
        }
        plan.padded = self.budget;
        Ok(!plan.is_empty())
    }

    fn budget(&self) -> Option<Budget> {
        Some(self.budget)
    }
}

#[geobatch_core::plugin(
    name = "dynamic",
    summary = "greedy fill under a node/edge/graph budget estimated from the data (jraph dynamically_batch)",
    example = "batch_size = 32\n",
    batch_size = batch_size
)]
impl BatcherSpec for DynamicSpec {
    fn label(&self) -> String {
        "dynamic".into()
    }

    fn validate(&self) -> Result<()> {
        if self.num_estimation_graphs == Some(0) {
            return Err(Error::invalid(
                "batcher.num_estimation_graphs must be at least 1",
            ));
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
        if ctx.sizes.is_empty() {
            return Err(Error::EmptySplit(ctx.split.to_string()));
        }
        let n = ctx.sizes.len();
        let budget = match self.budget {
            // more graph slots than the split holds would let one batch take a graph twice
            Some(b) if b.graphs > n + 1 => {
                return Err(Error::invalid(format!(
                    "batcher.budget.graphs = {}: more than the {n} graphs of the {} split + 1 \
                     (the padding graph): at most {}",
                    b.graphs,
                    ctx.split,
                    n + 1
                )));
            }
            Some(b) => b,
            None => estimate_budget(
                ctx.estimation_sizes(self.num_estimation_graphs),
                self.batch_size.get(),
            )?,
        };
        Ok(Box::new(DynamicBatcher::with_budget(budget)?))
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
mod tests {
    use super::*;
    use geobatch_core::{GraphStream, Quirks, StreamMode};

    fn sizes(v: &[(u32, u32)]) -> Vec<GraphSize> {
        v.iter()
            .map(|&(nodes, edges)| GraphSize { nodes, edges })
            .collect()
    }

    #[test]
    fn budget_uses_strict_next64_of_mean_times_batch_or_max() {
        // mean nodes 10, mean edges 40 -> 10 * 32 = 320 is an exact multiple: strict gives 384.
        let s = sizes(&[(5, 20), (15, 60)]);
        assert_eq!(estimate_budget(&s, 32).unwrap(), Shape::new(384, 1344, 32));
        // batch 2: mean*2 = 20 < max 15? no: 20 > 15 -> 64; edges 80 -> 128.
        assert_eq!(estimate_budget(&s, 2).unwrap(), Shape::new(64, 128, 2));
        // a single huge graph dominates the mean term: max wins.
        let s = sizes(&[(1, 0), (1, 0), (1, 0), (200, 1000)]);
        assert_eq!(estimate_budget(&s, 2).unwrap().nodes, 256);
    }

    fn build(spec: &str, s: &[GraphSize], quirks: Quirks) -> Budget {
        let spec: DynamicSpec = serde_json::from_str(spec).unwrap();
        let ctx = BatcherContext {
            sizes: s,
            split: "train",
            quirks,
        };
        spec.build(&ctx).unwrap().budget().unwrap()
    }

    #[test]
    fn the_estimate_does_not_depend_on_the_stored_order() {
        // 1,500 graphs stored small first (as QM9 is): the clean estimate reads every graph, so
        // a sorted and a reversed copy give one budget; the reference reads the first 1,000
        let mut s = geobatch_testkit::batcher::growing_sizes(1500);
        let spec = r#"{"batch_size": 32}"#;
        let sorted = build(spec, &s, Quirks::Clean);
        s.reverse();
        assert_eq!(build(spec, &s, Quirks::Clean), sorted);
        assert_eq!(sorted, estimate_budget(&s, 32).unwrap());
        let reversed_reference = build(spec, &s, Quirks::Reference);
        s.reverse();
        let sorted_reference = build(spec, &s, Quirks::Reference);
        assert_eq!(sorted_reference, estimate_budget(&s[..1000], 32).unwrap());
        assert!(sorted_reference.nodes < sorted.nodes && sorted.nodes < reversed_reference.nodes);
        // an explicit count is the first k in stored order, as asked
        let first = build(
            r#"{"batch_size": 4, "num_estimation_graphs": 2}"#,
            &s,
            Quirks::Clean,
        );
        assert_eq!(first, estimate_budget(&s[..2], 4).unwrap());
    }

    #[test]
    fn budget_mean_is_a_float() {
        // mean nodes 10.5, * 6 = 63 -> 64; mean * 7 = 73.5 -> 128
        let s = sizes(&[(10, 1), (11, 1)]);
        assert_eq!(estimate_budget(&s, 6).unwrap().nodes, 64);
        assert_eq!(estimate_budget(&s, 7).unwrap().nodes, 128);
    }

    fn run(budget: Shape, s: &[GraphSize], mode: StreamMode) -> Result<Vec<Vec<u32>>> {
        let mut b = DynamicBatcher::with_budget(budget)?;
        let mut stream = GraphStream::new(s.len(), mode, 0, Quirks::Reference, "train")?;
        let mut plan = Plan::default();
        let mut out = Vec::new();
        while out.len() < 6 && b.next_plan(GraphDraw::new(&mut stream, s), &mut plan)? {
            assert_eq!(plan.padded, budget);
            out.push(plan.graphs.clone());
        }
        Ok(out)
    }

    #[test]
    fn greedy_fill_carries_the_overflowing_graph() {
        // budget: 10 nodes (9 real), 100 edges, 4 graphs (3 real)
        let s = sizes(&[(4, 1), (4, 1), (4, 1), (1, 1), (1, 1), (1, 1), (1, 1)]);
        let batches = run(Shape::new(10, 100, 4), &s, StreamMode::Eval).unwrap();
        // [0,1] = 8 nodes; graph 2 would make 12 > 9 -> carried; [2,3,4] hits 3 graphs; [5,6] tail.
        assert_eq!(batches, vec![vec![0, 1], vec![2, 3, 4], vec![5, 6]]);
    }

    #[test]
    fn node_limit_is_budget_minus_one_and_edge_limit_is_the_budget() {
        let s = sizes(&[(9, 100), (1, 0)]);
        let batches = run(Shape::new(10, 100, 4), &s, StreamMode::Eval).unwrap();
        assert_eq!(batches, vec![vec![0], vec![1]]);
        let s = sizes(&[(10, 1)]);
        assert!(matches!(
            run(Shape::new(10, 100, 4), &s, StreamMode::Eval),
            Err(Error::GraphTooLarge { .. })
        ));
        let s = sizes(&[(2, 101)]);
        assert!(matches!(
            run(Shape::new(10, 100, 4), &s, StreamMode::Eval),
            Err(Error::GraphTooLarge { .. })
        ));
    }

    #[test]
    fn oversized_graph_emits_what_was_accumulated_then_fails() {
        let s = sizes(&[(2, 1), (50, 1), (2, 1)]);
        let mut b = DynamicBatcher::with_budget(Shape::new(10, 100, 4)).unwrap();
        let mut stream = GraphStream::new(3, StreamMode::Eval, 0, Quirks::Clean, "train").unwrap();
        let mut plan = Plan::default();
        assert!(
            b.next_plan(GraphDraw::new(&mut stream, &s), &mut plan)
                .unwrap()
        );
        assert_eq!(plan.graphs, vec![0]);
        let err = b
            .next_plan(GraphDraw::new(&mut stream, &s), &mut plan)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "graph number 1 of its split (50 nodes, 1 edges) is larger than the batch budget"
            ),
            "{err}"
        );
    }

    #[test]
    fn training_batches_span_passes() {
        let s = sizes(&[(3, 0), (3, 0), (3, 0)]);
        let batches = run(Shape::new(8, 64, 8), &s, StreamMode::Train).unwrap();
        // 7 real nodes max -> two graphs per batch; the second batch takes graph 2 then wraps.
        assert_eq!(batches[0], vec![0, 1]);
        assert_eq!(batches[1].len(), 2);
        assert_eq!(batches[1][0], 2);
    }

    #[test]
    fn spec_checks_batch_size_and_empty_split() {
        let e = serde_json::from_str::<DynamicSpec>(r#"{"batch_size": 1}"#).unwrap_err();
        assert!(
            e.to_string().contains("batch_size must be at least 2"),
            "{e}"
        );
        let spec = DynamicSpec {
            batch_size: BatchSize::try_from(8).unwrap(),
            num_estimation_graphs: None,
            budget: None,
        };
        let ctx = BatcherContext {
            sizes: &[],
            split: "train",
            quirks: Quirks::Clean,
        };
        assert!(
            spec.build(&ctx)
                .unwrap_err()
                .to_string()
                .contains("train split is empty")
        );
    }

    #[test]
    fn an_explicit_budget_replaces_the_estimate_and_is_checked() {
        let s = sizes(&[(3, 6), (5, 20), (2, 2), (4, 12)]);
        let ctx = BatcherContext {
            sizes: &s,
            split: "train",
            quirks: Quirks::Clean,
        };
        let spec: DynamicSpec = serde_json::from_str(
            r#"{"batch_size": 8, "budget": {"nodes": 9, "edges": 30, "graphs": 4}}"#,
        )
        .unwrap();
        let b = spec.build(&ctx).unwrap();
        assert_eq!(b.budget(), Some(Shape::new(9, 30, 4)));
        let small: DynamicSpec = serde_json::from_str(
            r#"{"batch_size": 8, "budget": {"nodes": 1, "edges": 30, "graphs": 4}}"#,
        )
        .unwrap();
        assert!(
            small
                .validate()
                .unwrap_err()
                .to_string()
                .contains("at least 2 nodes")
        );
        let wide: DynamicSpec = serde_json::from_str(
            r#"{"batch_size": 8, "budget": {"nodes": 90, "edges": 300, "graphs": 6}}"#,
        )
        .unwrap();
        let e = wide.build(&ctx).unwrap_err().to_string();
        assert!(
            e.contains("budget.graphs = 6") && e.contains("at most 5"),
            "{e}"
        );
    }
}
