//! The shipped configs and the registry as a user meets them: every smoke and example config
//! validates and runs, the listings, docs/plugins.md, the commands the configs document, and the
//! fixture kept apart from fetched QM9.

use super::*;

#[test]
fn every_smoke_config_validates_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs: Vec<PathBuf> = std::fs::read_dir(repo().join("configs/smoke"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 3, "smoke configs: {configs:?}");
    for c in &configs {
        let c = c.to_str().unwrap();
        let o = geobatch(dir.path(), &["validate", c]);
        assert!(o.status.success(), "validate {c}: {}", text(&o));
        let o = geobatch(dir.path(), &["batches", c]);
        assert!(o.status.success(), "batches {c}: {}", text(&o));
        let out = text(&o);
        for want in [
            "fill nodes",
            "fill edges",
            "distinct shapes",
            "real graphs/batch",
            "time per batch",
            "median",
            "p99",
        ] {
            assert!(out.contains(want), "{c}: output lacks {want}:\n{out}");
        }
    }
    let parts = walk(&dir.path().join("results"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("steps-"))
        .count();
    assert!(parts >= configs.len());
}

#[test]
fn list_and_example_show_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let o = geobatch(dir.path(), &["list"]);
    let out = text(&o);
    for name in ["synthetic", "dynamic", "static", "parquet", "console"] {
        assert!(out.contains(name), "{out}");
    }
    let o = geobatch(dir.path(), &["example", "batcher", "dynamic"]);
    assert!(o.status.success());
    assert!(text(&o).contains("[batcher]\nkind = \"dynamic\""));
    let o = geobatch(dir.path(), &["example", "batcher", "no-such-batcher"]);
    assert_eq!(o.status.code(), Some(2));
    let out = text(&o);
    let listed = out.split("registered batchers:").nth(1).unwrap_or_default();
    geobatch_catalog::link();
    for d in geobatch_core::registry::descriptors() {
        if d.kind == geobatch_core::registry::PluginKind::Batcher {
            assert!(listed.contains(d.name), "{} is not listed: {out}", d.name);
        }
    }
    let o = geobatch(dir.path(), &["list", "widgets"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("expected one of: dataset, model, batcher, sink"));
}

#[test]
fn docs_plugins_md_is_generated_from_the_registry() {
    let o = geobatch(&repo(), &["list", "--markdown"]);
    let committed = std::fs::read_to_string(repo().join("docs/plugins.md")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        committed,
        "docs/plugins.md is stale: run `geobatch list --markdown > docs/plugins.md`"
    );
}

#[test]
fn every_example_config_validates() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("configs/examples")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let o = geobatch(dir.path(), &["validate", p.to_str().unwrap()]);
            assert!(o.status.success(), "{}: {}", p.display(), text(&o));
            n += 1;
        }
    }
    assert!(n >= 34, "{n} example configs");
    // the other folders: node-level configs validate, sweeps plan their runs
    let tomls = |folder: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join(folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        v.sort();
        v
    };
    let nodes = tomls("configs/nodes");
    assert!(!nodes.is_empty());
    for p in nodes {
        let o = geobatch(dir.path(), &["validate", p.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", p.display(), text(&o));
    }
    let sweeps = tomls("configs/sweeps");
    assert!(!sweeps.is_empty());
    for p in sweeps {
        let o = geobatch(dir.path(), &["sweep", p.to_str().unwrap(), "--dry-run"]);
        assert!(o.status.success(), "{}: {}", p.display(), text(&o));
        assert!(text(&o).contains("to run"), "{}: {}", p.display(), text(&o));
    }
}

#[test]
fn runs_on_the_fixture_and_on_fetched_qm9_never_share_a_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = write(
        dir.path(),
        "auto.toml",
        &format!(
            "[experiment]\nname = \"auto\"\ndata_dir = {:?}\n[dataset]\nkind = \"qm9\"\nsource = \"auto\"\n\
             [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[[sinks]]\nkind = \"parquet\"\n\
             [sweep]\nseeds = [1]\n",
            data.to_str().unwrap()
        ),
    );
    let folder = || {
        let o = geobatch(dir.path(), &["sweep", &cfg, "--dry-run"]);
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        out.split("(results/auto/")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .unwrap_or_else(|| panic!("no run folder in {out}"))
            .to_string()
    };
    let resolved = |cfg: &str| text(&geobatch(dir.path(), &["validate", cfg, "--resolved"]));
    let plain = write(
        dir.path(),
        "plain.toml",
        &std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("[sweep]\nseeds = [1]\n", ""),
    );
    // nothing fetched: `auto` is the fixture, and says so in the resolved config
    assert!(
        resolved(&plain)
            .contains("# dataset source, resolved (part of the run identity): fixture (embedded)"),
        "{}",
        resolved(&plain)
    );
    let fixture_run = folder();
    // a fetched file (any content: only its fingerprint is read here) is another run
    std::fs::create_dir_all(data.join("qm9")).unwrap();
    std::fs::write(data.join("qm9/qm9.parquet"), b"first").unwrap();
    let fetched_run = folder();
    assert_ne!(fixture_run, fetched_run);
    assert!(resolved(&plain).contains("qm9.parquet (5 bytes, sha256 "));
    // and other content is another run again
    std::fs::write(data.join("qm9/qm9.parquet"), b"other").unwrap();
    assert_ne!(folder(), fetched_run);
}

#[test]
fn commands_the_configs_document_work_as_written() {
    let dir = tempfile::tempdir().unwrap();
    // configs/nodes/sbm-1m.toml: swapping the batcher by replacing its table
    let sbm = repo().join("configs/nodes/sbm-1m.toml");
    let sbm_text = std::fs::read_to_string(&sbm).unwrap();
    let swap = "batcher={kind=\"cluster\", num_parts=100}";
    assert!(sbm_text.contains(&format!("--set '{swap}'")), "{sbm_text}");
    let o = geobatch(
        dir.path(),
        &["validate", sbm.to_str().unwrap(), "--set", swap],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("batcher cluster-p100"), "{}", text(&o));
    // setting only the kind keeps the old kind's options: refused, saying how to swap
    let o = geobatch(
        dir.path(),
        &[
            "validate",
            sbm.to_str().unwrap(),
            "--set",
            "batcher.kind=\"cluster\"",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("replace the whole table instead"),
        "{}",
        text(&o)
    );

    // configs/sweeps/qm9-cpu.toml on the embedded fixture, with the split it documents (one
    // seed, one batch size, 2 steps: the command, not the study)
    let sweep = repo().join("configs/sweeps/qm9-cpu.toml");
    let sweep_text = std::fs::read_to_string(&sweep).unwrap();
    let split = "dataset.split={train=800, validation=100, test=100}";
    assert!(
        sweep_text.contains(&format!("--set '{split}'")),
        "{sweep_text}"
    );
    let o = geobatch(
        dir.path(),
        &[
            "sweep",
            sweep.to_str().unwrap(),
            "--set",
            split,
            "--set",
            "dataset.source=\"fixture\"",
            "--set",
            "sweep.seeds=[42]",
            "--set",
            "sweep.batcher.batch_size=[16]",
            "--set",
            "training.steps=2",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 runs; 3 run"), "{}", text(&o));
}
