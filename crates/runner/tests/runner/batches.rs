//! The batching study end to end, in process: dataset -> batcher -> collation -> sinks; the
//! Parquet rows it leaves are read back and agree with its summary.

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use geobatch_runner::{LoadedConfig, RunError, run_batches};
use geobatch_testkit::results::{run_value, steps};
use std::collections::HashSet;
use std::path::Path;

fn config(dir: &Path, dataset: &str, batcher: &str, extra: &str) -> LoadedConfig {
    geobatch_catalog::link();
    let text = format!(
        "[experiment]\nname = \"t\"\nseed = 9\nresults_dir = {:?}\n{extra}\n[dataset]\n{dataset}\n[batcher]\n{batcher}\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 50\n",
        dir.display().to_string()
    );
    LoadedConfig::from_str(&text, Path::new("test.toml")).unwrap()
}

fn column(batches: &[RecordBatch], name: &str) -> Vec<u64> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(name).unwrap();
            if *c.data_type() == UInt32Type::DATA_TYPE {
                c.as_primitive::<UInt32Type>()
                    .values()
                    .iter()
                    .map(|&v| u64::from(v))
                    .collect::<Vec<_>>()
            } else {
                c.as_primitive::<UInt64Type>().values().to_vec()
            }
        })
        .collect()
}

use arrow_array::types::ArrowPrimitiveType;

#[test]
fn parquet_rows_agree_with_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    for batcher in [
        "kind = \"dynamic\"\nbatch_size = 16",
        "kind = \"static\"\nbatch_size = 16\npad = \"pow2\"",
        "kind = \"static\"\nbatch_size = 16\npad = \"constant\"",
    ] {
        let loaded = config(
            dir.path(),
            "kind = \"synthetic\"\ngraphs = 300",
            batcher,
            "",
        );
        let summary = run_batches(&loaded, Some(120)).unwrap();
        let rows = steps(&summary.run_dir);
        assert_eq!(rows.len(), 3, "120 rows in parts of 50");
        let step = column(&rows, "step");
        assert_eq!(step, (0..120).collect::<Vec<_>>());
        let sum = |c: &str| column(&rows, c).iter().sum::<u64>() as f64;
        assert!((summary.node_fill - sum("real_nodes") / sum("padded_nodes")).abs() < 1e-12);
        assert!((summary.edge_fill - sum("real_edges") / sum("padded_edges")).abs() < 1e-12);
        let shapes: HashSet<(u64, u64, u64)> = column(&rows, "padded_nodes")
            .into_iter()
            .zip(column(&rows, "padded_edges"))
            .zip(column(&rows, "padded_graphs"))
            .map(|((a, b), c)| (a, b, c))
            .collect();
        assert_eq!(summary.distinct_shapes, shapes.len());
        let new_shapes = rows
            .iter()
            .map(|b| {
                b.column_by_name("new_shape")
                    .unwrap()
                    .as_boolean()
                    .true_count()
            })
            .sum::<usize>();
        assert_eq!(new_shapes, shapes.len());
        let graphs = column(&rows, "real_graphs");
        assert_eq!(
            summary.graphs_per_batch.1 as u64,
            *graphs.iter().min().unwrap()
        );
        assert_eq!(
            summary.graphs_per_batch.2 as u64,
            *graphs.iter().max().unwrap()
        );
        assert!(graphs.iter().all(|&g| g <= 15));
        let plan = column(&rows, "plan_ns");
        let collate = column(&rows, "collate_ns");
        let batching = column(&rows, "batching_ns");
        assert!(
            plan.iter()
                .zip(&collate)
                .zip(&batching)
                .all(|((p, c), b)| p + c == *b)
        );
        if loaded.config.batcher.label() != "static-2n" {
            assert_eq!(
                shapes.len(),
                1,
                "{} has one shape",
                loaded.config.batcher.label()
            );
        }
        assert!(summary.run_dir.join("config.toml").exists());
    }
}

#[test]
fn a_run_that_fails_midway_keeps_its_rows_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    // The budget comes from the first graph only, so a larger graph later cannot fit.
    let loaded = config(
        dir.path(),
        "kind = \"synthetic\"\ngraphs = 400\nnodes = { min = 3, max = 29, mean = 10.0, sd = 8.0 }",
        "kind = \"dynamic\"\nbatch_size = 2\nnum_estimation_graphs = 1",
        "quirks = \"reference\"",
    );
    let err = run_batches(&loaded, Some(100_000)).unwrap_err();
    assert!(matches!(err, RunError::Core(_)), "{err}");
    assert!(
        err.to_string().contains("larger than the batch budget")
            && err.to_string().contains("train graph \"synthetic-"),
        "{err}"
    );
    let run_dir = std::fs::read_dir(dir.path().join("t"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let rows = steps(&run_dir);
    let n: usize = rows.iter().map(|b| b.num_rows()).sum();
    assert!(n > 0, "the steps before the failure are kept");
    assert_eq!(column(&rows, "step"), (0..n as u64).collect::<Vec<_>>());
    assert_eq!(run_value(&run_dir, "status"), "failed");
    assert!(run_value(&run_dir, "message").contains("larger than the batch budget"));
}

#[test]
fn an_empty_split_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = config(
        dir.path(),
        "kind = \"synthetic\"\ngraphs = 10\nsplit = { train = 10, validation = 0, test = 0 }",
        "kind = \"static\"\nbatch_size = 4",
        "",
    );
    let mut loaded = loaded;
    loaded.config.batches.split = geobatch_core::SplitName::Validation;
    let err = run_batches(&loaded, Some(5)).unwrap_err().to_string();
    assert!(err.contains("validation split is empty"), "{err}");
}

