//! The hostile battery of issue 33 (part of it; the others are `hostile_*.rs`, `trust.rs`):
//! damaged data files of every dataset plugin, damaged result folders, and a sweep with a bad
//! run, each driven through the binary as a user would. Every case must end with its documented
//! exit code and a message that names what is wrong: no panic, no silent wrong result, no hang.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::io::Write as _;
use std::path::{Path, PathBuf};

mod common;
use common::{geobatch, run_dirs, text};

/// A damaged file: its name in the test folder and its bytes.
struct Damage {
    what: &'static str,
    bytes: Vec<u8>,
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Ways to damage any data file: each must be refused naming the file.
fn damages(valid_start: &[u8]) -> Vec<Damage> {
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(b"garbage\n");
    vec![
        Damage {
            what: "empty",
            bytes: Vec::new(),
        },
        Damage {
            what: "text",
            bytes: b"this is not a data file\n1,2,3\n".to_vec(),
        },
        Damage {
            what: "binary",
            bytes: (0..=255u8).cycle().take(4096).collect(),
        },
        Damage {
            what: "bom",
            bytes: bom,
        },
        Damage {
            what: "truncated",
            bytes: valid_start.to_vec(),
        },
    ]
}

/// Runs `geobatch batches` on `config` (with the dataset table `dataset`) and expects exit 2
/// with `file` named and no panic.
fn refused(dir: &Path, case: &str, dataset: &str, node: bool, file: &Path) {
    let batcher = if node {
        "[batcher]\nkind = \"full\"\n[batches]\nepochs = 1\n"
    } else {
        "[batcher]\nkind = \"dynamic\"\nbatch_size = 4\n"
    };
    let cfg = dir.join(format!("{case}.toml"));
    std::fs::write(
        &cfg,
        format!("[experiment]\nname = \"hostile\"\n[dataset]\n{dataset}\n{batcher}"),
    )
    .unwrap();
    let mut args = vec!["batches", cfg.to_str().unwrap()];
    if !node {
        args.extend(["--steps", "3"]);
    }
    let o = geobatch(dir, &args);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{case}: {out}");
    assert!(!out.contains("panicked"), "{case} panicked: {out}");
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        out.contains(&*name),
        "{case}: the message names {name}: {out}"
    );
}

/// Every dataset plugin that reads a file refuses a missing, empty, foreign, binary, BOM-led or
/// truncated file with exit code 2, naming the file (25 cases, plus a missing file each).
#[test]
fn damaged_data_files_of_every_plugin_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = missing_and_damaged_files_are_refused(d, &file_plugins());
    let cases = cases + damaged_ogb_files_are_refused(d);
    assert_eq!(cases, 4 * 6 + 3);
}

/// A plugin reading one file: name, file name, table given the path, node-level, valid first bytes.
type Plugin = (
    &'static str,
    &'static str,
    fn(&Path) -> String,
    bool,
    Vec<u8>,
);

/// The four plugins that read one file, each with a valid file's first half as its truncation.
fn file_plugins() -> Vec<Plugin> {
    let fixtures = common::repo().join("data/fixtures");
    let qm9_fixture = std::fs::read(fixtures.join("qm9-1000.parquet")).unwrap();
    let half = |name: &str| {
        let b = std::fs::read(fixtures.join(name)).unwrap();
        b[..b.len() / 2].to_vec()
    };
    let (aflow_line, cif_start) = (half("aflow-sample.jsonl"), half("cif-sample.csv"));
    let npz_start = b"PK\x03\x04\x14\x00\x00\x00".to_vec();
    vec![
        (
            "qm9",
            "store.parquet",
            |p| format!("kind = \"qm9\"\nsource = {:?}", p.to_str().unwrap()),
            false,
            qm9_fixture[..qm9_fixture.len() / 2].to_vec(),
        ),
        (
            "aflow",
            "aflow.jsonl",
            |p| {
                format!(
                    "kind = \"aflow\"\npath = {:?}\ntargets = [\"Egap\"]",
                    p.to_str().unwrap()
                )
            },
            false,
            aflow_line,
        ),
        (
            "cif",
            "table.csv",
            |p| {
                format!(
                    "kind = \"cif\"\npath = {:?}\ntargets = [\"band_gap\"]",
                    p.to_str().unwrap()
                )
            },
            false,
            cif_start,
        ),
        (
            "npz",
            "graph.npz",
            |p| format!("kind = \"npz\"\npath = {:?}", p.to_str().unwrap()),
            true,
            npz_start,
        ),
    ]
}

