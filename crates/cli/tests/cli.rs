//! The `geobatch` binary as a user runs it: smoke configs, listings, bad input and a run killed
//! mid-way.
//!
//! Why one long file: one integration-test binary of the built `geobatch` (each test file is a
//! binary to link against the whole stack, minutes on CI's two cores).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use geobatch_testkit::results::run_value;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{
    binary, geobatch, geobatch_with, kill_when, repo, run_dirs, signal_when, steps_column,
    steps_table, text, walk,
};

#[test]
fn every_smoke_config_validates_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs: Vec<PathBuf> = std::fs::read_dir(repo().join("configs/smoke"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 3, "smoke configs: {configs:?}");
    for c in &configs {
        let c = c.to_str().unwrap();
        let o = geobatch(dir.path(), &["validate", c]);
        assert!(o.status.success(), "validate {c}: {}", text(&o));
        let o = geobatch(dir.path(), &["batches", c]);
        assert!(o.status.success(), "batches {c}: {}", text(&o));
        let out = text(&o);
        for want in [
            "fill nodes",
            "fill edges",
            "distinct shapes",
            "real graphs/batch",
            "time per batch",
            "median",
            "p99",
        ] {
            assert!(out.contains(want), "{c}: output lacks {want}:\n{out}");
        }
    }
    let parts = walk(&dir.path().join("results"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("steps-"))
        .count();
    assert!(parts >= configs.len());
}

#[test]
fn list_and_example_show_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let o = geobatch(dir.path(), &["list"]);
    let out = text(&o);
    for name in ["synthetic", "dynamic", "static", "parquet", "console"] {
        assert!(out.contains(name), "{out}");
    }
    let o = geobatch(dir.path(), &["example", "batcher", "dynamic"]);
    assert!(o.status.success());
    assert!(text(&o).contains("[batcher]\nkind = \"dynamic\""));
    let o = geobatch(dir.path(), &["example", "batcher", "no-such-batcher"]);
    assert_eq!(o.status.code(), Some(2));
    let out = text(&o);
    let listed = out.split("registered batchers:").nth(1).unwrap_or_default();
    geobatch_catalog::link();
    for d in geobatch_core::registry::descriptors() {
        if d.kind == geobatch_core::registry::PluginKind::Batcher {
            assert!(listed.contains(d.name), "{} is not listed: {out}", d.name);
        }
    }
    let o = geobatch(dir.path(), &["list", "widgets"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("expected one of: dataset, model, batcher, sink"));
}

#[test]
fn docs_plugins_md_is_generated_from_the_registry() {
    let o = geobatch(&repo(), &["list", "--markdown"]);
    let committed = std::fs::read_to_string(repo().join("docs/plugins.md")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        committed,
        "docs/plugins.md is stale: run `geobatch list --markdown > docs/plugins.md`"
    );
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

const HEAD: &str = "[experiment]\nname = \"bad\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 60\n";

#[test]
fn bad_input_gets_a_clear_error_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    bad_configs_are_refused_by_batches(dir.path());
    let smoke = repo().join("configs/smoke/qm9-fixture-schnet.toml");
    let smoke = smoke.to_str().unwrap();
    bad_model_and_training_options_are_refused(dir.path(), smoke);
    an_os_error_is_printed_once(smoke);
    resume_with_nothing_to_resume_says_so_and_runs(smoke);
    an_empty_evaluated_split_is_refused_before_training(smoke);
    an_empty_split_not_evaluated_runs_and_warns_of_no_sinks(dir.path(), smoke);
    bad_devices_are_refused(dir.path(), smoke);
    a_missing_config_file_cannot_be_read(dir.path());
}

/// Unknown kinds and keys, wrong types, bad syntax, misplaced sweeps, a graph over the budget
/// and an empty split: `geobatch batches` exits with the stated code and names the problem.
fn bad_configs_are_refused_by_batches(dir: &Path) {
    let cases = [
        ("kind.toml", format!("{HEAD}[batcher]\nkind = \"no-such-batcher\"\nbatch_size = 4\n"), 2, vec!["unknown variant `no-such-batcher`", "`dynamic`", "`static`"]),
        ("key.toml", format!("{HEAD}[batcher]\nkind = \"dynamic\"\nbatch_size = 4\nbugdet = 9\n"), 2, vec!["unknown field `bugdet`", "num_estimation_graphs"]),
        ("type.toml", format!("{HEAD}[batcher]\nkind = \"static\"\nbatch_size = \"32\"\n"), 2, vec!["invalid type: string \"32\"", "key `batcher.batch_size`"]),
        ("bs.toml", format!("{HEAD}[batcher]\nkind = \"static\"\nbatch_size = 1\n"), 2, vec!["batch_size must be at least 2"]),
        ("syntax.toml", format!("{HEAD}[batcher\n"), 2, vec!["syntax.toml", "line 6"]),
        ("missing.toml", String::new(), 2, vec!["missing field `experiment`"]),
        ("sweep.toml", format!("{HEAD}[batcher]\nkind = \"static\"\nbatch_size = 4\n[sweep]\nseeds = [1, 2]\n"), 2, vec!["[sweep] table", "geobatch sweep"]),
        ("emptysweep.toml", format!("{HEAD}[batcher]\nkind = \"static\"\nbatch_size = 4\n[sweep]\nseeds = []\n"), 2, vec!["[sweep] table", "geobatch sweep"]),
        (
            "large.toml",
            "[experiment]\nname = \"bad\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 300\nnodes = { min = 3, max = 29, mean = 10.0, sd = 8.0 }\n\
             [batcher]\nkind = \"dynamic\"\nbatch_size = 2\nnum_estimation_graphs = 1\n[[sinks]]\nkind = \"parquet\"\n"
                .to_string(),
            1,
            vec!["larger than the batch budget", "raise batch_size", "train graph \"synthetic-"],
        ),
        (
            "empty.toml",
            format!("{HEAD}split = {{ train = 60, validation = 0, test = 0 }}\n[batcher]\nkind = \"static\"\nbatch_size = 4\n[batches]\nsplit = \"test\"\n"),
            // found when the batcher is built for the split, before any work: bad input
            2,
            vec!["test split is empty"],
        ),
    ];
    for (name, body, code, wants) in cases {
        let path = write(dir, name, &body);
        let o = geobatch(dir, &["batches", &path, "--steps", "5000"]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(code), "{name}: {out}");
        assert!(!out.contains("panicked"), "{name} panicked: {out}");
        for w in wants {
            assert!(out.contains(w), "{name}: {out:?} lacks {w:?}");
        }
    }
}

/// `validate` and `run` check the model's options, the optimiser and the step count (exit 2,
/// the key named).
fn bad_model_and_training_options_are_refused(dir: &Path, smoke: &str) {
    for (set, want) in [
        (
            "training.optimizer={ learning_rate = -1.0 }",
            "training.optimizer.learning_rate = -1",
        ),
        (
            "training.optimizer={ learning_rate = nan }",
            "training.optimizer.learning_rate = NaN",
        ),
        (
            "training.optimizer={ beta2 = 1.0 }",
            "training.optimizer.beta2",
        ),
        ("model.latent=0", "[model]"),
        ("training.steps=0", "training.steps must be at least 1"),
    ] {
        for cmd in ["validate", "run"] {
            let o = geobatch(dir, &[cmd, smoke, "--set", set]);
            assert_eq!(o.status.code(), Some(2), "{cmd} {set}: {}", text(&o));
            assert!(text(&o).contains(want), "{cmd} {set}: {}", text(&o));
        }
    }
}

/// An OS error (a file where the results folder goes) is printed once, not once per cause.
fn an_os_error_is_printed_once(smoke: &str) {
    let blocked = tempfile::tempdir().unwrap();
    std::fs::write(
        blocked.path().join("results"),
        "a file where the results folder goes",
    )
    .unwrap();
    let o = geobatch(blocked.path(), &["batches", smoke, "--steps", "5"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(out.matches("Not a directory").count(), 1, "{out}");
}

/// `--resume` with nothing to resume says so, and runs.
fn resume_with_nothing_to_resume_says_so_and_runs(smoke: &str) {
    let nothing = tempfile::tempdir().unwrap();
    let o = geobatch(
        nothing.path(),
        &["run", smoke, "--resume", "--set", "sinks=[]"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("nothing to resume in"), "{}", text(&o));
}

/// An empty evaluated split is refused before training, never scored as RMSE 0 over 0 graphs.
fn an_empty_evaluated_split_is_refused_before_training(smoke: &str) {
    let fresh = tempfile::tempdir().unwrap();
    let o = geobatch(
        fresh.path(),
        &[
            "run",
            smoke,
            "--set",
            "dataset.split={ train = 900, validation = 100, test = 0 }",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("the test split is empty"), "{}", text(&o));
    assert!(
        !walk(fresh.path())
            .iter()
            .any(|p| p.ends_with("run.parquet")),
        "nothing ran"
    );
}

/// An empty split that is not evaluated runs; a config with no sinks gets a warning.
fn an_empty_split_not_evaluated_runs_and_warns_of_no_sinks(dir: &Path, smoke: &str) {
    let o = geobatch(
        dir,
        &[
            "run",
            smoke,
            "--set",
            "dataset.split={ train = 900, validation = 100, test = 0 }",
            "--set",
            "training.eval_splits=[\"validation\"]",
            "--set",
            "sinks=[]",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("warning: the config has no [[sinks]]"),
        "{}",
        text(&o)
    );
}

/// A bad device name is bad input; CUDA or wgpu in a CPU-only build says how to build it.
fn bad_devices_are_refused(dir: &Path, smoke: &str) {
    let o = geobatch(dir, &["run", smoke, "--set", "training.device=\"tpu\""]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("expected \"cpu\", \"cuda\", \"cuda:N\" or \"wgpu\""),
        "{}",
        text(&o)
    );
    // wgpu is a device by its spelling too (the GPU A/B script runs it on lavapipe); a build
    // without the backend says how to build one
    for (device, feature, built) in [
        ("cuda:0", "cuda", cfg!(feature = "cuda")),
        ("wgpu", "wgpu", cfg!(feature = "wgpu")),
    ] {
        if built {
            continue;
        }
        let set = format!("training.device=\"{device}\"");
        let o = geobatch(dir, &["run", smoke, "--set", &set]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let how = format!("--features geobatch-cli/{feature}");
        assert!(text(&o).contains(&how), "{}", text(&o));
    }
}

/// A config file that does not exist is bad input, named with "cannot read".
fn a_missing_config_file_cannot_be_read(dir: &Path) {
    let o = geobatch(dir, &["validate", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no/such/file.toml: cannot read"));
}

#[test]
fn a_killed_run_leaves_its_closed_part_files_readable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "long.toml",
        "[experiment]\nname = \"kill\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 500\n[batcher]\nkind = \"static\"\nbatch_size = 8\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 2000\n",
    );
    let results = dir.path().join("results/kill");
    let steps_parts = || -> Vec<PathBuf> {
        walk(&results)
            .into_iter()
            .filter(|p| {
                p.extension().is_some_and(|e| e == "parquet")
                    && p.to_string_lossy().contains("steps-")
            })
            .collect()
    };
    kill_when(
        dir.path(),
        &["batches", &cfg, "--steps", "1000000000"],
        Duration::from_secs(120),
        "no part files appeared",
        || steps_parts().len() >= 3,
    );
    let parts = steps_parts();
    let mut rows = 0;
    for p in &parts {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(p).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let in_file: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(in_file, 2000, "{}", p.display());
        rows += in_file;
    }
    assert!(rows >= parts.len() * 2000);
    assert_eq!(run_value(&run_dirs(&results)[0], "status"), "running");
}

/// Ctrl-C stops a run after its current step: what ran is kept with status `interrupted` and the
/// exit code is 130, not the 0 of a complete run.
#[test]
fn ctrl_c_stops_a_run_with_exit_code_130_and_status_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "long.toml",
        &format!(
            "{HEAD}[model]\nkind = \"schnet\"\nlatent = 8\nrbf = 10\n[batcher]\nkind = \"dynamic\"\n\
             batch_size = 4\n[training]\nsteps = 100000000\neval_every = 0\n[[sinks]]\nkind = \"parquet\"\n"
        ),
    );
    let results = dir.path().join("results");
    let run_dir = || run_dirs(&results).into_iter().next();
    // run.parquet is written when training starts, after the Ctrl-C handler is set
    let (status, out) = signal_when(
        dir.path(),
        &["run", &cfg],
        Duration::from_secs(120),
        "the run did not start",
        || run_dir().is_some(),
        "INT",
    );
    assert_eq!(status.code(), Some(130), "{status:?}: {out}");
    // the summary gives the loss of the last step that ran, not a NaN of the unreached last 10%
    assert!(out.contains("the run stopped before its last 10%"), "{out}");
    assert!(!out.contains("NaN"), "{out}");
    assert_eq!(run_value(&run_dir().unwrap(), "status"), "interrupted");
}

/// A kill while a checkpoint is being written leaves a `checkpoint.tmp` folder beside the last
/// complete checkpoint; the resume uses the complete one. A plain `run` neither discards the
/// killed run nor re-runs the complete one; `--restart` does, when asked.
#[test]
fn a_kill_while_a_checkpoint_is_written_does_not_stop_the_resume() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "train.toml",
        &format!(
            "{HEAD}[model]\nkind = \"schnet\"\nlatent = 8\nrbf = 10\n[batcher]\nkind = \"dynamic\"\n\
             batch_size = 4\n[training]\nsteps = 2000\neval_every = 0\ncheckpoint_every = 10\n\
             [[sinks]]\nkind = \"parquet\"\nrows_per_part = 7\n"
        ),
    );
    let results = dir.path().join("results");
    let checkpointed = || {
        run_dirs(&results)
            .into_iter()
            .find(|d| d.join("checkpoint/state.json").is_file())
    };
    kill_when(
        dir.path(),
        &["run", &cfg],
        Duration::from_secs(120),
        "no checkpoint appeared",
        || checkpointed().is_some(),
    );
    // what a kill in the middle of the next checkpoint leaves behind
    let half = checkpointed().unwrap().join("checkpoint.tmp");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("model.mpk"), b"half").unwrap();
    // a killed run is never discarded without being asked
    let o = geobatch(dir.path(), &["run", &cfg]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--resume continues it, --restart discards it"),
        "{}",
        text(&o)
    );
    assert!(checkpointed().is_some(), "the checkpoint is still there");
    let o = geobatch(dir.path(), &["run", &cfg, "--resume", "--restart"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = geobatch(dir.path(), &["run", &cfg, "--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    let done = steps_table(&results);
    assert_eq!(done.len(), 2000, "every step exactly once");
    // a complete run is left as it is, with or without --resume
    for args in [vec!["run", &cfg], vec!["run", &cfg, "--resume"]] {
        let o = geobatch(dir.path(), &args);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("already complete"), "{}", text(&o));
        assert_eq!(steps_table(&results), done, "results untouched");
    }
    // --restart runs it again from the start
    let o = geobatch(dir.path(), &["run", &cfg, "--restart"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("already complete") && !text(&o).contains("resuming"));
    assert_eq!(steps_table(&results).len(), 2000);
}

#[test]
fn a_killed_training_run_resumes_from_its_checkpoint_exactly() {
    killed_and_resumed("kind = \"dynamic\"");
}

/// The pack batcher holds graphs between batches: its checkpoint carries them.
#[test]
fn a_killed_pack_run_resumes_with_its_held_graphs_exactly() {
    killed_and_resumed("kind = \"pack\"");
}

/// static-64 meets many shapes: after the resume each old one is met cold again.
#[test]
fn a_killed_static_run_meets_its_old_shapes_cold_after_resuming() {
    let cold = killed_and_resumed("kind = \"static\"\npad = \"multiple64\"");
    assert!(cold >= 2, "the resumed process met {cold} old shapes cold");
}

/// Kills a training run with `batcher` (the batcher table's body) after its second checkpoint,
/// resumes it and compares it with an uninterrupted run, loss for loss and shape flag for shape
/// flag; returns how many old shapes the resumed process met cold.
fn killed_and_resumed(batcher: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "train.toml",
        &format!(
            "[experiment]\nname = \"resume\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n[model]\nkind = \"schnet\"\nlatent = 8\nrbf = 40\n\
         [batcher]\n{batcher}\nbatch_size = 8\n[training]\nsteps = 400\neval_every = 100\ncheckpoint_every = 20\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 7\n[[sinks]]\nkind = \"console\"\nprogress = false\n"
        ),
    );
    // the uninterrupted reference, and a run killed after its second checkpoint
    let (want, work) = common::reference_and_killed_run(dir.path(), &cfg, 400);
    let o = geobatch(&work, &["run", &cfg, "--resume"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let from = common::number_after(&out, "resuming from the checkpoint at step ");
    // the summary's rates count only the steps this process ran
    assert!(
        out.contains(&format!(
            "after 400 steps, {} of them in this process",
            400 - from
        )),
        "{out}"
    );
    let got = steps_table(&work.join("results"));
    assert_eq!(got.len(), 400, "every step exactly once");
    assert_eq!(
        got, want,
        "the resumed run matches the uninterrupted one bit for bit"
    );
    assert!(
        walk(&work.join("results"))
            .iter()
            .all(|p| !p.to_string_lossy().contains("checkpoint")),
        "a complete run drops its checkpoint"
    );
    // new shapes are the run's own; cold ones are new to the process that ran the step
    let flags = |run: &Path| {
        let col = |name: &str| steps_column(run, name);
        let (n, e, g) = (
            col("padded_nodes"),
            col("padded_edges"),
            col("padded_graphs"),
        );
        let shapes: Vec<[u64; 3]> = (0..n.len())
            .map(|i| [n[i] as u64, e[i] as u64, g[i] as u64])
            .collect();
        (shapes, col("new_shape"), col("cold_shape"))
    };
    let (shapes, new, cold) = flags(&work.join("results"));
    let (_, new_ref, cold_ref) = flags(&dir.path().join("reference/results"));
    assert_eq!(new, new_ref, "a resume changes no new_shape flag");
    assert_eq!(cold_ref, new_ref, "cold = new in a run never resumed");
    let mut seen = std::collections::HashSet::new();
    let mut old_cold = 0;
    for (i, shape) in shapes.iter().enumerate() {
        if i as u64 == from {
            seen.clear();
        }
        let first = seen.insert(*shape);
        assert_eq!(cold[i] > 0.0, first, "step {i}: cold_shape");
        old_cold += usize::from(first && new[i] == 0.0);
    }
    old_cold
}

#[test]
fn bench_step_times_every_batch_size_with_its_padded_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/smoke/qm9-fixture-schnet.toml");
    let o = geobatch(
        dir.path(),
        &[
            "bench",
            "step",
            config.to_str().unwrap(),
            "--batch-sizes",
            "4,16",
            "--steps",
            "3",
            "--warmup",
            "1",
            "--threads",
            "1,2",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("training step of schnet"), "{out}");
    // rows: threads, bs, steps, median ms, p90 ms, graphs/s, edges, shares
    let rows: Vec<Vec<f64>> = out
        .lines()
        .filter_map(|l| {
            let cols: Vec<f64> = l
                .split_whitespace()
                .take(7)
                .map_while(|c| c.parse().ok())
                .collect();
            (cols.len() == 7).then_some(cols)
        })
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    for (row, (threads, bs)) in rows
        .iter()
        .zip([(1.0, 4.0), (1.0, 16.0), (2.0, 4.0), (2.0, 16.0)])
    {
        assert_eq!((row[0], row[1]), (threads, bs), "{out}");
        assert_eq!(row[2], 3.0);
        assert!(row[3] > 0.0 && row[4] >= row[3], "median <= p90: {row:?}");
        assert!(row[5] > 0.0 && row[6] > 0.0, "{row:?}");
    }
    assert!(
        rows[1][6] > 2.0 * rows[0][6],
        "larger batches pad to more edges: {out}"
    );
    assert_eq!(
        rows[0][6], rows[2][6],
        "the same batches on any number of threads"
    );
}

#[test]
fn bench_step_set_edits_the_built_in_config_and_names_bad_values() {
    // no config given: --set edits the built-in one, and a bad value is named as in a file's
    let dir = tempfile::tempdir().unwrap();
    let o = geobatch(
        dir.path(),
        &[
            "bench",
            "step",
            "--set",
            "batcher.kind=nope",
            "--steps",
            "1",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("<default bench config>: key `batcher.kind`"),
        "{out}"
    );
    assert!(out.contains("`dynamic`, `pack`, `static`"), "{out}");
    assert!(
        out.contains("line numbers refer to the config after --set"),
        "{out}"
    );
    let o = geobatch(
        dir.path(),
        &[
            "bench",
            "step",
            "--set",
            "batcher.batch_size=0",
            "--steps",
            "1",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("batch_size must be at least 2"), "{out}");
}

#[test]
fn bench_step_names_an_oversized_graph_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    // the budget comes from the first graph only, so a larger graph later cannot fit
    let config = dir.path().join("big.toml");
    std::fs::write(
        &config,
        "[experiment]\nname = \"bad\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 300\n\
         nodes = { min = 3, max = 29, mean = 10.0, sd = 8.0 }\n[model]\nkind = \"schnet\"\n\
         latent = 8\n[batcher]\nkind = \"dynamic\"\nbatch_size = 2\nnum_estimation_graphs = 1\n",
    )
    .unwrap();
    let o = geobatch(
        dir.path(),
        &[
            "bench",
            "step",
            config.to_str().unwrap(),
            "--batch-sizes",
            "2",
            "--steps",
            "500",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("train graph \"synthetic-") && out.contains("larger than the batch budget"),
        "{out}"
    );
}

#[test]
fn crystal_examples_run_on_imported_and_committed_data() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = repo().join("data/fixtures/aflow-sample.jsonl");
    let o = geobatch(
        dir.path(),
        &["data", "import", "aflow", fixture.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("imported 8 AFLOW records"),
        "{}",
        text(&o)
    );
    let cif = repo().join("data/fixtures/cif-sample.csv");
    let cif_path = format!("dataset.path={:?}", cif.to_str().unwrap());
    let shared = repo().join("../shared/data/crystals/perov5");
    for batcher in ["dynamic", "static64", "static2n", "constant"] {
        let aflow = repo().join(format!("configs/examples/aflow-{batcher}.toml"));
        let o = geobatch(
            dir.path(),
            &[
                "batches",
                aflow.to_str().unwrap(),
                "--steps",
                "20",
                "--set",
                "batcher.batch_size=4",
            ],
        );
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        assert!(
            out.contains("8 records read, 7 kept; skipped: 1 without Ef"),
            "{out}"
        );
        let perov = repo().join(format!("configs/examples/perov5-{batcher}.toml"));
        let o = geobatch(
            dir.path(),
            &[
                "batches",
                perov.to_str().unwrap(),
                "--steps",
                "20",
                "--set",
                &cif_path,
                "--set",
                "dataset.targets=[\"energy_per_atom\"]",
                "--set",
                "batcher.batch_size=3",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        if geobatch_testkit::shared_data(&shared).is_some() {
            let path = format!("dataset.path={:?}", shared.to_str().unwrap());
            let o = geobatch(
                dir.path(),
                &[
                    "batches",
                    perov.to_str().unwrap(),
                    "--steps",
                    "50",
                    "--set",
                    &path,
                ],
            );
            let out = text(&o);
            assert!(o.status.success(), "{out}");
            assert!(out.contains("7572 rows read, 7572 kept"), "{out}");
        }
    }
}

#[test]
fn every_example_config_validates() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("configs/examples")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let o = geobatch(dir.path(), &["validate", p.to_str().unwrap()]);
            assert!(o.status.success(), "{}: {}", p.display(), text(&o));
            n += 1;
        }
    }
    assert!(n >= 34, "{n} example configs");
    // the other folders: node-level configs validate, sweeps plan their runs
    let tomls = |folder: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join(folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        v.sort();
        v
    };
    let nodes = tomls("configs/nodes");
    assert!(!nodes.is_empty());
    for p in nodes {
        let o = geobatch(dir.path(), &["validate", p.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", p.display(), text(&o));
    }
    let sweeps = tomls("configs/sweeps");
    assert!(!sweeps.is_empty());
    for p in sweeps {
        let o = geobatch(dir.path(), &["sweep", p.to_str().unwrap(), "--dry-run"]);
        assert!(o.status.success(), "{}: {}", p.display(), text(&o));
        assert!(text(&o).contains("to run"), "{}: {}", p.display(), text(&o));
    }
}

#[test]
fn painn_trains_on_periodic_crystals_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = repo().join("data/fixtures/aflow-sample.jsonl");
    let o = geobatch(
        dir.path(),
        &["data", "import", "aflow", fixture.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    let config = repo().join("configs/examples/aflow-painn-dynamic.toml");
    let o = geobatch(
        dir.path(),
        &[
            "run",
            config.to_str().unwrap(),
            "--steps",
            "4",
            "--set",
            "model.hidden=8",
            "--set",
            "batcher.batch_size=3",
            "--set",
            "training.eval_every=4",
            "--set",
            "training.checkpoint_every=0",
            "--set",
            "training.eval_splits=[\"validation\"]",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("painn"), "{out}");
}

/// The run folders of a results tree, by name.
/// Two sweeps on one results folder share the runs: each run is done once, by one of them,
/// and neither takes over the other's live checkpoint (no run records `resumed_from`).
#[test]
fn two_concurrent_sweeps_share_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "sweep.toml",
        "[experiment]\nname = \"two\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n[model]\nkind = \"schnet\"\nlatent = 8\nrbf = 20\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[training]\nsteps = 300\neval_every = 0\ncheckpoint_every = 10\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 50\n[sweep]\nseeds = [1, 2, 3, 4, 5, 6]\n",
    );
    let spawn = || {
        Command::new(binary())
            .args(["sweep", &cfg])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("geobatch starts")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (ta, tb) = (text(&a), text(&b));
    assert!(a.status.success() && b.status.success(), "{ta}\n{tb}");
    let ran = |t: &str| -> usize {
        t.split("runs; ")
            .nth(1)
            .and_then(|r| r.split(" run,").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no summary: {t}"))
    };
    assert_eq!(ran(&ta) + ran(&tb), 6, "each run once:\n{ta}\n{tb}");
    let dirs = run_dirs(&dir.path().join("results"));
    assert_eq!(dirs.len(), 6);
    for d in &dirs {
        assert_eq!(run_value(d, "status"), "complete");
        assert_eq!(steps_table(d).len(), 300, "{}", d.display());
        let run = geobatch_testkit::results::read(&d.join("run.parquet"));
        let resumed = run[0].column_by_name("resumed_from").unwrap();
        assert!(
            resumed.is_null(0),
            "{}: a live run was taken over",
            d.display()
        );
    }
    // a run folder that another process holds refuses `run`, even with --restart
    let smoke = repo().join("configs/smoke/qm9-fixture-schnet.toml");
    let smoke = smoke.to_str().unwrap();
    let o = geobatch(
        dir.path(),
        &["run", smoke, "--set", "sinks=[{ kind = \"parquet\" }]"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let held = run_dirs(&dir.path().join("results/smoke"));
    let lock = std::fs::File::open(held[0].join(".lock")).unwrap();
    lock.try_lock().unwrap();
    let o = geobatch(
        dir.path(),
        &[
            "run",
            smoke,
            "--set",
            "sinks=[{ kind = \"parquet\" }]",
            "--restart",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("another geobatch process is running this config"),
        "{}",
        text(&o)
    );
    assert_eq!(run_value(&held[0], "status"), "complete", "left as it was");
}

/// `--set sweep.KEY=[...]` replaces a swept list; `--set` on a swept key is refused with the way
/// to do it, never silently overridden by the sweep.
#[test]
fn sweep_set_replaces_a_swept_list_or_refuses_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "sweep.toml",
        "[experiment]\nname = \"sw\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 60\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n\
         [sweep]\nseeds = [1, 2]\n\"batcher.batch_size\" = [8, 16]\n",
    );
    let runs = |set: &[&str]| {
        let mut args = vec!["sweep", cfg.as_str(), "--dry-run"];
        args.extend(set);
        let o = geobatch(dir.path(), &args);
        (o.status.code(), text(&o))
    };
    let (code, out) = runs(&[]);
    assert_eq!((code, out.matches("to run").count()), (Some(0), 4), "{out}");
    let (code, out) = runs(&["--set", "sweep.seeds=[7]"]);
    assert_eq!((code, out.matches("to run").count()), (Some(0), 2), "{out}");
    assert!(out.contains("experiment.seed=7"), "{out}");
    let (code, out) = runs(&["--set", "sweep.batcher.batch_size=[4, 8, 32]"]);
    assert_eq!((code, out.matches("to run").count()), (Some(0), 6), "{out}");
    for swept in [
        "experiment.seed=3",
        "batcher.batch_size=64",
        "batcher={ kind = \"dynamic\", batch_size = 4 }",
    ] {
        let (code, out) = runs(&["--set", swept]);
        assert_eq!(code, Some(2), "{swept}: {out}");
        assert!(
            out.contains("is swept by [sweep]") && out.contains("--set 'sweep."),
            "{out}"
        );
    }
    // a key the sweep does not touch still sets the base config of every run
    let (code, out) = runs(&["--set", "batcher.num_estimation_graphs=10"]);
    assert_eq!((code, out.matches("to run").count()), (Some(0), 4), "{out}");
}

#[test]
fn a_killed_sweep_finishes_on_restart_as_if_never_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "sweep.toml",
        "[experiment]\nname = \"sw\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n[model]\nkind = \"schnet\"\nlatent = 8\nrbf = 40\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[training]\nsteps = 400\neval_every = 400\ncheckpoint_every = 10\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 7\n\
         [sweep]\nseeds = [1, 2]\nbatcher = [{ kind = \"dynamic\" }, { kind = \"static\", pad = \"pow2\" }]\n\"batcher.batch_size\" = [8]\n",
    );
    a_dry_run_plans_four_runs(dir.path(), &cfg);
    let reference = dir.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    an_uninterrupted_sweep_runs_four_with_progress_lines(&reference, &cfg);
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    kill_the_sweep_in_its_second_run(&work, &cfg);
    a_restart_resumes_one_run_and_skips_the_complete_ones(&work, &cfg);
    the_runs_match_the_uninterrupted_sweep(&reference, &work);
    a_complete_sweep_is_left_alone(&work, &cfg);
}

/// `sweep --dry-run` lists the four runs of the two seeds by two batchers.
fn a_dry_run_plans_four_runs(dir: &Path, cfg: &str) {
    let o = geobatch(dir, &["sweep", cfg, "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("to run").count(), 4, "{}", text(&o));
}

/// An uninterrupted sweep runs all four, with a line per run, the elapsed time and an ETA.
fn an_uninterrupted_sweep_runs_four_with_progress_lines(reference: &Path, cfg: &str) {
    let o = geobatch(reference, &["sweep", cfg]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("4 runs; 4 run, 0 resumed, 0 already complete"),
        "{}",
        text(&o)
    );
    // a line per run, with the sweep's elapsed time, and an ETA once a run has finished
    assert!(text(&o).contains("[1/4] running:"), "{}", text(&o));
    assert!(
        text(&o)
            .lines()
            .any(|l| l.starts_with("[4/4] running:") && l.contains("elapsed, ETA")),
        "{}",
        text(&o)
    );
}

/// Kills the sweep in `work` in the middle of its second run, after a few of its checkpoints.
fn kill_the_sweep_in_its_second_run(work: &Path, cfg: &str) {
    kill_when(
        work,
        &["sweep", cfg],
        Duration::from_secs(180),
        "the sweep made no progress",
        || {
            let dirs = run_dirs(&work.join("results"));
            dirs.len() >= 2
                && dirs.iter().any(|d| {
                    std::fs::read_to_string(d.join("checkpoint/state.json"))
                        .is_ok_and(|t| t.contains("\"step\":") && !t.contains("\"step\":10,"))
                })
        },
    );
}

/// Run again, the sweep resumes the killed run and skips the complete one.
fn a_restart_resumes_one_run_and_skips_the_complete_ones(work: &Path, cfg: &str) {
    let o = geobatch(work, &["sweep", cfg]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("1 resumed"), "{out}");
    assert!(out.contains("already complete"), "{out}");
}

/// Every run finished after the kill has each step once, the same losses and the same final
/// evaluation as the uninterrupted sweep.
fn the_runs_match_the_uninterrupted_sweep(reference: &Path, work: &Path) {
    let (want, got) = (
        run_dirs(&reference.join("results")),
        run_dirs(&work.join("results")),
    );
    assert_eq!(want.len(), 4);
    assert_eq!(
        want.iter()
            .map(|d| d.file_name().unwrap().to_owned())
            .collect::<Vec<_>>(),
        got.iter()
            .map(|d| d.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    for (a, b) in want.iter().zip(&got) {
        assert_eq!(run_value(b, "status"), "complete");
        let (sa, sb) = (steps_table(a), steps_table(b));
        assert_eq!(sb.len(), 400, "{}: every step once", b.display());
        assert!(
            sb.windows(2).all(|w| w[1].0 == w[0].0 + 1),
            "no duplicated or missing steps"
        );
        assert_eq!(sa, sb, "{}: the same losses as uninterrupted", b.display());
        // the final evaluation (a function of the final parameters) is bit-identical
        let evals = |d: &Path| {
            std::fs::read(d.join("evals.parquet")).map(|_| {
                let r = ParquetRecordBatchReaderBuilder::try_new(
                    std::fs::File::open(d.join("evals.parquet")).unwrap(),
                )
                .unwrap()
                .build()
                .unwrap();
                r.flat_map(|b| {
                    let b = b.unwrap();
                    let c = b
                        .column_by_name("rmse")
                        .unwrap()
                        .as_primitive::<arrow_array::types::Float64Type>()
                        .clone();
                    c.values().to_vec()
                })
                .collect::<Vec<f64>>()
            })
        };
        assert_eq!(evals(a).unwrap(), evals(b).unwrap());
    }
}

/// A complete sweep is left alone: nothing run, nothing resumed.
fn a_complete_sweep_is_left_alone(work: &Path, cfg: &str) {
    let o = geobatch(work, &["sweep", cfg]);
    assert!(
        text(&o).contains("0 run, 0 resumed, 4 already complete"),
        "{}",
        text(&o)
    );
}

/// CPU and GPU train the same first steps, for every model and batcher and every engine variant
/// (builds with `--features cuda` or `wgpu`, when `GEOBATCH_GPU` names the device: `cuda:0`
/// (or `1`) on a machine with a CUDA GPU, `wgpu` with a Vulkan driver, Mesa's lavapipe
/// included; `scripts/gpu-smoke.sh` and `scripts/gpu-ab.sh` run it). One line per check.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
#[test]
fn gpu_and_cpu_losses_agree_for_every_model_batcher_and_engine_variant() {
    let gpu = match std::env::var("GEOBATCH_GPU").as_deref() {
        Ok("1") => "cuda:0".to_string(),
        Ok(d) if !d.is_empty() => d.to_string(),
        _ => {
            eprintln!("skipped: set GEOBATCH_GPU to the device (cuda:0 or wgpu)");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mut failures = 0;
    for (i, (label, config, steps)) in gpu_cases().iter().enumerate() {
        let mut losses = Vec::new();
        for device in ["cpu", gpu.as_str()] {
            let work = dir
                .path()
                .join(format!("case{i}-{}", device.replace(':', "")));
            std::fs::create_dir_all(&work).unwrap();
            let cfg = write(&work, "gpu.toml", &config.replace("DEVICE", device));
            let o = geobatch(&work, &["run", &cfg]);
            assert!(o.status.success(), "{device}: {}", text(&o));
            losses.push(steps_table(&work.join("results")));
        }
        // float32 on different hardware: the first steps agree to 1e-3 relative
        let worst = losses[0]
            .iter()
            .zip(&losses[1])
            .take(5)
            .map(|(a, b)| ((a.1 - b.1).abs() / a.1.abs().max(1e-6)) as f64)
            .fold(0.0, f64::max);
        let ok = worst <= 1e-3 && steps.is_none_or(|n| losses[1].len() == n);
        if !ok {
            failures += 1;
        }
        println!(
            "{} {label}: first 5 losses, worst relative difference {worst:.2e} (tolerance 1e-3)",
            if ok { "ok  " } else { "FAIL" },
        );
    }
    assert_eq!(failures, 0, "CPU and GPU losses disagree");
}

/// The cases of [`gpu_and_cpu_losses_agree_for_every_model_batcher_and_engine_variant`]: (label,
/// config with DEVICE for the device, steps expected).
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn gpu_cases() -> Vec<(String, String, Option<usize>)> {
    let models = [
        "kind = \"schnet\"",
        "kind = \"mpeu\"",
        "kind = \"painn\"\nhidden = 64",
    ];
    let batchers = [
        "kind = \"dynamic\"\nbatch_size = 16",
        "kind = \"static\"\nbatch_size = 16\npad = \"multiple64\"",
        "kind = \"static\"\nbatch_size = 16\npad = \"pow2\"",
        "kind = \"static\"\nbatch_size = 16\npad = \"constant\"",
    ];
    let mut cases: Vec<(String, String, Option<usize>)> = Vec::new();
    for model in models {
        for batcher in batchers {
            cases.push((
                format!("{} / {}", model.lines().next().unwrap_or(""), batcher.replace('\n', " ")),
                format!(
                    "[experiment]\nname = \"gpu\"\nseed = 7\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
                     [model]\n{model}\n[batcher]\n{batcher}\n[training]\nsteps = 20\neval_every = 20\n\
                     eval_splits = [\"validation\"]\ndevice = \"DEVICE\"\n[[sinks]]\nkind = \"parquet\"\n"
                ),
                Some(20),
            ));
        }
    }
    // the engine variants (`[training.engine]`), each model with dynamic batching; the last
    // overlaps uploads with steps, in prefetch mode
    for model in models {
        for (engine, mode) in [
            ("fusion = true", "serial"),
            ("basis = \"device\"", "serial"),
            ("segments = \"csr\"", "serial"),
            (
                "fusion = true\nbasis = \"device\"\nsegments = \"csr\"\nupload = \"worker\"",
                "prefetch",
            ),
        ] {
            cases.push((
                format!(
                    "{} / dynamic / {mode} / engine {}",
                    model.lines().next().unwrap_or(""),
                    engine.replace('\n', ", ")
                ),
                format!(
                    "[experiment]\nname = \"gpu\"\nseed = 7\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
                     [model]\n{model}\n[batcher]\nkind = \"dynamic\"\nbatch_size = 16\n[training]\nsteps = 20\n\
                     eval_every = 20\neval_splits = [\"validation\"]\ndevice = \"DEVICE\"\nmode = \"{mode}\"\n\
                     [training.engine]\n{engine}\n[[sinks]]\nkind = \"parquet\"\n"
                ),
                Some(20),
            ));
        }
    }
    // node-level: GCN on a generated graph (dropout off: the devices draw different masks)
    for batcher in [
        "kind = \"ibmb-node\"\noutputs_per_batch = 100",
        "kind = \"cluster\"\nnum_parts = 4",
    ] {
        cases.push((
            format!("gcn (node-level) / {}", batcher.replace('\n', " ")),
            format!(
                "[experiment]\nname = \"gpu\"\nseed = 7\n[dataset]\nkind = \"sbm\"\nnodes = 2000\n\
                 [model]\nkind = \"gcn\"\nhidden = 32\nlayers = 2\ndropout = 0.0\n[batcher]\n{batcher}\n\
                 [training]\nepochs = 3\neval_every = 0\ndevice = \"DEVICE\"\n[[sinks]]\nkind = \"parquet\"\n"
            ),
            None,
        ));
    }
    cases
}

#[test]
fn runs_on_the_fixture_and_on_fetched_qm9_never_share_a_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = write(
        dir.path(),
        "auto.toml",
        &format!(
            "[experiment]\nname = \"auto\"\ndata_dir = {:?}\n[dataset]\nkind = \"qm9\"\nsource = \"auto\"\n\
             [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[[sinks]]\nkind = \"parquet\"\n\
             [sweep]\nseeds = [1]\n",
            data.to_str().unwrap()
        ),
    );
    let folder = || {
        let o = geobatch(dir.path(), &["sweep", &cfg, "--dry-run"]);
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        out.split("(results/auto/")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .unwrap_or_else(|| panic!("no run folder in {out}"))
            .to_string()
    };
    let resolved = |cfg: &str| text(&geobatch(dir.path(), &["validate", cfg, "--resolved"]));
    let plain = write(
        dir.path(),
        "plain.toml",
        &std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("[sweep]\nseeds = [1]\n", ""),
    );
    // nothing fetched: `auto` is the fixture, and says so in the resolved config
    assert!(
        resolved(&plain)
            .contains("# dataset source, resolved (part of the run identity): fixture (embedded)"),
        "{}",
        resolved(&plain)
    );
    let fixture_run = folder();
    // a fetched file (any content: only its fingerprint is read here) is another run
    std::fs::create_dir_all(data.join("qm9")).unwrap();
    std::fs::write(data.join("qm9/qm9.parquet"), b"first").unwrap();
    let fetched_run = folder();
    assert_ne!(fixture_run, fetched_run);
    assert!(resolved(&plain).contains("qm9.parquet (5 bytes, sha256 "));
    // and other content is another run again
    std::fs::write(data.join("qm9/qm9.parquet"), b"other").unwrap();
    assert_ne!(folder(), fetched_run);
}

#[test]
fn a_batch_size_the_data_cannot_fill_is_refused_before_any_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = repo().join("configs/smoke/qm9-fixture-schnet.toml");
    let smoke = smoke.to_str().unwrap();
    // validate: a hard cap, before any data is read (exit 2, the key named)
    let o = geobatch(
        dir.path(),
        &["validate", smoke, "--set", "batcher.batch_size=1000000000"],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("batcher.batch_size = 1000000000: at most 1048576"),
        "{out}"
    );
    // run, batches and bench: more than the training split can fill (800 fixture molecules)
    for args in [
        vec!["run", smoke, "--set", "batcher.batch_size=100000"],
        vec!["batches", smoke, "--set", "batcher.batch_size=100000"],
        vec![
            "bench",
            "step",
            smoke,
            "--batch-sizes",
            "100000",
            "--steps",
            "1",
        ],
    ] {
        let o = geobatch(dir.path(), &args);
        let out = text(&o);
        assert!(!o.status.success(), "{args:?}: {out}");
        assert!(
            out.contains("batcher.batch_size = 100000 is more than the train split can fill (800 graphs, so at most batch_size = 801)"),
            "{args:?}: {out}"
        );
        assert!(
            !out.contains("panicked") && !out.contains("memory allocation"),
            "{out}"
        );
    }
}

/// A tmpfs of `size` mounted on `dir` for as long as it lives (needs the right to mount: root,
/// as on the project's machines; `None` where mounting is not allowed).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_named_the_run_marked_failed_and_no_half_written_file_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    // 256 KiB: the steps and the run's status fit, a checkpoint of an 80k-parameter model does not
    let Some(_disk) = SmallDisk::mount(&results, "256k") else {
        eprintln!("skipped: mounting a tmpfs is not allowed here");
        return;
    };
    let config = dir.path().join("full.toml");
    let smoke = std::fs::read_to_string(repo().join("configs/smoke/qm9-fixture-schnet.toml"))
        .unwrap()
        .replace("mode = \"prefetch\"", "checkpoint_every = 5");
    std::fs::write(&config, format!("{smoke}\n[[sinks]]\nkind = \"parquet\"\n")).unwrap();
    let results_dir = format!("experiment.results_dir={:?}", results.to_str().unwrap());
    let o = geobatch(
        dir.path(),
        &[
            "run",
            config.to_str().unwrap(),
            "--set",
            &results_dir,
            "--set",
            "model.latent=64",
            "--steps",
            "50",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("No space left on device"), "{out}");
    let files = walk(&results);
    let run_dir = files
        .iter()
        .find(|p| p.ends_with("run.parquet"))
        .and_then(|p| p.parent())
        .unwrap_or_else(|| panic!("no run.parquet in {files:?}"))
        .to_path_buf();
    assert_eq!(run_value(&run_dir, "status"), "failed");
    assert!(run_value(&run_dir, "message").contains("No space left on device"));
    assert!(
        files.iter().all(|p| !p
            .strip_prefix(&results)
            .unwrap()
            .to_string_lossy()
            .contains(".tmp")),
        "half-written files left: {files:?}"
    );
}

#[test]
fn progress_in_a_log_is_plain_lines_with_every_evaluation_and_a_training_rate() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("log.toml");
    let smoke = std::fs::read_to_string(repo().join("configs/smoke/qm9-fixture-schnet.toml"))
        .unwrap()
        .replace("mode = \"prefetch\"", "");
    std::fs::write(
        &config,
        format!("{smoke}\n[[sinks]]\nkind = \"console\"\nevery_secs = 0.001\n"),
    )
    .unwrap();
    // stderr is a pipe here, as in a batch job's log
    let o = geobatch(dir.path(), &["run", config.to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("step 10: validation RMSE"), "{out}");
    assert!(out.contains("step 20: test RMSE"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("step ") && l.contains("/20 (") && l.contains("steps/s, ETA")),
        "{out}"
    );
    assert!(out.contains("steps/s while training"), "{out}");
}

#[test]
fn commands_the_configs_document_work_as_written() {
    let dir = tempfile::tempdir().unwrap();
    // configs/nodes/sbm-1m.toml: swapping the batcher by replacing its table
    let sbm = repo().join("configs/nodes/sbm-1m.toml");
    let sbm_text = std::fs::read_to_string(&sbm).unwrap();
    let swap = "batcher={kind=\"cluster\", num_parts=100}";
    assert!(sbm_text.contains(&format!("--set '{swap}'")), "{sbm_text}");
    let o = geobatch(
        dir.path(),
        &["validate", sbm.to_str().unwrap(), "--set", swap],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("batcher cluster-p100"), "{}", text(&o));
    // setting only the kind keeps the old kind's options: refused, saying how to swap
    let o = geobatch(
        dir.path(),
        &[
            "validate",
            sbm.to_str().unwrap(),
            "--set",
            "batcher.kind=\"cluster\"",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("replace the whole table instead"),
        "{}",
        text(&o)
    );

    // configs/sweeps/qm9-cpu.toml on the embedded fixture, with the split it documents (one
    // seed, one batch size, 2 steps: the command, not the study)
    let sweep = repo().join("configs/sweeps/qm9-cpu.toml");
    let sweep_text = std::fs::read_to_string(&sweep).unwrap();
    let split = "dataset.split={train=800, validation=100, test=100}";
    assert!(
        sweep_text.contains(&format!("--set '{split}'")),
        "{sweep_text}"
    );
    let o = geobatch(
        dir.path(),
        &[
            "sweep",
            sweep.to_str().unwrap(),
            "--set",
            split,
            "--set",
            "dataset.source=\"fixture\"",
            "--set",
            "sweep.seeds=[42]",
            "--set",
            "sweep.batcher.batch_size=[16]",
            "--set",
            "training.steps=2",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 runs; 3 run"), "{}", text(&o));
}

#[test]
fn sweep_tasks_status_and_the_slurm_script_without_slurm() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = std::fs::read_to_string(repo().join("configs/smoke/qm9-fixture-schnet.toml"))
        .unwrap()
        .replace("mode = \"prefetch\"", "");
    std::fs::write(
        dir.path().join("s.toml"),
        format!(
            "{smoke}\n[[sinks]]\nkind = \"parquet\"\n[sweep]\nseeds = [1, 2, 3]\n\
             [slurm]\nruns_per_task = 2\npartition = \"gpu\"\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut a = vec!["sweep", "s.toml"];
        a.extend(args);
        geobatch_with(dir.path(), &a, &[("PATH", "/nonexistent")])
    };
    // without SLURM: a clear error, exit 1
    let o = run(&["--slurm"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("sbatch not found"), "{}", text(&o));
    // the script can still be written and read
    let o = run(&["--slurm", "--dry-run", "--set", "slurm.max_concurrent=1"]);
    assert!(o.status.success(), "{}", text(&o));
    for want in [
        "#SBATCH --array=0-1%1",
        "#SBATCH --partition=gpu",
        "--runs-per-task 2",
        "not submitted",
    ] {
        assert!(text(&o).contains(want), "no {want:?}: {}", text(&o));
    }
    assert!(
        dir.path()
            .join("results/smoke/slurm/sweep.sbatch")
            .is_file()
    );
    // a task's share, and a task that does not exist
    let o = run(&["--task", "1", "--runs-per-task", "2", "--dry-run"]);
    let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    assert_eq!(listed, ["3"], "{}", text(&o));
    let o = run(&["--task", "2", "--runs-per-task", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("3 runs, 2 task(s) of 2"), "{}", text(&o));
    // task 1 runs the third run only; --status sees it
    let o = run(&[
        "--task",
        "1",
        "--runs-per-task",
        "2",
        "--set",
        "training.steps=2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["--status", "--set", "training.steps=2"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("sweep: 3 runs: 2 not started, 1 complete"),
        "{out}"
    );
    // the other two interrupted, one of them with a checkpoint: counted together by --status,
    // told apart by --dry-run (one resumable, one to rerun)
    let o = run(&["--dry-run", "--set", "training.steps=2"]);
    let dirs: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| Some(l.rsplit_once('(')?.1.trim_end_matches(')').to_string()))
        .collect();
    assert_eq!(dirs.len(), 3, "{}", text(&o));
    for (i, d) in dirs[..2].iter().enumerate() {
        let d = dir.path().join(d);
        std::fs::create_dir_all(d.join("checkpoint")).unwrap();
        std::fs::write(
            d.join("status.json"),
            r#"{"status":"interrupted","steps":1}"#,
        )
        .unwrap();
        if i == 0 {
            std::fs::write(d.join("checkpoint/state.json"), "{}").unwrap();
        }
    }
    let o = run(&["--status", "--set", "training.steps=2"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("sweep: 3 runs: 2 interrupted, 1 complete"),
        "{out}"
    );
    let o = run(&["--dry-run", "--set", "training.steps=2"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for (line, want) in lines.iter().zip(["resumable", "to rerun", "complete"]) {
        assert!(line.contains(want), "{want:?}: {out}");
    }
}

/// A budget given by hand that the data's graphs would mostly leave empty is warned about, with
/// its figures, and the run goes on; the estimate's own budget is not.
#[test]
fn a_budget_far_from_the_graph_sizes_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let body = |batcher: &str| {
        format!(
            "{HEAD}nodes = {{ min = 3, max = 12, mean = 8.0, sd = 2.0 }}\n[batcher]\n{batcher}\n\
             [[sinks]]\nkind = \"parquet\"\n"
        )
    };
    let wide = write(
        dir.path(),
        "wide.toml",
        &body(
            "kind = \"dynamic\"\nbatch_size = 8\nbudget = { nodes = 4096, edges = 512, graphs = 9 }",
        ),
    );
    let o = geobatch(dir.path(), &["batches", &wide]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("warning: batcher.budget, on the train split") && out.contains("4096 nodes"),
        "{out}"
    );
    let estimated = write(
        dir.path(),
        "estimated.toml",
        &body("kind = \"dynamic\"\nbatch_size = 8"),
    );
    let o = geobatch(dir.path(), &["batches", &estimated]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains("warning: batcher.budget"), "{out}");
}

/// A synthetic dataset whose atoms alone would not fit in memory is refused before it is
/// generated (a failed allocation used to abort the process), naming the option.
#[test]
fn a_dataset_larger_than_memory_is_refused_before_generation() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "huge.toml",
        "[experiment]\nname = \"huge\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 100000000000\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[[sinks]]\nkind = \"parquet\"\n",
    );
    let o = geobatch(dir.path(), &["batches", &config]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("dataset.graphs = 100000000000") && out.contains("GiB"),
        "{out}"
    );
}
