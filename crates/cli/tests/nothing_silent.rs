//! Issue 58, items 4 to 6: options that would change nothing or too little are refused by name,
//! examples and data that would mislead a materials user say so, and messages and exit codes
//! follow docs/exit-codes.md (report on an empty or mixed folder, compressed files, `--out /`,
//! results written by other Parquet tools). Every case goes through the binary as a user calls it.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::io::Write;
use std::path::{Path, PathBuf};

mod common;
use common::{assert_refused, geobatch, repo, text, walk};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn example(name: &str) -> PathBuf {
    repo().join("configs/examples").join(name)
}

/// `geobatch batches` of two batches of the extended XYZ example on the file `data` (no sinks),
/// with the `--set`s `sets`.
fn extxyz_batches(d: &Path, data: &str, sets: &[&str]) -> std::process::Output {
    let config = example("extxyz-schnet-dynamic.toml");
    let data = format!("dataset.path={data:?}");
    let mut args = vec!["batches", path(&config), "--steps", "2", "--set", &data];
    for set in sets.iter().chain(&["sinks=[]"]) {
        args.extend(["--set", set]);
    }
    geobatch(d, &args)
}

fn fixture(name: &str) -> PathBuf {
    repo()
        .join("plugins/dataset-extxyz/tests/fixtures")
        .join(name)
}

/// Item 4: a key the graph rule's kind does not take, fanouts shorter than the model's layers,
/// and two sweep axes that set one key are refused (exit 2) naming the keys.
#[test]
fn options_that_would_change_nothing_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let qm9 = example("qm9-schnet-dynamic.toml");
    let cases: [(&str, &str); 3] = [
        (
            "dataset.graph={kind=\"full\", radius=5.0}",
            "graph.radius does nothing under kind = \"full\"",
        ),
        (
            "dataset.graph={kind=\"cutoff\", radius=5.0, k=12}",
            "graph.k does nothing under kind = \"cutoff\"",
        ),
        (
            "dataset.graph={kind=\"knn\", radius=4.0}",
            "graph.radius does nothing under kind = \"knn\"",
        ),
    ];
    for (set, said) in cases {
        let o = geobatch(d, &["validate", path(&qm9), "--set", set]);
        assert_refused(&o, &[said]);
    }
    // one fanout for a two-layer GCN: its outer layer would see no sampled neighbour
    let neighbor = repo().join("configs/nodes/cora-gcn-neighbor.toml");
    let o = geobatch(
        d,
        &["validate", path(&neighbor), "--set", "batcher.fanouts=[10]"],
    );
    assert_refused(
        &o,
        &["batcher.fanouts samples 1 hop(s) but model.layers = 2"],
    );
    let o = geobatch(d, &["validate", path(&neighbor)]);
    assert!(o.status.success(), "{}", text(&o));
    // a sweep axis of a table beside an axis of a key inside it
    let sweep = d.join("sweep.toml");
    let base =
        std::fs::read_to_string(repo().join("configs/smoke/qm9-fixture-schnet.toml")).unwrap();
    std::fs::write(
        &sweep,
        format!("{base}\n[sweep]\ntraining = [{{steps = 9}}]\n\"training.steps\" = [3, 4]\n"),
    )
    .unwrap();
    let o = geobatch(d, &["sweep", path(&sweep), "--dry-run"]);
    assert_refused(
        &o,
        &["`training` and `training.steps` both set training.steps"],
    );
    // tables that leave the inner key out combine as their labels say (the study's grids)
    std::fs::write(
        &sweep,
        format!(
            "{base}\n[sweep]\nbatcher = [{{kind = \"dynamic\"}}, {{kind = \"static\"}}]\n\
             \"batcher.batch_size\" = [8, 16]\n"
        ),
    )
    .unwrap();
    let o = geobatch(d, &["sweep", path(&sweep), "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let runs = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains("batcher.batch_size="))
        .count();
    assert_eq!(runs, 4, "{}", text(&o));
}

/// Item 4: an extended XYZ frame without `Properties=` whose atom lines carry an extra column
/// (`C 6 x y z`) is refused naming the line; it read positions from (6, x, y).
#[test]
fn an_extra_column_without_properties_is_refused_not_read_as_positions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let xyz = d.join("extra.xyz");
    let frame = "2\nenergy=-1.0\nC 6 0.0 0.0 0.0\nO 8 0.0 0.0 1.2\n";
    std::fs::write(&xyz, frame.repeat(10)).unwrap();
    let sets = ["dataset.targets=[\"energy\"]", "dataset.units=[]"];
    let o = extxyz_batches(d, path(&xyz), &sets);
    assert_refused(
        &o,
        &[
            "extra.xyz",
            "line 3",
            "5 fields, but the comment line has no Properties=",
        ],
    );
}

