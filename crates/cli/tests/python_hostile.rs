//! Issue 33, class 4: hostile Python modules. Each case writes a NumPy-only module, runs
//! `geobatch run` on it as a user would, and checks the exit code, the message (the function,
//! what was expected, what came back), that the run ended within a wall-clock bound (geobatch and
//! the worker's process group are killed on expiry, so a regression fails instead of hanging),
//! and that the Parquet rows written before the failure stay readable. Skipped without an
//! interpreter that has NumPy (`scripts/python-env.sh`).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_testkit::results::run_value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod common;
use common::{python, run_dirs, steps_table, text};

/// The hostile module. `options.mode` picks the misbehaviour, `options.at` the step of
/// train_step it happens at (3 when absent); the worker writes its process id to `worker.pid`
/// (in the working directory) so that the test can stop its group when geobatch hangs.
const MODULE: &str = r#"
import os, subprocess, sys, time
import numpy as np


def spawn(path):
    """A child that inherits the worker's descriptors and would outlive it."""
    child = subprocess.Popen(["sleep", "1000"])
    with open(path, "w") as f:
        f.write(str(child.pid))


class Hostile:
    def __init__(self, ctx):
        self.o = ctx.options
        self.node = ctx.task == "node"
        with open("worker.pid", "w") as f:
            f.write(str(os.getpid()))
        mode = self.o.get("mode")
        if mode == "hang_build":
            time.sleep(1000)
        if mode == "spawn_in_build":
            spawn("child.pid")

    def train_step(self, batch, step, learning_rate):
        mode = self.o.get("mode") if step == self.o.get("at", 3) else None
        if mode == "popen_exit":
            spawn("child.pid")
            os._exit(3)
        if mode == "fork_hang":
            if os.fork() == 0:
                time.sleep(1000)
                os._exit(0)
            time.sleep(1000)
        if mode == "read_stdin":
            got = os.read(0, 4096) + sys.stdin.buffer.read()
            if got:
                raise RuntimeError(f"the module read the protocol: {got!r}")
        if mode == "write_stdout":
            os.write(1, b"not the protocol\n")
            print("a print from the module", flush=True)
            sys.__stdout__.write("to sys.__stdout__\n")
            sys.__stdout__.flush()
        returns = {
            "none": lambda: None,
            "str": lambda: "0.5",
            "list": lambda: [0.5],
            "int64": lambda: np.int64(1),
            "bool": lambda: True,
            "f32": lambda: np.float32(0.5),
            "zero_d": lambda: np.array(0.5),
            "one_element": lambda: np.array([[0.5]]),
        }
        return returns[mode]() if mode in returns else 0.5

    def predict(self, batch):
        mode = self.o.get("mode")
        if mode == "hang_predict":
            time.sleep(1000)
        if self.node:
            out = np.zeros((batch.n_outputs, batch.n_classes))
        else:
            out = np.zeros((batch.real_graphs, batch.n_targets))
        shown = {
            "pred_list": lambda: out.tolist(),
            "pred_transposed": lambda: out.T,
            "pred_bool": lambda: out.astype(bool),
            "pred_object": lambda: out.astype(object),
            "pred_f32_vector": lambda: out[:, 0].astype(np.float32),
            "pred_nan": lambda: np.full_like(out, np.nan),
        }.get(mode)
        return out if shown is None else shown()

    def parameter_count(self):
        return 10 ** self.o.get("count_power", 0)

    def state(self):
        return {}

    def load_state(self, state):
        pass


def build(ctx):
    return Hostile(ctx)
"#;

/// A graph-level run of 10 steps (an evaluation at 5 and 10) with the module and `model`
/// lines (`options = ...`, `timeout = ...`).
fn graph_config(dir: &Path, py: &Path, model: &str) -> String {
    std::fs::write(dir.join("hostile.py"), MODULE).unwrap();
    format!(
        "[experiment]\nname = \"py\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
         [model]\nkind = \"python\"\npython = \"{}\"\nmodule = \"hostile.py\"\n{model}\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[training]\nsteps = 10\neval_every = 5\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 2\n",
        py.display()
    )
}