/// Each plugin refuses a missing file and every damage of its file, naming it; counts the cases.
fn missing_and_damaged_files_are_refused(d: &Path, plugins: &[Plugin]) -> usize {
    let mut cases = 0;
    for (plugin, file, table, node, start) in plugins {
        let missing = d.join(format!("missing-{file}"));
        refused(
            d,
            &format!("{plugin}-missing"),
            &table(&missing),
            *node,
            &missing,
        );
        cases += 1;
        for damage in damages(start) {
            let folder = d.join(format!("{plugin}-{}", damage.what));
            std::fs::create_dir_all(&folder).unwrap();
            let path = folder.join(file);
            std::fs::write(&path, &damage.bytes).unwrap();
            refused(
                d,
                &format!("{plugin}-{}", damage.what),
                &table(&path),
                *node,
                &path,
            );
            cases += 1;
        }
    }
    cases
}

/// An OGB folder with one raw file damaged at a time is refused naming it; counts the cases.
fn damaged_ogb_files_are_refused(d: &Path) -> usize {
    let mut cases = 0;
    for (i, damaged) in [
        "raw/edge.csv.gz",
        "raw/node-feat.csv.gz",
        "raw/node-label.csv.gz",
    ]
    .iter()
    .enumerate()
    {
        let root = d.join(format!("ogb-{i}"));
        write_ogb_folder(&root, damaged);
        let table = format!("kind = \"ogb\"\npath = {:?}", root.to_str().unwrap());
        refused(d, &format!("ogb-{i}"), &table, true, &root.join(damaged));
        cases += 1;
    }
    cases
}

/// Writes a three-node OGB folder at `root` whose file `damaged` holds words, not numbers.
fn write_ogb_folder(root: &Path, damaged: &str) {
    std::fs::create_dir_all(root.join("raw")).unwrap();
    std::fs::create_dir_all(root.join("split/time")).unwrap();
    let good: [(&str, &[u8]); 6] = [
        ("raw/edge.csv.gz", b"0,1\n1,2\n2,0\n"),
        ("raw/node-feat.csv.gz", b"0.1,0.2\n0.3,0.4\n0.5,0.6\n"),
        ("raw/node-label.csv.gz", b"0\n1\n0\n"),
        ("split/time/train.csv.gz", b"0\n"),
        ("split/time/valid.csv.gz", b"1\n"),
        ("split/time/test.csv.gz", b"2\n"),
    ];
    for (name, body) in good {
        let bytes = if name == damaged {
            gzip(b"zero,one\nnot numbers at all\n")
        } else {
            gzip(body)
        };
        std::fs::write(root.join(name), bytes).unwrap();
    }
}

