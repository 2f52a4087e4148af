//! The `python` model on node-level tasks: a NumPy SGC (python/sgc_numpy.py, wrapped by
//! python/tests/node_numpy.py, which checks the layout of every node batch it gets) trained with
//! every node batcher, serially and with prefetch, under the plateau schedule, killed and resumed;
//! its failures end the run with a clear error.
//!
//! The interpreter is the one of the graph-level python tests (`GEOBATCH_PYTHON`, else
//! `target/python-env/bin/python`); without NumPy there these tests skip, except under CI.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{eval_rows, geobatch, python, repo, steps_table, text};
use geobatch_testkit::results::run_value;
use std::path::{Path, PathBuf};

/// A node-level config with the `[model]` table body `model`: a seeded SBM (3,000 nodes, 4
/// classes, 16 features).
fn config_with(dir: &Path, model: &str, batcher: &str, training: &str) -> String {
    let p = dir.join("node.toml");
    std::fs::write(
        &p,
        format!(
            "[experiment]\nname = \"sbm\"\nseed = 3\n\
             [dataset]\nkind = \"sbm\"\nnodes = 3000\nclasses = 4\ncommunities = 16\navg_degree = 8\nsignal = 0.5\n\
             [model]\n{model}\n[batcher]\n{batcher}\n[training]\n{training}\n\
             [[sinks]]\nkind = \"parquet\"\nrows_per_part = 7\n"
        ),
    )
    .unwrap();
    p.to_string_lossy().into_owned()
}

/// [`config_with`] the checking NumPy module and its `options`.
fn config(dir: &Path, py: &Path, batcher: &str, training: &str, options: &str) -> String {
    let model = format!(
        "kind = \"python\"\npython = \"{}\"\nmodule = \"{}\"\noptions = {{ {options} }}",
        py.display(),
        repo().join("python/tests/node_numpy.py").display()
    );
    config_with(dir, &model, batcher, training)
}

/// The one run folder below `dir/results/sbm`.
fn the_run(dir: &Path) -> PathBuf {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join("results/sbm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.pop().unwrap()
}

/// Accuracy of every (split, inference) evaluated at the last step.
fn final_accuracy(run: &Path) -> Vec<(String, String, f64)> {
    let rows = eval_rows(run);
    let last = rows.iter().map(|r| r.0).max().unwrap();
    rows.into_iter()
        .filter(|r| r.0 == last)
        .map(|r| (r.1, r.2, r.3))
        .collect()
}

/// The module's call log: (step, nodes, entries, outputs, learning rate) per train_step.
fn calls(log: &Path) -> Vec<(u64, u64, u64, u64, f64)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect()
}

/// Epochs of [`TRAIN`].
const EPOCHS: u64 = 20;
const TRAIN: &str = "epochs = 20\neval_every = 5\noptimizer = { learning_rate = 0.05 }";

