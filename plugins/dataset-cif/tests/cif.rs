//! The `cif` dataset on the committed fixture (CIFs written by hand in pymatgen's layout) and on
//! the real Carbon-24 and Perov-5 tables in `../shared/data/crystals` when present.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{DatasetContext, DatasetSpec, SplitName, SplitSpec};
use geobatch_dataset_cif::{CifSpec, SplitBy};
use geobatch_testkit::edges;
use std::io::Write;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture() -> PathBuf {
    repo().join("data/fixtures/cif-sample.csv")
}

fn spec(path: &Path, targets: &[&str]) -> CifSpec {
    toml::from_str::<CifSpec>(&format!(
        "path = {:?}\ntargets = {:?}\nsplit = {{ train = 1.0, validation = 0.0, test = 0.0 }}",
        path.display().to_string(),
        targets
    ))
    .unwrap()
}

/// The error of loading `path` with `targets`, as text.
fn load_err(path: &Path, targets: &[&str], dir: &Path) -> String {
    spec(path, targets)
        .load(&ctx(dir))
        .err()
        .unwrap()
        .to_string()
}

fn ctx(dir: &Path) -> DatasetContext {
    DatasetContext {
        seed: 42,
        data_dir: dir.to_path_buf(),
    }
}

fn sorted_distances(set: &geobatch_core::GraphSet, id: &str, receiver: u32) -> Vec<f64> {
    let g = edges::graph_index(set, id).unwrap();
    let mut d: Vec<f64> = edges::of(set, g)
        .iter()
        .filter(|e| e.0 == receiver)
        .map(|e| e.2)
        .collect();
    d.sort_by(f64::total_cmp);
    d
}

#[test]
fn fixture_distances_match_hand_calculations() {
    let dir = tempfile::tempdir().unwrap();
    let ds = spec(&fixture(), &["energy_per_atom"])
        .load(&ctx(dir.path()))
        .unwrap();
    let set = ds.split(SplitName::Train);
    assert_eq!(set.len(), 5);
    for g in 0..set.len() {
        assert!(
            edges::in_degrees(set, g).iter().all(|&d| d == 12),
            "{}",
            set.id(g)
        );
    }
    // rock salt, a = 5.64 (one Na written at z = 1.5, one Cl at x = -0.5: wrapped): 6 unlike
    // neighbours at a/2 = 2.82, then 6 of the 12 like ones at a/sqrt 2 = 3.9881
    for atom in [0, 3, 7] {
        let d = sorted_distances(set, "fixture-NaCl", atom);
        assert!(d[..6].iter().all(|x| (x - 2.82).abs() < 1e-4), "{d:?}");
        assert!(
            d[6..].iter().all(|x| (x - 5.64 / 2f64.sqrt()).abs() < 1e-4),
            "{d:?}"
        );
    }
    // diamond Si, primitive cell with a = 3.867 (conventional 5.4687): 4 bonds at
    // sqrt(3)/4 * 5.4687 = 2.3680, then 12 second neighbours at 3.867 (8 of them kept)
    let d = sorted_distances(set, "fixture-Si", 0);
    let conv = 3.867 * 2f64.sqrt();
    assert!(
        d[..4]
            .iter()
            .all(|x| (x - conv * 3f64.sqrt() / 4.0).abs() < 1e-4),
        "{d:?}"
    );
    assert!(d[4..].iter().all(|x| (x - 3.867).abs() < 1e-4), "{d:?}");
    // simple cubic Po, one atom in a 3.35 A cell: all 12 neighbours are its own images,
    // 6 at a and 6 of the 12 at a sqrt 2
    let d = sorted_distances(set, "fixture-Po", 0);
    assert!(d[..6].iter().all(|x| (x - 3.35).abs() < 1e-4), "{d:?}");
    assert!(
        d[6..].iter().all(|x| (x - 3.35 * 2f64.sqrt()).abs() < 1e-4),
        "{d:?}"
    );
    assert_eq!(
        set.targets(edges::graph_index(set, "fixture-Po").unwrap()),
        &[-0.5]
    );
}

