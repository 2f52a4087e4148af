//! The straggler study (`geobatch batches --world-size`): each batcher's plan dealt to ranks
//! against torch's DistributedSampler and fairchem's max-atoms sampler, on the QM9 fixture.

use super::*;

/// The table's rows: (ranks, plan, steps per epoch, slowest/mean, p95, repeated, dropped).
fn rows(out: &str) -> Vec<(usize, String, u64, f64, f64, f64, f64)> {
    out.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ranks"))
        .filter(|l| !l.contains("refused"))
        .map(|l| {
            let c: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let num = |i: usize| c[i].trim_end_matches('%').parse::<f64>().unwrap();
            (
                c[0].parse().unwrap(),
                c[1].to_string(),
                c[2].parse().unwrap(),
                num(4),
                num(5),
                num(7),
                num(8),
            )
        })
        .collect()
}

#[test]
fn the_straggler_table_deals_every_batcher_and_both_anchors_to_each_world_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/smoke/qm9-fixture-dynamic.toml");
    let o = geobatch(
        dir.path(),
        &["batches", config.to_str().unwrap(), "--world-size", "1,8"],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let rows = rows(&out);
    // dynamic, static (three paddings), pack and max-atoms (the config's own is dynamic), and
    // the two anchors
    assert_eq!(rows.len(), 16, "{out}");
    for plan in [
        "DistributedSampler, 32 graphs",
        "fairchem max-atoms, ",
        "pack",
        "max-atoms",
    ] {
        assert!(rows.iter().any(|r| r.1.starts_with(plan)), "{plan}: {out}");
    }
    for r in rows.iter().filter(|r| r.0 == 1) {
        assert_eq!((r.3, r.4), (1.0, 1.0), "one rank waits for nobody: {r:?}");
    }
    let at8 = |plan: &str| {
        rows.iter()
            .find(|r| r.0 == 8 && r.1.starts_with(plan))
            .unwrap()
    };
    let torch = at8("DistributedSampler");
    // 800 training graphs: 100 per rank, 4 batches of 32, 32, 32 and 4; nothing repeated
    assert_eq!((torch.2, torch.5, torch.6), (4, 0.0, 0.0), "{out}");
    // 25 batches on 8 ranks: the step of the smallest batches weighs in the p95 here; the docs'
    // table holds the full sets
    for plan in ["dynamic", "pack"] {
        let ours = at8(plan);
        assert!(
            ours.4 < torch.4 && ours.3 <= 1.05,
            "{plan} balanced less than torch's sampler: {ours:?} against {torch:?}\n{out}"
        );
    }
    assert!(
        !dir.path().join("results").exists(),
        "plans only: no run folder"
    );
}

#[test]
fn the_straggler_study_refuses_what_it_cannot_deal_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/smoke/qm9-fixture-dynamic.toml");
    let c = config.to_str().unwrap();
    let o = geobatch(dir.path(), &["batches", c, "--world-size", "0"]);
    assert_refused(&o, &["--world-size", "at least 1"]);
    let o = geobatch(
        dir.path(),
        &["batches", c, "--world-size", "8", "--steps", "3"],
    );
    assert_refused(&o, &["--world-size", "--steps"]);
    let o = geobatch(
        dir.path(),
        &["batches", c, "--world-size", "8", "--epochs", "1000000000"],
    );
    assert_refused(&o, &["--epochs 1000000000", "1 to 1000 epochs"]);
    let o = geobatch(dir.path(), &["batches", c, "--epochs", "2"]);
    assert_refused(&o, &["--world-size"]);
    // more ranks than batches: repeated without drop_last, a row saying why with it
    let o = geobatch(
        dir.path(),
        &[
            "batches",
            c,
            "--world-size",
            "64",
            "--drop-last",
            "--batchers",
            "pack",
            "--epochs",
            "1",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("| 64 | pack | refused: the epoch has")
            && out.contains("fewer than the 64 ranks"),
        "{out}"
    );
    let o = geobatch(
        dir.path(),
        &[
            "batches",
            c,
            "--world-size",
            "64",
            "--batchers",
            "pack",
            "--epochs",
            "1",
        ],
    );
    let out = text(&o);
    let pack = rows(&out).into_iter().find(|r| r.1 == "pack").unwrap();
    assert!(pack.2 == 1 && pack.5 > 0.0, "{pack:?}\n{out}");
    let o = geobatch(
        dir.path(),
        &["batches", c, "--world-size", "8", "--batchers", "nope"],
    );
    assert_refused(&o, &["unknown batcher \"nope\"", "registered:"]);
    let node = repo().join("configs/nodes/sbm-gcn-ibmb-node.toml");
    let o = geobatch(
        dir.path(),
        &["batches", node.to_str().unwrap(), "--world-size", "8"],
    );
    assert_refused(&o, &["node-level"]);
}
