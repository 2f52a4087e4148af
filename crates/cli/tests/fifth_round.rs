//! Issue 79, the fifth round of hostile inputs, driven through the binary as a user would:
//! outputs that would destroy (a device, a FIFO, a link, an input given as the output), a model
//! edited by hand, one rule in every reader (mlearn's import codes and copies, stress weights
//! that weigh nothing), and bounds (`--steps` past what a config holds, a million-seed sweep,
//! a results folder linked to itself).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::potential::{aluminium, predict, train_on_aluminium};
use common::{assert_refused, geobatch, repo, text};

/// A device node made with `mknod` in a temporary folder (never the machine's own `/dev`
/// files); `None` where this process may not make one (not root).
fn device(dir: &Path, name: &str, major: u32, minor: u32) -> Option<PathBuf> {
    let p = dir.join(name);
    let made = std::process::Command::new("mknod")
        .arg(&p)
        .args(["c", &major.to_string(), &minor.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
    made.is_ok_and(|s| s.success()).then_some(p)
}

/// A FIFO made with `mkfifo`; `None` where that fails.
fn fifo(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    let made = std::process::Command::new("mkfifo").arg(&p).status();
    made.is_ok_and(|s| s.success()).then_some(p)
}

#[cfg(unix)]
fn is_char_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_char_device())
}

/// A trained potential and an extended XYZ file of labelled structures (energy and forces) to
/// predict: (the run folder, the file, its text).
fn potential_and_labels(d: &Path) -> (PathBuf, PathBuf, String) {
    let run = train_on_aluminium(d);
    let lab = d.join("lab.xyz");
    let labels = aluminium(|a, x| 0.01 * ((a + x) % 5) as f64)
        .replace("pos:R:3", "pos:R:3:forces:R:3 energy=-12.5")
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i < 2 {
                l.to_string()
            } else {
                format!("{l} 0.1 0.0 -0.1")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&lab, &labels).unwrap();
    (run, lab, labels)
}

/// Class 1: what `predict` reads is never its output (it replaced the DFT labels of
/// `--data lab.xyz --out lab.xyz` without a word), with `--force` too and under any name; two
/// outputs naming one file and a directory are refused.
#[cfg(unix)]
#[test]
fn predict_never_writes_over_what_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (run, lab, labels) = potential_and_labels(d);
    std::os::unix::fs::symlink(&lab, d.join("link.xyz")).unwrap();
    for (out, extra) in [
        (lab.clone(), &[][..]),
        (lab.clone(), &["--force"][..]),
        (d.join("link.xyz"), &["--force"][..]),
    ] {
        assert_refused(
            &predict(d, &run, &lab, &out, extra),
            &["is the file this command reads as --data", "lab.xyz"],
        );
    }
    assert_eq!(
        std::fs::read_to_string(&lab).unwrap(),
        labels,
        "the labels are kept"
    );
    // a file of the run folder (the model itself) as --parquet
    let model = run.join("model/potential.json");
    let saved = std::fs::read(&model).unwrap();
    assert_refused(
        &predict(
            d,
            &run,
            &lab,
            &d.join("p.xyz"),
            &["--parquet", model.to_str().unwrap(), "--force"],
        ),
        &["--parquet", "a file of --run"],
    );
    assert_eq!(std::fs::read(&model).unwrap(), saved);
    let one = d.join("one.out");
    assert_refused(
        &predict(d, &run, &lab, &one, &["--parquet", one.to_str().unwrap()]),
        &["--out and --parquet name one file"],
    );
    assert_refused(&predict(d, &run, &lab, d, &[]), &["a directory"]);
}

