//! geobatch-testkit: small graph sets, proptest strategies and the batch invariants of
//! DESIGN.md §3, shared by the tests of every crate.

use geobatch_core::graph::Edges;
use geobatch_core::{GraphBatch, GraphRule, GraphSet, Plan, Shape};
use geobatch_geometry::GraphSetBuilder;
use proptest::prelude::*;

/// A strategy for graph sets of 1..=`max_graphs` molecules with 1..=`max_nodes` atoms each,
/// random positions in a 6 Angstrom box, and either the `full` or a `cutoff` rule.
pub fn arb_graph_set(max_graphs: usize, max_nodes: usize) -> impl Strategy<Value = GraphSet> {
    let graph = prop::collection::vec(
        ((1u8..=9), prop::array::uniform3(-3.0f32..3.0)),
        1..=max_nodes,
    );
    let graphs = prop::collection::vec((graph, -10.0f32..10.0), 1..=max_graphs);
    (graphs, prop::bool::ANY).prop_map(|(graphs, full)| {
        let mut b = GraphSetBuilder::new(vec!["y".into()]);
        for (i, (atoms, y)) in graphs.iter().enumerate() {
            let z: Vec<u8> = atoms.iter().map(|a| a.0).collect();
            let p: Vec<[f64; 3]> = atoms.iter().map(|a| a.1.map(f64::from)).collect();
            b.push(&format!("g{i}"), &z, &p, None, &[*y])
                .expect("generated graphs are valid");
        }
        let rule = if full {
            GraphRule::Full
        } else {
            GraphRule::Cutoff { radius: 2.5 }
        };
        b.build(&rule, None).expect("generated graphs build")
    })
}

/// The smallest padding jraph allows for `real` content: one more node and graph, no extra edge.
pub fn minimal_padding(real: Shape) -> Shape {
    Shape::new(real.nodes + 1, real.edges, real.graphs + 1)
}

/// Checks every DESIGN.md §3 invariant of a collated batch against its plan and the set.
/// `budget` is the batcher's fixed shape, if it has one.
pub fn check_batch(
    set: &GraphSet,
    plan: &Plan,
    batch: &GraphBatch,
    budget: Option<Shape>,
) -> Result<(), String> {
    check_plan(set, plan, batch, budget)?;
    check_lengths(set, batch)?;
    check_graphs_of_nodes_and_edges(batch)?;
    check_padding(set, batch)?;
    check_content(set, plan, batch)
}

fn ensure(ok: bool, what: String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what) }
}

/// The batch's real and padded shapes agree with the plan, the graphs' sizes and the budget.
fn check_plan(
    set: &GraphSet,
    plan: &Plan,
    batch: &GraphBatch,
    budget: Option<Shape>,
) -> Result<(), String> {
    let (real, padded) = (batch.real(), batch.padded());
    // plan bookkeeping
    let sum_nodes: usize = plan
        .graphs
        .iter()
        .map(|&g| set.sizes()[g as usize].nodes as usize)
        .sum();
    let sum_edges: usize = plan
        .graphs
        .iter()
        .map(|&g| set.sizes()[g as usize].edges as usize)
        .sum();
    ensure(
        real == Shape::new(sum_nodes, sum_edges, plan.graphs.len()),
        format!("plan real {real} != sizes"),
    )?;
    ensure(
        padded == plan.padded,
        "batch shape differs from the plan".into(),
    )?;
    ensure(
        padded.can_pad(&real),
        format!("padded {padded} cannot hold {real}"),
    )?;
    if let Some(b) = budget {
        ensure(
            padded == b,
            format!("padded {padded} differs from budget {b}"),
        )?;
        ensure(b.admits(&real), format!("real {real} exceeds budget {b}"))?;
    }
    Ok(())
}