/// A node-level run (an SBM, cluster batches, 4 epochs) with the module.
fn node_config(dir: &Path, py: &Path, model: &str) -> String {
    std::fs::write(dir.join("hostile.py"), MODULE).unwrap();
    format!(
        "[experiment]\nname = \"py\"\nseed = 3\n[dataset]\nkind = \"sbm\"\nnodes = 600\n\
         classes = 4\ncommunities = 8\navg_degree = 6\n\
         [model]\nkind = \"python\"\npython = \"{}\"\nmodule = \"hostile.py\"\n{model}\n\
         [batcher]\nkind = \"cluster\"\nnum_parts = 4\n[training]\nepochs = 4\neval_every = 2\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 3\n",
        py.display()
    )
}

/// Runs `geobatch run c.toml` in `dir`; past `limit` kills geobatch and the worker's process
/// group (from `worker.pid`) and fails. Returns the output and how long it took.
fn run_within(dir: &Path, cfg: &str, limit: Duration) -> (Output, Duration) {
    common::run_within(dir, cfg, limit, || {
        if let Ok(worker) = std::fs::read_to_string(dir.join("worker.pid")) {
            // the worker leads its own process group
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", worker.trim())])
                .status();
        }
        kill_child(dir);
    })
}

/// Whether the process whose id the module wrote to `child.pid` still runs (a zombie waiting
/// for a reaper does not count: no process reaps orphans in some containers).
fn child_alive(dir: &Path) -> Option<bool> {
    let pid = std::fs::read_to_string(dir.join("child.pid")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    Some(state.is_some_and(|s| s != "Z" && s != "X"))
}

/// The processes of group `pgid` that still run (zombies waiting for a reaper left out).
fn running_in_group(pgid: u32) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // after the command's closing parenthesis: state, parent, group
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z"
        })
        .collect()
}

/// Stops the module's child if it is still there (after a failed assertion on it).
fn kill_child(dir: &Path) {
    if child_alive(dir) == Some(true)
        && let Ok(pid) = std::fs::read_to_string(dir.join("child.pid"))
    {
        let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
    }
}

