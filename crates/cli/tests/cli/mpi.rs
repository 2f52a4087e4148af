//! Data-parallel runs across processes (feature `mpi`; docs/distributed.md): `mpirun -n 2
//! geobatch run` trains one run equal to one process taking the same batches per step
//! (`training.accumulate = 2`), stops and resumes on every rank, and ends every rank with a
//! clear error when one dies. Skips without `mpirun`; fails instead where
//! `GEOBATCH_MPI_REQUIRED=1` (CI installs Open MPI).

use super::*;
use common::{assert_same_losses, world_config as config, world_run_dir as run_dir};
use std::process::Output;

/// `mpirun` on this machine, or why not (a failure where CI requires it).
fn mpirun() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("mpirun"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("GEOBATCH_MPI_REQUIRED").is_none(),
            "GEOBATCH_MPI_REQUIRED is set but there is no mpirun (Debian: openmpi-bin)"
        );
        eprintln!("skipped: no mpirun on PATH (Debian: openmpi-bin)");
    }
    found
}

/// `mpirun -n RANKS geobatch ARGS` in `dir`, as root where the tests run as root, on a machine
/// with fewer cores than ranks.
fn ranks(mpirun: &Path, dir: &Path, n: usize, args: &[&str]) -> Command {
    let mut c = Command::new(mpirun);
    c.args(["--oversubscribe", "-n", &n.to_string()])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .arg(binary())
        .args(args)
        .current_dir(dir);
    c
}

fn output(mut c: Command) -> Output {
    c.output().expect("mpirun starts")
}

#[test]
fn two_ranks_train_the_run_one_process_trains_on_the_same_batches() {
    let Some(mpirun) = mpirun() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1000, "eval_every = 6");
    let two = output(ranks(
        &mpirun,
        dir.path(),
        2,
        &["run", &cfg, "--steps", "12"],
    ));
    assert!(two.status.success(), "{}", text(&two));
    let one = geobatch(
        dir.path(),
        &[
            "run",
            &cfg,
            "--steps",
            "12",
            "--set",
            "training.accumulate=2",
        ],
    );
    assert!(one.status.success(), "{}", text(&one));
    let (ranked, alone) = (run_dir(dir.path(), Some("-w2")), run_dir(dir.path(), None));
    let losses = steps_table(&ranked);
    assert_eq!(losses.len(), 12, "rank 0 alone writes the steps, once");
    assert_same_losses(&losses, &steps_table(&alone));
    // each rank trained on its batch: rank 0 recorded one batch a step, the process both
    let graphs = |d: &Path| steps_column(d, "real_graphs").iter().sum::<f64>();
    assert!(
        graphs(&ranked) < graphs(&alone),
        "{} {}",
        graphs(&ranked),
        graphs(&alone)
    );
    // the evaluation after the last step (rank 0's) equal too
    let evals = |d: &Path| common::eval_rows(d);
    let (a, b) = (evals(&ranked), evals(&alone));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x.3 - y.3).abs() <= 1e-5 * x.3.abs().max(1.0),
            "{x:?} {y:?}"
        );
    }
    // one folder each: rank 1 wrote nothing of its own
    assert_eq!(run_dirs(&dir.path().join("results")).len(), 2);
}

/// Two ranks of `geobatch ARGS` started in `dir`, once the files below `dir/results` are
/// `ready` (`what` names it when they never are).
fn started(
    mpirun: &Path,
    dir: &Path,
    args: &[&str],
    what: &str,
    ready: impl Fn(&[PathBuf]) -> bool,
) -> std::process::Child {
    let child = ranks(mpirun, dir, 2, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !ready(&walk(&dir.join("results"))) {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Steps of the stopped run: a few seconds, so that the stop comes mid-run.
const STOPPED: &str = "2000";

#[test]
fn a_stopped_world_checkpoints_once_and_resumes_on_every_rank() {
    let Some(mpirun) = mpirun() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1000, "checkpoint_every = 5");
    let args = ["run", cfg.as_str(), "--steps", STOPPED];
    // a stop signal to the launcher, which passes it to every rank, once a checkpoint is there
    let child = started(&mpirun, dir.path(), &args, "a checkpoint", |files| {
        files.iter().any(|p| p.ends_with("checkpoint/state.json"))
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stopped = child.wait_with_output().unwrap();
    let said = text(&stopped);
    assert!(!stopped.status.success(), "{said}");
    let ranked = run_dir(dir.path(), Some("-w2"));
    let kept = steps_table(&ranked).len();
    assert!(kept < 2000, "{said}");
    // the checkpoint is at the step the stop kept from running (written then, or already there)
    let state = std::fs::read_to_string(ranked.join("checkpoint/state.json")).unwrap();
    let at: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(at["step"].as_u64(), Some(kept as u64), "{said}");
    // resumed at another world size (one process): refused, naming the ranks' folder, and the
    // folder left as it was
    let alone = geobatch(dir.path(), &[&args[..], &["--resume"]].concat());
    let why = text(&alone);
    assert!(!alone.status.success(), "{why}");
    assert!(
        why.contains("trained by 2 ranks") && why.contains("-w2") && why.contains("mpirun -n 2"),
        "{why}"
    );
    assert_eq!(steps_table(&ranked).len(), kept);
    assert!(run_dirs(&dir.path().join("results")).len() == 1, "{why}");
    let resumed = output(ranks(
        &mpirun,
        dir.path(),
        2,
        &[&args[..], &["--resume"]].concat(),
    ));
    assert!(resumed.status.success(), "{}", text(&resumed));
    let steps = steps_table(&ranked);
    assert_eq!(
        steps.iter().map(|s| s.0).collect::<Vec<_>>(),
        (0..2000).collect::<Vec<_>>()
    );
    // the same losses as a world that was never stopped
    let other = tempfile::tempdir().unwrap();
    let cfg = config(other.path(), 1000, "checkpoint_every = 5");
    let whole = output(ranks(
        &mpirun,
        other.path(),
        2,
        &["run", &cfg, "--steps", STOPPED],
    ));
    assert!(whole.status.success(), "{}", text(&whole));
    assert_same_losses(&steps, &steps_table(&run_dir(other.path(), Some("-w2"))));
}

#[test]
fn a_rank_that_dies_ends_the_world_and_the_written_steps_stay_readable() {
    let Some(mpirun) = mpirun() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 5, "");
    let args = ["run", cfg.as_str(), "--steps", "100000"];
    let child = started(&mpirun, dir.path(), &args, "two parts of steps", |files| {
        let parts = files
            .iter()
            .filter(|p| p.to_string_lossy().contains("steps-"));
        parts.count() >= 2
    });
    // rank 1 dies: the geobatch process that is mpirun's child with OMPI_COMM_WORLD_RANK=1
    let pids = String::from_utf8(
        Command::new("pgrep")
            .args(["-P", &child.id().to_string()])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let rank1 = pids
        .split_whitespace()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|e| e.split(|b| *b == 0).any(|v| v == b"OMPI_COMM_WORLD_RANK=1"))
                .unwrap_or(false)
        })
        .expect("rank 1's process")
        .to_string();
    let _ = Command::new("kill").args(["-KILL", &rank1]).status();
    let ended = child.wait_with_output().unwrap();
    let said = text(&ended);
    assert!(!ended.status.success(), "{said}");
    assert!(
        said.contains("rank 1") || said.contains("signal 9"),
        "{said}"
    );
    let ranked = run_dir(dir.path(), Some("-w2"));
    let steps = steps_table(&ranked);
    assert!(steps.len() >= 5, "{said}");
    assert_eq!(steps[0].0, 0);
}
