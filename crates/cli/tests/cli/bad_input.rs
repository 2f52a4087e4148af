//! Bad input gets a clear error and its exit code, before anything is made.

use super::*;

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
        out.contains("key `batcher.batch_size`")
            && out.contains("batch_size = 1000000000: at most 1048576"),
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

#[test]
fn a_launcher_s_processes_train_with_run_only() {
    // what `mpirun -n 2 geobatch sweep` would start: two sweeps racing for the same folders
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::world_config(dir.path(), 1000, "");
    for args in [
        vec!["sweep", cfg.as_str()],
        vec!["batches", cfg.as_str(), "--steps", "3"],
        vec!["advise", cfg.as_str(), "--steps", "100"],
    ] {
        let o = geobatch_with(dir.path(), &args, &[("OMPI_COMM_WORLD_SIZE", "2")]);
        assert_refused(&o, &["one of 2 started by mpirun", "only `geobatch run`"]);
    }
    assert!(
        walk(dir.path())
            .iter()
            .all(|p| !p.starts_with(dir.path().join("results")))
    );
    // a launcher of one process is no launcher
    let o = geobatch_with(
        dir.path(),
        &["batches", &cfg, "--steps", "3"],
        &[("OMPI_COMM_WORLD_SIZE", "1")],
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn an_accumulation_of_no_batch_or_of_millions_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::world_config(dir.path(), 1000, "");
    for (value, says) in [
        ("0", "at least 1"),
        ("1000000", "at most 4096"),
        ("-2", "accumulate"),
    ] {
        let set = format!("training.accumulate={value}");
        for command in ["validate", "run"] {
            let o = geobatch(dir.path(), &[command, &cfg, "--set", &set]);
            assert_refused(&o, &["training.accumulate", says]);
        }
    }
    assert!(!dir.path().join("results").exists());
}