#[test]
fn a_numpy_node_classifier_trains_with_every_node_batcher() {
    let Some(py) = python("numpy") else { return };
    for (batcher, mode) in [
        (
            "kind = \"ibmb-node\"\noutputs_per_batch = 100\ntopk = 8",
            "serial",
        ),
        (
            "kind = \"ibmb-node\"\noutputs_per_batch = 100\ntopk = 8",
            "prefetch",
        ),
        ("kind = \"ibmb-batch\"\nnum_parts = 6", "serial"),
        ("kind = \"cluster\"\nnum_parts = 6", "prefetch"),
        (
            "kind = \"neighbor\"\nbatch_size = 100\nfanouts = [5, 5]",
            "serial",
        ),
        ("kind = \"full\"", "serial"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls.log");
        let cfg = config(
            dir.path(),
            &py,
            batcher,
            &format!("{TRAIN}\nmode = \"{mode}\""),
            &format!("log = \"{}\"", log.display()),
        );
        let o = geobatch(dir.path(), &["run", &cfg]);
        let out = text(&o);
        assert!(o.status.success(), "{batcher} {mode}: {out}");
        // 16 features x 4 classes + 4 biases
        assert!(out.contains("python: 68 parameters"), "{out}");
        let run = the_run(dir.path());
        assert_eq!(run_value(&run, "status"), "complete");
        // the module saw every step once, in order, with the batch geobatch recorded
        let steps = steps_table(&run);
        let seen = calls(&log);
        assert_eq!(seen.len(), steps.len(), "{batcher}");
        for (i, (call, step)) in seen.iter().zip(&steps).enumerate() {
            assert_eq!((call.0, step.0), (i as u64, i as u64));
            assert_eq!(call.4, 0.05, "the configured learning rate");
        }
        let outputs: u64 = seen.iter().map(|c| c.3).sum();
        assert_eq!(
            outputs,
            EPOCHS * 300,
            "{batcher}: every training node once per epoch"
        );
        // the classes it predicts are read in the outputs' order: SGC on this graph reaches
        // 0.82-0.95 test accuracy with every batcher (seeded); chance is 0.25
        let acc = final_accuracy(&run);
        assert!(acc.len() >= 2, "{acc:?}");
        for (split, how, a) in &acc {
            assert!(*a > 0.7, "{batcher} {mode}: {split} {how} accuracy {a}");
        }
    }
}

#[test]
fn the_plateau_schedule_reaches_the_module() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    // a rate far too large, so the validation loss stops improving and the plateau halves it
    let cfg = config(
        dir.path(),
        &py,
        "kind = \"cluster\"\nnum_parts = 6",
        "epochs = 10\neval_every = 1\noptimizer = { learning_rate = 1.0 }\n\
         plateau = { patience = 0, cooldown = 0, factor = 0.5, min_lr = 0.001 }",
        &format!("log = \"{}\"", log.display()),
    );
    let o = geobatch(dir.path(), &["run", &cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let rates: Vec<f64> = calls(&log).iter().map(|c| c.4).collect();
    assert_eq!(rates[0], 1.0);
    assert!(
        rates.windows(2).all(|w| w[1] <= w[0]),
        "the rate only falls: {rates:?}"
    );
    assert!(
        *rates.last().unwrap() < 1.0,
        "no reduction reached the module: {rates:?}"
    );
    // every rate is the start halved some number of times (or the floor), changed only between
    // epochs
    let per_epoch = rates.len() / 10;
    assert_eq!(rates.len(), 10 * per_epoch);
    for (i, w) in rates.windows(2).enumerate() {
        assert!(
            w[0] == w[1] || (i + 1) % per_epoch == 0,
            "changed within an epoch at {i}"
        );
    }
    for r in &rates {
        let halvings = r.recip().log2();
        assert!(
            (halvings - halvings.round()).abs() < 1e-9 || *r == 0.001,
            "{r}"
        );
    }
}

#[test]
fn a_killed_node_level_python_run_resumes_exactly() {
    let Some(py) = python("numpy") else { return };
    let dir = tempfile::tempdir().unwrap();
    let training = "epochs = 12\neval_every = 2\ncheckpoint_every = 2\nkeep_best = true\n\
                    optimizer = { learning_rate = 0.05 }\n\
                    plateau = { patience = 0, cooldown = 0, factor = 0.7, min_lr = 0.001 }";
    let batcher = "kind = \"neighbor\"\nbatch_size = 20\nfanouts = [5, 5]";
    let reference = dir.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    let cfg = config(&reference, &py, batcher, training, "");
    let o = geobatch(&reference, &["run", &cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let want = steps_table(&the_run(&reference));
    let per_epoch = want.len() as u64 / 12;
    assert!(per_epoch > 1 && want.len() as u64 == 12 * per_epoch);

    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let cfg = config(&work, &py, batcher, training, "");
    let results = work.join("results");
    let killed = common::kill_when(
        &work,
        &["run", &cfg],
        std::time::Duration::from_secs(300),
        "no second checkpoint appeared",
        || {
            common::walk(&results)
                .into_iter()
                .find(|p| p.ends_with("checkpoint/state.json"))
                .and_then(|s| std::fs::read_to_string(s).ok())
                .and_then(|t| {
                    let rest = t.strip_prefix("{\"step\":")?.to_string();
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse::<u64>().ok()
                })
                .is_some_and(|s| s >= 4 * per_epoch)
        },
    );
    assert!(!killed.success());
    // the killed run's worker, idle between steps, removed its folder (it was left once)
    let worker_folders = || {
        std::fs::read_dir(&work)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("geobatch-python-")
            })
            .count()
    };
    let t = std::time::Instant::now();
    while worker_folders() > 0 && t.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        worker_folders(),
        0,
        "the killed run's worker folder is left"
    );
    let o = geobatch(&work, &["run", &cfg, "--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("resuming from the checkpoint at step"),
        "{}",
        text(&o)
    );
    let run = the_run(&work);
    assert_eq!(run_value(&run, "status"), "complete");
    assert_eq!(
        steps_table(&run),
        want,
        "every step once, with the uninterrupted run's losses (the module's Adam state, the kept \
         best parameters and the plateau's rate restored)"
    );
    assert_eq!(final_accuracy(&run), final_accuracy(&the_run(&reference)));
}

#[test]
fn node_level_module_failures_are_clear_and_keep_the_steps() {
    let Some(py) = python("numpy") else { return };
    let batcher = "kind = \"cluster\"\nnum_parts = 6";
    // an exception in train_step: the traceback, the steps before it kept
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &py, batcher, TRAIN, "fail_at = 9");
    let o = geobatch(dir.path(), &["run", &cfg]);
    let out = text(&o);
    assert!(!o.status.success());
    assert!(
        out.contains("train_step at step 9 failed")
            && out.contains("Traceback")
            && out.contains("ValueError: injected failure at step 9"),
        "{out}"
    );
    let run = the_run(dir.path());
    assert_eq!(run_value(&run, "status"), "failed");
    assert_eq!(steps_table(&run).len(), 9, "steps 0-8 are kept");
    // predictions of the wrong shape name predict and the expected shape
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &py, batcher, TRAIN, "bad_predict = true");
    let o = geobatch(dir.path(), &["run", &cfg]);
    let out = text(&o);
    assert!(!o.status.success());
    assert!(
        out.contains("predict() returned shape") && out.contains(", 4): one row of class scores"),
        "{out}"
    );
    // a module that refuses its options fails at build, with its own message
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &py, batcher, TRAIN, "hops = 0");
    let o = geobatch(dir.path(), &["run", &cfg]);
    let out = text(&o);
    assert!(!o.status.success());
    assert!(
        out.contains("build failed") && out.contains("hops = 0: must be at least 1"),
        "{out}"
    );
}

