//! `geobatch advise` end to end on the QM9 fixture: probes, the ranked prediction, the Parquet
//! files, the validation runs, and clear errors for bad requests.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt64Type};
use geobatch_testkit::results::read;
use std::path::Path;

mod common;
use common::{geobatch, run_dirs, text};

fn config(dir: &Path, model: &str) -> String {
    let path = dir.join("advise.toml");
    std::fs::write(
        &path,
        format!(
            "[experiment]\nname = \"adv\"\nseed = 3\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
             {model}\n[batcher]\nkind = \"dynamic\"\nbatch_size = 8\n\
             [training]\nsteps = 5\nwarmup = 2\nthreads = 1\n[[sinks]]\nkind = \"console\"\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn advise_ranks_the_candidates_writes_parquet_and_validates_the_top_two() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[model]\nkind = \"schnet\"\nlatent = 8\nsteps = 1",
    );
    let (o, out) = common::advise(
        dir.path(),
        &cfg,
        40,
        "dynamic,static:pad=multiple64,static:pad=pow2",
        12,
        true,
    );
    let printed = text(&o);
    assert!(o.status.success(), "{printed}");
    assert!(printed.contains("Recommended: **"), "{printed}");
    assert!(printed.contains("Validation (real runs)"), "{printed}");
    assert!(printed.contains("Measured fastest:"), "{printed}");
    // a row per candidate, ranked 1..3, predicted totals positive and ordered; the top two validated
    let rows = read(&out.join("advice.parquet"));
    let b = &rows[0];
    assert_eq!(b.num_rows(), 3);
    let rank = b
        .column_by_name("rank")
        .unwrap()
        .as_primitive::<UInt64Type>();
    assert_eq!(rank.values().to_vec(), vec![1, 2, 3]);
    let total = b
        .column_by_name("predicted_total_s")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!(total.value(0) > 0.0 && total.value(0) <= total.value(1));
    assert!(total.value(1) <= total.value(2));
    let measured = b
        .column_by_name("measured_total_s")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!(!measured.is_null(0) && !measured.is_null(1) && measured.is_null(2));
    assert!(measured.value(0) > 0.0);
    let steps = b
        .column_by_name("measured_steps")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(steps.value(0), 40.0);
    // static-64 at batch size 8 meets several shapes in 40 steps, dynamic one
    let shapes = b
        .column_by_name("distinct_shapes")
        .unwrap()
        .as_primitive::<UInt64Type>();
    let labels = b.column_by_name("batcher").unwrap().as_string::<i32>();
    for i in 0..3 {
        match labels.value(i) {
            "dynamic" | "static-2n" => assert!(shapes.value(i) <= 2, "{}", labels.value(i)),
            "static-64" => assert!(shapes.value(i) > 3, "{}", shapes.value(i)),
            other => panic!("unexpected candidate {other}"),
        }
    }
    // three pairs of crossovers
    assert_eq!(read(&out.join("crossovers.parquet"))[0].num_rows(), 3);
    // the probes and the two validation runs are real runs, readable by `geobatch report`
    assert_eq!(run_dirs(&out.join("probes")).len(), 3);
    assert_eq!(run_dirs(&out.join("validation")).len(), 2);
    assert!(out.join("advice.md").is_file());
    // a second advice into the same folder replaces the runs, it does not trip on them
    let (again, _) = common::advise(dir.path(), &cfg, 20, "dynamic", 6, false);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(read(&out.join("advice.parquet"))[0].num_rows(), 1);
}

#[test]
fn bad_requests_are_refused_with_what_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[model]\nkind = \"schnet\"\nlatent = 8\nsteps = 1",
    );
    let cases: [(&[&str], &str); 5] = [
        (
            &["--steps", "10", "--batchers", "greedy-nonexistent"],
            "registered:",
        ),
        // an option read from its table, as a value: named, with no line of a generated text
        (
            &["--steps", "10", "--batchers", "static:padd=64"],
            "key `batcher.padd`: unknown field `padd`, expected `batch_size` or `pad`",
        ),
        (&["--steps", "0"], "--steps must be at least 1"),
        (&["--steps", "10", "--probe-steps", "1"], "--probe-steps"),
        (&["--steps", "10", "--batchers", "static:pad"], "KEY=VALUE"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["advise", cfg.as_str()];
        all.extend_from_slice(args);
        let o = geobatch(dir.path(), &all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(expected), "{args:?}: {}", text(&o));
    }
    // a config without a model
    let no_model = config(dir.path(), "");
    let o = geobatch(dir.path(), &["advise", &no_model, "--steps", "10"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no [model]"), "{}", text(&o));
    // a node-level config
    let node = dir.path().join("node.toml");
    std::fs::write(
        &node,
        "[experiment]\nname = \"n\"\n[dataset]\nkind = \"sbm\"\nnodes = 300\n[model]\nkind = \"gcn\"\n\
         [batcher]\nkind = \"cluster\"\nnum_parts = 4\n",
    )
    .unwrap();
    let o = geobatch(
        dir.path(),
        &["advise", &node.display().to_string(), "--steps", "10"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("node-level"), "{}", text(&o));
}

/// A stop signal during the probes ends the advice with the signal's own code, named: SIGTERM
/// (scancel, a shutdown) 143, Ctrl-C 130; it was exit 1 and "Ctrl-C" for both.
#[test]
fn a_stop_signal_during_the_probes_exits_with_its_code() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            "[model]\nkind = \"schnet\"\nlatent = 8\nsteps = 1",
        );
        let probes = dir.path().join("advice/probes");
        let (status, _) = common::signal_when(
            dir.path(),
            &[
                "advise",
                &cfg,
                "--steps",
                "1000000",
                "--probe-steps",
                "1000000",
                "--out",
                "advice",
            ],
            std::time::Duration::from_secs(120),
            "advise starts its probes",
            || probes.exists(),
            signal,
        );
        assert_eq!(status.code(), Some(code), "{signal}: {status:?}");
        assert!(!dir.path().join("advice/advice.md").exists());
    }
}
