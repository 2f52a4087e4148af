//! Node-level runs as runs: sweeps, prefetch, a killed run resumed, model selection.

use super::*;

#[test]
fn a_node_level_sweep_runs_each_combination_once() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(sbm_config(dir.path(), "kind = \"full\"")).unwrap();
    let cfg = dir.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        format!(
            "{base}[sweep]\nbatcher = [{{ kind = \"full\" }}, {{ kind = \"cluster\", num_parts = 4 }}]\nseeds = [1, 2]\n"
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let o = geobatch(dir.path(), &["sweep", cfg]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("4 runs; 4 run, 0 resumed, 0 already complete"),
        "{}",
        text(&o)
    );
    let runs = std::fs::read_dir(dir.path().join("results/sbm"))
        .unwrap()
        .count();
    assert_eq!(runs, 4);
    let o = geobatch(dir.path(), &["sweep", cfg]);
    assert!(
        text(&o).contains("4 runs; 0 run, 0 resumed, 4 already complete"),
        "{}",
        text(&o)
    );
}

#[test]
fn prefetch_trains_the_same_steps_as_serial_and_records_the_wait() {
    use arrow_array::Array;
    use arrow_array::types::{Float32Type, UInt64Type};
    let dir = tempfile::tempdir().unwrap();
    let cfg = sbm_config(
        dir.path(),
        "kind = \"neighbor\"\nbatch_size = 100\nfanouts = [5, 5]",
    );
    let mut losses = Vec::new();
    for mode in ["serial", "prefetch"] {
        let o = geobatch(
            dir.path(),
            &[
                "run",
                cfg.to_str().unwrap(),
                "--set",
                &format!("training.mode=\"{mode}\""),
                "--set",
                "training.threads=1",
                "--set",
                &format!("experiment.name=\"{mode}\""),
            ],
        );
        assert!(o.status.success(), "{mode}: {}", text(&o));
        let run = run_dir(dir.path(), mode, "train-gcn-neighbor");
        assert_eq!(run_value(&run, "mode"), mode);
        assert_eq!(
            run_count(&run, "threads"),
            if mode == "serial" { 1 } else { 2 }
        );
        let mut l = Vec::new();
        let mut waits = 0;
        for b in read(&run.join("steps-00000.parquet")) {
            let loss = b
                .column_by_name("loss")
                .unwrap()
                .as_primitive::<Float32Type>();
            let wait = b
                .column_by_name("wait_ns")
                .unwrap()
                .as_primitive::<UInt64Type>();
            l.extend(loss.values().iter().copied());
            waits += wait.len() - wait.null_count();
        }
        assert_eq!(
            waits > 0,
            mode == "prefetch",
            "{mode}: wait_ns recorded only when prefetching"
        );
        losses.push(l);
    }
    assert_eq!(losses[0].len(), 8 * 3);
    assert_eq!(
        losses[0], losses[1],
        "the same batches and updates in both modes"
    );
}

/// The `"step"` of a run's checkpoint, when one is written.
fn checkpoint_step(results: &Path) -> Option<u64> {
    let exp = std::fs::read_dir(results.join("sbm")).ok()?;
    for run in exp {
        let state = run.ok()?.path().join("checkpoint/state.json");
        if let Ok(t) = std::fs::read_to_string(state) {
            let rest = t.strip_prefix("{\"step\":")?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            return digits.parse().ok();
        }
    }
    None
}

