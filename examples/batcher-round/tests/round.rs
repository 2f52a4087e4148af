//! Tests of the round batcher: its shapes, the invariants every batcher keeps, its registration,
//! and the batching study run with it chosen by name.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_batcher_round::RoundSpec;
use geobatch_core::registry::{self, PluginKind};
use geobatch_core::{
    BatchSize, BatcherContext, BatcherSpec, GraphSize, GraphStream, Plan, Quirks, Shape,
};
use geobatch_core::{GraphDraw, StreamMode, Task};
use geobatch_testkit::arb_graph_set;
use geobatch_testkit::batcher::check_batcher;
use proptest::prelude::*;

#[test]
fn nodes_and_edges_are_padded_to_a_multiple_of_step() {
    let sizes = vec![
        GraphSize {
            nodes: 5,
            edges: 20
        };
        7
    ];
    let spec = RoundSpec {
        batch_size: BatchSize::try_from(4).unwrap(),
        step: 16,
    };
    let ctx = BatcherContext {
        sizes: &sizes,
        split: "test",
        quirks: Quirks::Clean,
    };
    let mut batcher = spec.build(&ctx).unwrap();
    let mut stream = GraphStream::new(7, StreamMode::Eval, 0, Quirks::Clean, "test").unwrap();
    let mut plan = Plan::default();
    let mut padded = Vec::new();
    while batcher
        .next_plan(GraphDraw::new(&mut stream, &sizes), &mut plan)
        .unwrap()
    {
        padded.push(plan.padded);
    }
    // 3 + 3 + 1 graphs: 15 nodes + 1 -> 16, 60 edges -> 64; 5 + 1 -> 16, 20 -> 32
    assert_eq!(
        padded,
        [
            Shape::new(16, 64, 4),
            Shape::new(16, 64, 4),
            Shape::new(16, 32, 4)
        ]
    );
}

// the invariants every batcher keeps, from geobatch-testkit
proptest! {
    #[test]
    fn round_keeps_every_batcher_invariant(
        set in arb_graph_set(40, 12),
        batch_size in 2usize..10,
        step in 1usize..100,
    ) {
        let spec = RoundSpec { batch_size: BatchSize::try_from(batch_size).unwrap(), step };
        if let Err(e) = check_batcher(&spec, &set, batch_size) {
            panic!("{e}");
        }
    }
}

#[test]
fn round_is_registered_under_its_name() {
    let spec: Box<dyn BatcherSpec> =
        toml::from_str("kind = \"round\"\nbatch_size = 32\nstep = 64\n").unwrap();
    assert_eq!(spec.label(), "round-64");
    let d = registry::descriptors()
        .into_iter()
        .find(|d| d.kind == PluginKind::Batcher && d.name == "round")
        .unwrap();
    assert_eq!(d.task, Task::Graph);
    let example: Box<dyn BatcherSpec> = toml::from_str(d.example).unwrap();
    example.validate().unwrap();
    let err =
        toml::from_str::<Box<dyn BatcherSpec>>("kind = \"round\"\nbatch_size = 8\nsetp = 4\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("setp"), "{err}");
}

/// `geobatch batches configs/examples/qm9-pack.toml --set 'batcher={ kind = "round", ... }'` as the
/// CLI runs it, through the runner: linking a plugin crate registers its plugins by name.
#[test]
fn the_batching_study_runs_round_by_name() {
    geobatch_batcher_round::link();
    geobatch_dataset_qm9::link();
    geobatch_sink_parquet::link();
    geobatch_sink_console::link();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // results and data (QM9's embedded fixture, and the split saved for it) in a scratch folder
    let scratch = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("round-study");
    let _ = std::fs::remove_dir_all(&scratch);
    let scratch = scratch.to_str().unwrap();
    let overrides = [
        r#"batcher={ kind = "round", batch_size = 32, step = 256 }"#.to_string(),
        format!("experiment.results_dir={:?}", format!("{scratch}/results")),
        format!("experiment.data_dir={:?}", format!("{scratch}/data")),
    ];
    let config = repo.join("configs/examples/qm9-pack.toml");
    let loaded = geobatch_runner::LoadedConfig::from_file_with(&config, &overrides).unwrap();
    let summary = geobatch_runner::run_batches(&loaded, None).unwrap();
    assert_eq!(
        (summary.batcher.as_str(), summary.batch_size),
        ("round-256", 32)
    );
    assert_eq!(summary.steps, 10_000);
    // the training stream repeats pass after pass, so every batch holds batch_size - 1 graphs
    assert_eq!(summary.graphs_per_batch, (31.0, 31, 31));
    assert!(summary.budget.is_none() && summary.distinct_shapes > 1);
    assert!(
        summary
            .render()
            .contains("round-256 on qm9 (train split, 800 graphs)")
    );
    let saved = std::fs::read_to_string(summary.run_dir.join("config.toml")).unwrap();
    assert!(
        saved.contains("kind = \"round\"\nbatch_size = 32\nstep = 256\n"),
        "{saved}"
    );
    assert!(summary.run_dir.join("steps-00000.parquet").is_file());
}
