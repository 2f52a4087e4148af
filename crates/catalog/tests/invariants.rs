//! Property tests of the DESIGN.md §3 batch invariants, run against every registered batcher
//! (each static padding rule included) in clean and reference mode.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::BatcherSpec;
use geobatch_core::registry::{self, PluginKind, Task};
use geobatch_testkit::arb_graph_set;
use geobatch_testkit::batcher::check_batcher;
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_batcher_keeps_every_invariant(set in arb_graph_set(40, 12), bs in 2usize..10) {
        for spec in all_batchers(bs) {
            if let Err(e) = check_batcher(spec.as_ref(), &set, bs) {
                panic!("{e}");
            }
        }
    }
}
