//! The ASE database dataset on databases ASE itself wrote (tests/fixtures, made by
//! make_fixtures.py from metatrain's extended XYZ files), compared with the extended XYZ reader,
//! and on ASE's own collections when installed (scripts/ase-collections.sh).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::graph::Edges;
use geobatch_core::{Dataset, DatasetContext, DatasetSpec, SplitName};
use geobatch_dataset_asedb::row::Lookup;
use geobatch_dataset_asedb::{AsedbSpec, read};
use geobatch_dataset_extxyz::{ExtxyzSpec, frames, sources};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    geobatch_testkit::fixture!(name)
}

fn xyz_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dataset-extxyz/tests/fixtures")
        .join(name)
}

const ALL_TRAIN: &str = "split = { train = 1.0, validation = 0.0, test = 0.0 }";

fn load_err(body: &str, data_dir: &Path) -> String {
    load(body, data_dir).err().unwrap()
}

fn load(body: &str, data_dir: &Path) -> Result<Box<dyn Dataset>, String> {
    let spec: AsedbSpec = toml::from_str(body).map_err(|e| e.to_string())?;
    spec.load(&DatasetContext {
        seed: 3,
        data_dir: data_dir.to_path_buf(),
    })
    .map_err(|e| e.to_string())
}

#[test]
fn sqlite_and_json_fixtures_hold_what_the_xyz_files_hold() {
    let text = sources::read(&xyz_fixture("flashmd.xyz")).unwrap();
    let xyz: Vec<_> = frames::frames(&text, "flashmd.xyz", &[])
        .collect::<Result<_, _>>()
        .unwrap();
    let qm9 = sources::read(&xyz_fixture("qm9_reduced_100.xyz")).unwrap();
    let mols: Vec<_> = frames::frames(&qm9, "qm9", &[])
        .take(20)
        .collect::<Result<_, _>>()
        .unwrap();
    for db in ["structures.db", "structures.json"] {
        let rows = read(&fixture(db)).unwrap();
        assert_eq!(rows.len(), 30, "{db}");
        for (r, f) in rows.iter().zip(&xyz) {
            assert_eq!(r.numbers, f.numbers, "{db}");
            assert_eq!(r.positions, f.positions, "{db}");
            assert_eq!(Some(r.cell), f.lattice, "{db}");
            assert_eq!(r.pbc, [true; 3]);
            assert_eq!(
                r.get("energy"),
                Lookup::Number(f.info("energy").unwrap().as_f64().unwrap())
            );
            assert_eq!(r.key_value_pairs["config"], "al-md");
        }
        for (r, m) in rows[10..].iter().zip(&mols) {
            assert_eq!(r.numbers, m.numbers, "{db}");
            assert_eq!(r.positions, m.positions, "{db}");
            assert_eq!(r.pbc, [false; 3]);
            assert_eq!(r.get("energy"), Lookup::Absent);
            assert_eq!(
                r.get("u0"),
                Lookup::Number(m.info("U0").unwrap().as_f64().unwrap())
            );
            assert!(matches!(r.get("config"), Lookup::Other(_)));
        }
        assert_eq!(rows[29].id, 30);
        assert!(rows[0].unique_id.as_ref().is_some_and(|u| u.len() == 32));
    }
}

