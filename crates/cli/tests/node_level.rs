//! Node-level tasks as a user runs them: every node batcher on a generated graph, GCN on Cora and
//! CiteSeer (skipped when `../shared/data/graphs` is absent), and bad input.
//!
//! Why one long file: one integration-test binary (each is a link of the whole stack); the
//! node-level commands share its generated graphs and helpers.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use geobatch_testkit::results::{read, run_count, run_value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;
use common::{eval_rows, geobatch, geobatch_with, repo, steps_table, text};

/// The single run folder below `results/<experiment>` whose name starts with `prefix`.
fn run_dir(dir: &Path, experiment: &str, prefix: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("results").join(experiment))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    assert_eq!(found.len(), 1, "{prefix}: {found:?}");
    found.pop().unwrap()
}

/// Accuracy of every (split, inference) evaluated at the last step.
fn final_accuracy(run: &Path) -> HashMap<(String, String), f64> {
    let rows = eval_rows(run);
    let last = rows.iter().map(|r| r.0).max().unwrap();
    rows.into_iter()
        .filter(|r| r.0 == last)
        .map(|r| ((r.1, r.2), r.3))
        .collect()
}

/// Validation accuracies of the periodic evaluations (all but the last step) with `inference`.
fn validation_history(run: &Path, inference: &str) -> Vec<f64> {
    let rows = eval_rows(run);
    let last = rows.iter().map(|r| r.0).max().unwrap_or(0);
    rows.into_iter()
        .filter(|r| r.0 < last && r.1 == "validation" && r.2 == inference)
        .map(|r| r.3)
        .collect()
}

