//! Property tests of the DESIGN.md §3 batch invariants, run against every registered batcher
//! (each static padding rule included) in clean and reference mode.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::registry::{self, PluginKind, Task};
use geobatch_core::{
    BatcherContext, BatcherSpec, GraphBatch, GraphSet, GraphStream, Plan, Quirks, Shape, StreamMode,
};
use geobatch_testkit::{arb_graph_set, check_batch, minimal_padding, toy_readout};
use proptest::prelude::*;

/// Every registered batcher as a spec with the given batch size: each descriptor's example, plus
/// every value of an option whose type lists alternatives (e.g. `pad`).
fn all_batchers(batch_size: usize) -> Vec<Box<dyn BatcherSpec>> {
    geobatch_catalog::link();
    let mut out = Vec::new();
    for d in registry::descriptors()
        .into_iter()
        .filter(|d| d.kind == PluginKind::Batcher && d.task == Task::Graph)
    {
        let mut table: toml::Table = toml::from_str(d.example).expect("example parses");
        table.insert("batch_size".into(), toml::Value::Integer(batch_size as i64));
        let mut variants = vec![table.clone()];
        for o in d.options.iter().filter(|o| o.ty.contains(" | ")) {
            for v in o.ty.split(" | ").map(|v| v.trim_matches('"')) {
                let mut t = table.clone();
                t.insert(o.name.into(), toml::Value::String(v.into()));
                variants.push(t);
            }
        }
        for t in variants {
            let spec: Box<dyn BatcherSpec> = t.try_into().expect("variant parses");
            out.push(spec);
        }
    }
    assert!(
        out.len() >= 5,
        "expected dynamic + static example + 3 pads, got {}",
        out.len()
    );
    out
}

fn plans(
    spec: &dyn BatcherSpec,
    set: &GraphSet,
    mode: StreamMode,
    quirks: Quirks,
    limit: usize,
) -> Vec<(Plan, Option<Shape>)> {
    let ctx = BatcherContext {
        sizes: set.sizes(),
        split: "train",
        mode,
        quirks,
    };
    let mut batcher = spec.build(&ctx).expect("batcher builds");
    let mut stream = GraphStream::new(set.len(), mode, 3, quirks, "train").expect("stream");
    let mut plan = Plan::default();
    let mut out = Vec::new();
    while out.len() < limit {
        match batcher.next_plan(&mut stream, set.sizes(), &mut plan) {
            Ok(true) => out.push((plan.clone(), batcher.budget())),
            Ok(false) => break,
            Err(e) => panic!("{}: {e}", spec.label()),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn batches_keep_every_invariant(set in arb_graph_set(40, 12), bs in 2usize..10, reference in any::<bool>()) {
        let quirks = if reference { Quirks::Reference } else { Quirks::Clean };
        for spec in all_batchers(bs) {
            let mut batch = GraphBatch::new();
            let mut unpadded = GraphBatch::new();
            for (plan, budget) in plans(spec.as_ref(), &set, StreamMode::Train, quirks, 30) {
                batch.collate(&set, &plan).unwrap();
                if let Err(e) = check_batch(&set, &plan, &batch, budget) {
                    panic!("{}: {e}", spec.label());
                }
                // at most batch_size - 1 real graphs, or fewer than the budget's slots for a
                // batcher whose budget is sized for batch_size graphs on average (pack)
                let slots = budget.map_or(bs, |b| b.graphs.max(bs));
                prop_assert!(plan.real.graphs < slots, "{}: {} real graphs at batch size {bs}", spec.label(), plan.real.graphs);
                // a padded batch gives the same per-graph output as the minimally padded one
                let mut tight = plan.clone();
                tight.padded = minimal_padding(plan.real);
                unpadded.collate(&set, &tight).unwrap();
                prop_assert_eq!(toy_readout(&batch), toy_readout(&unpadded), "{}", spec.label());
            }
        }
    }

    #[test]
    fn clean_evaluation_covers_every_graph_exactly_once(set in arb_graph_set(40, 12), bs in 2usize..10) {
        for spec in all_batchers(bs) {
            let mut seen: Vec<u32> = plans(spec.as_ref(), &set, StreamMode::Eval, Quirks::Clean, usize::MAX)
                .into_iter()
                .flat_map(|(p, _)| p.graphs)
                .collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..set.len() as u32).collect::<Vec<_>>(), "{}", spec.label());
        }
    }

    #[test]
    fn clean_training_uses_every_graph_once_per_pass(set in arb_graph_set(30, 10), bs in 2usize..8) {
        for spec in all_batchers(bs) {
            let stream: Vec<u32> = plans(spec.as_ref(), &set, StreamMode::Train, Quirks::Clean, 4 * set.len())
                .into_iter()
                .flat_map(|(p, _)| p.graphs)
                .collect();
            for pass in stream.chunks_exact(set.len()) {
                let mut p = pass.to_vec();
                p.sort_unstable();
                prop_assert_eq!(p, (0..set.len() as u32).collect::<Vec<_>>(), "{}", spec.label());
            }
        }
    }
}