/// `geobatch run` with `kind = "extxyz"` on flashmd.xyz and `kind = "asedb"` on the database
/// made from it trains on the same graphs.
#[test]
fn the_database_gives_the_graphs_of_the_xyz_file() {
    let dir = tempfile::tempdir().unwrap();
    let graph = "graph = { kind = \"knn\", k = 12 }";
    let db = load(
        &format!(
            "path = {:?}\ntargets = [\"energy\"]\nper_atom = [\"energy\"]\n{graph}\n{ALL_TRAIN}",
            fixture("structures.db").display().to_string()
        ),
        dir.path(),
    )
    .unwrap();
    assert!(
        db.source()
            .contains("30 structures read, 10 kept; skipped: 20 without energy"),
        "{}",
        db.source()
    );
    let xs: ExtxyzSpec = toml::from_str(&format!(
        "path = {:?}\ntargets = [\"energy\"]\nper_atom = [\"energy\"]\n{graph}\n{ALL_TRAIN}",
        xyz_fixture("flashmd.xyz").display().to_string()
    ))
    .unwrap();
    let x = xs
        .load(&DatasetContext {
            seed: 3,
            data_dir: dir.path().to_path_buf(),
        })
        .unwrap();
    let (a, b) = (db.split(SplitName::Train), x.split(SplitName::Train));
    assert_eq!(a.len(), 10);
    for g in 0..10 {
        // row id r is frame r - 1
        let frame: usize = a.id(g).parse::<usize>().unwrap() - 1;
        let h = (0..10)
            .find(|&h| b.id(h) == format!("flashmd.xyz:{frame}"))
            .unwrap();
        assert_eq!(a.targets(g), b.targets(h));
        assert_eq!(a.sizes()[g], b.sizes()[h]);
        assert_eq!(a.cell(g), b.cell(h));
        assert_eq!(
            a.positions()[a.node_range(g)],
            b.positions()[b.node_range(h)]
        );
    }
    let (Edges::Stored(ea), Edges::Stored(eb)) = (a.edges(), b.edges()) else {
        panic!("stored edges expected")
    };
    let (va, vb) = (&ea.vectors, &eb.vectors);
    assert_eq!(va.len(), 10 * 32 * 12);
    assert_eq!(va.len(), vb.len());
}

#[test]
fn selections_ids_and_json_rows() {
    let dir = tempfile::tempdir().unwrap();
    for db in ["structures.db", "structures.json"] {
        let path = fixture(db).display().to_string();
        let d = load(
            &format!(
                "path = {path:?}\ntargets = [\"u0\", \"gap\"]\nselect = {{ config = \"qm9\" }}\n\
                 id_key = \"index\"\nunits = [\"Ha\", \"Ha\"]\n{ALL_TRAIN}"
            ),
            dir.path(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let t = d.split(SplitName::Train);
        assert_eq!(t.len(), 20, "{db}");
        assert!(d.source().contains("10 not selected"), "{}", d.source());
        let g = (0..20).find(|&g| t.id(g) == "0").unwrap();
        assert_eq!(t.targets(g), [-40.47893f32, 0.5048]);
        assert_eq!(d.target_units(), ["Ha", "Ha"]);
        // numbers compare as numbers: step = 3.0 selects the row of step 3
        let d = load(
            &format!(
                "path = {path:?}\ntargets = [\"energy\"]\nselect = {{ step = 3.0 }}\nid_key = \"unique_id\"\n{ALL_TRAIN}"
            ),
            dir.path(),
        )
        .unwrap();
        assert_eq!(d.split(SplitName::Train).len(), 1);
        assert_eq!(d.split(SplitName::Train).id(0).len(), 32);
        // a target that is not a number, an id_key some rows lack
        let e = load_err(
            &format!("path = {path:?}\ntargets = [\"config\"]"),
            dir.path(),
        );
        assert!(
            e.contains(&format!(
                "{path}: row id 1: target config is \"al-md\", not a number"
            )),
            "{e}"
        );
        let e = load_err(
            &format!("path = {path:?}\ntargets = [\"energy\"]\nid_key = \"index\""),
            dir.path(),
        );
        assert!(e.contains("row id 1: no key-value pair \"index\""), "{e}");
    }
}

#[test]
fn damaged_and_foreign_databases_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let body = format!(
        "path = {:?}\ntargets = [\"energy\"]",
        copy.display().to_string()
    );
    let edit = |sql: &str| {
        std::fs::copy(fixture("structures.db"), &copy).unwrap();
        let con = rusqlite::Connection::open(&copy).unwrap();
        con.execute_batch(sql).unwrap();
    };
    edit("UPDATE information SET value = '10' WHERE name = 'version'");
    let e = load_err(&body, dir.path());
    assert!(
        e.contains("copy.db: ASE database format version \"10\""),
        "{e}"
    );
    edit("UPDATE systems SET positions = x'0011' WHERE id = 4");
    let e = load_err(&body, dir.path());
    assert!(e.contains("copy.db: row id 4: positions"), "{e}");
    edit("UPDATE systems SET numbers = x'01000000' WHERE id = 5");
    let e = load_err(&body, dir.path());
    assert!(e.contains("row id 5: numbers is 4 bytes"), "{e}");
    // a NaN key-value pair is read as ASE writes it (Python's bare NaN); cut JSON is named
    edit("UPDATE systems SET key_value_pairs = '{\"a\": NaN}' WHERE id = 6");
    assert!(load(&body, dir.path()).is_ok());
    edit("UPDATE systems SET key_value_pairs = '{\"a\": ' WHERE id = 6");
    let e = load_err(&body, dir.path());
    assert!(e.contains("row id 6: key_value_pairs is not JSON"), "{e}");
    edit("DROP TABLE information");
    let e = load_err(&body, dir.path());
    assert!(e.contains("copy.db: no such table: information"), "{e}");
    std::fs::write(&copy, "neither").unwrap();
    let e = load_err(&body, dir.path());
    assert!(
        e.contains("neither an ASE SQLite database nor an ASE JSON database"),
        "{e}"
    );
    let e = load_err(
        &format!(
            "path = {:?}\ntargets = [\"energy\"]",
            dir.path().join("absent.db").display().to_string()
        ),
        dir.path(),
    );
    assert!(e.contains("absent.db"), "{e}");
}

/// ASE's collections are LGPL and never copied here: found through `GEOBATCH_ASE_COLLECTIONS`
/// or the environment scripts/ase-collections.sh makes, skipped (saying why) otherwise.
fn collections() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GEOBATCH_ASE_COLLECTIONS") {
        return Some(PathBuf::from(p));
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ase-env/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|rd| {
        rd.filter_map(|e| e.ok())
            .map(|e| e.path().join("site-packages/ase/collections"))
            .find(|p| p.is_dir())
    });
    if found.is_none() {
        eprintln!(
            "skipped: ASE's collections are absent (run scripts/ase-collections.sh, or set \
             GEOBATCH_ASE_COLLECTIONS to a folder holding dcdft.json)"
        );
    }
    found
}

