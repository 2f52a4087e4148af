//! Users' own structures through the binary: `geobatch list` shows the extxyz and asedb
//! datasets, and `geobatch run` trains SchNet on an extended XYZ file and, with the one
//! `dataset` line replaced, on an ASE database (SQLite, then JSON).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;
use common::{geobatch, repo, text};

#[test]
fn list_shows_the_structure_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let o = geobatch(dir.path(), &["list", "datasets"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("extxyz") && out.contains("asedb"), "{out}");
    for name in ["extxyz", "asedb"] {
        let o = geobatch(dir.path(), &["example", "dataset", name]);
        assert!(o.status.success(), "{}", text(&o));
    }
}

#[test]
fn schnet_trains_on_an_xyz_file_and_on_an_ase_database_with_one_line_changed() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/examples/extxyz-schnet-dynamic.toml");
    let xyz = repo().join("plugins/dataset-extxyz/tests/fixtures/flashmd.xyz");
    let db = repo().join("plugins/dataset-asedb/tests/fixtures/structures.db");
    let json = repo().join("plugins/dataset-asedb/tests/fixtures/structures.json");
    let line = |kind: &str, path: &std::path::Path| {
        format!(
            "dataset={{kind={kind:?}, path={:?}, targets=[\"energy\"], per_atom=[\"energy\"], \
             graph={{kind=\"cutoff\", radius=5.0}}, split={{train=8, validation=1, test=1}}}}",
            path.to_str().unwrap()
        )
    };
    for (kind, path, name) in [
        ("extxyz", &xyz, "flashmd.xyz"),
        ("asedb", &db, "structures.db"),
        ("asedb", &json, "structures.json"),
    ] {
        let o = geobatch(
            dir.path(),
            &[
                "run",
                config.to_str().unwrap(),
                "--steps",
                "4",
                "--set",
                &line(kind, path),
                "--set",
                "model.latent=8",
                "--set",
                "batcher.batch_size=3",
                "--set",
                "training.eval_every=4",
                "--set",
                "training.checkpoint_every=0",
                "--set",
                "training.eval_splits=[\"validation\"]",
            ],
        );
        let out = text(&o);
        assert!(o.status.success(), "{kind}: {out}");
        assert!(out.contains("schnet"), "{out}");
        assert!(out.contains(name), "{kind}: {out}");
    }
    // the example config itself, on its QM9 molecules
    let o = geobatch(
        dir.path(),
        &[
            "run",
            config.to_str().unwrap(),
            "--steps",
            "2",
            "--set",
            &format!(
                "dataset.path={:?}",
                repo()
                    .join("plugins/dataset-extxyz/tests/fixtures/qm9_reduced_100.xyz")
                    .to_str()
                    .unwrap()
            ),
            "--set",
            "model.latent=8",
            "--set",
            "training.eval_every=2",
            "--set",
            "training.checkpoint_every=0",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // a damaged file stops the run with the file, frame and line named
    let bad = dir.path().join("bad.xyz");
    std::fs::write(&bad, "2\nenergy=1\nH 0 0 0\nH 0 0\n").unwrap();
    let o = geobatch(
        dir.path(),
        &[
            "run",
            config.to_str().unwrap(),
            "--steps",
            "2",
            "--set",
            &line("extxyz", &bad),
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("bad.xyz: frame 0 (line 4): 3 fields where Properties asks for 4"),
        "{}",
        text(&o)
    );
}