fn sbm_config(dir: &Path, batcher: &str) -> PathBuf {
    let p = dir.join(format!("sbm-{}.toml", batcher.split('"').nth(1).unwrap()));
    std::fs::write(
        &p,
        format!(
            "[experiment]\nname = \"sbm\"\nseed = 3\n\
             [dataset]\nkind = \"sbm\"\nnodes = 3000\nclasses = 4\ncommunities = 16\navg_degree = 8\nsignal = 0.5\n\
             [model]\nkind = \"gcn\"\nhidden = 32\nlayers = 2\n\
             [batcher]\n{batcher}\n\
             [training]\nepochs = 8\neval_every = 4\noptimizer = {{ learning_rate = 0.01 }}\n\
             [[sinks]]\nkind = \"parquet\"\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn every_node_batcher_batches_and_trains_on_a_generated_graph() {
    let dir = tempfile::tempdir().unwrap();
    for (batcher, label) in [
        (
            "kind = \"ibmb-node\"\noutputs_per_batch = 100\ntopk = 8",
            "ibmb-node-k8",
        ),
        ("kind = \"ibmb-batch\"\nnum_parts = 6", "ibmb-batch-p6"),
        ("kind = \"cluster\"\nnum_parts = 6", "cluster-p6"),
        (
            "kind = \"neighbor\"\nbatch_size = 100\nfanouts = [5, 5]",
            "neighbor-5x5",
        ),
        ("kind = \"full\"", "full"),
    ] {
        let cfg = sbm_config(dir.path(), batcher);
        let cfg = cfg.to_str().unwrap();
        let o = geobatch(dir.path(), &["validate", cfg]);
        assert!(
            o.status.success() && text(&o).contains("node-level"),
            "{}",
            text(&o)
        );
        let o = geobatch(dir.path(), &["batches", cfg]);
        let out = text(&o);
        assert!(o.status.success(), "batches {label}: {out}");
        for want in [
            "precomputation",
            "output nodes/batch",
            "aux nodes/batch",
            "edges kept",
            "time per batch",
            "peak memory",
        ] {
            assert!(out.contains(want), "{label}: no {want}:\n{out}");
        }
        // every training output appears exactly once per epoch (3 epochs by default)
        let b = run_dir(dir.path(), "sbm", &format!("batches-{label}"));
        let outputs: u64 = read(&b.join("steps-00000.parquet"))
            .iter()
            .map(|r| {
                r.column_by_name("real_graphs")
                    .unwrap()
                    .as_primitive::<UInt32Type>()
                    .values()
                    .iter()
                    .map(|&x| u64::from(x))
                    .sum::<u64>()
            })
            .sum();
        assert_eq!(outputs, 3 * 300, "{label}");

        let o = geobatch_with(
            dir.path(),
            &["run", cfg, "--set", "training.threads=3"],
            &[("RAYON_NUM_THREADS", "1")],
        );
        assert!(o.status.success(), "run {label}: {}", text(&o));
        assert!(text(&o).contains("the parameters of epoch"), "{}", text(&o));
        let run = run_dir(dir.path(), "sbm", &format!("train-gcn-{label}"));
        assert_eq!(run_value(&run, "status"), "complete");
        // training (and IBMB's PPR) run on the run's pool of training.threads, whatever
        // rayon's global pool is
        assert_eq!(run_count(&run, "threads"), 3, "{label}");
        let acc = final_accuracy(&run);
        let batched_label = if label == "full" {
            "full".to_string()
        } else {
            // inference batches come from the batcher's inference variant
            match label {
                "ibmb-node-k8" => "ibmb-node-k8".into(),
                "ibmb-batch-p6" => "ibmb-batch-p3".into(),
                "cluster-p6" => "cluster-p3".into(),
                _ => "neighbor-5x5".into(),
            }
        };
        // the best validation parameters were kept: the final validation accuracy is at least
        // every periodic one
        let periodic = validation_history(&run, &batched_label);
        assert!(!periodic.is_empty());
        let final_val = acc[&("validation".to_string(), batched_label.clone())];
        assert!(
            periodic.iter().all(|&a| a <= final_val),
            "{label}: {periodic:?} then {final_val}"
        );
        for split in ["validation", "test"] {
            let full = acc[&(split.to_string(), "full".to_string())];
            let batched = acc[&(split.to_string(), batched_label.clone())];
            // 4 classes (chance 0.25); every batcher reaches 0.976-0.995 here (seeded runs), so a
            // floor of 0.95 fails on a real loss of accuracy, not on noise
            assert!(full > 0.95, "{label} {split}: full-graph accuracy {full}");
            assert!(
                batched > 0.95,
                "{label} {split}: batched accuracy {batched}"
            );
        }
    }
}

/// Trains GCN on a real citation graph and returns the final accuracies.
fn citation_run(dir: &Path, config: &str, batcher: Option<&str>) -> HashMap<(String, String), f64> {
    let cfg = repo().join("configs/nodes").join(config);
    let results = dir.join("results");
    let mut args = vec![
        "run".to_string(),
        cfg.to_str().unwrap().to_string(),
        "--set".into(),
        format!("experiment.results_dir={:?}", results.to_str().unwrap()),
        "--set".into(),
        "sinks=[{kind=\"parquet\"}]".into(),
    ];
    if let Some(b) = batcher {
        args.extend(["--set".into(), format!("batcher={b}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = geobatch(&repo(), &args);
    assert!(o.status.success(), "{config}: {}", text(&o));
    let exp = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&exp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort_by_key(|p| {
        std::fs::metadata(p.join("run.parquet"))
            .unwrap()
            .modified()
            .unwrap()
    });
    final_accuracy(runs.last().unwrap())
}

#[test]
fn gcn_on_cora_and_citeseer_reaches_the_usual_accuracy_and_ibmb_inference_matches_full_graph() {
    if geobatch_testkit::shared_data(&repo().join("../shared/data/graphs/cora.npz")).is_none() {
        return;
    }
    // (config, full-batch test accuracy range; a PyTorch GCN of the same architecture on 5 random
    // splits of the same files: Cora 74.8-78.8%, CiteSeer 55.8-64.5%)
    for (config, range) in [
        ("cora-gcn-ibmb-node.toml", 0.74..0.85),
        ("citeseer-gcn-ibmb-node.toml", 0.55..0.72),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let full = citation_run(dir.path(), config, Some("{kind=\"full\"}"));
        let acc = full[&("test".into(), "full".into())];
        assert!(
            range.contains(&acc),
            "{config}: full-batch GCN test accuracy {acc}"
        );
        let dir = tempfile::tempdir().unwrap();
        let ibmb = citation_run(dir.path(), config, None);
        for split in ["validation", "test"] {
            let f = ibmb[&(split.to_string(), "full".to_string())];
            let b = ibmb[&(split.to_string(), "ibmb-node-k32".to_string())];
            assert!(
                (f - b).abs() <= 0.01,
                "{config} {split}: IBMB inference {b} vs full graph {f}"
            );
            assert!(
                range.contains(&f),
                "{config} {split}: IBMB-trained GCN accuracy {f}"
            );
        }
    }
}

fn ogb(dir: &Path, edges: &str, labels: &str) {
    for (p, t) in [
        ("raw/edge.csv", edges),
        ("raw/node-feat.csv", "1,0\n0,1\n1,1\n0,0\n"),
        ("raw/node-label.csv", labels),
        ("split/s/train.csv", "0\n1\n"),
        ("split/s/valid.csv", "3\n"),
        ("split/s/test.csv", "2\n"),
    ] {
        let p = dir.join("g").join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, t).unwrap();
    }
}

#[test]
fn bad_graphs_and_caps_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ogb.toml");
    std::fs::write(
        &cfg,
        "[experiment]\nname = \"bad\"\n[dataset]\nkind = \"ogb\"\npath = \"g\"\n\
         [model]\nkind = \"gcn\"\n[batcher]\nkind = \"ibmb-node\"\n[[sinks]]\nkind = \"parquet\"\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    // an edge naming a node beyond the node count
    ogb(dir.path(), "0,1\n1,2\n2,7\n", "0\n1\n0\n1\n");
    // a damaged data file is bad input, found before any work: exit 2 (docs/exit-codes.md)
    let o = geobatch(dir.path(), &["batches", cfg]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("edge.csv: line 3: node id 7 exceeds the node count (4 nodes"),
        "{}",
        text(&o)
    );
    // an output node without a label
    ogb(dir.path(), "0,1\n1,2\n", "0\n1\nnan\n1\n");
    let o = geobatch(dir.path(), &["run", cfg]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("labels missing for 1 output nodes of the test split (first: node 2)"),
        "{}",
        text(&o)
    );
    // a batch cap smaller than one output node's top-k set
    ogb(dir.path(), "0,1\n1,2\n", "0\n1\n0\n1\n");
    let o = geobatch(
        dir.path(),
        &[
            "validate",
            cfg,
            "--set",
            "batcher.max_aux=5",
            "--set",
            "batcher.topk=16",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("max_aux = 5 is smaller than one output node's top-k set (topk 16 + the node itself = 17 nodes)"), "{}", text(&o));
    // an unknown key names the valid ones
    let o = geobatch(dir.path(), &["validate", cfg, "--set", "model.width=8"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("unknown field `width`, expected one of `hidden`, `layers`"),
        "{}",
        text(&o)
    );
    // an unknown node batcher lists the registered ones
    let o = geobatch(dir.path(), &["validate", cfg, "--set", "batcher.kind=ibmb"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("ibmb-node") && text(&o).contains("neighbor"),
        "{}",
        text(&o)
    );
    // a good graph runs end to end
    let o = geobatch(
        dir.path(),
        &[
            "run",
            cfg,
            "--epochs",
            "2",
            "--set",
            "model.hidden=8",
            "--set",
            "training.eval_every=0",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_report_compares_node_batchers_by_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let mut accs: HashMap<String, Vec<f64>> = HashMap::new();
    for (batcher, label) in [
        (
            "kind = \"ibmb-node\"\noutputs_per_batch = 100\ntopk = 8",
            "ibmb-node-k8",
        ),
        ("kind = \"cluster\"\nnum_parts = 6", "cluster-p6"),
    ] {
        let cfg = sbm_config(dir.path(), batcher);
        for seed in ["1", "2"] {
            let o = geobatch(
                dir.path(),
                &[
                    "run",
                    cfg.to_str().unwrap(),
                    "--set",
                    &format!("experiment.seed={seed}"),
                ],
            );
            assert!(o.status.success(), "{}", text(&o));
        }
        let exp = dir.path().join("results/sbm");
        for e in std::fs::read_dir(&exp).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with(&format!("train-gcn-{label}")) {
                let a = final_accuracy(&p);
                let batched = a
                    .iter()
                    .find(|((s, how), _)| s == "test" && how != "full")
                    .map(|(_, v)| *v)
                    .unwrap();
                accs.entry(label.to_string()).or_default().push(batched);
            }
        }
    }
    let o = geobatch(dir.path(), &["report", "results"]);
    assert!(o.status.success(), "{}", text(&o));
    let summary = std::fs::read_to_string(dir.path().join("results/report/summary.csv")).unwrap();
    let mut lines = summary.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "test_accuracy_mean")
        .unwrap();
    let mut rows = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let label = if f[4].starts_with("ibmb") {
            "ibmb-node-k8"
        } else {
            "cluster-p6"
        };
        let want = accs[label].iter().sum::<f64>() / accs[label].len() as f64;
        let got: f64 = f[col].parse().unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "{label}: report {got}, runs {want}"
        );
        assert_eq!(f[3], "0", "node batchers share one cell");
        rows += 1;
    }
    assert_eq!(rows, 2);
    // one Welch test between the two batchers of the cell
    let tests = std::fs::read_to_string(dir.path().join("results/report/ttests.csv")).unwrap();
    assert_eq!(tests.lines().count(), 2, "{tests}");
}

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

#[test]
fn options_a_node_level_run_would_ignore_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sbm_config(dir.path(), "kind = \"full\"");
    let cfg = cfg.to_str().unwrap();
    let ok = geobatch(dir.path(), &["validate", cfg]);
    assert!(ok.status.success(), "{}", text(&ok));
    for (set, want) in [
        (vec!["experiment.quirks=\"reference\""], "experiment.quirks"),
        (
            vec!["training.eval_every=0", "training.early_stopping=5"],
            "training.early_stopping acts on periodic evaluations",
        ),
        (
            vec![
                "training.eval_every=0",
                "training.plateau={factor=0.5, patience=2}",
            ],
            "training.plateau acts on periodic evaluations",
        ),
    ] {
        let mut args = vec!["validate", cfg];
        for s in &set {
            args.extend(["--set", s]);
        }
        let o = geobatch(dir.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{set:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{set:?}: {}", text(&o));
    }
}

/// What a command line asks is checked against the config's kind, once, in the runner, before
/// anything is made: steps of a node-level run, epochs of a graph-level one, plans or a batch
/// count of a node-level study, advice on a node-level config; each is refused (exit 2) with what
/// to give instead, and no results folder is made.
#[test]
fn a_command_line_the_kind_cannot_do_is_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let node = sbm_config(dir.path(), "kind = \"cluster\"\nnum_parts = 8");
    let node = node.to_str().unwrap();
    let graph = repo().join("configs/smoke/qm9-fixture-schnet.toml");
    let graph = graph.to_str().unwrap();
    let results = ["--set", "experiment.results_dir=\"results\""];
    for (args, says) in [
        (
            vec!["run", node, "--steps", "3"],
            "a node-level run counts epochs: --epochs N",
        ),
        (
            vec!["run", graph, "--epochs", "3"],
            "a graph-level run counts steps: --steps N",
        ),
        (
            vec!["batches", node, "--plans", "plans.csv"],
            "--plans writes graph-level plans; a node-level study has none",
        ),
        (
            vec!["batches", node, "--steps", "5"],
            "a node-level batching study counts epochs: --set batches.epochs=N",
        ),
        (
            vec!["advise", node, "--steps", "10"],
            "this config is node-level",
        ),
    ] {
        let mut all = args.clone();
        all.extend(results);
        let o = geobatch(dir.path(), &all);
        common::assert_refused(&o, &[says]);
        assert!(
            !dir.path().join("results").exists(),
            "{args:?} made results"
        );
        assert!(
            !dir.path().join("plans.csv").exists(),
            "{args:?} wrote plans"
        );
    }
    // the kind a --set changes is the kind that is checked
    let o = geobatch(
        dir.path(),
        &[
            "run",
            graph,
            "--epochs",
            "2",
            "--set",
            "dataset={ kind = \"sbm\", nodes = 300 }",
        ],
    );
    assert!(
        !text(&o).contains("counts steps"),
        "the overridden kind is node-level: {}",
        text(&o)
    );
}
