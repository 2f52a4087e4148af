//! The `python` model end to end: a NumPy-only module (python/tests/linear_numpy.py) checks the
//! arrays it gets on every call (read-only views of the shared segment, jraph's padding layout)
//! while geobatch trains it with every batcher, serially and with prefetch, through sweeps,
//! checkpoints and the report; protocol breaches, Python exceptions and a killed worker end the
//! run with a clear error and readable results; the study's SchNet in JAX compiles once per
//! padded shape.
//!
//! The interpreter is `GEOBATCH_PYTHON`, else `target/python-env/bin/python` (made by
//! `scripts/python-env.sh`, which `.ci/run` calls). Without it (or without NumPy or JAX in it)
//! these tests say so and pass without running, except under CI (`CI` set), where that fails.
//!
//! Why one long file: one integration-test binary (each is a link of the whole stack) that
//! shares one Python environment and its worker modules.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{geobatch, importing, python, repo, steps_column, steps_table, text};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// An interpreter with PyTorch: `GEOBATCH_TORCH_PYTHON`, else the test interpreter. PyTorch is
/// not in the pinned environment (its wheels bring gigabytes of CUDA libraries), so its tests
/// skip without it, under CI too.
fn torch_python() -> Option<PathBuf> {
    let path = std::env::var_os("GEOBATCH_TORCH_PYTHON").map_or_else(
        || repo().join("target/python-env/bin/python"),
        PathBuf::from,
    );
    importing(&path, "torch, numpy")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// A training config on the QM9 fixture with the NumPy module and `options`.
fn numpy_config(python: &Path, batcher: &str, training: &str, options: &str) -> String {
    format!(
        "[experiment]\nname = \"py\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
         [model]\nkind = \"python\"\npython = \"{}\"\nmodule = \"{}\"\noptions = {{ {options} }}\n\
         [batcher]\n{batcher}\n[training]\n{training}\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 7\n[[sinks]]\nkind = \"console\"\nprogress = false\n",
        python.display(),
        repo().join("python/tests/linear_numpy.py").display()
    )
}

const TRAIN: &str = "steps = 100\neval_every = 100\ncheckpoint_every = 20\n\
                     optimizer = { learning_rate = 0.2 }";

#[test]
fn a_numpy_module_trains_with_every_batcher_serially_and_with_prefetch() {
    let Some(py) = python("numpy") else { return };
    let batchers = [
        "kind = \"dynamic\"\nbatch_size = 8",
        "kind = \"static\"\nbatch_size = 8\npad = \"multiple64\"",
        "kind = \"static\"\nbatch_size = 8\npad = \"pow2\"",
        "kind = \"pack\"\nbatch_size = 8",
    ];
    for (i, batcher) in batchers.iter().enumerate() {
        for mode in ["serial", "prefetch"] {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("calls.log");
            let cfg = write(
                dir.path(),
                "c.toml",
                &numpy_config(
                    &py,
                    batcher,
                    &format!("{TRAIN}\nmode = \"{mode}\""),
                    &format!("log = \"{}\"", log.display()),
                ),
            );
            let o = geobatch(dir.path(), &["run", &cfg]);
            let out = text(&o);
            assert!(o.status.success(), "batcher {i}, {mode}: {out}");
            // every layout check of the module held on every call, and it learned
            let losses: Vec<f32> = steps_table(&dir.path().join("results"))
                .iter()
                .map(|r| r.1)
                .collect();
            assert_eq!(losses.len(), 100);
            let (first, last) = (
                losses[..20].iter().sum::<f32>(),
                losses[80..].iter().sum::<f32>(),
            );
            assert!(last < 0.8 * first, "batcher {i} {mode}: {first} -> {last}");
            assert!(out.contains("python (6 parameters)"), "{out}");
            assert!(out.contains("test       U0 RMSE"), "{out}");
            // the module saw each step once, in order, with the schedule's learning rate and the
            // padded shape geobatch recorded
            let calls = std::fs::read_to_string(&log).unwrap();
            let calls: Vec<Vec<&str>> = calls.lines().map(|l| l.split(' ').collect()).collect();
            assert_eq!(calls.len(), 100);
            let padded = steps_column(&dir.path().join("results"), "padded_edges");
            for (step, call) in calls.iter().enumerate() {
                assert_eq!(call[0], step.to_string());
                assert_eq!(call[2].parse::<f64>().unwrap(), padded[step]);
                assert_eq!(call[4], "0.2");
            }
        }
    }
}

#[test]
fn a_python_exception_ends_the_run_with_its_traceback_and_keeps_the_steps() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "c.toml",
        &numpy_config(
            &py,
            "kind = \"dynamic\"\nbatch_size = 8",
            TRAIN,
            "fail_at = 25",
        ),
    );
    let o = geobatch(dir.path(), &["run", &cfg]);
    let out = text(&o);
    assert!(!o.status.success());
    assert!(out.contains("train_step at step 25 failed"), "{out}");
    assert!(out.contains("Traceback (most recent call last)"), "{out}");
    assert!(out.contains("linear_numpy.py\", line"), "{out}");
    assert!(
        out.contains("ValueError: injected failure at step 25"),
        "{out}"
    );
    // the worker's own frames are left out of the traceback
    assert!(!out.contains("geobatch_worker.py"), "{out}");
    // the sinks were finished: the 25 steps before are readable
    assert_eq!(steps_table(&dir.path().join("results")).len(), 25);
}