#[test]
fn ase_collections_dcdft_gives_71_crystals() {
    let Some(dir) = collections() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = dir.join("dcdft.json").display().to_string();
    let d = load(
        &format!(
            "path = {path:?}\ntargets = [\"wien2k_volume\", \"wien2k_B\"]\nper_atom = [\"wien2k_volume\"]\n\
             id_key = \"name\"\ngraph = {{ kind = \"knn\", k = 12 }}\n{ALL_TRAIN}"
        ),
        tmp.path(),
    )
    .unwrap();
    let t = d.split(SplitName::Train);
    assert_eq!(t.len(), 71, "{}", d.source());
    let si = (0..71).find(|&g| t.id(g) == "Si").unwrap();
    assert!(t.cell(si).is_periodic());
    assert_eq!(t.sizes()[si].edges, t.sizes()[si].nodes * 12);
    // g2: 162 molecules, no cell
    let g2 = dir.join("g2.json").display().to_string();
    let rows = read(Path::new(&g2)).unwrap();
    assert_eq!(rows.len(), 162);
    assert!(rows.iter().all(|r| r.pbc == [false; 3]));
}

/// An ASE JSON database as ASE 3.29.0 writes it (`ase.db.connect("x.json").write(atoms, e2=...)`):
/// row 1 has a NaN energy and key-value pair (Python's json writes the bare token `NaN`), rows 1
/// and 2 initial charges (ASE stores no `charge` in JSON rows; its row sums the charges).
const ASE_JSON_WITH_NAN: &str = r#"{"1": {
 "calculator": "unknown",
 "cell": {"__ndarray__": [[3, 3], "float64", [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]},
 "energy": NaN,
 "initial_charges": {"__ndarray__": [[3], "float64", [0.5, 0.2, 0.1]]},
 "key_value_pairs": {"e2": NaN, "name": "NaN in a string"},
 "numbers": {"__ndarray__": [[3], "int64", [8, 1, 1]]},
 "pbc": {"__ndarray__": [[3], "bool", [false, false, false]]},
 "positions": {"__ndarray__": [[3, 3], "float64", [0.0, 0.0, 0.119262, 0.0, 0.763239, -0.477047, 0.0, -0.763239, -0.477047]]}},