#[test]
fn the_worker_reads_node_predictions_as_log_softmax() {
    let Some(py) = python("numpy") else { return };
    // logits and log-probabilities give the same classes and negative log-likelihood; the
    // unlabelled node (-1) adds nothing
    let script = format!(
        "import sys, math, numpy as np\nsys.path.insert(0, {:?})\nimport worker as w\n\
         z = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0], [1.0, 1.0, 5.0]])\n\
         labels = np.array([0, 2, -1])\n\
         a = w.node_predictions(np, z, labels, 3, 3)\n\
         lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))\n\
         b = w.node_predictions(np, lp, labels, 3, 3)\n\
         want = -(lp[0, 0] + lp[1, 2])\n\
         assert a['classes'] == [0, 1, 2] == b['classes'], (a, b)\n\
         assert abs(a['nll'] - want) < 1e-12 and abs(b['nll'] - want) < 1e-12, (a, b, want)\n\
         print(a['nll'])\n",
        repo().join("python/geobatch").display().to_string()
    );
    let o = std::process::Command::new(&py)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let nll: f64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    // by hand: -log softmax(2, 0, -1)[0] - log softmax(0, 3, 0)[2]
    let lse = |v: [f64; 3]| v.iter().map(|x| x.exp()).sum::<f64>().ln();
    let want = -(2.0 - lse([2.0, 0.0, -1.0])) - (0.0 - lse([0.0, 3.0, 0.0]));
    assert!((nll - want).abs() < 1e-9, "{nll} vs {want}");
}

#[test]
fn the_python_model_is_listed_and_exemplified_for_both_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let o = geobatch(dir.path(), &["list", "models"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("python "))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().any(|l| l.contains("[node]")), "{out}");
    let o = geobatch(dir.path(), &["example", "model", "python"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(
        out.matches("[model]\nkind = \"python\"").count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("python (node-level task)") && out.contains("sgc_numpy.py"),
        "{out}"
    );
}

#[test]
fn the_jax_gcn_compiles_once_per_padded_shape_and_learns() {
    let Some(py) = python("jax, optax, numpy") else {
        return;
    };
    let batcher = "kind = \"ibmb-node\"\noutputs_per_batch = 100\ntopk = 8";
    let training = "epochs = 10\neval_every = 5\noptimizer = { learning_rate = 0.01 }";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("compiles.log");
    let model = format!(
        "kind = \"python\"\npython = \"{}\"\nmodule = \"{}\"\n\
         options = {{ hidden = 32, layers = 2, compile_log = \"{}\" }}",
        py.display(),
        repo().join("python/gcn_jax.py").display(),
        log.display()
    );
    let cfg = config_with(dir.path(), &model, batcher, training);
    let o = geobatch(dir.path(), &["run", &cfg]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // the architecture of geobatch's own gcn: the same parameter count
    let burn_dir = tempfile::tempdir().unwrap();
    let burn = config_with(
        burn_dir.path(),
        "kind = \"gcn\"\nhidden = 32\nlayers = 2",
        batcher,
        "epochs = 1",
    );
    let o = geobatch(burn_dir.path(), &["run", &burn]);
    assert!(o.status.success(), "{}", text(&o));
    let count = |s: &str, model: &str| common::number_after(s, &format!("{model}: "));
    assert_eq!(count(&out, "python"), count(&text(&o), "gcn"), "{out}");
    // XLA compiled the update once per padded shape: every compile a new shape of powers of two,
    // and fewer compiles than steps
    let compiles: Vec<Vec<u64>> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').map(|x| x.parse().unwrap()).collect())
        .collect();
    let steps = steps_table(&the_run(dir.path())).len();
    assert!(
        !compiles.is_empty() && compiles.len() < steps,
        "{compiles:?} in {steps} steps"
    );
    let mut distinct = compiles.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        compiles.len(),
        "a shape compiled twice: {compiles:?}"
    );
    assert!(
        compiles.iter().flatten().all(|x| x.is_power_of_two()),
        "{compiles:?}"
    );
    for (split, how, a) in final_accuracy(&the_run(dir.path())) {
        assert!(a > 0.7, "{split} {how} accuracy {a}");
    }
}