#[test]
fn config_errors_name_the_file_and_the_key() {
    geobatch_catalog::link();
    let text = "[experiment]\nname = \"t\"\n[dataset]\nkind = \"synthetic\"\n[batcher]\nkind = \"static\"\nbatch_size = 1\n";
    let err = LoadedConfig::from_str(text, Path::new("cfg/x.toml")).unwrap_err();
    assert!(err.is_input_error());
    let msg = err.to_string();
    assert!(
        msg.starts_with("cfg/x.toml: ") && msg.contains("batch_size must be at least 2"),
        "{msg}"
    );
    let text = "[experiment]\nname = \"t\"\nseeds = 3\n[dataset]\nkind = \"synthetic\"\n[batcher]\nkind = \"static\"\nbatch_size = 4\n";
    let msg = LoadedConfig::from_str(text, Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("key `experiment.seeds`") && msg.contains("unknown field `seeds`"),
        "{msg}"
    );
    let text = "[experiment]\nname = \"t\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 0\n[batcher]\nkind = \"static\"\nbatch_size = 4\n";
    let msg = LoadedConfig::from_str(text, Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("graphs must be at least 1"), "{msg}");
    // a name becomes a folder: no slashes, and no quote or space left over from a --set value
    for name in ["a/b", "\\\"x", "a b", ".hidden"] {
        let text = format!(
            "[experiment]\nname = \"{name}\"\n[dataset]\nkind = \"synthetic\"\n[batcher]\nkind = \"static\"\nbatch_size = 4\n"
        );
        let msg = LoadedConfig::from_str(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("experiment.name") && msg.contains("no slashes, spaces or quotes"),
            "{name}: {msg}"
        );
    }
}

#[test]
fn resolved_configs_fill_defaults_and_round_trip() {
    geobatch_catalog::link();
    let text = "[experiment]\nname = \"t\"\n[dataset]\nkind = \"synthetic\"\nfamily = \"crystals\"\n[batcher]\nkind = \"static\"\nbatch_size = 4\n";
    let a = LoadedConfig::from_str(text, Path::new("x.toml")).unwrap();
    for key in [
        "seed = 42",
        "quirks = \"clean\"",
        "pad = \"multiple64\"",
        "kind = \"knn\"",
        "k = 12",
        "kind = \"parquet\"",
        "steps = 1000",
    ] {
        assert!(
            a.resolved.contains(key),
            "resolved config lacks {key}:\n{}",
            a.resolved
        );
    }
    let b = LoadedConfig::from_str(&a.resolved, Path::new("resolved.toml")).unwrap();
    assert_eq!(a.resolved, b.resolved);
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.hash.len(), 64);
}

#[test]
fn planned_batches_are_the_shapes_the_training_run_meets() {
    for batcher in [
        "kind = \"static\"\nbatch_size = 8\npad = \"multiple64\"",
        "kind = \"pack\"\nbatch_size = 8",
        "kind = \"dynamic\"\nbatch_size = 8",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let loaded = config(
            dir.path(),
            "kind = \"qm9\"\nsource = \"fixture\"\n[model]\nkind = \"schnet\"\nlatent = 8\nsteps = 1\n\
             [training]\neval_splits = []\nthreads = 1",
            batcher,
            "",
        );
        let planned = geobatch_runner::batches::planned_batches(&loaded, 30).unwrap();
        let run = geobatch_runner::run_train(
            &loaded,
            Some(30),
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap();
        let mut met = Vec::new();
        for b in steps(&run.run_dir) {
            let col = |name: &str| {
                b.column_by_name(name)
                    .unwrap()
                    .as_primitive::<UInt32Type>()
                    .values()
                    .to_vec()
            };
            let (n, e, g) = (
                col("padded_nodes"),
                col("padded_edges"),
                col("padded_graphs"),
            );
            let (rn, re) = (col("real_nodes"), col("real_edges"));
            for i in 0..n.len() {
                met.push((n[i], e[i], g[i], rn[i], re[i]));
            }
        }
        let expected: Vec<_> = planned
            .iter()
            .map(|p| {
                let u = |v: usize| u32::try_from(v).unwrap();
                (
                    u(p.padded.nodes),
                    u(p.padded.edges),
                    u(p.padded.graphs),
                    u(p.real.nodes),
                    u(p.real.edges),
                )
            })
            .collect();
        assert_eq!(met, expected, "{batcher}");
        let distinct: HashSet<_> = met.iter().map(|m| (m.0, m.1, m.2)).collect();
        if batcher.contains("multiple64") {
            assert!(
                distinct.len() > 3,
                "static-64 meets many shapes: {distinct:?}"
            );
        }
    }
}
