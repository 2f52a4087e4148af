//! Issue 33, classes 1 and 3, driven through the binary as a user would: a stop signal is a
//! checkpoint at the step where the run stopped (`--resume` computes no step twice), and a
//! report never counts a run whose files are not what it recorded.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_testkit::results::run_value;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

mod common;
use common::{
    geobatch, run_dirs, signal_after_part, signal_when, signal_when_output, steps_table, text, walk,
};

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

/// A tiny graph-level run on generated molecules: `steps` steps, no periodic checkpoint.
fn graph_config(steps: u64, mode: &str) -> String {
    format!(
        "[experiment]\nname = \"trust\"\nseed = 3\n[dataset]\nkind = \"synthetic\"\ngraphs = 60\n\
         [model]\nkind = \"schnet\"\nlatent = 8\nrbf = 10\n[batcher]\nkind = \"dynamic\"\nbatch_size = 4\n\
         [training]\nsteps = {steps}\neval_every = 0\nmode = \"{mode}\"\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 7\n"
    )
}

/// Sends `signal` to a run once its first part file is written; checks that the run stopped
/// with a checkpoint at the step it reached (exactly the steps it recorded), that `--resume`
/// continues at that step and says so, and that the finished run equals an uninterrupted one
/// step for step, loss for loss.
fn stop_is_a_checkpoint(signal: &str, mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let steps = 4000;
    let cfg = write(dir.path(), "run.toml", &graph_config(steps, mode));
    let reference = dir.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    let o = geobatch(&reference, &["run", &cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let want = steps_table(&run_dirs(&reference.join("results"))[0]);

    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let results = work.join("results");
    let (status, out) = signal_after_part(&work, &["run", &cfg], "steps-00001.parquet", signal);
    assert_eq!(status.code(), Some(130), "{signal}: {status:?} {out}");
    let run = run_dirs(&results).into_iter().next().unwrap();
    assert_eq!(run_value(&run, "status"), "interrupted");
    let done = steps_table(&run);
    assert!(
        !done.is_empty() && (done.len() as u64) < steps,
        "{}",
        done.len()
    );
    assert!(
        run.join("checkpoint/state.json").is_file(),
        "{signal}: no checkpoint"
    );

    let o = geobatch(&work, &["run", &cfg, "--resume"]);
    let resumed = text(&o);
    assert!(o.status.success(), "{resumed}");
    let from = common::number_after(&resumed, "resuming from the checkpoint at step ");
    assert_eq!(
        from,
        done.len() as u64,
        "{signal} {mode}: the resume starts where the stopped run's records end"
    );
    let got = steps_table(&run);
    assert_eq!(got.len() as u64, steps, "every step exactly once");
    assert_eq!(
        got, want,
        "{signal} {mode}: the same steps and losses as uninterrupted"
    );
}

#[test]
fn sigterm_in_serial_mode_checkpoints_where_it_stopped() {
    stop_is_a_checkpoint("TERM", "serial");
}

#[test]
fn sigusr1_in_prefetch_mode_checkpoints_where_it_stopped() {
    stop_is_a_checkpoint("USR1", "prefetch");
}

#[test]
fn ctrl_c_in_prefetch_mode_checkpoints_where_it_stopped() {
    stop_is_a_checkpoint("INT", "prefetch");
}

/// The same for a node-level run, stopped in the middle of an epoch.
#[test]
fn a_node_level_run_stopped_by_sigusr1_resumes_at_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "node.toml",
        "[experiment]\nname = \"node\"\nseed = 1\n\
         [dataset]\nkind = \"sbm\"\nnodes = 2000\nclasses = 4\ncommunities = 8\n\
         [model]\nkind = \"gcn\"\nhidden = 8\nlayers = 2\n\
         [batcher]\nkind = \"ibmb-node\"\noutputs_per_batch = 50\ntopk = 8\n\
         [training]\nepochs = 400\neval_every = 0\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 5\n",
    );
    let results = dir.path().join("results");
    let (status, out) =
        signal_after_part(dir.path(), &["run", &cfg], "steps-00002.parquet", "USR1");
    assert_eq!(status.code(), Some(130), "{status:?} {out}");
    let run = run_dirs(&results).into_iter().next().unwrap();
    let done = steps_table(&run).len() as u64;
    let o = geobatch(dir.path(), &["run", &cfg, "--resume"]);
    let resumed = text(&o);
    assert!(o.status.success(), "{resumed}");
    assert_eq!(
        common::number_after(&resumed, "resuming from the checkpoint at step "),
        done
    );
    let steps: Vec<u64> = steps_table(&run).iter().map(|r| r.0).collect();
    assert_eq!(steps, (0..steps.len() as u64).collect::<Vec<_>>());
}

