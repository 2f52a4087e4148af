//! Issue 33, class 4: the Python boundary checks what comes back, and nothing a module does
//! makes geobatch wait forever. Each case runs `geobatch run` on the NumPy test module
//! (`python/tests/linear_numpy.py`) with an option that misbehaves, within a wall-clock bound
//! (a regression fails instead of hanging CI). Skipped without an interpreter that has NumPy.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_testkit::results::run_value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

mod common;
use common::{python, repo, run_dirs, steps_table, text};

/// A 20-step run of the NumPy module with `options`, evaluated at the end.
fn config(py: &Path, options: &str) -> String {
    format!(
        "[experiment]\nname = \"py\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
         [model]\nkind = \"python\"\npython = \"{}\"\nmodule = \"{}\"\noptions = {{ {options} }}\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[training]\nsteps = 20\neval_every = 20\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 5\n",
        py.display(),
        repo().join("python/tests/linear_numpy.py").display()
    )
}

/// Runs `geobatch run CONFIG` in `dir`, killing it and failing after `limit`.
fn run_within(dir: &Path, cfg: &str, limit: Duration) -> Output {
    common::run_within(dir, cfg, limit, || {}).0
}

/// What comes back from `train_step` and `predict` is checked: a wrong type, dtype or shape
/// (a transposed array among them) ends the run naming the function, what it expected and what
/// it got; the steps before stay readable (6 cases).
#[test]
fn wrong_returns_name_the_function_the_expected_and_the_received() {
    let Some(py) = python("numpy") else { return };
    let cases = [
        (
            "loss_as = \"bool\"",
            "train_step() returned bool (True), expected a float",
        ),
        (
            "loss_as = \"int\"",
            "train_step() returned int (1), expected a float",
        ),
        (
            "loss_as = \"pair\"",
            "train_step() returned ndarray of dtype float64 and shape (2,), expected a float",
        ),
        (
            "predict_as = \"transposed\"",
            "predict() returned shape (1, 7), expected (7, 1): one row per real graph",
        ),
        (
            "predict_as = \"int\"",
            "predict() returned ndarray of dtype int64 and shape (7, 1), expected a floating-point array",
        ),
        (
            "predict_as = \"complex\"",
            "predict() returned ndarray of dtype complex128",
        ),
    ];
    for (options, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let o = run_within(dir.path(), &config(&py, options), Duration::from_secs(120));
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{options}: {out}");
        assert!(out.contains(want), "{options}: wants {want:?}\n{out}");
        let run = run_dirs(&dir.path().join("results")).pop().unwrap();
        assert_eq!(run_value(&run, "status"), "failed", "{options}");
        if options.starts_with("predict") {
            assert_eq!(steps_table(&run).len(), 20, "{options}: the steps stay");
        }
    }
}

/// Predictions that are not numbers make the run fail, not complete; the NaN evaluation row is
/// recorded as it is.
#[test]
fn non_finite_predictions_are_never_a_silent_complete() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let o = run_within(
        dir.path(),
        &config(&py, "predict_as = \"nan\""),
        Duration::from_secs(120),
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("validation U0 RMSE NaN") && out.contains("failed, not complete"),
        "{out}"
    );
    let run = run_dirs(&dir.path().join("results")).pop().unwrap();
    assert_eq!(run_value(&run, "status"), "failed");
    let rmse: Vec<f64> = geobatch_testkit::results::read(&run.join("evals.parquet"))
        .iter()
        .flat_map(|b| {
            use arrow_array::cast::AsArray;
            let c = b.column_by_name("rmse").unwrap();
            c.as_primitive::<arrow_array::types::Float64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert!(rmse.iter().any(|r| r.is_nan()), "{rmse:?}");
}

/// A module that forks a child holding the worker's pipes (as a DataLoader does) and then
/// exits: geobatch notices the death at once, names it, and the child goes with the worker.
#[test]
fn a_worker_that_dies_while_its_child_holds_the_pipes_is_noticed() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let options = format!(
        "fork_exit_at = 5, pid_file = {:?}",
        pid_file.to_str().unwrap()
    );
    let started = Instant::now();
    let o = run_within(dir.path(), &config(&py, &options), Duration::from_secs(60));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("died during train_step") && out.contains("exited with status 3"),
        "{out}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // gone, or a zombie waiting for its reaper (no process reaps orphans in some containers)
    let child = std::fs::read_to_string(&pid_file).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.trim())).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    assert!(
        state.is_none_or(|s| s == "Z" || s == "X"),
        "the forked child {child} outlived the run: {stat}"
    );
    assert_eq!(
        steps_table(&run_dirs(&dir.path().join("results"))[0]).len(),
        5
    );
}

/// `input()` and `breakpoint()` in a module cannot read geobatch's protocol: they meet the end
/// of an empty stdin and the run ends with the module's error (2 cases).
#[test]
fn a_module_cannot_read_the_protocol_as_its_stdin() {
    let Some(py) = python("numpy") else { return };
    for (options, want) in [
        ("input_at = 3", "EOFError"),
        ("breakpoint_at = 3", "train_step at step 3 failed"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = run_within(dir.path(), &config(&py, options), Duration::from_secs(60));
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{options}: {out}");
        assert!(out.contains(want), "{options}: {out}");
        assert_eq!(
            steps_table(&run_dirs(&dir.path().join("results"))[0]).len(),
            3,
            "{options}"
        );
    }
}
