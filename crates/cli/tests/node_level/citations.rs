//! GCN on Cora and CiteSeer (skipped when `../shared/data/graphs` is absent), OGB, and the report
//! comparing node batchers.

use super::*;

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