/// Counts sum to array lengths, and every array has its padded length.
fn check_lengths(set: &GraphSet, batch: &GraphBatch) -> Result<(), String> {
    let padded = batch.padded();
    // counts sum to array lengths
    let n_node: usize = batch.n_node.iter().map(|&x| x as usize).sum();
    let n_edge: usize = batch.n_edge.iter().map(|&x| x as usize).sum();
    ensure(
        n_node == padded.nodes && batch.species.len() == padded.nodes,
        "node counts".into(),
    )?;
    ensure(
        batch.positions.len() == padded.nodes && batch.node_graph.len() == padded.nodes,
        "node columns".into(),
    )?;
    ensure(
        n_edge == padded.edges && batch.senders.len() == padded.edges,
        "edge counts".into(),
    )?;
    let vectors = batch.edge_vectors();
    ensure(
        batch.receivers.len() == padded.edges && vectors.len() == padded.edges,
        "edge columns".into(),
    )?;
    ensure(
        batch.n_node.len() == padded.graphs && batch.n_edge.len() == padded.graphs,
        "graph counts".into(),
    )?;
    ensure(
        batch.graph_mask.len() == padded.graphs,
        "mask length".into(),
    )?;
    ensure(
        batch.targets.len() == padded.graphs * set.n_targets(),
        "target length".into(),
    )?;
    Ok(())
}

/// `node_graph` agrees with `n_node`; edges stay inside their graph and are receiver-sorted.
fn check_graphs_of_nodes_and_edges(batch: &GraphBatch) -> Result<(), String> {
    let padded = batch.padded();
    // node_graph agrees with n_node; edges stay inside their graph and are receiver-sorted
    let mut g = 0usize;
    let mut left = 0u32;
    for (i, &ng) in batch.node_graph.iter().enumerate() {
        while left == 0 {
            left = *batch
                .n_node
                .get(g)
                .ok_or(format!("node {i} beyond n_node"))?;
            g += 1;
        }
        ensure(
            ng as usize == g - 1,
            format!("node {i} in graph {ng}, n_node says {}", g - 1),
        )?;
        left -= 1;
    }
    let mut e = 0usize;
    for (gi, &count) in batch.n_edge.iter().enumerate() {
        for _ in 0..count {
            let (s, r) = (batch.senders[e] as usize, batch.receivers[e] as usize);
            ensure(
                s < padded.nodes && r < padded.nodes,
                format!("edge {e} out of range"),
            )?;
            ensure(
                batch.node_graph[s] as usize == gi && batch.node_graph[r] as usize == gi,
                format!("edge {e} leaves graph {gi}"),
            )?;
            e += 1;
        }
    }
    ensure(
        batch.receivers.windows(2).all(|w| w[0] <= w[1]),
        "receivers not sorted".into(),
    )?;
    Ok(())
}

/// Padding never touches a real graph, in jraph's layout.
fn check_padding(set: &GraphSet, batch: &GraphBatch) -> Result<(), String> {
    let (real, padded) = (batch.real(), batch.padded());
    // padding never touches a real graph; jraph layout
    ensure(
        batch.graph_mask.iter().take(real.graphs).all(|&m| m),
        "real graph masked out".into(),
    )?;
    ensure(
        batch.graph_mask.iter().skip(real.graphs).all(|&m| !m),
        "padding graph marked real".into(),
    )?;
    ensure(
        batch.n_node[real.graphs] as usize == padded.nodes - real.nodes,
        "first padding graph owns padding nodes".into(),
    )?;
    ensure(
        batch.n_edge[real.graphs] as usize == padded.edges - real.edges,
        "first padding graph owns padding edges".into(),
    )?;
    ensure(
        batch.n_node[real.graphs + 1..].iter().all(|&x| x == 0),
        "later padding graphs not empty".into(),
    )?;
    let vectors = batch.edge_vectors();
    for e in real.edges..padded.edges {
        ensure(
            batch.senders[e] as usize == real.nodes && batch.receivers[e] as usize == real.nodes,
            format!("padding edge {e} not on the first padding node"),
        )?;
        ensure(
            vectors[e] == [0.0; 3],
            "padding edge vector not zero".into(),
        )?;
    }
    ensure(
        batch.species[real.nodes..].iter().all(|&s| s == 0),
        "padding species not 0".into(),
    )?;
    ensure(
        batch.positions[real.nodes..].iter().all(|p| *p == [0.0; 3]),
        "padding positions not 0".into(),
    )?;
    ensure(
        batch.targets[real.graphs * set.n_targets()..]
            .iter()
            .all(|&t| t == 0.0),
        "padding targets not 0".into(),
    )?;
    Ok(())
}

