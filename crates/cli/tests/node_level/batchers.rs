//! Every node batcher on a generated graph, and what a node-level run refuses: bad graphs and
//! caps, options it would ignore, command lines the kind cannot do.

use super::*;

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