#[test]
fn triclinic_distance_matches_an_independent_calculation() {
    // Cutoff graph of the triclinic fixture: the Li-O1 distance by hand from the cell matrix.
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(&fixture(), &["energy_per_atom"]);
    s.graph = toml::from_str("kind = \"cutoff\"\nradius = 3.0").unwrap();
    let ds = s.load(&ctx(dir.path())).unwrap();
    let set = ds.split(SplitName::Train);
    // a = 3.1, b = 4.2, c = 5.3, alpha = 80, beta = 95, gamma = 105 (degrees)
    let (a, b, c) = (3.1f64, 4.2f64, 5.3f64);
    let (al, be, ga) = (80f64.to_radians(), 95f64.to_radians(), 105f64.to_radians());
    let va = [a, 0.0, 0.0];
    let vb = [b * ga.cos(), b * ga.sin(), 0.0];
    let cx = c * be.cos();
    let cy = c * (al.cos() - be.cos() * ga.cos()) / ga.sin();
    let vc = [cx, cy, (c * c - cx * cx - cy * cy).sqrt()];
    let cart = |f: [f64; 3]| [0, 1, 2].map(|k| f[0] * va[k] + f[1] * vb[k] + f[2] * vc[k]);
    // Li at (0.1, 0.2, 0.3), O1 at (0.6, 0.5, 0.4): every image within 3 A, by brute force
    let (li, o1) = (cart([0.1, 0.2, 0.3]), cart([0.6, 0.5, 0.4]));
    let mut want = Vec::new();
    for i in -2..=2 {
        for j in -2..=2 {
            for k in -2..=2 {
                let s = cart([f64::from(i), f64::from(j), f64::from(k)]);
                let d = (0..3)
                    .map(|x| (li[x] - o1[x] - s[x]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if d <= 3.0 {
                    want.push(d);
                }
            }
        }
    }
    want.sort_by(f64::total_cmp);
    assert!(!want.is_empty());
    let g = edges::graph_index(set, "fixture-triclinic").unwrap();
    let mut got: Vec<f64> = edges::of(set, g)
        .iter()
        .filter(|e| e.0 == 0 && e.1 == 1)
        .map(|e| e.2)
        .collect();
    got.sort_by(f64::total_cmp);
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    assert!(
        got.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-4),
        "{got:?} vs {want:?}"
    );
}

#[test]
fn missing_targets_are_counted_and_bad_rows_named() {
    let dir = tempfile::tempdir().unwrap();
    let ds = spec(&fixture(), &["band_gap"])
        .load(&ctx(dir.path()))
        .unwrap();
    assert!(
        ds.source()
            .contains("5 rows read, 4 kept; skipped: 1 without band_gap"),
        "{}",
        ds.source()
    );
    // unknown column
    let err = load_err(&fixture(), &["gap"], dir.path());
    assert!(
        err.contains("no column \"gap\"") && err.contains("band_gap"),
        "{err}"
    );
    // a target that is not a finite number is refused, naming the file, row and id
    let nan = dir.path().join("nan.csv");
    let text = std::fs::read_to_string(fixture()).unwrap();
    assert_eq!(text.matches(",-3.9,").count(), 1, "the CsCl row's energy");
    std::fs::write(&nan, text.replace(",-3.9,", ",nan,")).unwrap();
    let err = load_err(&nan, &["energy_per_atom"], dir.path());
    assert!(
        err.contains("nan.csv, row 2")
            && err.contains("fixture-CsCl")
            && err.contains("column energy_per_atom: \"nan\" is not a finite number"),
        "{err}"
    );
    // the line is the file line the row starts on (rows span many lines: each holds a CIF)
    let line = 1 + text
        .lines()
        .position(|l| l.contains(",fixture-CsCl,"))
        .unwrap();
    assert!(line > 3, "the second row starts after the first CIF");
    assert!(err.contains(&format!("(line {line}, ")), "{err}");
    // so is a malformed one; only an empty cell is missing
    std::fs::write(&nan, text.replace(",-3.9,", ",-3.9x,")).unwrap();
    let err = load_err(&nan, &["energy_per_atom"], dir.path());
    assert!(
        err.contains("nan.csv, row 2") && err.contains("\"-3.9x\""),
        "{err}"
    );
    // partial occupancy and symmetry, gzip-compressed
    let text = std::fs::read_to_string(fixture())
        .unwrap()
        .replace(
            "Cs  Cs0  1  0.00000000  0.00000000  0.00000000  1",
            "Cs  Cs0  1  0.00000000  0.00000000  0.00000000  0.9",
        )
        .replacen("'x, y, z'", "'x, y, z'\n  2  '-x, -y, -z'", 1);
    let gz = dir.path().join("bad.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
    let err = load_err(&gz, &["energy_per_atom"], dir.path());
    assert!(
        err.contains("bad.csv.gz, row 1")
            && err.contains("fixture-NaCl")
            && err.contains("not the identity"),
        "{err}"
    );
    let mut s = spec(&gz, &["energy_per_atom"]);
    s.skip_bad = true;
    let ds = s.load(&ctx(dir.path())).unwrap();
    assert!(
        ds.source().contains("skipped: 2 unreadable CIF"),
        "{}",
        ds.source()
    );
    assert_eq!(ds.split(SplitName::Train).len(), 3);
    // the partial occupancy alone names its site
    let text = std::fs::read_to_string(fixture()).unwrap().replace(
        "Cs  Cs0  1  0.00000000  0.00000000  0.00000000  1",
        "Cs  Cs0  1  0.00000000  0.00000000  0.00000000  0.9",
    );
    let csv = dir.path().join("occ.csv");
    std::fs::write(&csv, text).unwrap();
    let err = load_err(&csv, &["energy_per_atom"], dir.path());
    assert!(
        err.contains("row 2")
            && err.contains("fixture-CsCl")
            && err.contains("Cs0")
            && err.contains("partial occupancy 0.9"),
        "{err}"
    );
}

#[test]
fn a_folder_with_train_val_test_tables_keeps_its_splits() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("set");
    std::fs::create_dir(&folder).unwrap();
    for name in ["train.csv", "val.csv", "test.csv"] {
        std::fs::copy(fixture(), folder.join(name)).unwrap();
    }
    // the splits are the tables: no `split` of other sizes beside them
    let by_files = || CifSpec {
        split: SplitSpec::default(),
        ..spec(&folder, &["energy_per_atom"])
    };
    // the same ids in every table: refused by name, with the tables and splits
    let err = by_files().load(&ctx(dir.path())).err().unwrap().to_string();
    assert!(
        err.contains("train.csv, row 1")
            && err.contains("appears twice")
            && err.contains("set/test.csv, row 1")
            && err.contains("in both the test and the train split"),
        "{err}"
    );
    // distinct ids: rename in two copies
    let text = std::fs::read_to_string(fixture()).unwrap();
    std::fs::write(folder.join("val.csv"), text.replace("fixture-", "val-")).unwrap();
    std::fs::write(folder.join("test.csv"), text.replace("fixture-", "test-")).unwrap();
    let ds = by_files().load(&ctx(dir.path())).unwrap();
    assert!(ds.source().contains("split by files"), "{}", ds.source());
    assert_eq!(ds.split(SplitName::Validation).len(), 5);
    assert!(ds.split(SplitName::Test).id(0).starts_with("test-"));
    // split by seed, the three tables' crystals are one pool: they are the same five crystals
    // (renamed), so each is kept once, not trained on under one id and tested under another
    let mut s = spec(&folder, &["energy_per_atom"]);
    s.split_by = SplitBy::Seed;
    let ds = s.load(&ctx(dir.path())).unwrap();
    assert_eq!(ds.split(SplitName::Train).len(), 5);
}

/// With the splits taken from the tables, a `split_file` (never read) and a `split` whose sizes
/// disagree with the tables (never used) are refused, naming the key: the run's config.toml
/// would record them. A repeated id in one table names its split.
#[test]
fn split_options_that_tables_would_override_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("set");
    std::fs::create_dir(&folder).unwrap();
    let text = std::fs::read_to_string(fixture()).unwrap();
    for name in ["train", "val", "test"] {
        let ids = text.replace("fixture-", &format!("{name}-"));
        std::fs::write(folder.join(format!("{name}.csv")), ids).unwrap();
    }
    let load = |s: CifSpec| s.load(&ctx(dir.path())).err().map(|e| e.to_string());
    let base = || CifSpec {
        split: SplitSpec::default(),
        ..spec(&folder, &["energy_per_atom"])
    };
    assert_eq!(load(base()), None);
    // the tables hold 5 / 5 / 5: counts that say so are fine, others are refused
    let counts = |a, b, c| -> SplitSpec {
        toml::from_str(&format!("train = {a}\nvalidation = {b}\ntest = {c}")).unwrap()
    };
    assert_eq!(
        load(CifSpec {
            split: counts(5, 5, 5),
            ..base()
        }),
        None
    );
    let e = load(CifSpec {
        split: counts(13, 1, 1),
        ..base()
    })
    .unwrap();
    assert!(
        e.contains("dataset.split: the splits come from the train, val and test tables")
            && e.contains("hold 5 / 5 / 5 crystals")
            && e.contains("split_by = \"seed\""),
        "{e}"
    );
    let e = load(CifSpec {
        split_file: Some(dir.path().join("mine.json")),
        ..base()
    })
    .unwrap();
    assert!(
        e.contains("dataset.split_file = ") && e.contains("mine.json") && e.contains("ignored"),
        "{e}"
    );
    // split by seed: both are used (over the five crystals the three tables hold, renamed)
    let seeded = CifSpec {
        split_by: SplitBy::Seed,
        split: counts(3, 1, 1),
        split_file: Some(dir.path().join("mine.json")),
        ..base()
    };
    assert_eq!(load(seeded), None);
    // an id twice in the test table
    let test = text.replace("fixture-", "test-");
    let rows = test.split_once('\n').unwrap().1;
    std::fs::write(folder.join("test.csv"), format!("{test}{rows}")).unwrap();
    let e = load(base()).unwrap();
    assert!(
        e.contains("test.csv, row 6")
            && e.contains("(first at ")
            && e.contains("test.csv, row 1")
            && e.contains("listed twice in the test split"),
        "{e}"
    );
}

fn shared(name: &str) -> Option<PathBuf> {
    geobatch_testkit::shared_data(&repo().join("../shared/data/crystals").join(name))
}

#[test]
fn carbon24_and_perov5_from_the_shared_data() {
    let (Some(carbon), Some(perov)) = (shared("carbon24"), shared("perov5")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (path, target, rows, atoms) in [
        (carbon, "energy_per_atom", 4062, 6..=24),
        (perov, "heat_all", 7572, 5..=5),
    ] {
        let ds = spec(&path, &[target]).load(&ctx(dir.path())).unwrap();
        let set = ds.split(SplitName::Train);
        assert_eq!(set.len(), rows, "{}", ds.source());
        for g in 0..set.len() {
            let n = set.sizes()[g].nodes;
            assert!(atoms.contains(&n), "{} has {n} atoms", set.id(g));
            assert_eq!(set.sizes()[g].edges, 12 * n);
            assert!(edges::in_degrees(set, g).iter().all(|&d| d == 12));
            assert!(
                edges::of(set, g).iter().all(|e| e.2 > 0.5 && e.2 < 12.0),
                "{}",
                set.id(g)
            );
        }
    }
}