/// The real content equals the set's graphs.
fn check_content(set: &GraphSet, plan: &Plan, batch: &GraphBatch) -> Result<(), String> {
    // real content equals the set's graphs
    let mut node = 0usize;
    let mut edge = 0usize;
    for (b, &g) in plan.graphs.iter().enumerate() {
        let g = g as usize;
        let range = set.node_range(g);
        let n = range.len();
        ensure(
            batch.species[node..node + n] == set.species()[range.clone()],
            format!("species of graph {g}"),
        )?;
        ensure(
            batch.positions[node..node + n] == set.positions()[range],
            format!("positions of graph {g}"),
        )?;
        ensure(
            batch.targets[b * set.n_targets()..(b + 1) * set.n_targets()] == *set.targets(g),
            format!("targets of graph {g}"),
        )?;
        let m = set.sizes()[g].edges as usize;
        if let Edges::Stored(e) = set.edges() {
            let o = e.offsets[g] as usize;
            for k in 0..m {
                ensure(
                    batch.senders[edge + k] as usize == e.senders[o + k] as usize + node,
                    format!("sender of graph {g}"),
                )?;
                ensure(
                    batch.receivers[edge + k] as usize == e.receivers[o + k] as usize + node,
                    format!("receiver of graph {g}"),
                )?;
            }
        }
        node += n;
        edge += m;
    }
    Ok(())
}

/// A tiny message-passing "model" computed from the batch arrays alone, the way a GNN reads a
/// padded batch: node state from species, one round of distance-weighted messages summed and
/// mean-normalised over real incoming edges, then a per-graph mean readout over its nodes.
/// Returns one value per real graph; padding must not change them.
pub fn toy_readout(batch: &GraphBatch) -> Vec<f64> {
    let n = batch.species.len();
    let h: Vec<f64> = batch.species.iter().map(|&s| 1.0 + f64::from(s)).collect();
    let mut msg = vec![0.0; n];
    let mut deg = vec![0u32; n];
    let vectors = batch.edge_vectors();
    for e in 0..batch.senders.len() {
        let (s, r) = (batch.senders[e] as usize, batch.receivers[e] as usize);
        let d = vectors[e]
            .iter()
            .map(|x| f64::from(*x).powi(2))
            .sum::<f64>()
            .sqrt();
        msg[r] += h[s] * (-d).exp();
        deg[r] += 1;
    }
    let out: Vec<f64> = (0..n)
        .map(|i| {
            h[i] + if deg[i] > 0 {
                msg[i] / f64::from(deg[i])
            } else {
                0.0
            }
        })
        .collect();
    let graphs = batch.n_node.len();
    let mut sum = vec![0.0; graphs];
    for (i, &g) in batch.node_graph.iter().enumerate() {
        sum[g as usize] += out[i];
    }
    (0..batch.real().graphs)
        .map(|g| sum[g] / f64::from(batch.n_node[g].max(1)))
        .collect()
}

pub mod fuzz;

/// The DESIGN.md §3 invariants of a whole batcher, for the tests of any batcher plugin: build it
/// from its spec, plan and collate batches, and check them.
pub mod batcher {
    use super::{check_batch, minimal_padding, toy_readout};
    use geobatch_core::{
        BatcherContext, BatcherSpec, GraphBatch, GraphDraw, GraphSet, GraphSize, GraphStream, Plan,
        Quirks, Shape, StreamMode,
    };

    /// `n` graph sizes growing with their index (3 nodes first, one more every 60 graphs;
    /// fully connected edge counts): small graphs stored first, as in QM9, so that an estimate
    /// read from the first graphs differs from one read from all.
    pub fn growing_sizes(n: u32) -> Vec<GraphSize> {
        (0..n)
            .map(|i| GraphSize {
                nodes: 3 + i / 60,
                edges: (3 + i / 60) * (2 + i / 60),
            })
            .collect()
    }

