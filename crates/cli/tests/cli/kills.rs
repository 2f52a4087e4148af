//! Runs stopped mid-way (killed, interrupted, a full disk) leave readable results and resume
//! exactly; progress in a log.

use super::*;

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
