//! A NumPy-only module trained with every batcher; exceptions, protocol breaches, killed, exiting
//! and hung workers, a missing interpreter; a resumed run, a sweep and its report.

use super::*;

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
