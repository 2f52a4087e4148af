//! The `static` batcher: a fixed number of graphs per batch, padded by one of the study's rules
//! (spec §1.3-1.6).
//!
//! Every batch holds `batch_size - 1` real graphs plus one padding graph (`batch_size` graphs in
//! all). Padding of nodes and edges:
//! * `multiple64`: nodes = ceil64(real nodes + 1), edges = ceil64(real edges) (non-strict);
//! * `pow2`: nodes = next power of two >= real nodes + 1, edges = next power of two >= real edges;
//! * `constant`: one shape from the whole split: nodes = next64(max_nodes * B) + 1,
//!   edges = next64(max_edges * B) (strict next64).
//!
//! In clean mode (default) the batch is emitted as soon as it holds `batch_size - 1` graphs and
//! an evaluation pass emits its trailing partial batch. With `quirks = "reference"` the graph that
//! triggers each batch is thrown away (1 in `batch_size` graphs of the stream is dropped) and the
//! trailing partial batch of an evaluation pass is never emitted, as in the reference.

use geobatch_core::rounding::{ceil_multiple_of_64, ceil_power_of_two, next_multiple_of_64_strict};
use geobatch_core::{
    BatchSize, Batcher, BatcherContext, BatcherSpec, Budget, Error, GraphDraw, GraphSize, Plan,
    Quirks, Result, Shape, plugin_options,
};
use serde::{Deserialize, Serialize};

/// Padding rule of a static batcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pad {
    /// Nodes and edges rounded up to a multiple of 64 (static-64).
    #[default]
    Multiple64,
    /// Nodes and edges rounded up to a power of two (static-2^N).
    Pow2,
    /// One constant shape for the whole split (static-constant).
    Constant,
}

/// Config of the static batcher.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSpec {
    /// Graphs per padded batch: `batch_size - 1` real graphs plus one padding graph.
    #[option(
        ty = "integer >= 2",
        doc = "graphs per padded batch (batch_size - 1 real + 1 padding graph)"
    )]
    pub batch_size: BatchSize,
    /// Padding rule.
    #[option(ty = "\"multiple64\" | \"pow2\" | \"constant\"", default = Pad::Multiple64, doc = "padding rule of nodes and edges (spec §1.4-1.6)")]
    pub pad: Pad,
}

/// The constant shape of `pad = "constant"` for a split.
pub fn constant_shape(sizes: &[GraphSize], batch_size: usize) -> Shape {
    let max_nodes = sizes.iter().map(|s| s.nodes).max().unwrap_or(0) as f64;
    let max_edges = sizes.iter().map(|s| s.edges).max().unwrap_or(0) as f64;
    let b = batch_size as f64;
    Shape::new(
        next_multiple_of_64_strict(max_nodes * b) + 1,
        next_multiple_of_64_strict(max_edges * b),
        batch_size,
    )
}

/// The padded shape a static batch with `real` content gets.
pub fn padded_shape(pad: Pad, real: Shape, batch_size: usize, constant: Shape) -> Shape {
    match pad {
        Pad::Multiple64 => Shape::new(
            ceil_multiple_of_64(real.nodes + 1),
            ceil_multiple_of_64(real.edges),
            batch_size,
        ),
        Pad::Pow2 => Shape::new(
            ceil_power_of_two(real.nodes + 1),
            ceil_power_of_two(real.edges),
            batch_size,
        ),
        Pad::Constant => constant,
    }
}

/// The runtime static batcher.
#[derive(Debug, Clone)]
pub struct StaticBatcher {
    pad: Pad,
    batch_size: usize,
    quirks: Quirks,
    constant: Shape,
}

impl StaticBatcher {
    /// A static batcher; `sizes` (the whole split) fixes the constant shape.
    pub fn new(pad: Pad, batch_size: BatchSize, quirks: Quirks, sizes: &[GraphSize]) -> Self {
        let batch_size = batch_size.get();
        StaticBatcher {
            pad,
            batch_size,
            quirks,
            constant: constant_shape(sizes, batch_size),
        }
    }
}

impl Batcher for StaticBatcher {
    fn next_plan(
        &mut self,
        GraphDraw { stream, sizes }: GraphDraw<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        plan.clear();
        let real_graphs = self.batch_size - 1;
        while plan.graphs.len() < real_graphs {
            match stream.next_index() {
                Some(g) => plan.push(g, sizes[g as usize]),
                None => break,
            }
        }
        let full = plan.graphs.len() == real_graphs;
        let emit = match self.quirks {
            Quirks::Clean => !plan.is_empty(),
            // The arriving B-th graph triggers the batch and is thrown away; without it (end of an
            // evaluation pass) the list is never yielded.
            Quirks::Reference => full && stream.next_index().is_some(),
        };
        if !emit {
            plan.clear();
            return Ok(false);
        }
        plan.padded = padded_shape(self.pad, plan.real, self.batch_size, self.constant);
        if !plan.padded.can_pad(&plan.real) {
            // Only possible for `constant` when a stream serves graphs from outside its split.
            let (index, s) = plan
                .graphs
                .iter()
                .map(|&g| (g, sizes[g as usize]))
                .max_by_key(|(_, s)| s.nodes)
                .unwrap_or((0, GraphSize::default()));
            return Err(Error::GraphTooLarge {
                index,
                nodes: s.nodes,
                edges: s.edges,
                budget: plan.padded,
            });
        }
        Ok(true)
    }

    fn budget(&self) -> Option<Budget> {
        (self.pad == Pad::Constant).then_some(self.constant)
    }
}

