//! Sweeps: shared by concurrent processes, `--set` of a swept list, killed and restarted, tasks
//! and the SLURM script.

use super::*;

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