    /// Up to `limit` plans of `spec` over `set` (stream seed 3), each with the batcher's budget.
    pub fn plans(
        spec: &dyn BatcherSpec,
        set: &GraphSet,
        mode: StreamMode,
        quirks: Quirks,
        limit: usize,
    ) -> Result<Vec<(Plan, Option<Shape>)>, String> {
        let label = spec.label();
        let ctx = BatcherContext {
            sizes: set.sizes(),
            split: "train",
            quirks,
        };
        let mut batcher = spec.build(&ctx).map_err(|e| format!("{label}: {e}"))?;
        let mut stream =
            GraphStream::new(set.len(), mode, 3, quirks, "train").map_err(|e| e.to_string())?;
        let mut plan = Plan::default();
        let mut out = Vec::new();
        while out.len() < limit {
            match batcher.next_plan(GraphDraw::new(&mut stream, set.sizes()), &mut plan) {
                Ok(true) => out.push((plan.clone(), batcher.budget())),
                Ok(false) => break,
                Err(e) => return Err(format!("{label}: {e}")),
            }
        }
        Ok(out)
    }

    /// Checks `spec` (built with batch size `batch_size`) on `set`: every training batch keeps
    /// the batch invariants, holds fewer real graphs than its graph slots and gives the same
    /// per-graph output as the minimally padded batch (clean and reference quirks); evaluation
    /// covers every graph exactly once; every clean training pass uses every graph once.
    pub fn check_batcher(
        spec: &dyn BatcherSpec,
        set: &GraphSet,
        batch_size: usize,
    ) -> Result<(), String> {
        let label = spec.label();
        let all: Vec<u32> = (0..set.len() as u32).collect();
        let (mut batch, mut tight_batch) = (GraphBatch::new(), GraphBatch::new());
        for quirks in [Quirks::Clean, Quirks::Reference] {
            for (plan, budget) in plans(spec, set, StreamMode::Train, quirks, 30)? {
                batch.collate(set, &plan).map_err(|e| e.to_string())?;
                check_batch(set, &plan, &batch, budget).map_err(|e| format!("{label}: {e}"))?;
                // at most batch_size - 1 real graphs, or fewer than the budget's graph slots
                // for batchers whose budget is sized for batch_size graphs on average (pack)
                let slots = budget.map_or(batch_size, |b| b.graphs.max(batch_size));
                if plan.real.graphs >= slots {
                    return Err(format!(
                        "{label}: {} real graphs at batch size {batch_size}",
                        plan.real.graphs
                    ));
                }
                let mut tight = plan.clone();
                tight.padded = minimal_padding(plan.real);
                tight_batch
                    .collate(set, &tight)
                    .map_err(|e| e.to_string())?;
                if toy_readout(&batch) != toy_readout(&tight_batch) {
                    return Err(format!("{label}: padding changed the per-graph output"));
                }
            }
        }
        let mut seen: Vec<u32> = plans(spec, set, StreamMode::Eval, Quirks::Clean, usize::MAX)?
            .into_iter()
            .flat_map(|(p, _)| p.graphs)
            .collect();
        seen.sort_unstable();
        if seen != all {
            return Err(format!(
                "{label}: evaluation does not cover every graph once"
            ));
        }
        let stream: Vec<u32> = plans(spec, set, StreamMode::Train, Quirks::Clean, 4 * set.len())?
            .into_iter()
            .flat_map(|(p, _)| p.graphs)
            .collect();
        for pass in stream.chunks_exact(set.len()) {
            let mut p = pass.to_vec();
            p.sort_unstable();
            if p != all {
                return Err(format!(
                    "{label}: a training pass does not use every graph once"
                ));
            }
        }
        Ok(())
    }
}

/// Reading results files back in tests.
pub mod parts;
pub mod results;

/// Reading the stored edges of one graph, for tests of graph rules on real datasets.
pub mod edges {
    use geobatch_core::GraphSet;
    use geobatch_core::graph::Edges;

    /// Index of the graph named `id` in `set`.
    pub fn graph_index(set: &GraphSet, id: &str) -> Option<usize> {
        (0..set.len()).find(|&g| set.id(g) == id)
    }

    /// The edges of graph `g` as (receiver, sender, length in Angstrom), in stored order.
    pub fn of(set: &GraphSet, g: usize) -> Vec<(u32, u32, f64)> {
        let Edges::Stored(s) = set.edges() else {
            panic!("graph rule with stored edges expected");
        };
        s.range(g)
            .map(|e| {
                let v = s.vectors[e];
                let d = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                (s.receivers[e], s.senders[e], d)
            })
            .collect()
    }