#[test]
fn a_killed_node_level_run_resumes_from_its_checkpoint_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // dropout, keep-best and a learning-rate plateau that moves every evaluation: a resumed run
    // must restore the parameters, the best parameters, Adam, the schedule and the dropout draws
    let cfg = dir.path().join("resume.toml");
    std::fs::write(
        &cfg,
        "[experiment]\nname = \"sbm\"\nseed = 5\n\
         [dataset]\nkind = \"sbm\"\nnodes = 20000\nclasses = 4\ncommunities = 16\navg_degree = 8\nsignal = 0.5\n\
         [model]\nkind = \"gcn\"\nhidden = 32\nlayers = 2\ndropout = 0.5\n\
         [batcher]\nkind = \"neighbor\"\nbatch_size = 50\nfanouts = [5, 5]\n\
         [training]\nepochs = 16\neval_every = 2\ncheckpoint_every = 2\nkeep_best = true\n\
         optimizer = { learning_rate = 0.01 }\n\
         plateau = { patience = 0, cooldown = 0, factor = 0.7, min_lr = 0.001 }\n\
         [[sinks]]\nkind = \"parquet\"\nrows_per_part = 7\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    // the uninterrupted reference, serial
    let reference = dir.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    let o = geobatch(&reference, &["run", cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let want_run = run_dir(&reference, "sbm", "train-gcn");
    let (want_steps, want_evals) = (steps_table(&want_run), eval_rows(&want_run));
    let per_epoch = want_steps.len() as u64 / 16;
    assert!(per_epoch > 1 && want_steps.len() as u64 == 16 * per_epoch);

    // killed after its second checkpoint, in prefetch mode (whose checkpoints take the batch
    // source's position when the worker made the batch), then resumed
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let prefetch = ["run", cfg, "--set", "training.mode=\"prefetch\""];
    let killed = common::kill_when(
        &work,
        &prefetch,
        std::time::Duration::from_secs(300),
        "no second checkpoint appeared",
        || checkpoint_step(&work.join("results")).is_some_and(|s| s >= 4 * per_epoch),
    );
    assert!(!killed.success());
    let mut resume = prefetch.to_vec();
    resume.push("--resume");
    let o = geobatch(&work, &resume);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("resuming from the checkpoint at step"),
        "{}",
        text(&o)
    );
    let got_run = run_dir(&work, "sbm", "train-gcn");
    assert_eq!(run_value(&got_run, "status"), "complete");
    assert!(
        run_count(&got_run, "resumed_from") >= 4 * per_epoch,
        "run.parquet says where it resumed"
    );
    assert_eq!(
        steps_table(&got_run),
        want_steps,
        "every step exactly once, with the uninterrupted run's losses bit for bit"
    );
    assert_eq!(
        eval_rows(&got_run),
        want_evals,
        "the same evaluations, the kept best parameters included"
    );
    assert!(
        !got_run.join("checkpoint").exists(),
        "a complete run drops its checkpoint"
    );
}

#[test]
fn model_selection_uses_the_validation_split_whatever_the_order_of_eval_splits() {
    let mut kept = Vec::new();
    for splits in ["[\"validation\", \"test\"]", "[\"test\", \"validation\"]"] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("select.toml");
        std::fs::write(
            &cfg,
            format!(
                "[experiment]\nname = \"sbm\"\nseed = 3\n\
                 [dataset]\nkind = \"sbm\"\nnodes = 4000\nclasses = 4\ncommunities = 8\navg_degree = 8\nsignal = 0.4\n\
                 [model]\nkind = \"gcn\"\nhidden = 16\nlayers = 2\ndropout = 0.5\n\
                 [batcher]\nkind = \"neighbor\"\nbatch_size = 200\nfanouts = [5, 5]\n\
                 [training]\nepochs = 12\neval_every = 1\nkeep_best = true\neval_splits = {splits}\n\
                 optimizer = {{ learning_rate = 0.02 }}\n\
                 [[sinks]]\nkind = \"parquet\"\n[[sinks]]\nkind = \"console\"\nprogress = false\n"
            ),
        )
        .unwrap();
        let o = geobatch(dir.path(), &["run", cfg.to_str().unwrap()]);
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        let epoch = common::number_after(&out, "the parameters of epoch ");
        let run = run_dir(dir.path(), "sbm", "train-gcn");
        let per_epoch = steps_table(&run).len() as u64 / 12;
        let validation: Vec<(u64, f64)> = eval_rows(&run)
            .into_iter()
            .filter(|r| r.1 == "validation" && r.2 != "full")
            .map(|r| (r.0, r.3))
            .collect();
        let best = validation.iter().map(|r| r.1).fold(f64::MIN, f64::max);
        let at_kept = validation
            .iter()
            .find(|r| r.0 == epoch * per_epoch)
            .unwrap_or_else(|| panic!("no validation row at epoch {epoch}: {validation:?}"))
            .1;
        assert_eq!(
            at_kept, best,
            "{splits}: kept epoch {epoch}, {validation:?}"
        );
        kept.push((epoch, final_accuracy(&run)));
    }
    assert_eq!(
        kept[0], kept[1],
        "the order of eval_splits changed the selection"
    );
}