/// The one run folder of `dir`.
fn the_run(dir: &Path) -> PathBuf {
    let mut runs = run_dirs(&dir.join("results"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.pop().unwrap()
}

/// Runs the graph-level module with `mode` and checks a failure: exit 1, `want` in the
/// message, status failed, `steps` step rows readable.
fn fails(py: &Path, model: &str, want: &[&str], steps: usize, limit: Duration) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (o, took) = run_within(dir.path(), &graph_config(dir.path(), py, model), limit);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{model}: {out}");
    for w in want {
        assert!(out.contains(w), "{model}: wants {w:?}\n{out}");
    }
    let run = the_run(dir.path());
    assert_eq!(run_value(&run, "status"), "failed", "{model}");
    assert_eq!(
        steps_table(&run).len(),
        steps,
        "{model}: the steps before stay"
    );
    assert!(took < limit, "{model}: {took:?}");
    out
}

/// `train_step` must return a real float: None, a string, a list, a NumPy integer and a bool
/// end the run naming the function, the expected float and what came back (5 cases); a
/// float32 scalar, a 0-d array and a one-element array are losses (3 cases).
#[test]
fn train_step_must_return_a_real_float() {
    let Some(py) = python("numpy") else { return };
    let limit = Duration::from_secs(120);
    for (mode, got) in [
        ("none", "NoneType"),
        ("str", "str"),
        ("list", "list of length 1"),
        ("int64", "int64 of dtype int64 and shape ()"),
        ("bool", "bool (True)"),
    ] {
        fails(
            &py,
            &format!("options = {{ mode = \"{mode}\" }}"),
            &[
                "train_step at step 3 failed",
                &format!("train_step() returned {got}, expected a float"),
            ],
            3,
            limit,
        );
    }
    for mode in ["f32", "zero_d", "one_element"] {
        let dir = tempfile::tempdir().unwrap();
        let model = format!("options = {{ mode = \"{mode}\" }}");
        let (o, _) = run_within(dir.path(), &graph_config(dir.path(), &py, &model), limit);
        assert!(o.status.success(), "{mode}: {}", text(&o));
        assert_eq!(steps_table(&the_run(dir.path())).len(), 10, "{mode}");
    }
}

/// `predict` must return a floating array of shape (real graphs, targets): a transposed array
/// (the U0 case that was reshaped and accepted), a list, a bool and an object array end the run
/// naming the function, the expected shape and what came back, the 5 steps before it kept
/// (4 cases); a float32 vector for the one target is a prediction.
#[test]
fn predict_must_return_a_floating_array_of_the_declared_shape() {
    let Some(py) = python("numpy") else { return };
    let limit = Duration::from_secs(120);
    for (mode, want) in [
        (
            "pred_transposed",
            "predict() returned shape (1, 7), expected (7, 1): one row per real graph",
        ),
        (
            "pred_list",
            "predict() returned list of length 7, expected a floating-point array (NumPy, JAX or \
             torch) of shape (7, 1)",
        ),
        (
            "pred_bool",
            "predict() returned ndarray of dtype bool and shape (7, 1), expected a floating-point \
             array",
        ),
        (
            "pred_object",
            "predict() returned ndarray of dtype object and shape (7, 1), expected a \
             floating-point array",
        ),
    ] {
        fails(
            &py,
            &format!("options = {{ mode = \"{mode}\" }}"),
            &["python model", "predict failed", want],
            5,
            limit,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let model = "options = { mode = \"pred_f32_vector\" }";
    let (o, _) = run_within(dir.path(), &graph_config(dir.path(), &py, model), limit);
    assert!(o.status.success(), "{}", text(&o));
}

/// Node level: a transposed or list score array is refused naming `predict`, the expected
/// (outputs, classes) and what came back; NaN scores fail the run with the split named, never a
/// `complete` run with an accuracy read from NaN (3 cases).
#[test]
fn node_level_predictions_are_checked() {
    let Some(py) = python("numpy") else { return };
    for (mode, want) in [
        ("pred_transposed", "predict() returned shape (4, "),
        ("pred_list", "predict() returned list of length"),
        ("pred_nan", "split's class scores are not finite"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let model = format!("options = {{ mode = \"{mode}\" }}");
        let (o, _) = run_within(
            dir.path(),
            &node_config(dir.path(), &py, &model),
            Duration::from_secs(120),
        );
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{mode}: {out}");
        assert!(out.contains(want), "{mode}: wants {want:?}\n{out}");
        if mode != "pred_nan" {
            assert!(out.contains("expected a floating-point array") || out.contains("expected ("));
        }
        let run = the_run(dir.path());
        assert_eq!(run_value(&run, "status"), "failed", "{mode}");
        assert!(
            !steps_table(&run).is_empty(),
            "{mode}: the steps before stay"
        );
    }
}

/// A module that starts a child inheriting the worker's descriptors (`subprocess.Popen`, as a
/// DataLoader's workers) and then exits: geobatch notices the death at once (well inside the
/// default limit), names it, and the child goes with the worker's process group.
#[test]
fn a_worker_that_exits_while_a_subprocess_holds_its_pipes_is_noticed() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = "options = { mode = \"popen_exit\", at = 4 }";
    let (o, took) = run_within(
        dir.path(),
        &graph_config(dir.path(), &py, model),
        Duration::from_secs(60),
    );
    let out = text(&o);
    let alive = child_alive(dir.path());
    kill_child(dir.path());
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("died during train_step at step 4") && out.contains("exited with status 3"),
        "{out}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(alive, Some(false), "the subprocess outlived the worker");
    assert_eq!(steps_table(&the_run(dir.path())).len(), 4);
}

/// A child the module leaves running is stopped when the run ends normally too: the worker's
/// process group is geobatch's, nothing of it outlives the run.
#[test]
fn a_subprocess_left_running_ends_with_the_run() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = "options = { mode = \"spawn_in_build\" }";
    let (o, took) = run_within(
        dir.path(),
        &graph_config(dir.path(), &py, model),
        Duration::from_secs(60),
    );
    let alive = child_alive(dir.path());
    kill_child(dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(
        alive,
        Some(false),
        "the module's subprocess outlived the run"
    );
}

/// Calls that never return are stopped at `model.timeout`, whichever call it is (build,
/// train_step with a forked child holding the pipes, predict), naming the call and the limit,
/// the worker's group (the forked child with it) killed and the steps before kept (3 cases).
#[test]
fn every_call_is_stopped_at_the_time_limit() {
    let Some(py) = python("numpy") else { return };
    let limit = Duration::from_secs(60);
    for (mode, want, steps) in [
        (
            "hang_build",
            "build did not return within 2 s (model.timeout)",
            0,
        ),
        (
            "fork_hang",
            "train_step at step 3 did not return within 2 s (model.timeout)",
            3,
        ),
        (
            "hang_predict",
            "predict did not return within 2 s (model.timeout)",
            5,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let model = format!("timeout = 2\noptions = {{ mode = \"{mode}\" }}");
        let (o, took) = run_within(dir.path(), &graph_config(dir.path(), &py, &model), limit);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{mode}: {out}");
        assert!(out.contains(want), "{mode}: wants {want:?}\n{out}");
        assert!(took < Duration::from_secs(30), "{mode}: {took:?}");
        if steps > 0 {
            let run = the_run(dir.path());
            assert_eq!(run_value(&run, "status"), "failed", "{mode}");
            assert_eq!(steps_table(&run).len(), steps, "{mode}");
        }
        // the worker's group is gone: no process is left running in it
        let worker = std::fs::read_to_string(dir.path().join("worker.pid")).unwrap();
        let left = running_in_group(worker.trim().parse().unwrap());
        assert!(
            left.is_empty(),
            "{mode}: processes left in the worker's group: {left:?}"
        );
    }
}

/// The module's stdin is empty (`/dev/null`): reading it, at the level of the descriptor or of
/// `sys.stdin`, gets nothing of geobatch's protocol; the module's writes to stdout (a print,
/// descriptor 1, `sys.__stdout__`) go to stderr and leave the protocol intact (2 cases).
#[test]
fn the_module_cannot_touch_the_protocol_through_stdin_or_stdout() {
    let Some(py) = python("numpy") else { return };
    for mode in ["read_stdin", "write_stdout"] {
        let dir = tempfile::tempdir().unwrap();
        let model = format!("timeout = 20\noptions = {{ mode = \"{mode}\" }}");
        let (o, _) = run_within(
            dir.path(),
            &graph_config(dir.path(), &py, &model),
            Duration::from_secs(90),
        );
        let out = text(&o);
        assert!(o.status.success(), "{mode}: {out}");
        assert_eq!(steps_table(&the_run(dir.path())).len(), 10, "{mode}");
        if mode == "write_stdout" {
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(
                stderr.contains("not the protocol") && stderr.contains("a print from the module"),
                "{stderr}"
            );
        }
    }
}

/// A parameter count beyond 64 bits (10**30) is named by its value: it said "no parameter
/// count" (issue 58).
#[test]
fn a_parameter_count_beyond_64_bits_is_named() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = "options = { count_power = 30 }";
    let (o, _) = run_within(
        dir.path(),
        &graph_config(dir.path(), &py, model),
        Duration::from_secs(60),
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("parameter_count() returned 1000000000000000000000000000000, more than 2**64"),
        "{out}"
    );
}