    /// Number of incoming edges of every node of graph `g`.
    pub fn in_degrees(set: &GraphSet, g: usize) -> Vec<usize> {
        let n = set.sizes()[g].nodes as usize;
        let mut deg = vec![0; n];
        for (r, _, _) in of(set, g) {
            deg[r as usize] += 1;
        }
        deg
    }
}

/// Checks shared by the model plugins' tests.
pub mod models {
    use geobatch_core::{
        GraphBatch, GraphSet, ModelContext, ModelSpec, OptimizerSpec, Plan, Shape, TargetStats,
    };

    /// A CPU model context for `species` species classes and one QM9-like target (mean -70,
    /// sd 10), seed 3, default optimiser.
    pub fn context(species: usize) -> ModelContext {
        ModelContext {
            n_species: species,
            target_stats: vec![TargetStats {
                mean: -70.0,
                std: 10.0,
            }],
            seed: 3,
            device: "cpu".into(),
            optimizer: OptimizerSpec::default(),
            engine: Default::default(),
        }
    }

    /// Asserts that the model `spec` builds for `species` species classes and one target
    /// ([`context`]) has `expected` parameters.
    pub fn assert_built_parameters(spec: &dyn ModelSpec, species: usize, expected: usize) {
        let trainer = spec.build(&context(species)).expect("the model builds");
        assert_eq!(trainer.parameter_count(), expected);
    }

    /// Collates `graphs` of `set` into one batch padded to `pad(real shape)`.
    pub fn collate(set: &GraphSet, graphs: &[u32], pad: impl Fn(Shape) -> Shape) -> GraphBatch {
        let mut plan = Plan::default();
        for &g in graphs {
            plan.push(g, set.sizes()[g as usize]);
        }
        plan.padded = pad(plan.real);
        let mut batch = GraphBatch::new();
        batch.collate(set, &plan).expect("a valid plan collates");
        batch
    }

    /// Asserts that the first `n` graphs of `set` predicted together by the model `spec` builds
    /// ([`context`] for the set's species), in a batch padded by `extra` (nodes, edges, graphs),
    /// give the same values as each graph alone in a minimally padded batch, to 2e-6 relative
    /// (about 16 f32 ulps: only the summation order may differ; at targets around -70 that is
    /// 1.4e-4, where the former 1e-4 relative let 7e-3 of padding leakage pass).
    pub fn assert_padding_keeps_predictions(
        spec: &dyn ModelSpec,
        set: &GraphSet,
        n: u32,
        extra: Shape,
    ) {
        let mut trainer = spec
            .build(&context(set.species_classes().len()))
            .expect("the model builds");
        let trainer = trainer.as_mut();
        let graphs: Vec<u32> = (0..n).collect();
        let graphs = &graphs[..];
        let padded = collate(set, graphs, |r| {
            Shape::new(
                r.nodes + extra.nodes,
                r.edges + extra.edges,
                r.graphs + extra.graphs,
            )
        });
        let mut together = Vec::new();
        trainer.predict(&padded, &mut together).expect("prediction");
        assert_eq!(together.len(), graphs.len());
        for (i, &g) in graphs.iter().enumerate() {
            let alone = collate(set, &[g], |r| {
                Shape::new(r.nodes + 1, r.edges, r.graphs + 1)
            });
            let mut one = Vec::new();
            trainer.predict(&alone, &mut one).expect("prediction");
            let (a, b) = (f64::from(one[0]), f64::from(together[i]));
            assert!(
                (a - b).abs() <= 2e-6 * a.abs().max(1.0),
                "graph {g}: alone {a}, in a padded batch {b}"
            );
        }
    }
}

/// The path of the calling crate's committed test fixture `name` (`tests/fixtures/<name>` below
/// the crate's manifest folder).
#[macro_export]
macro_rules! fixture {
    ($name:expr) => {
        ::std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join($name)
    };
}

/// `path` (a file or folder of `../shared/data`) when it exists. When it does not, a test skips
/// (this says so on stderr) on a developer's machine, but fails under CI (`CI` set), where the
/// shared data is always beside the clone: a skip there would hide a broken path.
pub fn shared_data(path: &std::path::Path) -> Option<std::path::PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is absent under CI, where ../shared/data must be beside the clone",
        path.display()
    );
    eprintln!("skipped: {} is absent", path.display());
    None
}
