//! `geobatch sweep --slurm` on a real SLURM: the one-node cluster of `scripts/slurm-local.sh`
//! (`.ci/run` starts it where it may: as root). A sweep of 6 runs in 3 array tasks; one task gets
//! the time-limit warning (SIGUSR1 to its batch shell) mid-run and requeues itself, another is
//! cancelled with `scancel` mid-run and resubmitted; then every run is complete with every step
//! exactly once, and `--status` says so at each stage. With the `mpi` feature, `srun -n 2
//! geobatch run` trains one data-parallel run (docs/distributed.md). Skipped (with the reason)
//! where no SLURM answers; failed under CI (`CI` set) when `GEOBATCH_SLURM` says the cluster was
//! started.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_testkit::results::run_value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{geobatch, run_dirs, steps_column, steps_table, text};

/// Whether a SLURM controller answers here.
fn slurm_up() -> Result<(), String> {
    let o = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .map_err(|e| format!("sinfo: {e}"))?;
    let states = String::from_utf8_lossy(&o.stdout);
    if o.status.success()
        && states
            .lines()
            .any(|s| s.starts_with("idle") || s.starts_with("mixed"))
    {
        Ok(())
    } else {
        Err(format!(
            "sinfo: {} {}",
            states.trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

fn scmd(program: &str, args: &[&str]) -> String {
    let o = Command::new(program).args(args).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Polls `ready` every 100 ms, failing with `what` after `limit`.
fn wait_for(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ready() {
        assert!(t.elapsed() < limit, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--status` lines as (run number, state, run folder).
fn status(dir: &Path) -> Vec<(usize, String, PathBuf)> {
    let o = geobatch(dir, &["sweep", "sweep.toml", "--status"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let n = l.split_whitespace().next()?.parse().ok()?;
            let state = [
                "not started",
                "complete",
                "running",
                "interrupted",
                "killed",
                "failed",
            ]
            .into_iter()
            .find(|s| l.contains(&format!(" {s} ")))?
            .to_string();
            let folder = l.rsplit_once('(')?.1.trim_end_matches(')');
            Some((n, state, dir.join(folder)))
        })
        .collect()
}

/// Waits until no task of the sweep's jobs (`--job-name`) is queued. SLURM holds a requeued task
/// for its credentials' lifetime (reason `BeginTime`: two minutes by default, 11 s under
/// scripts/slurm-local.sh's `cred_expire`); starting it earlier (`scontrol update StartTime=now`)
/// can kill it at once ("Job credential revoked"), so the test waits.
fn drain(limit: Duration, what: &str) {
    // a requeued task passes through states squeue may not list for a moment: the queue must
    // stay empty for a few polls
    let mut empty = 0;
    wait_for(limit, what, || {
        let queue = scmd(
            "squeue",
            &[
                "-h",
                "--name=geobatch-slurm-test",
                "-t",
                "PENDING,RUNNING,COMPLETING,CONFIGURING,REQUEUED,REQUEUE_FED,REQUEUE_HOLD,SUSPENDED",
                "-o",
                "%i",
            ],
        );
        empty = if queue.trim().is_empty() {
            empty + 1
        } else {
            0
        };
        std::thread::sleep(Duration::from_millis(200));
        empty >= 5
    });
}

/// The task logs, for failure messages.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("results/slurm-test/slurm")) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "out") {
                out.push_str(&format!(
                    "--- {}\n{}",
                    p.display(),
                    std::fs::read_to_string(&p).unwrap_or_default()
                ));
            }
        }
    }
    out
}

const STEPS: u64 = 4000;

/// The one-node cluster, one test at a time: each fills its CPUs.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether SLURM answers here; skips with the reason where it does not, fails under CI when it
/// was started.
fn cluster() -> Option<std::sync::MutexGuard<'static, ()>> {
    if let Err(why) = slurm_up() {
        assert!(
            std::env::var_os("GEOBATCH_SLURM").is_none(),
            "GEOBATCH_SLURM is set but SLURM does not answer: {why}"
        );
        eprintln!("skipped: no SLURM here ({why}); scripts/slurm-local.sh starts one");
        return None;
    }
    Some(CLUSTER.lock().unwrap_or_else(|e| e.into_inner()))
}

/// `srun -n 2 geobatch run` (feature `mpi`): a world of two ranks through SLURM's PMIx plugin,
/// equal to one process taking the same batches per step; without an MPI plugin every task
/// refuses by name instead of failing inside MPI.
#[cfg(feature = "mpi")]
#[test]
fn srun_trains_one_data_parallel_run_equal_to_one_process() {
    let Some(_cluster) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = common::world_config(dir, 1000, "");
    let srun = |mpi: &str| {
        Command::new("srun")
            .args([mpi, "-n", "2", "--time=5"])
            .arg(common::binary())
            .args(["run", &cfg, "--steps", "8"])
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let unwired = srun("--mpi=none");
    assert!(!unwired.status.success());
    assert!(
        text(&unwired).contains("srun --mpi=pmix"),
        "{}",
        text(&unwired)
    );
    let two = srun("--mpi=pmix");
    assert!(two.status.success(), "{}", text(&two));
    let one = geobatch(
        dir,
        &[
            "run",
            &cfg,
            "--steps",
            "8",
            "--set",
            "training.accumulate=2",
        ],
    );
    assert!(one.status.success(), "{}", text(&one));
    common::assert_same_losses(
        &steps_table(&common::world_run_dir(dir, Some("-w2"))),
        &steps_table(&common::world_run_dir(dir, None)),
    );
}

#[test]
fn a_sweep_runs_as_a_job_array_survives_a_time_limit_and_a_scancel_and_completes() {
    let Some(_cluster) = cluster() else { return };
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_the_sweep_config(dir);
    assert!(status(dir).iter().all(|s| s.1 == "not started"));
    let job = submitting_gives_three_array_tasks(dir);
    let limit = Duration::from_secs(300);
    warn_task_1_and_cancel_task_2_mid_run(dir, &job, limit);
    drain(limit, "the job array to end");
    only_the_cancelled_task_left_work(dir);
    a_resubmission_runs_only_the_task_with_work_left(dir, limit);
    every_run_is_complete_with_every_step_once(dir);
    no_step_was_computed_twice(dir);
    eprintln!(
        "SLURM sweep test: 6 runs, 3 tasks, a requeue and a resubmission in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Writes `sweep.toml`: 6 runs of STEPS steps, 2 runs per array task, checkpoints every 50.
fn write_the_sweep_config(dir: &Path) {
    std::fs::write(
        dir.join("sweep.toml"),
        format!(
            "[experiment]\nname = \"slurm-test\"\nseed = 1\n\
             [dataset]\nkind = \"qm9\"\nsource = \"fixture\"\nsplit = {{ train = 800, validation = 100, test = 100 }}\n\
             [model]\nkind = \"schnet\"\nlatent = 16\n\
             [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n\
             [training]\nsteps = {STEPS}\neval_every = 0\ncheckpoint_every = 50\n\
             [[sinks]]\nkind = \"parquet\"\nrows_per_part = 100000\n\
             [sweep]\nseeds = [1, 2, 3]\n\"batcher.batch_size\" = [8, 16]\n\
             [slurm]\nruns_per_task = 2\nsignal_secs = 60\n"
        ),
    )
    .unwrap();
}

/// `--slurm` submits 3 array tasks of 2 runs; returns the job id.
fn submitting_gives_three_array_tasks(dir: &Path) -> String {
    let o = geobatch(dir, &["sweep", "sweep.toml", "--slurm"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("3 array task(s) of 2 run(s)"), "{out}");
    out.split("submitted job array ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string()
}

/// Task 1 gets the time-limit warning mid-run (checkpoint, `interrupted`, requeued); task 2 is
/// cancelled mid-run (not requeued).
fn warn_task_1_and_cancel_task_2_mid_run(dir: &Path, job: &str, limit: Duration) {
    // a run of `task` (runs 2 * task + 1 and + 2) running with a checkpoint written
    let mid_run = |task: usize| {
        status(dir).iter().any(|(n, st, d)| {
            (2 * task + 1..=2 * task + 2).contains(n)
                && st == "running"
                && d.join("checkpoint/state.json").is_file()
        })
    };
    // task 1: the time-limit warning mid-run -> checkpoint, `interrupted`, requeued
    wait_for(limit, "task 1 running with a checkpoint", || mid_run(1));
    scmd(
        "scancel",
        &["--signal=USR1", "--batch", &format!("{job}_1")],
    );
    wait_for(limit, "an interrupted run of task 1", || {
        status(dir)
            .iter()
            .any(|(n, s, _)| (3..=4).contains(n) && s == "interrupted")
    });
    // task 2: cancelled mid-run, not requeued
    wait_for(limit, "task 2 running with a checkpoint", || mid_run(2));
    scmd("scancel", &[&format!("{job}_2")]);
    wait_for(limit, "task 1 to requeue itself", || {
        logs(dir).contains("requeueing task 1")
    });
}

/// After the first array, tasks 0 and 1 are complete; only the cancelled task's runs are left.
fn only_the_cancelled_task_left_work(dir: &Path) {
    let s = status(dir);
    assert!(
        s.iter().filter(|x| x.1 == "complete").count() >= 4,
        "tasks 0 and 1 completed their runs: {s:?}\n{}",
        logs(dir)
    );
    let left: Vec<&(usize, String, PathBuf)> = s.iter().filter(|x| x.1 != "complete").collect();
    assert!(!left.is_empty(), "the cancelled task left a run: {s:?}");
    assert!(
        left.iter().all(|x| (5..=6).contains(&x.0)
            && ["interrupted", "killed", "not started"].contains(&x.1.as_str())),
        "{s:?}"
    );
}

/// Resubmitted, only the task with work left runs; then every run is complete and a third
/// submission has nothing to submit.
fn a_resubmission_runs_only_the_task_with_work_left(dir: &Path, limit: Duration) {
    let o = geobatch(dir, &["sweep", "sweep.toml", "--slurm"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("1 array task(s) of 2 run(s)"), "{out}");
    drain(limit, "the resubmitted array to end");
    let s = status(dir);
    assert!(s.iter().all(|x| x.1 == "complete"), "{s:?}");
    let o = geobatch(dir, &["sweep", "sweep.toml", "--slurm"]);
    assert!(text(&o).contains("nothing to submit"), "{}", text(&o));
}

/// Every run is complete with every step exactly once and its update times, one of them resumed.
fn every_run_is_complete_with_every_step_once(dir: &Path) {
    let dirs = run_dirs(&dir.join("results"));
    assert_eq!(dirs.len(), 6);
    let mut resumed = 0;
    for d in &dirs {
        assert_eq!(run_value(d, "status"), "complete", "{}", d.display());
        let steps: Vec<u64> = steps_table(d).iter().map(|r| r.0).collect();
        assert_eq!(steps, (0..STEPS).collect::<Vec<_>>(), "{}", d.display());
        // the timings are whole across allocations: every step has its update time
        let update = steps_column(d, "update_ns");
        assert_eq!(update.len() as u64, STEPS, "{}", d.display());
        assert!(update.iter().all(|&t| t > 0.0), "{}", d.display());
        let batches = geobatch_testkit::results::read(&d.join("run.parquet"));
        if batches[0]
            .column_by_name("resumed_from")
            .unwrap()
            .is_valid(0)
        {
            resumed += 1;
        }
    }
    assert!(
        resumed >= 1,
        "the run stopped by the time-limit warning was resumed"
    );
}

/// No step computed twice: a resume continued from a step where a stop wrote its checkpoint.
fn no_step_was_computed_twice(dir: &Path) {
    // no step computed twice: every stop wrote its checkpoint at the step where it stopped,
    // and a resume continued from exactly such a step (not from an earlier periodic one)
    let all = logs(dir);
    let after = |marker: &str| -> Vec<u64> {
        all.split(marker)
            .skip(1)
            .filter_map(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .collect()
    };
    let (stopped, resumes) = (
        after("checkpoint written at step "),
        after("resuming from the checkpoint at step "),
    );
    assert!(!stopped.is_empty(), "the stops wrote checkpoints:\n{all}");
    assert!(
        resumes.iter().any(|r| stopped.contains(r)),
        "a resume started where a stop ended ({stopped:?} vs {resumes:?}):\n{all}"
    );
}