/// A cell of three complete runs; returns the results folder and the run folders.
fn three_runs(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    std::fs::write(
        dir.join("sweep.toml"),
        "[experiment]\nname = \"cell\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 60\n\
         [model]\nkind = \"schnet\"\nlatent = 8\nrbf = 10\n[batcher]\nkind = \"dynamic\"\nbatch_size = 4\n\
         [training]\nsteps = 24\neval_every = 8\n[[sinks]]\nkind = \"parquet\"\nrows_per_part = 5\n\
         [sweep]\nseeds = [1, 2, 3]\n",
    )
    .unwrap();
    let o = geobatch(dir, &["sweep", "sweep.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    let results = dir.join("results");
    let runs = run_dirs(&results);
    assert_eq!(runs.len(), 3);
    (results, runs)
}

/// Copies a folder (one level of files).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Each way of damaging one run of a complete cell: the report leaves that run out, names it and
/// why, exits 3, and the cell counts the two runs it used (12 cases).
#[test]
fn damaged_result_folders_are_left_out_by_name() {
    let template = tempfile::tempdir().unwrap();
    let (_, runs) = three_runs(template.path());
    let other = runs[1].clone();
    let mut harms = step_and_eval_file_harms();
    harms.extend(manifest_and_content_harms(other));
    for harm in &harms {
        report_leaves_out(template.path(), &runs, harm);
    }
    assert_eq!(harms.len(), 12);
}

/// A way to damage a run: what it is, what the report must say, and the damage done to a folder.
type Harm = (&'static str, &'static str, Box<dyn Fn(&Path)>);

/// Step and eval files removed, copied or swapped.
fn step_and_eval_file_harms() -> Vec<Harm> {
    let part = |i: u32| format!("steps-{i:05}.parquet");
    vec![
        (
            "no evals",
            "evals.parquet holds 0 rows",
            Box::new(|r: &Path| std::fs::remove_file(r.join("evals.parquet")).unwrap()),
        ),
        (
            "no first part",
            "steps-00000.parquet is missing",
            Box::new(move |r: &Path| std::fs::remove_file(r.join(part(0))).unwrap()),
        ),
        (
            "no last part",
            "steps-00004.parquet is missing",
            Box::new(|r: &Path| std::fs::remove_file(r.join("steps-00004.parquet")).unwrap()),
        ),
        (
            "a copied part",
            "steps-00007.parquet is not one of the run's files",
            Box::new(|r: &Path| {
                std::fs::copy(r.join("steps-00001.parquet"), r.join("steps-00007.parquet"))
                    .unwrap();
            }),
        ),
        (
            "two parts swapped",
            "steps-00000.parquet holds 5 rows, steps 5..=9",
            Box::new(|r: &Path| {
                std::fs::rename(r.join("steps-00000.parquet"), r.join("x")).unwrap();
                std::fs::rename(r.join("steps-00001.parquet"), r.join("steps-00000.parquet"))
                    .unwrap();
                std::fs::rename(r.join("x"), r.join("steps-00001.parquet")).unwrap();
            }),
        ),
    ]
}

/// Manifests missing, garbled, binary, copied from run `other` or edited; a truncated part.
fn manifest_and_content_harms(other: PathBuf) -> Vec<Harm> {
    vec![
        (
            "no manifest",
            "no manifest.json",
            Box::new(|r: &Path| std::fs::remove_file(r.join("manifest.json")).unwrap()),
        ),
        (
            "a garbage manifest",
            "not a geobatch manifest",
            Box::new(|r: &Path| {
                std::fs::write(r.join("manifest.json"), "{ \"version\": 1, ").unwrap()
            }),
        ),
        (
            "a binary manifest",
            "not a geobatch manifest",
            Box::new(|r: &Path| {
                std::fs::write(r.join("manifest.json"), [0u8, 159, 146, 150]).unwrap()
            }),
        ),
        (
            "another run's manifest",
            "disagrees with run.parquet",
            Box::new(move |r: &Path| {
                std::fs::copy(other.join("manifest.json"), r.join("manifest.json")).unwrap();
            }),
        ),
        (
            "another run's evals",
            "evals.parquet",
            Box::new(|r: &Path| {
                // a run's evaluations with one row fewer: written by hand from its own rows
                let text = std::fs::read_to_string(r.join("manifest.json")).unwrap();
                std::fs::write(
                    r.join("manifest.json"),
                    text.replace("\"eval_rows\": 6", "\"eval_rows\": 7"),
                )
                .unwrap();
            }),
        ),
        (
            "a truncated part",
            "steps-00002.parquet",
            Box::new(|r: &Path| {
                let p = r.join("steps-00002.parquet");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() / 3]).unwrap();
            }),
        ),
        (
            "a step count edited",
            "records",
            Box::new(|r: &Path| {
                let text = std::fs::read_to_string(r.join("manifest.json")).unwrap();
                std::fs::write(
                    r.join("manifest.json"),
                    text.replace("\"steps\": 24", "\"steps\": 25"),
                )
                .unwrap();
            }),
        ),
    ]
}