#[test]
fn protocol_breaches_name_the_function() {
    let Some(py) = python("numpy") else { return };
    let cases = [
        (
            "omit = \"predict,state\"",
            "has no method predict(), state()",
        ),
        (
            "bad_loss_at = 3",
            "train_step() returned str, expected a float",
        ),
        ("bad_predict = true", "predict() returned shape"),
    ];
    for (options, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "c.toml",
            &numpy_config(&py, "kind = \"dynamic\"\nbatch_size = 8", TRAIN, options),
        );
        let o = geobatch(dir.path(), &["run", &cfg]);
        let out = text(&o);
        assert!(!o.status.success(), "{options}: {out}");
        assert!(out.contains(want), "{options}: {out}");
        assert!(!out.contains("panicked"), "{out}");
    }
}

#[test]
fn a_killed_or_exiting_worker_is_an_error_not_a_hang() {
    let Some(py) = python("numpy") else { return };
    for (options, want) in [
        (
            "crash_at = 7",
            "died during train_step at step 7: it was killed by signal 9",
        ),
        (
            "exit_at = 7",
            "died during train_step at step 7: it exited with status 3",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "c.toml",
            &numpy_config(&py, "kind = \"dynamic\"\nbatch_size = 8", TRAIN, options),
        );
        let start = Instant::now();
        let o = geobatch(dir.path(), &["run", &cfg]);
        let out = text(&o);
        assert!(!o.status.success(), "{out}");
        assert!(out.contains(want), "{out}");
        assert!(start.elapsed() < Duration::from_secs(60));
        assert_eq!(steps_table(&dir.path().join("results")).len(), 7);
    }
}

/// A module that never returns is stopped at `model.timeout`: an error naming the call, the
/// steps before it kept; a timeout that is not a positive number is refused up front.
#[test]
fn a_hung_module_is_stopped_at_the_timeout() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = numpy_config(
        &py,
        "kind = \"dynamic\"\nbatch_size = 8",
        TRAIN,
        "hang_at = 7",
    )
    .replace("[batcher]", "timeout = 3\n[batcher]");
    let cfg = write(dir.path(), "c.toml", &cfg);
    let start = Instant::now();
    let o = geobatch(dir.path(), &["run", &cfg]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("train_step at step 7 did not return within 3 s (model.timeout)"),
        "{out}"
    );
    assert!(out.contains("hanging at step 7"), "its last output: {out}");
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_eq!(steps_table(&dir.path().join("results")).len(), 7);
    for bad in ["0", "-1", "nan"] {
        let cfg = numpy_config(&py, "kind = \"dynamic\"\nbatch_size = 8", TRAIN, "")
            .replace("[batcher]", &format!("timeout = {bad}\n[batcher]"));
        let cfg = write(dir.path(), "bad.toml", &cfg);
        let out = text(&geobatch(dir.path(), &["validate", &cfg]));
        assert!(out.contains("model.timeout = "), "{bad}: {out}");
        assert!(!out.contains("panicked"), "{out}");
    }
}