/// The extended XYZ example on periodic frames, with `dataset.graph` set as given.
fn periodic_batches(d: &Path, graph: &str, extra: &[&str]) -> std::process::Output {
    let line = format!(
        "dataset={{kind=\"extxyz\", path={:?}, targets=[\"energy\"], graph={graph}}}",
        path(&fixture("flashmd.xyz"))
    );
    let config = example("extxyz-schnet-dynamic.toml");
    let args = [
        "batches",
        path(&config),
        "--steps",
        "2",
        "--set",
        &line,
        "--set",
        "batcher.batch_size=4",
        "--set",
        "sinks=[]",
    ];
    geobatch(d, &[&args[..], extra].concat())
}

/// Item 5: periodic structures under `full` (no periodic images: a 1-atom cell has no edge) are
/// refused naming the structure; the extended XYZ example's own rule (a cutoff) takes them. A
/// per-atom array named as a target is refused saying so (it was "skipped: N without forces");
/// forces alone are a potential's labels without its energy, refused naming what is missing;
/// and a split of counts that leaves structures out says how many.
#[test]
fn data_that_would_mislead_a_materials_user_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = periodic_batches(d, "{kind=\"full\"}", &[]);
    assert_refused(
        &o,
        &[
            "flashmd.xyz:0",
            "periodic (pbc = \"T T T\")",
            "kind = \"cutoff\"",
        ],
    );
    let o = periodic_batches(d, "{kind=\"cutoff\", radius=5.0}", &[]);
    assert!(o.status.success(), "{}", text(&o));
    // the example as shipped: a cutoff, right for molecules and crystals alike
    let shipped = std::fs::read_to_string(example("extxyz-schnet-dynamic.toml")).unwrap();
    assert!(shipped.contains("graph = { kind = \"cutoff\", radius = 5.0 }"));
    // a per-atom array is no target, in a frame and in a database; forces are a potential's
    // labels, trained with the total energy they are the gradient of
    let o = periodic_batches(
        d,
        "{kind=\"cutoff\", radius=5.0}",
        &["--set", "dataset.targets=[\"energies\"]"],
    );
    assert_refused(&o, &["target energies is a per-atom column of the frame"]);
    let o = periodic_batches(
        d,
        "{kind=\"cutoff\", radius=5.0}",
        &["--set", "dataset.targets=[\"forces\"]"],
    );
    assert_refused(&o, &["with forces, name one more target, the total energy"]);
    let db = repo().join("plugins/dataset-asedb/tests/fixtures/structures.db");
    let asedb = example("asedb-schnet-dynamic.toml");
    let o = geobatch(
        d,
        &[
            "validate",
            path(&asedb),
            "--set",
            "dataset.targets=[\"momenta\"]",
            "--set",
            "dataset.per_atom=[]",
            "--set",
            "dataset.units=[]",
        ],
    );
    assert_refused(
        &o,
        &["dataset.targets: momenta is an array in ASE databases"],
    );
    // counts that leave structures out say so; the example's fractions use them all
    let batches = |split: &[&str]| {
        let args = [
            "batches",
            path(&asedb),
            "--steps",
            "2",
            "--set",
            &format!("dataset.path={:?}", path(&db)),
            "--set",
            "sinks=[]",
            "--set",
            "experiment.data_dir=\"data\"",
        ];
        let o = geobatch(d, &[&args[..], split].concat());
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let out = batches(&["--set", "dataset.split={train=4, validation=1, test=1}"]);
    assert!(
        out.contains("warning: dataset.split uses 6 of the 10 structures")
            && out.contains("4 are left out"),
        "{out}"
    );
    assert!(!batches(&[]).contains("left out"));
}