#[geobatch_core::plugin(
    name = "static",
    summary = "batch_size - 1 graphs per batch, padded to a multiple of 64, a power of two or one constant shape",
    example = "batch_size = 32\npad = \"multiple64\"\n",
    batch_size = batch_size
)]
impl BatcherSpec for StaticSpec {
    fn label(&self) -> String {
        match self.pad {
            Pad::Multiple64 => "static-64",
            Pad::Pow2 => "static-2n",
            Pad::Constant => "static-constant",
        }
        .into()
    }

    fn build(&self, ctx: &BatcherContext<'_>) -> Result<Box<dyn Batcher>> {
        if ctx.sizes.is_empty() {
            return Err(Error::EmptySplit(ctx.split.to_string()));
        }
        Ok(Box::new(StaticBatcher::new(
            self.pad,
            self.batch_size,
            ctx.quirks,
            ctx.sizes,
        )))
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}

#[cfg(test)]
mod tests {
    use super::*;
    use geobatch_core::{GraphStream, StreamMode};

    fn sizes(v: &[(u32, u32)]) -> Vec<GraphSize> {
        v.iter()
            .map(|&(nodes, edges)| GraphSize { nodes, edges })
            .collect()
    }

    #[test]
    fn multiple64_is_non_strict_and_counts_the_padding_node() {
        let c = Shape::default();
        assert_eq!(
            padded_shape(Pad::Multiple64, Shape::new(62, 64, 3), 4, c),
            Shape::new(64, 64, 4)
        );
        assert_eq!(
            padded_shape(Pad::Multiple64, Shape::new(63, 65, 3), 4, c),
            Shape::new(64, 128, 4)
        );
        assert_eq!(
            padded_shape(Pad::Multiple64, Shape::new(64, 0, 3), 4, c),
            Shape::new(128, 64, 4)
        );
        assert_eq!(
            padded_shape(Pad::Multiple64, Shape::new(127, 128, 3), 4, c),
            Shape::new(128, 128, 4)
        );
    }

    #[test]
    fn pow2_is_non_strict_and_counts_the_padding_node() {
        let c = Shape::default();
        assert_eq!(
            padded_shape(Pad::Pow2, Shape::new(63, 64, 3), 4, c),
            Shape::new(64, 64, 4)
        );
        assert_eq!(
            padded_shape(Pad::Pow2, Shape::new(64, 65, 3), 4, c),
            Shape::new(128, 128, 4)
        );
        assert_eq!(
            padded_shape(Pad::Pow2, Shape::new(0, 0, 0), 4, c),
            Shape::new(2, 2, 4)
        );
        assert_eq!(
            padded_shape(Pad::Pow2, Shape::new(1, 1, 1), 4, c),
            Shape::new(2, 2, 4)
        );
    }

    #[test]
    fn constant_uses_strict_next64_of_max_times_batch_plus_one() {
        // max nodes 8 * 8 = 64 (exact multiple) -> strict 128, +1 = 129; edges 20*8 = 160 -> 192
        let s = sizes(&[(8, 10), (3, 20)]);
        assert_eq!(constant_shape(&s, 8), Shape::new(129, 192, 8));
        assert_eq!(constant_shape(&s, 8).nodes % 2, 1);
    }

    fn batches(
        quirks: Quirks,
        mode: StreamMode,
        n: usize,
        bs: usize,
        limit: usize,
    ) -> Vec<Vec<u32>> {
        let s = vec![GraphSize { nodes: 3, edges: 6 }; n];
        let size = BatchSize::try_from(bs).unwrap();
        let mut b = StaticBatcher::new(Pad::Multiple64, size, quirks, &s);
        let mut stream = GraphStream::new(n, mode, 0, quirks, "train").unwrap();
        let mut plan = Plan::default();
        let mut out = Vec::new();
        while out.len() < limit
            && b.next_plan(GraphDraw::new(&mut stream, &s), &mut plan)
                .unwrap()
        {
            assert_eq!(plan.padded.graphs, bs);
            out.push(plan.graphs.clone());
        }
        out
    }

    #[test]
    fn reference_drops_the_triggering_graph_and_the_eval_tail() {
        let out = batches(Quirks::Reference, StreamMode::Eval, 10, 4, 100);
        // graphs 3 and 7 trigger batches and are dropped; 8, 9 form a partial tail: not emitted
        assert_eq!(out, vec![vec![0, 1, 2], vec![4, 5, 6]]);
        // exactly bs-1 graphs left at the end and no trigger: still not emitted
        let out = batches(Quirks::Reference, StreamMode::Eval, 7, 4, 100);
        assert_eq!(out, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn reference_training_consumes_batch_size_graphs_per_batch() {
        let out = batches(Quirks::Reference, StreamMode::Train, 8, 4, 2);
        assert_eq!(out, vec![vec![0, 1, 2], vec![4, 5, 6]]);
    }

    #[test]
    fn clean_drops_nothing_and_emits_the_tail() {
        let out = batches(Quirks::Clean, StreamMode::Eval, 10, 4, 100);
        assert_eq!(
            out,
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
        );
    }

    #[test]
    fn batch_size_below_two_is_refused_where_the_spec_is_read() {
        for bs in [0, 1] {
            let e = serde_json::from_str::<StaticSpec>(&format!(r#"{{"batch_size": {bs}}}"#))
                .unwrap_err()
                .to_string();
            assert!(e.contains("batch_size must be at least 2"), "{e}");
        }
    }
}
