//! Property tests of the DESIGN.md §3 batch invariants, run against every registered batcher
//! (each static padding rule included) in clean and reference mode.

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

/// A potential (SchNet trained on Morse-labelled periodic cells) gives every real graph of every
/// registered batcher's padded batches the energy, forces and stress it gives the same graphs
/// with the least padding (DESIGN.md §16): padding adds exactly zero; what differs is the
/// rounding of sums whose chunks the padded sizes move. Force labels arrive unchanged, padding
/// atoms carry zero labels.
#[test]
fn every_batcher_s_padding_adds_zero_energy_and_force_to_a_potential() {
    use geobatch_catalog::dataset_synthetic::{Family, PairLabels, SizeDist, SyntheticSpec};
    use geobatch_core::{GraphBatch, GraphRule, ModelContext, ModelSpec, SplitSpec};
    use geobatch_potential::{
        ForceContext, ForcePredictions, LossWeights, Potential, PotentialContext,
    };
    let spec = SyntheticSpec {
        family: Family::Crystals,
        graphs: 40,
        nodes: Some(SizeDist {
            min: 1,
            max: 9,
            mean: 4.0,
            sd: 2.0,
        }),
        graph: Some(GraphRule::Cutoff { radius: 4.0 }),
        split: SplitSpec::default(),
        seed: Some(4),
        labels: Some(PairLabels::Morse),
    };
    let set = spec.generate(4).unwrap();
    let setup = ForceContext::fit(&set, LossWeights::default(), Some(4.0)).unwrap();
    let model: Box<dyn ModelSpec<Potential>> =
        toml::from_str::<toml::Table>("kind = \"schnet\"\nlatent = 8\nsteps = 2\nrbf = 40\n")
            .unwrap()
            .try_into()
            .unwrap();
    let mut trainer = model
        .build(&PotentialContext {
            model: ModelContext {
                n_species: set.species_classes().len(),
                target_stats: geobatch_core::TargetStats::of(&set),
                seed: 1,
                device: "cpu".into(),
                optimizer: Default::default(),
                engine: Default::default(),
            },
            setup,
        })
        .unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs().max(1e-3);
    let (mut batch, mut tight_batch) = (GraphBatch::new(), GraphBatch::new());
    let (mut p, mut q) = (ForcePredictions::default(), ForcePredictions::default());
    for spec in all_batchers(5) {
        let label = spec.label();
        let plans = geobatch_testkit::batcher::plans(
            spec.as_ref(),
            &set,
            geobatch_core::StreamMode::Train,
            geobatch_core::Quirks::Clean,
            4,
        )
        .unwrap();
        for (plan, _) in plans {
            batch.collate(&set, &plan).unwrap();
            let mut tight = plan.clone();
            tight.padded = geobatch_testkit::minimal_padding(plan.real);
            tight_batch.collate(&set, &tight).unwrap();
            trainer.predict(&batch, &mut p).unwrap();
            trainer.predict(&tight_batch, &mut q).unwrap();
            for (a, b) in p.energy.iter().zip(&q.energy) {
                assert!(close(*a, *b), "{label}: energy {a} vs {b}");
            }
            let flat = |x: &ForcePredictions| -> Vec<f64> {
                let f = x.forces.iter().flatten().chain(x.stress.iter().flatten());
                f.map(|&v| f64::from(v)).collect()
            };
            assert_eq!(
                p.forces.len(),
                plan.real.nodes,
                "{label}: a force per real atom"
            );
            for (a, b) in flat(&p).into_iter().zip(flat(&q)) {
                assert!(close(a, b), "{label}: force or stress {a} vs {b}");
            }
            // labels: the real atoms' as stored, padding atoms' zero
            let mut atom = 0;
            for &g in &plan.graphs {
                let r = set.node_range(g as usize);
                let n = r.len();
                assert_eq!(
                    batch.forces[atom..atom + n],
                    set.forces().unwrap()[r],
                    "{label}"
                );
                atom += n;
            }
            assert!(
                batch.forces[atom..].iter().all(|f| *f == [0.0; 3]),
                "{label}"
            );
        }
    }
}