/// Item 6: compressed extended XYZ files read as ASE reads them (.bz2, .xz); a Zstandard file
/// is refused naming the format (they were read as raw bytes).
#[test]
fn compressed_files_are_read_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text_of = std::fs::read(fixture("qm9_reduced_100.xyz")).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&text_of).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&text_of).unwrap();
    let files = [
        ("qm9.xyz.bz2", bz.finish().unwrap()),
        ("qm9.xyz.xz", xz.finish().unwrap()),
        ("qm9.xyz.zst", vec![0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00]),
    ];
    for (name, bytes) in &files {
        std::fs::write(d.join(name), bytes).unwrap();
        let o = extxyz_batches(d, name, &[]);
        if name.ends_with(".zst") {
            assert_refused(&o, &[name, "compressed with Zstandard (zstd)", "zstd -d"]);
        } else {
            assert!(o.status.success(), "{name}: {}", text(&o));
            assert!(text(&o).contains("100 structures read"), "{}", text(&o));
        }
    }
}

/// Runs the smoke SchNet config for 3 steps in `d` with `sets`.
fn smoke_run(d: &Path, sets: &[&str]) {
    let config = repo().join("configs/smoke/qm9-fixture-schnet.toml");
    let args = ["run", path(&config), "--steps", "3"];
    let o = geobatch(d, &[&args[..], sets].concat());
    assert!(o.status.success(), "{}", text(&o));
}

/// Item 6: `report` on a folder with no run, or on runs of two experiments in one cell, is the
/// input's fault (exit 2, as for a folder that does not exist; both were exit 1); `--out /` is
/// refused by its first entry, without walking the file system.
#[test]
fn report_on_an_empty_or_mixed_folder_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("empty")).unwrap();
    let o = geobatch(d, &["report", "empty"]);
    assert_refused(&o, &["empty: no runs"]);
    smoke_run(d, &[]);
    let started = std::time::Instant::now();
    let o = geobatch(d, &["report", "results", "--out", "/"]);
    assert_refused(&o, &["/: it holds files", "not a geobatch report"]);
    assert!(started.elapsed().as_secs() < 10);
    smoke_run(d, &["--set", "training.optimizer.learning_rate=0.002"]);
    let o = geobatch(d, &["report", "results"]);
    assert_refused(&o, &["with seed 42", "report each experiment on its own"]);
}

/// Item 6: a run whose Parquet files another tool rewrote with Zstandard (polars' and pyarrow's
/// default) is read: "Disabled feature at compile time: zstd" left it out.
#[test]
fn results_written_with_zstd_are_read() {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    smoke_run(d, &[]);
    let tables: Vec<PathBuf> = walk(&d.join("results"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert!(tables.len() >= 2, "{tables:?}");
    for t in &tables {
        let file = std::fs::File::open(t).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let schema = builder.schema().clone();
        let batches: Vec<_> = builder.build().unwrap().map(Result::unwrap).collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, schema, Some(props)).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.close().unwrap();
        std::fs::write(t, out).unwrap();
    }
    let o = geobatch(d, &["report", "results"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("1 runs read, 1 complete and reported"),
        "{}",
        text(&o)
    );
}
