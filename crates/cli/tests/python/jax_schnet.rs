//! The study's SchNet in JAX (and in torch): one compile per padded shape, recompiles flagged
//! after a resume, its size, and `advise` pricing its new shapes.

use super::*;

/// A folder with the tiny static-64 JAX SchNet config (its `[training]` extra `training`), the
/// compile log it writes and the config's path; `None` (the test skips) without JAX.
fn tiny_jax_run(training: &str) -> Option<(tempfile::TempDir, PathBuf, String)> {
    let py = python("jax, optax")?;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("compiles.log");
    let cfg = tiny_jax_static64(dir.path(), &py, &log, training);
    Some((dir, log, cfg))
}

#[test]
fn the_jax_schnet_compiles_once_per_padded_shape_and_learns() {
    let Some((dir, log, cfg)) = tiny_jax_run("") else {
        return;
    };
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
    let Some((dir, log, cfg)) = tiny_jax_run("checkpoint_every = 20") else {
        return;
    };
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
    let (o, out) = common::advise(
        dir.path(),
        &cfg,
        200,
        "dynamic,static:pad=multiple64",
        20,
        false,
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
    let (o, out) = common::advise(
        dir.path(),
        &cfg,
        40,
        "dynamic,static:pad=multiple64",
        12,
        true,
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