/// A graph-level batching study (`geobatch batches`) stops at a Ctrl-C as a run does: after the
/// batch it is making, exit 130, status `interrupted`, its summary over the batches it made, and
/// every one of them in its readable Parquet parts.
#[test]
fn ctrl_c_stops_a_graph_level_batching_study() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "batches.toml",
        "[experiment]\nname = \"study\"\nseed = 3\n[dataset]\nkind = \"synthetic\"\ngraphs = 60\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 4\n[batches]\nsteps = 100000000\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 1000\n",
    );
    let results = dir.path().join("results");
    let (status, out) =
        signal_after_part(dir.path(), &["batches", &cfg], "steps-00002.parquet", "INT");
    assert_eq!(status.code(), Some(130), "{status:?} {out}");
    assert!(out.contains("status             interrupted"), "{out}");
    let made = common::number_after(&out, "batches            ");
    let run = run_dirs(&results).into_iter().next().unwrap();
    assert_eq!(run_value(&run, "status"), "interrupted");
    let rows: usize = common::step_parts(&run).iter().map(|b| b.num_rows()).sum();
    assert!((2000..100_000_000).contains(&made), "{out}");
    assert_eq!(rows as u64, made, "{out}");
}

/// A run's status is the runner's own record, whatever its sinks: a run with the console sink
/// alone is complete once done, and `geobatch run` then leaves it (it was never "complete"
/// while the status was read from the Parquet sink's file).
#[test]
fn a_console_only_run_is_complete_by_the_runners_own_record() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "console.toml",
        &graph_config(6, "serial").replace(
            "kind = \"parquet\"\nrows_per_part = 7",
            "kind = \"console\"",
        ),
    );
    let o = geobatch(dir.path(), &["run", &cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let run = std::fs::read_dir(dir.path().join("results/trust"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .next()
        .unwrap();
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("status.json")).unwrap()).unwrap();
    assert_eq!(status["status"], "complete");
    assert_eq!(status["steps"], 6);
    assert!(!run.join("run.parquet").exists());
    let again = geobatch(dir.path(), &["run", &cfg]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("already complete"),
        "{}",
        text(&again)
    );
}

/// Every training step records where its update's time went: the four phases, each measured,
/// adding up to no more than the update; the batching study has none.
#[test]
fn training_steps_record_the_phases_of_their_update() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "phases.toml", &graph_config(12, "serial"));
    let o = geobatch(dir.path(), &["run", &cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let run = run_dirs(&dir.path().join("results"))
        .into_iter()
        .next()
        .unwrap();
    let update = common::steps_column(&run, "update_ns");
    let phases: Vec<Vec<f64>> = ["transfer_ns", "forward_ns", "backward_ns", "optimizer_ns"]
        .iter()
        .map(|c| common::steps_column(&run, c))
        .collect();
    assert_eq!(update.len(), 12);
    for (i, u) in update.iter().enumerate() {
        let parts: Vec<f64> = phases.iter().map(|p| p[i]).collect();
        assert!(parts.iter().all(|p| p.is_finite()), "step {i}: {parts:?}");
        assert!(parts[1] > 0.0 && parts[2] > 0.0, "step {i}: {parts:?}");
        assert!(parts.iter().sum::<f64>() <= *u, "step {i}: {parts:?} > {u}");
    }
    let o = geobatch(dir.path(), &["batches", &cfg, "--steps", "5"]);
    assert!(o.status.success(), "{}", text(&o));
    let study = run_dirs(&dir.path().join("results"))
        .into_iter()
        .find(|d| d.to_string_lossy().contains("batches-"))
        .unwrap();
    assert!(
        common::steps_column(&study, "forward_ns")
            .iter()
            .all(|v| v.is_nan())
    );
}

/// Runs `n` seeds of one cell (a sweep) in `dir`; returns the run folders.
fn cell_of_seeds(dir: &Path, n: usize) -> Vec<PathBuf> {
    let seeds: Vec<String> = (1..=n).map(|s| s.to_string()).collect();
    let cfg = write(
        dir,
        "sweep.toml",
        &format!(
            "{}[sweep]\nseeds = [{}]\n",
            graph_config(30, "serial").replace("eval_every = 0", "eval_every = 10"),
            seeds.join(", ")
        ),
    );
    let o = geobatch(dir, &["sweep", &cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let runs = run_dirs(&dir.join("results"));
    assert_eq!(runs.len(), n);
    runs
}

/// A cell with one run missing its evaluations, one missing a part, one with a part copied in
/// and one with its manifest removed: `report` leaves each out by name and exits 3; the cell
/// counts the one run it used; `sweep --status` says the same.
#[test]
fn report_leaves_out_runs_whose_files_are_not_what_they_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let runs = cell_of_seeds(dir.path(), 5);
    std::fs::remove_file(runs[0].join("evals.parquet")).unwrap();
    std::fs::remove_file(runs[1].join("steps-00001.parquet")).unwrap();
    std::fs::copy(
        runs[2].join("steps-00000.parquet"),
        runs[2].join("steps-00009.parquet"),
    )
    .unwrap();
    std::fs::remove_file(runs[3].join("manifest.json")).unwrap();
    let o = geobatch(dir.path(), &["report", "results", "--out", "report"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    for (run, why) in [
        (&runs[0], "evals.parquet holds 0 rows (it is missing)"),
        (&runs[1], "steps-00001.parquet is missing"),
        (
            &runs[2],
            "steps-00009.parquet is not one of the run's files",
        ),
        (&runs[3], "no manifest.json"),
    ] {
        let name = run.file_name().unwrap().to_string_lossy();
        let named = format!("{name}: {why}");
        assert!(out.contains(&named), "{named}\n{out}");
    }
    let md = std::fs::read_to_string(dir.path().join("report/report.md")).unwrap();
    assert!(
        md.contains("Left out, complete but not what they recorded (4;"),
        "{md}"
    );
    let seeds = common::summary_value(&dir.path().join("report"), "seeds");
    assert_eq!(seeds, "1", "the cell used one run");

    let o = geobatch(dir.path(), &["sweep", "sweep.toml", "--status"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains("4 inconsistent") && out.contains("1 complete"),
        "{out}"
    );
}

/// Two sinks that would write the same files are refused before anything runs.
#[test]
fn two_parquet_sinks_are_refused_at_validate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "two.toml",
        &format!(
            "{}[[sinks]]\nkind = \"parquet\"\nrows_per_part = 3\n",
            graph_config(50, "serial")
        ),
    );
    for cmd in ["validate", "run"] {
        let o = geobatch(dir.path(), &[cmd, &cfg]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {out}");
        assert!(
            out.contains("[[sinks]] #1 (parquet) and #2 (parquet) would both write run.parquet"),
            "{out}"
        );
    }
    assert!(!dir.path().join("results").exists(), "nothing written");
}

/// `report --out` replaces an earlier report whole (no stale file of it stays) and refuses a
/// folder that is not a report.
#[test]
fn report_out_is_written_as_one_set() {
    let dir = tempfile::tempdir().unwrap();
    cell_of_seeds(dir.path(), 2);
    let report = dir.path().join("report");
    let o = geobatch(dir.path(), &["report", "results", "--out", "report"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = geobatch(dir.path(), &["report", "results", "--out", "report"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(report.join("report.md").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // the user's files beside a report are never deleted: refused (exit 2), named, all kept
    std::fs::write(report.join("thesis.tex"), "precious").unwrap();
    std::fs::create_dir_all(report.join("figs")).unwrap();
    std::fs::write(report.join("figs/raw.csv"), "1,2").unwrap();
    let o = geobatch(dir.path(), &["report", "results", "--out", "report"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("figs/raw.csv and 1 more files no report wrote"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(report.join("thesis.tex")).unwrap(),
        "precious"
    );
    assert!(report.join("figs/raw.csv").is_file() && report.join("report.md").is_file());

    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("qm9.parquet"), "precious").unwrap();
    let o = geobatch(dir.path(), &["report", "results", "--out", "data"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("not a geobatch report"), "{out}");
    assert_eq!(
        std::fs::read_to_string(data.join("qm9.parquet")).unwrap(),
        "precious"
    );

    // results that are not there: said so, bad input
    let o = geobatch(dir.path(), &["report", "no-such-results"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("no-such-results: does not exist"), "{out}");
}

/// A run stopped by a signal is left out of the report, named with its status, and the report
/// exits 3: its tables come from the complete runs alone.
#[test]
fn report_leaves_out_an_interrupted_run_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    cell_of_seeds(dir.path(), 2);
    let cfg = write(dir.path(), "long.toml", &graph_config(100_000, "serial"));
    let results = dir.path().join("results");
    let (status, _) = signal_when(
        dir.path(),
        &["run", &cfg, "--set", "experiment.seed=9"],
        Duration::from_secs(120),
        "the long run did not start",
        || run_dirs(&results).len() == 3,
        "TERM",
    );
    assert_eq!(status.code(), Some(130));
    let o = geobatch(dir.path(), &["report", "results", "--out", "report"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains("left out, not complete: ") && out.contains("(interrupted)"),
        "{out}"
    );
}

/// A complete run whose folder is not what it recorded (a part deleted) is never skipped as
/// complete: the sweep again names it as failed (exit 1) and leaves it as it is, `run` on its
/// config refuses (exit 2) and points at --restart, which runs it again; the intact run is
/// skipped as before.
#[test]
fn a_damaged_complete_run_is_not_skipped_by_sweep_or_run() {
    let dir = tempfile::tempdir().unwrap();
    let runs = cell_of_seeds(dir.path(), 2);
    let damaged = runs
        .iter()
        .find(|r| r.to_string_lossy().contains("seed1"))
        .unwrap()
        .clone();
    std::fs::remove_file(damaged.join("steps-00001.parquet")).unwrap();
    let o = geobatch(dir.path(), &["sweep", "sweep.toml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("not what it recorded") && out.contains("steps-00001.parquet is missing"),
        "{out}"
    );
    assert!(out.contains("1 already complete"), "{out}");
    assert!(
        !damaged.join("steps-00001.parquet").exists(),
        "left as it is"
    );

    // the same run by the config it recorded: refused, then --restart runs it again
    let recorded = damaged.join("config.toml");
    let recorded = recorded.to_str().unwrap();
    let o = geobatch(dir.path(), &["run", recorded]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("says it is complete, but it is not what it recorded")
            && out.contains("--restart runs it again"),
        "{out}"
    );
    let o = geobatch(dir.path(), &["run", recorded, "--restart"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(damaged.join("steps-00001.parquet").exists());
    let o = geobatch(dir.path(), &["sweep", "sweep.toml"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Runs `geobatch run` on `config` in `dir` and sends SIGTERM `after` the run claims its folder
/// (loading starts then; the signal handlers are set a moment later). Returns how it ended, how
/// long after the folder appeared, and its standard error; checks that nothing of the run was
/// written (no step, no run table, no checkpoint).
fn signal_while_loading(
    dir: &Path,
    config: &str,
    after: Duration,
) -> (ExitStatus, Duration, String) {
    let cfg = write(dir, "slow.toml", config);
    let results = dir.join("results");
    let mut seen: Option<Instant> = None;
    let out = signal_when_output(
        dir,
        &["run", &cfg],
        Duration::from_secs(120),
        "the run claims its folder",
        || {
            if seen.is_none() && results.exists() {
                seen = Some(Instant::now());
            }
            seen.is_some_and(|t| t.elapsed() >= after)
        },
        "TERM",
    );
    let written: Vec<_> = walk(&results)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".parquet") || name.contains("checkpoint")
        })
        .collect();
    assert!(written.is_empty(), "{written:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status,
        seen.map_or(Duration::ZERO, |t| t.elapsed()),
        stderr,
    )
}

/// A SIGTERM while the dataset loads ends the run when loading ends: exit 130, nothing of the
/// run written (no step, no checkpoint). It used to be noticed only after a whole first step,
/// which then wrote a checkpoint of a run that never meant to start.
#[test]
fn a_stop_signal_while_the_dataset_loads_ends_the_run_before_its_first_step() {
    let dir = tempfile::tempdir().unwrap();
    // a million synthetic molecules: a few seconds of loading
    let config = graph_config(1_000_000, "serial").replace("graphs = 60", "graphs = 1000000");
    let (status, _, _) = signal_while_loading(dir.path(), &config, Duration::from_millis(300));
    assert_eq!(status.code(), Some(130), "{status:?}");
}

/// A long load says how far it is and a stop signal ends it while it runs, not when it ends:
/// 400,000 synthetic crystals with kNN graphs take about 15 s to generate and build on two
/// cores; progress lines come every 2 s; the signal, 5 s in, ends the job within a few seconds
/// (exit 130, nothing written).
#[test]
fn a_stop_signal_ends_a_long_load_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = graph_config(5, "serial").replace(
        "graphs = 60",
        "family = \"crystals\"\ngraphs = 400000\ngraph = { kind = \"knn\", k = 12 }",
    );
    let (status, after, stderr) = signal_while_loading(dir.path(), &config, Duration::from_secs(5));
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(
        after < Duration::from_secs(12),
        "the load ran on for {:?} after the signal",
        after - Duration::from_secs(5)
    );
    assert!(
        stderr.contains("of 400000 (") && stderr.contains("stopped by a signal while loading"),
        "{stderr}"
    );
}

/// `--resume` over an interrupted run whose part was deleted is refused (exit 2, the part and
/// its steps named, the folder left as it is): it used to continue and end `complete` with the
/// part's steps missing. `--restart` runs it again.
#[test]
fn a_resume_over_a_deleted_part_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "run.toml", &graph_config(4000, "serial"));
    let results = dir.path().join("results");
    let (status, _) = signal_after_part(dir.path(), &["run", &cfg], "steps-00001.parquet", "INT");
    assert_eq!(status.code(), Some(130), "{status:?}");
    let run = run_dirs(&results).into_iter().next().unwrap();
    std::fs::remove_file(run.join("steps-00000.parquet")).unwrap();
    let o = geobatch(dir.path(), &["run", &cfg, "--resume"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("steps-00000.parquet is missing (manifest.json lists it, steps 0-6)"),
        "{out}"
    );
    assert!(run.join("steps-00001.parquet").is_file() && run.join("checkpoint").exists());
    let o = geobatch(dir.path(), &["run", &cfg, "--restart"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(steps_table(&run).len(), 4000);
}