"2": {
 "cell": {"__ndarray__": [[3, 3], "float64", [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]},
 "energy": -14.2,
 "initial_charges": {"__ndarray__": [[3], "float64", [0.5, 0.2, 0.25]]},
 "key_value_pairs": {"e2": 1.0, "name": "Infinity"},
 "numbers": {"__ndarray__": [[3], "int64", [8, 1, 1]]},
 "pbc": {"__ndarray__": [[3], "bool", [false, false, false]]},
 "positions": {"__ndarray__": [[3, 3], "float64", [0.0, 0.0, 0.119262, 0.0, 0.763239, -0.477047, 0.0, -0.763239, -0.477047]]}},
"ids": [1, 2],
"nextid": 3}"#;

#[test]
fn ase_json_non_finite_values_and_charge_read_as_ase_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.json");
    std::fs::write(&path, ASE_JSON_WITH_NAN).unwrap();
    let path = path.display().to_string();
    // charge is the sum of the initial charges, as ASE's row computes it; strings stay strings
    let d = load(
        &format!("path = {path:?}\ntargets = [\"charge\"]\nid_key = \"name\"\n{ALL_TRAIN}"),
        dir.path(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let t = d.split(SplitName::Train);
    let by_id = |id: &str| t.targets((0..t.len()).find(|&g| t.id(g) == id).unwrap())[0];
    assert!((by_id("NaN in a string") - 0.8).abs() < 1e-6);
    assert!((by_id("Infinity") - 0.95).abs() < 1e-6);
    // one NaN no longer refuses the file as JSON: the row is named
    let e = load_err(
        &format!("path = {path:?}\ntargets = [\"energy\"]\n{ALL_TRAIN}"),
        dir.path(),
    );
    assert!(
        e.contains("row id 1: target energy is NaN") && e.contains("skip_non_finite"),
        "{e}"
    );
    // or, asked, the row is left out and counted
    for target in ["energy", "e2"] {
        let d = load(
            &format!(
                "path = {path:?}\ntargets = [\"{target}\"]\nskip_non_finite = true\n{ALL_TRAIN}"
            ),
            dir.path(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.split(SplitName::Train).len(), 1, "{target}");
        assert!(
            d.source().contains("skipped: 1 with non-finite values"),
            "{}",
            d.source()
        );
    }
}

/// A potential's checks (issue 65), in this binary: one test binary a crate links.
#[path = "asedb/forces.rs"]
mod forces;

/// Issue 82: a database written a part at a time (what `geobatch data store` writes a store
/// with) holds the splits of a whole load, SQLite read a row at a time, JSON read whole.
#[test]
fn databases_written_in_parts_hold_the_splits_of_a_whole_load() {
    for name in ["structures.db", "structures.json"] {
        let dir = tempfile::tempdir().unwrap();
        let spec: AsedbSpec = toml::from_str(&format!(
            "path = {:?}\ntargets = [\"energy\"]\nper_atom = [\"energy\"]\n\
             graph = {{ kind = \"cutoff\", radius = 4.0 }}\n\
             split = {{ train = 0.6, validation = 0.2, test = 0.2 }}",
            fixture(name).display().to_string()
        ))
        .unwrap();
        let ctx = DatasetContext {
            seed: 9,
            data_dir: dir.path().to_path_buf(),
        };
        let parts = geobatch_testkit::parts::parts_match_load(&spec, &ctx, 3);
        assert!(parts >= 3, "{name}: {parts} parts");
    }
}