/// With the first run harmed, the report exits 3, names it and why, and the cell uses two runs.
fn report_leaves_out(template: &Path, runs: &[PathBuf], harm: &Harm) {
    let name = runs[0].file_name().unwrap().to_string_lossy().into_owned();
    let (what, why, harm) = harm;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    for r in runs {
        let rel = r.strip_prefix(template.join("results")).unwrap();
        copy_dir(r, &results.join(rel));
    }
    let victim = run_dirs(&results)
        .into_iter()
        .find(|r| r.ends_with(&name))
        .unwrap();
    harm(&victim);
    let o = geobatch(dir.path(), &["report", "results", "--out", "report"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{what}: {out}");
    assert!(!out.contains("panicked"), "{what}: {out}");
    assert!(
        out.contains(&name) && out.contains(why),
        "{what}: wants {why:?}: {out}"
    );
    let seeds = common::summary_value(&dir.path().join("report"), "seeds");
    assert_eq!(seeds, "2", "{what}: the cell used two runs");
}

/// A sweep whose second run diverges goes on with the third, lists the failed run and exits 1;
/// running it again retries only the failed run (2 cases).
#[test]
fn a_sweep_survives_one_bad_run_and_retries_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sweep.toml"),
        "[experiment]\nname = \"bad\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 60\n\
         [model]\nkind = \"schnet\"\nlatent = 8\nrbf = 10\n[batcher]\nkind = \"dynamic\"\nbatch_size = 4\n\
         [training]\nsteps = 40\neval_every = 0\n[[sinks]]\nkind = \"parquet\"\n\
         [sweep]\n\"training.optimizer.learning_rate\" = [0.001, 1e30, 0.002]\n",
    )
    .unwrap();
    let o = geobatch(dir.path(), &["sweep", "sweep.toml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("1 run(s) failed"), "{out}");
    assert!(
        out.contains("[2/3]") && out.contains("training diverged"),
        "{out}"
    );
    let o = geobatch(dir.path(), &["sweep", "sweep.toml", "--status"]);
    let status = text(&o);
    assert!(
        status.contains("2 complete") && status.contains("1 failed"),
        "{status}"
    );
    // again: the complete runs are skipped, the failed one runs again (and fails again)
    let o = geobatch(dir.path(), &["sweep", "sweep.toml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("0 resumed, 2 already complete"), "{out}");
}

/// A node-level run whose epochs are one batch (full-graph training) prints real epoch and step
/// times in its summary, not NaN.
#[test]
fn one_batch_epochs_print_real_times() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("full.toml"),
        "[experiment]\nname = \"full\"\n[dataset]\nkind = \"sbm\"\nnodes = 500\nclasses = 4\ncommunities = 8\n\
         [model]\nkind = \"gcn\"\nhidden = 8\nlayers = 2\n[batcher]\nkind = \"full\"\n\
         [training]\nepochs = 6\neval_every = 0\n",
    )
    .unwrap();
    let o = geobatch(dir.path(), &["run", "full.toml"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("ms per epoch"))
        .unwrap_or_else(|| panic!("no time line: {out}"));
    assert!(!line.contains("NaN"), "{line}");
    let ms: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(ms > 0.0, "{line}");
}

/// An import that would replace a store with other content refuses (exit 2, the store's bytes
/// unchanged) and says how to go on; the same import again leaves it as it is; `--force`
/// replaces it; `data fetch qm9` refuses a QM9 store that is not the full one.
#[test]
fn stores_are_not_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixture = common::repo().join("data/fixtures/aflow-sample.jsonl");
    let fixture = fixture.to_str().unwrap();
    let store = d.join("data/aflow/aflow.jsonl");
    let o = geobatch(d, &["data", "import", "aflow", fixture]);
    assert!(o.status.success(), "{}", text(&o));
    let full = std::fs::read(&store).unwrap();
    let o = geobatch(d, &["data", "import", "aflow", fixture]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("already holds this import"),
        "{}",
        text(&o)
    );
    let o = geobatch(d, &["data", "import", "aflow", fixture, "--limit", "2"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("--force") && out.contains("--out FILE"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&store).unwrap(),
        full,
        "the store is unchanged"
    );
    let small = d.join("small.jsonl");
    let o = geobatch(
        d,
        &[
            "data",
            "import",
            "aflow",
            fixture,
            "--limit",
            "2",
            "--out",
            small.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&small).unwrap().lines().count(), 2);
    let o = geobatch(
        d,
        &[
            "data", "import", "aflow", fixture, "--limit", "2", "--force",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&store).unwrap().lines().count(), 2);
    // nothing is left beside the store
    let names: Vec<String> = std::fs::read_dir(d.join("data/aflow"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["aflow.jsonl".to_string()]);

    // a QM9 store of 1,000 molecules where the full one belongs: fetch refuses, offline
    let qm9 = d.join("data/qm9/qm9.parquet");
    std::fs::create_dir_all(qm9.parent().unwrap()).unwrap();
    std::fs::copy(common::repo().join("data/fixtures/qm9-1000.parquet"), &qm9).unwrap();
    let o = geobatch(d, &["data", "fetch", "qm9"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("holds 1000 molecules, not the 130831") && out.contains("--force"),
        "{out}"
    );
}

/// A split file whose test graphs are also trained on, that lists a graph twice, or whose sizes
/// disagree with the config's `split`, is refused (exit 2, the file named): never leaked test
/// metrics, never a config.toml that records fractions the run did not use (3 cases).
#[test]
fn split_files_that_leak_repeat_or_disagree_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("split.json");
    let config = |split: &str| {
        format!(
            "[experiment]\nname = \"split\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
             split_file = {:?}\n{split}[batcher]\nkind = \"dynamic\"\nbatch_size = 8\n",
            file.to_str().unwrap()
        )
    };
    std::fs::write(d.join("make.toml"), config("")).unwrap();
    let o = geobatch(d, &["batches", "make.toml", "--steps", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let made: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let ids = |k: &str| made[k].as_array().unwrap().clone();
    let (train, test) = (ids("train"), ids("test"));
    let with = |train: Vec<serde_json::Value>| {
        let mut v = made.clone();
        v["train"] = serde_json::Value::Array(train);
        std::fs::write(&file, v.to_string()).unwrap();
    };
    let leaked = [train[1..].to_vec(), vec![test[0].clone()]].concat();
    let twice = [train[1..].to_vec(), vec![train[2].clone()]].concat();
    for (case, train, want) in [
        ("leak", leaked, "is in both the train and the test split"),
        ("twice", twice, "is listed twice in the train split"),
    ] {
        with(train);
        let o = geobatch(d, &["batches", "make.toml", "--steps", "2"]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{case}: {out}");
        assert!(
            out.contains("split.json") && out.contains(want),
            "{case}: {out}"
        );
    }
    with(train);
    std::fs::write(
        d.join("other.toml"),
        config("split = { train = 0.5, validation = 0.25, test = 0.25 }\n"),
    )
    .unwrap();
    let o = geobatch(d, &["batches", "other.toml", "--steps", "2"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("holds 800 / 100 / 100 graphs") && out.contains("asks for 500 / 250 / 250"),
        "{out}"
    );
}