#[test]
fn a_missing_interpreter_module_or_numpy_is_named() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = numpy_config(&py, "kind = \"dynamic\"\nbatch_size = 8", TRAIN, "");
    // an interpreter that does not exist
    let cfg = write(
        dir.path(),
        "a.toml",
        &base.replace(
            &format!("python = \"{}\"", py.display()),
            "python = \"no-such-python3\"",
        ),
    );
    let out = text(&geobatch(dir.path(), &["run", &cfg]));
    assert!(
        out.contains("model.python = \"no-such-python3\": cannot start it"),
        "{out}"
    );
    // a module file that does not exist
    let cfg = write(
        dir.path(),
        "b.toml",
        &base.replace("linear_numpy.py", "no_such_module.py"),
    );
    let out = text(&geobatch(dir.path(), &["run", &cfg]));
    assert!(out.contains("no_such_module.py\": no such file"), "{out}");
    // an interpreter without NumPy: the same Python without its site packages
    let bare = dir.path().join("bare-python");
    std::fs::write(
        &bare,
        format!("#!/bin/sh\nexec {} -S \"$@\"\n", py.display()),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&bare).status().unwrap();
    let cfg = write(
        dir.path(),
        "c.toml",
        &base.replace(
            &format!("python = \"{}\"", py.display()),
            &format!("python = \"{}\"", bare.display()),
        ),
    );
    let out = text(&geobatch(dir.path(), &["run", &cfg]));
    assert!(
        out.contains("has no numpy: the python model needs NumPy"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn a_killed_python_run_resumes_exactly_from_its_checkpoint() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let training = "steps = 300\neval_every = 100\ncheckpoint_every = 20\n\
                    optimizer = { learning_rate = 0.2 }";
    let cfg = write(
        dir.path(),
        "c.toml",
        &numpy_config(&py, "kind = \"pack\"\nbatch_size = 8", training, ""),
    );
    let (want, work) = common::reference_and_killed_run(dir.path(), &cfg, 300);
    let o = geobatch(&work, &["run", &cfg, "--resume"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("resuming from the checkpoint at step"),
        "{out}"
    );
    let got = steps_table(&work.join("results"));
    assert_eq!(got.len(), 300, "every step exactly once");
    for (a, b) in want.iter().zip(&got) {
        assert_eq!(a.0, b.0);
        assert_eq!(
            a.1.to_bits(),
            b.1.to_bits(),
            "step {}: {} vs {}",
            a.0,
            a.1,
            b.1
        );
    }
}

#[test]
fn a_python_sweep_is_reported_with_its_new_shape_costs() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = numpy_config(
        &py,
        "kind = \"dynamic\"\nbatch_size = 8",
        "steps = 40\neval_every = 40\noptimizer = { learning_rate = 0.05 }",
        "",
    );
    cfg.push_str(
        "[sweep]\nseeds = [1, 2]\n\"batcher\" = [{ kind = \"dynamic\", batch_size = 8 }, \
         { kind = \"static\", batch_size = 8, pad = \"multiple64\" }]\n",
    );
    let cfg = write(dir.path(), "s.toml", &cfg);
    let o = geobatch(dir.path(), &["sweep", &cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let o = geobatch(dir.path(), &["report", "results/py", "--out", "report"]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(dir.path().join("report/report.md")).unwrap();
    assert!(
        md.contains("## New padded shapes: cost and break-even"),
        "{md}"
    );
    let pair = md
        .lines()
        .find(|l| l.starts_with("| qm9 | python | serial | 8 | static-64 | dynamic |"))
        .unwrap_or_else(|| panic!("no break-even row: {md}"));
    assert!(pair.contains("static-64 "), "{pair}");
    let csv = std::fs::read_to_string(dir.path().join("report/compile.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
}

#[test]
fn the_jax_schnet_compiles_once_per_padded_shape_and_learns() {
    let Some(py) = python("jax, optax") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("compiles.log");
    let cfg = tiny_jax_static64(dir.path(), &py, &log, "");
    let o = geobatch(dir.path(), &["run", &cfg]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let results = dir.path().join("results");
    let new_shape = steps_column(&results, "new_shape");
    let update = steps_column(&results, "update_ns");
    let shapes = new_shape.iter().filter(|&&n| n > 0.0).count();
    let compiles = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!(
        shapes >= 2,
        "static-64 at bs 8 meets several shapes: {shapes}"
    );
    assert_eq!(compiles, shapes, "one compile per distinct padded shape");
    // the steps that met a new shape are the slow ones: each is a compile
    let mut steady: Vec<f64> = update
        .iter()
        .zip(&new_shape)
        .filter(|(_, n)| **n == 0.0)
        .map(|(u, _)| *u)
        .collect();
    steady.sort_by(f64::total_cmp);
    let median = steady[steady.len() / 2];
    for (step, (u, n)) in update.iter().zip(&new_shape).enumerate() {
        if *n > 0.0 {
            assert!(
                *u > 5.0 * median,
                "step {step}: {u} ns vs steady {median} ns"
            );
        }
    }
    let losses: Vec<f32> = steps_table(&results).iter().map(|r| r.1).collect();
    let (first, last) = (
        losses[..30].iter().sum::<f32>(),
        losses[120..].iter().sum::<f32>(),
    );
    assert!(last < 0.8 * first, "the loss falls: {first} -> {last}");
    assert!(out.contains("test       U0 RMSE"), "{out}");
}

/// A tiny JAX SchNet run (150 steps, static-64 at bs 8 on the QM9 fixture) whose compiles are
/// logged to `log`, with `training` added to its `[training]` table; returns the config's path.
fn tiny_jax_static64(dir: &Path, py: &Path, log: &Path, training: &str) -> String {
    let cfg = format!(
        "[experiment]\nname = \"jax\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
         [model]\nkind = \"python\"\npython = \"{}\"\nmodule = \"{}\"\n\
         options = {{ latent = 16, steps = 1, rbf = 20, compile_log = \"{}\" }}\n\
         [batcher]\nkind = \"static\"\nbatch_size = 8\npad = \"multiple64\"\n\
         [training]\nsteps = 150\neval_every = 150\noptimizer = {{ learning_rate = 1e-2 }}\n{training}\n\
         [[sinks]]\nkind = \"parquet\"\n[[sinks]]\nkind = \"console\"\nprogress = false\n",
        py.display(),
        repo().join("python/schnet_jax.py").display(),
        log.display()
    );
    write(dir, "jax.toml", &cfg)
}

/// Waits until the file at `path` has not changed for three seconds (at most a minute).
fn settle(path: &Path) {
    let state = || {
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let (mut last, mut since) = (state(), std::time::Instant::now());
    let started = std::time::Instant::now();
    while since.elapsed() < std::time::Duration::from_secs(3)
        && started.elapsed() < std::time::Duration::from_secs(60)
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let now = state();
        if now != last {
            (last, since) = (now, std::time::Instant::now());
        }
    }
}

/// A resumed JAX run compiles every shape it meets again: those steps are flagged `cold_shape`
/// (one per compile of the resumed process), and the report prices them as compiles.
#[test]
fn a_resumed_jax_run_flags_every_recompile_as_a_cold_shape() {
    let Some(py) = python("jax, optax") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("compiles.log");
    let cfg = tiny_jax_static64(dir.path(), &py, &log, "checkpoint_every = 20");
    let results = dir.path().join("results");
    let killed = common::kill_after_second_checkpoint(dir.path(), &cfg);
    assert!(!killed.success());
    // the killed run's worker outlives it until its current call ends: a compile it was in
    // the middle of still logs its line, so the log is cleared once it stops growing
    settle(&log);
    std::fs::remove_file(&log).unwrap();
    let o = geobatch(dir.path(), &["run", &cfg, "--resume"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let from = common::number_after(&out, "resuming from the checkpoint at step ") as usize;
    let (new, cold) = (
        steps_column(&results, "new_shape"),
        steps_column(&results, "cold_shape"),
    );
    assert_eq!(new.len(), 150, "every step once");
    let count = |v: &[f64]| v.iter().filter(|&&x| x > 0.0).count();
    let compiles = std::fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(
        compiles,
        count(&cold[from..]),
        "one cold step per compile of the resumed process"
    );
    assert!(
        count(&cold[from..]) > count(&new[from..]),
        "old shapes met again after the resume are cold, not new"
    );
    assert_eq!(cold[..from], new[..from], "before the resume cold = new");
}

/// Runs `module` with its default options (the study's sizes) for a few steps on the QM9
/// fixture and returns the output.
fn full_size_run(py: &Path, module: &str, options: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[experiment]\nname = \"full\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
         [model]\nkind = \"python\"\npython = \"{}\"\nmodule = \"{}\"\noptions = {{ {options} }}\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 16\n\
         [training]\nsteps = 30\neval_every = 30\noptimizer = {{ learning_rate = 1e-3 }}\n\
         [[sinks]]\nkind = \"parquet\"\n[[sinks]]\nkind = \"console\"\nprogress = false\n",
        py.display(),
        repo().join(module).display(),
    );
    let cfg = write(dir.path(), "full.toml", &cfg);
    let o = geobatch(dir.path(), &["run", &cfg]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let losses: Vec<f32> = steps_table(&dir.path().join("results"))
        .iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(losses.len(), 30);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    out
}

#[test]
fn the_jax_schnet_has_the_studys_parameter_count() {
    let Some(py) = python("jax, optax") else {
        return;
    };
    let out = full_size_run(&py, "python/schnet_jax.py", "");
    // QM9: 5 species x 64 + 3 x (150 x 64 + 4 x 64 x 64) + 64 x 32 + 32 x 1
    assert!(out.contains("python (80352 parameters)"), "{out}");
}

#[test]
fn the_torch_schnet_matches_the_jax_one_in_size_eager_and_compiled() {
    let Some(py) = torch_python() else { return };
    for options in ["", "compile = true"] {
        let out = full_size_run(&py, "python/schnet_torch.py", options);
        assert!(
            out.contains("python (80352 parameters)"),
            "{options}: {out}"
        );
    }
}

#[test]
fn advise_on_the_jax_engine_prices_every_new_shape_as_a_compile() {
    let Some(py) = python("jax, optax") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "jax.toml",
        &format!(
            "[experiment]\nname = \"jax\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
             [model]\nkind = \"python\"\npython = \"{}\"\nmodule = \"{}\"\n\
             options = {{ latent = 16, steps = 1, rbf = 20 }}\n\
             [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[training]\nwarmup = 2\n",
            py.display(),
            repo().join("python/schnet_jax.py").display(),
        ),
    );
    let out = dir.path().join("advice");
    let o = geobatch(
        dir.path(),
        &[
            "advise",
            &cfg,
            "--steps",
            "200",
            "--batchers",
            "dynamic,static:pad=multiple64",
            "--probe-steps",
            "20",
            "--out",
            &out.display().to_string(),
        ],
    );
    let printed = text(&o);
    assert!(o.status.success(), "{printed}");
    let b = &geobatch_testkit::results::read(&out.join("advice.parquet"))[0];
    let f = |name: &str, i: usize| {
        b.column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .unwrap()
            .value(i)
    };
    let labels = b
        .column_by_name("batcher")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    let row = |l: &str| (0..2).find(|&i| labels.value(i) == l).unwrap();
    let (s64, dynamic) = (row("static-64"), row("dynamic"));
    // XLA compiles the step again for every new shape: tens of milliseconds at least, where
    // geobatch's eager engine pays about nothing
    let per_shape = f("compile_ms_per_shape", 0);
    assert!(
        per_shape > 20.0,
        "compile per shape {per_shape} ms: {printed}"
    );
    assert!(f("new_shape_s", s64) > 5.0 * per_shape / 1e3, "{printed}");
    assert_eq!(f("new_shape_s", dynamic), 0.0, "{printed}");
    assert!(printed.contains("Crossovers"), "{printed}");
}

#[test]
fn advise_keeps_its_prediction_when_a_validation_run_fails() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    // the module raises at step 25: the 12-step probes pass, the 40-step validation fails
    let cfg = write(
        dir.path(),
        "np.toml",
        &numpy_config(
            &py,
            "kind = \"dynamic\"\nbatch_size = 8",
            "steps = 5",
            "fail_at = 25",
        ),
    );
    let out = dir.path().join("advice");
    let o = geobatch(
        dir.path(),
        &[
            "advise",
            &cfg,
            "--steps",
            "40",
            "--batchers",
            "dynamic,static:pad=multiple64",
            "--probe-steps",
            "12",
            "--validate",
            "--out",
            &out.display().to_string(),
        ],
    );
    let printed = text(&o);
    assert_eq!(o.status.code(), Some(1), "{printed}");
    assert!(printed.contains("validation run of"), "{printed}");
    let rows = geobatch_testkit::results::read(&out.join("advice.parquet"));
    assert_eq!(rows[0].num_rows(), 2, "the ranked prediction is kept");
    assert!(
        std::fs::read_to_string(out.join("advice.md"))
            .unwrap()
            .contains("Recommended: **")
    );
}