/// Class 1: a file already there is replaced only with `--force`; a link's target is written
/// and the link kept; a FIFO and character devices are written in place, never renamed over
/// (`--out /dev/full` exited 0 and left a regular file where the device was).
#[cfg(unix)]
#[test]
fn predict_replaces_only_when_told_and_writes_fifos_and_devices_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (run, lab, _) = potential_and_labels(d);
    let out = d.join("predicted.xyz");
    let o = predict(d, &run, &lab, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let first = std::fs::read_to_string(&out).unwrap();
    assert!(first.contains("energy="), "{first}");
    assert_refused(
        &predict(d, &run, &lab, &out, &[]),
        &["already exists", "--force"],
    );
    let o = predict(d, &run, &lab, &out, &["--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("replacing a file of"), "{}", text(&o));
    // a link to a file elsewhere: the file is written, the link stays a link
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    let target = d.join("elsewhere/p.xyz");
    std::fs::write(&target, "old").unwrap();
    std::os::unix::fs::symlink(&target, d.join("to-elsewhere.xyz")).unwrap();
    let o = predict(d, &run, &lab, &d.join("to-elsewhere.xyz"), &["--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        std::fs::symlink_metadata(d.join("to-elsewhere.xyz"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), first);
    if let Some(pipe) = fifo(d, "predictions.fifo") {
        let reader = {
            let pipe = pipe.clone();
            std::thread::spawn(move || std::fs::read_to_string(pipe).unwrap())
        };
        let o = predict(d, &run, &lab, &pipe, &[]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(reader.join().unwrap(), first);
        assert!(text(&o).contains("a FIFO"), "{}", text(&o));
    }
    // /dev/full's twin and /dev/null's, made here: the write's own error (exit 1, "No space
    // left"), and the device still a device; --parquet alike
    if let (Some(full), Some(null)) = (device(d, "full", 1, 7), device(d, "null", 1, 3)) {
        let o = predict(d, &run, &lab, &full, &[]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("No space left on device"), "{}", text(&o));
        let o = predict(
            d,
            &run,
            &lab,
            &d.join("q.xyz"),
            &["--parquet", full.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let o = predict(d, &run, &lab, &null, &[]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(is_char_device(&full) && is_char_device(&null));
    }
}

/// Class 2: a model edited by hand is checked against what training wrote: its digest in the
/// run's record, then (a run without one) the rules training enforces. A `potential.json` with
/// `setup.scale = 1e300` predicted energies of 1e76; its rule made knn, other energies.
#[test]
fn a_model_edited_by_hand_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (run, lab, _) = potential_and_labels(d);
    let first = d.join("first.xyz");
    let o = predict(d, &run, &lab, &first, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let model = run.join("model/potential.json");
    let saved = std::fs::read_to_string(&model).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&saved).unwrap();
    v["setup"]["scale"] = serde_json::json!(1e300);
    std::fs::write(&model, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let again = d.join("again.xyz");
    assert_refused(
        &predict(d, &run, &lab, &again, &[]),
        &[
            "model/potential.json is not the file the run saved",
            "train it again",
        ],
    );
    // the record's digest removed too (a run of an earlier geobatch has none): the values are
    // checked against what training makes
    let status = run.join("status.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status).unwrap()).unwrap();
    assert!(
        record["model"].is_object(),
        "a complete potential's run records its model: {record}"
    );
    record.as_object_mut().unwrap().remove("model");
    std::fs::write(&status, record.to_string()).unwrap();
    assert_refused(
        &predict(d, &run, &lab, &again, &[]),
        &["scale = 1e300", "potential.json"],
    );
    // the neighbour rule edited to knn, which training refuses for a potential
    let mut v: serde_json::Value = serde_json::from_str(&saved).unwrap();
    v["rule"] = serde_json::json!({"kind": "knn", "k": 12});
    std::fs::write(&model, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    assert_refused(&predict(d, &run, &lab, &again, &[]), &["knn", "smooth"]);
    // the run's own files back: it predicts what it predicted
    std::fs::write(&model, &saved).unwrap();
    let o = predict(d, &run, &lab, &again, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&first).unwrap()
    );
}

/// `data import mlearn SOURCE --out OUT` run in `d`, with `extra` arguments.
fn import(d: &Path, source: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let (source, out) = (source.to_str().unwrap(), out.to_str().unwrap());
    let args = ["data", "import", "mlearn", source, "--out", out];
    geobatch(d, &[&args[..], extra].concat())
}

/// Class 1 for `data import`, `bench --csv` and `batches --plans`: a device given as `--out` is
/// named as one (it was "a store with other content") and stays a device; the import's own
/// source, the config a command reads, are refused as outputs with `--force` too.
#[cfg(unix)]
#[test]
fn imports_benches_and_studies_never_write_over_what_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = mlearn_folder(d, &|_, _| {});
    if let Some(null) = device(d, "null", 1, 3) {
        let o = import(d, &source, &null, &["--force"]);
        assert_refused(&o, &["a character device", "not a regular file"]);
        assert!(!text(&o).contains("other content"), "{}", text(&o));
        assert!(is_char_device(&null));
    }
    let id_prop = source.join("Si/id_prop.json");
    let before = std::fs::read(&id_prop).unwrap();
    let o = import(d, &source, &id_prop, &["--force"]);
    assert_refused(&o, &["the import's source"]);
    assert_eq!(std::fs::read(&id_prop).unwrap(), before);
    // bench --csv naming the config it reads: refused before the benchmark runs
    let cfg = repo().join("configs/examples/qm9-schnet-dynamic.toml");
    let copy = d.join("bench.toml");
    std::fs::copy(&cfg, &copy).unwrap();
    let o = geobatch(
        d,
        &[
            "bench",
            "step",
            copy.to_str().unwrap(),
            "--csv",
            copy.to_str().unwrap(),
        ],
    );
    assert_refused(&o, &["--csv", "the config"]);
    // batches --plans naming its config (File::create emptied it), or a file already there
    let o = geobatch(
        d,
        &[
            "batches",
            copy.to_str().unwrap(),
            "--plans",
            copy.to_str().unwrap(),
        ],
    );
    assert_refused(&o, &["--plans", "the config"]);
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&cfg).unwrap());
    let plans = d.join("plans.csv");
    std::fs::write(&plans, "kept").unwrap();
    let o = geobatch(
        d,
        &[
            "batches",
            copy.to_str().unwrap(),
            "--plans",
            plans.to_str().unwrap(),
        ],
    );
    assert_refused(&o, &["--plans", "already exists", "--force"]);
    assert_eq!(std::fs::read_to_string(&plans).unwrap(), "kept");
}

/// A change to one element's structures before its `id_prop.json` is written.
type Edit = dyn Fn(&str, &mut Vec<serde_json::Value>);

/// One mlearn structure of `atoms` silicon atoms as alignn's `id_prop.json` lists it.
fn mlearn_entry(jid: usize, atoms: usize, shift: f64) -> serde_json::Value {
    let coords: Vec<[f64; 3]> = (0..atoms)
        .map(|a| [0.25 * a as f64 + shift, 0.1 * a as f64, 0.5])
        .collect();
    serde_json::json!({
        "jid": jid.to_string(),
        "atoms": {
            "lattice_mat": [[5.43, 0.0, 0.0], [0.0, 5.43, 0.0], [0.0, 0.0, 5.43]],
            "coords": coords,
            "elements": vec!["Si"; atoms],
            "cartesian": false,
        },
        "total_energy": -5.4 - shift,
        "forces": vec![[0.1, -0.2, 0.05]; atoms],
        "stresses": [1.0 + shift, 2.0, 3.0, 0.1, 0.2, 0.3],
    })
}

/// An unpacked `mlearn_data` folder of the six elements, four structures each (2 train, 1
/// validation, 1 test), every element's the same; `edit(element, entries)` changes one first.
fn mlearn_folder(dir: &Path, edit: &Edit) -> PathBuf {
    let root = dir.join("mlearn_data");
    for element in ["Cu", "Ge", "Li", "Mo", "Ni", "Si"] {
        let folder = root.join(element);
        std::fs::create_dir_all(&folder).unwrap();
        let mut entries: Vec<serde_json::Value> = (0..4)
            .map(|i| mlearn_entry(i, 2 + i, 0.01 * i as f64))
            .collect();
        edit(element, &mut entries);
        std::fs::write(
            folder.join("id_prop.json"),
            serde_json::to_string(&entries).unwrap(),
        )
        .unwrap();
        let config =
            serde_json::json!({"n_train": 2, "n_val": 1, "n_test": 1, "keep_data_order": true});
        std::fs::write(folder.join("config.json"), config.to_string()).unwrap();
    }
    root
}

/// Class 3 for mlearn's structures: every damaged one is bad input (exit 2, named), as the
/// other importers' are; a NaN force is named as one (it was "not mlearn's id_prop.json"); a
/// training structure copied into the test part is left out and said (it was kept).
#[test]
fn mlearn_imports_name_every_damaged_structure_and_keep_no_test_copy_of_a_training_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let leaky = mlearn_folder(d, &|e, entries| {
        if e == "Si" {
            entries[3] = entries[0].clone();
        }
    });
    let o = import(d, &leaky, &d.join("leak.parquet"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("imported 23 structures")
            && text(&o).contains("1 validation/test structures are copies of training structures"),
        "{}",
        text(&o)
    );
    let cases: Vec<(Box<Edit>, Vec<&str>)> = vec![
        (
            Box::new(|e, v| {
                if e == "Ge" {
                    v[1]["forces"] = serde_json::json!([[0.0, 0.0, 0.0]]);
                }
            }),
            vec!["Ge/id_prop.json", "structure 1", "force rows"],
        ),
        (
            Box::new(|e, v| {
                if e == "Li" {
                    v[2] = mlearn_entry(2, 0, 0.0);
                }
            }),
            vec!["Li/id_prop.json", "structure 2", "0 elements"],
        ),
    ];
    for (i, (edit, says)) in cases.iter().enumerate() {
        let sub = d.join(format!("case{i}"));
        std::fs::create_dir(&sub).unwrap();
        let src = mlearn_folder(&sub, edit.as_ref());
        assert_refused(&import(d, &src, &d.join("x.parquet"), &[]), says);
    }
    // a NaN force as Python's json.dump writes it
    let src = mlearn_folder(&d.join("nan"), &|_, _| {});
    let file = src.join("Mo/id_prop.json");
    let json = std::fs::read_to_string(&file).unwrap();
    let at = json.rfind("\"forces\":[[0.1").unwrap() + "\"forces\":[[".len();
    std::fs::write(&file, format!("{}NaN{}", &json[..at], &json[at + 3..])).unwrap();
    assert_refused(
        &import(d, &src, &d.join("x.parquet"), &[]),
        &[
            "Mo/id_prop.json",
            "structure 3",
            "NaN where a number belongs",
        ],
    );
    assert!(!d.join("x.parquet").exists(), "nothing written");
}

/// Class 3 for mlearn's sources: a missing element and a truncated, empty or foreign archive
/// are bad input, exit 2, named (they exited 1).
#[test]
fn mlearn_imports_name_damaged_archives_and_missing_elements() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = mlearn_folder(d, &|_, _| {});
    std::fs::remove_dir_all(src.join("Ni")).unwrap();
    assert_refused(
        &import(d, &src, &d.join("x.parquet"), &[]),
        &["no Ni/id_prop.json"],
    );
    let archive = d.join("alignn.tar.gz");
    let tar = std::process::Command::new("tar")
        .args([
            "czf",
            archive.to_str().unwrap(),
            "-C",
            d.to_str().unwrap(),
            "mlearn_data",
        ])
        .status()
        .unwrap();
    assert!(tar.success());
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(
        &import(d, &archive, &d.join("x.parquet"), &[]),
        &["alignn.tar.gz"],
    );
    std::fs::write(&archive, b"").unwrap();
    assert_refused(
        &import(d, &archive, &d.join("x.parquet"), &[]),
        &["alignn.tar.gz", "no Cu/id_prop.json"],
    );
    std::fs::write(&archive, b"neither gzip nor tar, just text\n").unwrap();
    assert_refused(
        &import(d, &archive, &d.join("x.parquet"), &[]),
        &["alignn.tar.gz"],
    );
    assert!(!d.join("x.parquet").exists(), "nothing written");
}

/// Class 3: a stress weight that would weigh nothing is refused by name (it was ignored
/// without a word): written for data without stresses, and for PaiNN's direct force head
/// (which predicts none) on data with them.
#[test]
fn stress_weights_that_weigh_nothing_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = repo().join("configs/examples/extxyz-schnet-dynamic.toml");
    let xyz = repo().join("plugins/dataset-extxyz/tests/fixtures/flashmd.xyz");
    let dataset = format!(
        "dataset={{kind=\"extxyz\", path={:?}, targets=[\"energy\", \"forces\"], \
         graph={{kind=\"cutoff\", radius=4.0}}, split={{train=8, validation=1, test=1}}}}",
        xyz.to_str().unwrap()
    );
    let o = geobatch(
        d,
        &[
            "run",
            config.to_str().unwrap(),
            "--steps",
            "1",
            "--set",
            &dataset,
            "--set",
            "batcher.batch_size=3",
            "--set",
            "training.loss={energy=1.0, forces=1.0, stress=0.5}",
        ],
    );
    assert_refused(&o, &["training.loss.stress = 0.5", "no stress"]);
    let painn = repo().join("configs/examples/mlearn-painn-forces.toml");
    let o = geobatch(
        d,
        &[
            "run",
            painn.to_str().unwrap(),
            "--steps",
            "1",
            "--set",
            "dataset.source=\"fixture\"",
            "--set",
            "batcher.batch_size=3",
            "--set",
            "model.forces=\"direct\"",
        ],
    );
    assert_refused(
        &o,
        &[
            "model.forces = \"direct\" predicts no stress",
            "dataset.targets",
        ],
    );
}

/// Class 4: `run --steps` past what a config holds is refused (it trained with "ETA 3759679316
/// years"); a sweep of a million seeds is refused at once (a quadratic pass took minutes); a
/// results folder holding a link to itself is reported once (it was walked 40 levels deep).
#[test]
fn bounds_hold_for_steps_sweeps_and_linked_results() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = repo().join("configs/examples/qm9-schnet-dynamic.toml");
    let o = geobatch(
        d,
        &[
            "run",
            config.to_str().unwrap(),
            "--steps",
            "18446744073709551615",
        ],
    );
    assert_refused(
        &o,
        &[
            "training.steps = 18446744073709551615",
            "at most 9223372036854775807",
        ],
    );
    assert!(!d.join("results").exists(), "nothing written");

    let base = std::fs::read_to_string(&config).unwrap();
    let seeds: Vec<String> = (0..1_000_000).map(|s| s.to_string()).collect();
    let sweep = d.join("sweep.toml");
    std::fs::write(
        &sweep,
        format!("{base}\n[sweep]\nseeds = [{}]\n", seeds.join(",")),
    )
    .unwrap();
    let started = Instant::now();
    let o = geobatch(d, &["sweep", sweep.to_str().unwrap(), "--dry-run"]);
    assert_refused(&o, &["more than 100000 runs", "experiment.seed 1000000"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    // a run, then a link from the results folder to itself
    let results = d.join("results");
    let o = geobatch(
        d,
        &[
            "run",
            config.to_str().unwrap(),
            "--steps",
            "3",
            "--set",
            "dataset.source=\"fixture\"",
            "--set",
            "model.latent=8",
            "--set",
            "training.eval_splits=[\"test\"]",
            "--set",
            "sinks=[{kind=\"parquet\"}]",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    std::os::unix::fs::symlink(&results, results.join("again")).unwrap();
    let o = geobatch(
        d,
        &[
            "report",
            results.to_str().unwrap(),
            "--out",
            d.join("report").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let summary = std::fs::read_to_string(d.join("report/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 2, "one run, once: {summary}");
}
