//! A potential's labels read from ASE's own files: the 10 aluminium frames of the fixtures, whose
//! forces and stress ASE wrote into an extended XYZ file, an SQLite and a JSON database, arrive
//! the same from all three; data without them is skipped, counted or refused by name.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{Dataset, DatasetContext, DatasetSpec, SplitName};
use geobatch_dataset_asedb::AsedbSpec;
use geobatch_dataset_extxyz::{ExtxyzSpec, frames, sources};
use std::path::Path;

use super::{fixture, xyz_fixture};

fn ctx(dir: &Path) -> DatasetContext {
    DatasetContext {
        seed: 3,
        data_dir: dir.to_path_buf(),
    }
}

fn asedb(db: &str, targets: &str, dir: &Path) -> Result<Box<dyn Dataset>, String> {
    let body = format!(
        "path = {:?}\ntargets = {targets}\nselect = {{ config = \"al-md\" }}\n\
         graph = {{ kind = \"cutoff\", radius = 4.0 }}\n\
         split = {{ train = 1.0, validation = 0.0, test = 0.0 }}\n",
        fixture(db)
    );
    let spec: AsedbSpec = toml::from_str(&body).map_err(|e| e.to_string())?;
    spec.load(&ctx(dir)).map_err(|e| e.to_string())
}

fn extxyz(path: &Path, targets: &str, dir: &Path) -> Result<Box<dyn Dataset>, String> {
    let body = format!(
        "path = {path:?}\ntargets = {targets}\ngraph = {{ kind = \"cutoff\", radius = 4.0 }}\n\
         split = {{ train = 1.0, validation = 0.0, test = 0.0 }}\n"
    );
    let spec: ExtxyzSpec = toml::from_str(&body).map_err(|e| e.to_string())?;
    spec.load(&ctx(dir)).map_err(|e| e.to_string())
}

/// Every structure's forces and stress, by id order of the split (ids differ between formats,
/// so by energy).
/// A structure's energy, forces and stress.
type Labelled = (f32, Vec<[f32; 3]>, Option<[f32; 9]>);

fn labels(d: &dyn Dataset) -> Vec<Labelled> {
    let s = d.split(SplitName::Train);
    let mut out: Vec<_> = (0..s.len())
        .map(|g| {
            let f = s.forces().unwrap()[s.node_range(g)].to_vec();
            (s.targets(g)[0], f, s.stress(g).copied())
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

#[test]
fn forces_and_stress_read_alike_from_extended_xyz_sqlite_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let targets = "[\"energy\", \"forces\", \"stress\"]";
    let xyz = extxyz(&xyz_fixture("flashmd.xyz"), targets, dir.path()).unwrap();
    let from_xyz = labels(xyz.as_ref());
    assert_eq!(from_xyz.len(), 10);
    // the file's own numbers: the first frame's first atom's force and the stress of its line
    let text = sources::read(&xyz_fixture("flashmd.xyz")).unwrap();
    let keep = ["forces".to_string()];
    let first = frames::frames(&text, "flashmd.xyz", &keep)
        .next()
        .unwrap()
        .unwrap();
    let frames::ColumnData::Real(f) = &first.column("forces").unwrap().data else {
        panic!("forces are reals");
    };
    let e0 = first.info("energy").unwrap().as_f64().unwrap() as f32;
    let row = from_xyz.iter().find(|r| r.0 == e0).unwrap();
    assert_eq!(row.1[0], [f[0] as f32, f[1] as f32, f[2] as f32]);
    let s = first.info("stress").unwrap().numbers().unwrap();
    assert_eq!(
        row.2.unwrap()[1],
        s[1] as f32,
        "the 3x3 stress of the comment line"
    );
    for db in ["structures.db", "structures.json"] {
        let d = asedb(db, targets, dir.path()).unwrap();
        let from_db = labels(d.as_ref());
        assert_eq!(from_db.len(), 10, "{db}");
        for (a, b) in from_xyz.iter().zip(&from_db) {
            assert_eq!(a.0, b.0, "{db}: energy");
            assert_eq!(a.1, b.1, "{db}: forces");
            let (sa, sb) = (a.2.unwrap(), b.2.unwrap());
            for k in 0..9 {
                assert!(
                    (sa[k] - sb[k]).abs() <= 1e-7,
                    "{db}: stress {k}: {} vs {}",
                    sa[k],
                    sb[k]
                );
            }
        }
    }
}

#[test]
fn structures_without_forces_are_skipped_and_counted_and_bad_labels_named() {
    let dir = tempfile::tempdir().unwrap();
    // the QM9 molecules of the database have no forces: skipped, counted
    let body = format!(
        "path = {:?}\ntargets = [\"energy\", \"forces\"]\n\
         graph = {{ kind = \"cutoff\", radius = 4.0 }}\n\
         split = {{ train = 1.0, validation = 0.0, test = 0.0 }}\n",
        fixture("structures.db")
    );
    let spec: AsedbSpec = toml::from_str(&body).unwrap();
    let d = spec.load(&ctx(dir.path())).unwrap();
    assert_eq!(d.split(SplitName::Train).len(), 10);
    assert!(d.source().contains("20 without forces"), "{}", d.source());
    // an extended XYZ file with a NaN force, one with a stress on a molecule
    let bad = dir.path().join("bad.xyz");
    std::fs::write(
        &bad,
        "2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 pbc=\"F F F\"\n\
         H 0 0 0 0 0 nan\nH 0 0 0.74 0 0 0.1\n",
    )
    .unwrap();
    let e = extxyz(&bad, "[\"energy\", \"forces\"]", dir.path())
        .err()
        .unwrap();
    assert!(
        e.contains("bad.xyz: frame 0") && e.contains("not finite"),
        "{e}"
    );
    std::fs::write(
        &bad,
        "2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 stress=\"1 2 3 4 5 6\" \
         pbc=\"F F F\"\nH 0 0 0 0 0 0.2\nH 0 0 0.74 0 0 -0.2\n",
    )
    .unwrap();
    let e = extxyz(&bad, "[\"energy\", \"forces\", \"stress\"]", dir.path())
        .err()
        .unwrap();
    assert!(e.contains("frame 0") && e.contains("not periodic"), "{e}");
    // asking for a virial of a database
    let e = asedb(
        "structures.db",
        "[\"energy\", \"forces\", \"virial\"]",
        dir.path(),
    )
    .err()
    .unwrap();
    assert!(e.contains("name stress"), "{e}");
}
