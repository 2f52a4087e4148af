//! The extended XYZ dataset on real files from metatrain 2026.4.1 (BSD-3-Clause, see
//! tests/fixtures/README.md): 100 QM9 molecules, compared with geobatch's own QM9 plugin, and 10
//! periodic 32-atom aluminium frames with energy, stress and forces; gzip, folders, globs,
//! selections, ids and splits.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::graph::Edges;
use geobatch_core::{Dataset, DatasetContext, DatasetSpec, GraphSet, SplitName};
use geobatch_dataset_extxyz::comment::Value;
use geobatch_dataset_extxyz::frames::{self, ColumnData, Frame};
use geobatch_dataset_extxyz::{ExtxyzSpec, sources};
use geobatch_dataset_qm9::Qm9Spec;
use geobatch_dataset_qm9::properties::{HARTREE_EV, reference_energy_u0};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    geobatch_testkit::fixture!(name)
}

fn spec(body: &str) -> ExtxyzSpec {
    toml::from_str(body).unwrap()
}

fn load(spec: &ExtxyzSpec, data_dir: &Path) -> Box<dyn Dataset> {
    spec.load(&DatasetContext {
        seed: 7,
        data_dir: data_dir.to_path_buf(),
    })
    .unwrap()
}

fn load_err(spec: &ExtxyzSpec, data_dir: &Path) -> String {
    spec.load(&DatasetContext {
        seed: 7,
        data_dir: data_dir.to_path_buf(),
    })
    .err()
    .unwrap()
    .to_string()
}

const ALL_TRAIN: &str = "split = { train = 1.0, validation = 0.0, test = 0.0 }";

fn read_frames(path: &Path, keep: &[String]) -> Vec<Frame> {
    let text = sources::read(path).unwrap();
    frames::frames(&text, "f", keep)
        .collect::<Result<_, _>>()
        .unwrap()
}

fn stored(set: &GraphSet, g: usize) -> Vec<(u32, u32, [f32; 3])> {
    let Edges::Stored(s) = set.edges() else {
        panic!("stored edges expected");
    };
    s.range(g)
        .map(|e| (s.receivers[e], s.senders[e], s.vectors[e]))
        .collect()
}

/// metatrain's 100 molecules are QM9 molecules 1 to 103 (positions rounded to 8 decimals); 97 of
/// them are in geobatch's QM9 fixture (the first 1,000 of qm9pack), found by their atoms and U0,
/// the other three (frames 57, 59 and 77) are not in qm9pack. Each of the 97 has the same atoms,
/// positions within 1e-6 Angstrom, the same full, kNN and cutoff graphs, and U0 as QM9 gives it:
/// metatrain's `U0` is the total energy in Hartree (the QM9 plugin's `U0_total`); the QM9
/// plugin's `U0`, the atomisation energy in eV, follows from it with the plugin's references.
#[test]
fn qm9_reduced_100_gives_the_qm9_plugins_graphs_and_targets() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture("qm9_reduced_100.xyz");
    for rule in [
        "{ kind = \"full\" }",
        "{ kind = \"knn\", k = 4 }",
        "{ kind = \"cutoff\", radius = 2.0 }",
    ] {
        let x = extxyz_train(&path, rule, dir.path());
        assert_eq!(x.len(), 100);
        let q = qm9_train(rule, "[\"U0_total\", \"U0\"]", dir.path());
        let mut unmatched = Vec::new();
        for g in 0..100 {
            let id = x.id(g).to_string();
            let Some(qg) = qm9_molecule_of(&x, &q, g) else {
                unmatched.push(id);
                continue;
            };
            in_qm9_order_with_the_same_atoms_and_positions(&x, &q, g, qg, &id);
            the_same_size_and_targets_as_qm9(&x, &q, g, qg, &id, rule);
            the_same_edges_as_qm9(&x, &q, g, qg, &id);
        }
        unmatched.sort();
        assert_eq!(
            unmatched,
            [
                "qm9_reduced_100.xyz:57",
                "qm9_reduced_100.xyz:59",
                "qm9_reduced_100.xyz:77"
            ]
        );
    }
}

/// The train split of a loaded data set.
fn load_split(d: Box<dyn Dataset>) -> GraphSet {
    d.split(SplitName::Train).clone()
}

/// The frames of `path`, all in train, with target U0 and graph `rule`.
fn extxyz_train(path: &Path, rule: &str, dir: &Path) -> GraphSet {
    load_split(load(
        &spec(&format!(
            "path = {:?}\ntargets = [\"U0\"]\ngraph = {rule}\n{ALL_TRAIN}",
            path.display().to_string()
        )),
        dir,
    ))
}

/// geobatch's QM9 fixture, all in train, with `targets` and graph `rule`.
fn qm9_train(rule: &str, targets: &str, dir: &Path) -> GraphSet {
    let s: Qm9Spec = toml::from_str(&format!(
        "source = \"fixture\"\ntargets = {targets}\ngraph = {rule}\nsplit = {{ train = 1000, validation = 0, test = 0 }}"
    ))
    .unwrap();
    load_split(
        s.load(&DatasetContext {
            seed: 7,
            data_dir: dir.to_path_buf(),
        })
        .unwrap(),
    )
}

/// The QM9 molecule with frame `g`'s U0 and atoms, if the fixture holds it.
fn qm9_molecule_of(x: &GraphSet, q: &GraphSet, g: usize) -> Option<usize> {
    let a = x.node_range(g);
    (0..q.len()).find(|&i| {
        q.targets(i)[0] == x.targets(g)[0]
            && q.atomic_numbers()[q.node_range(i)] == x.atomic_numbers()[a.clone()]
    })
}

/// Frame `g` is QM9 molecule `qg` in QM9's order, with the same atoms and positions (1e-6).
fn in_qm9_order_with_the_same_atoms_and_positions(
    x: &GraphSet,
    q: &GraphSet,
    g: usize,
    qg: usize,
    id: &str,
) {
    let a = x.node_range(g);
    // in QM9's order: frame f is molecule f + 1, or a little further on
    let frame: u32 = id.rsplit(':').next().unwrap().parse().unwrap();
    let qid: u32 = q.id(qg).trim_start_matches("dsgdb9nsd_").parse().unwrap();
    assert!(
        (frame + 1..=frame + 4).contains(&qid),
        "{id} is {}",
        q.id(qg)
    );
    let b = q.node_range(qg);
    assert_eq!(
        x.atomic_numbers()[a.clone()],
        q.atomic_numbers()[b.clone()],
        "{id}"
    );
    for (p, r) in x.positions()[a.clone()]
        .iter()
        .zip(&q.positions()[b.clone()])
    {
        for k in 0..3 {
            assert!((p[k] - r[k]).abs() < 1e-6, "{id}: {p:?} {r:?}");
        }
    }
}

/// Frame `g` has molecule `qg`'s size under `rule`, its total U0, and its atomisation energy.
fn the_same_size_and_targets_as_qm9(
    x: &GraphSet,
    q: &GraphSet,
    g: usize,
    qg: usize,
    id: &str,
    rule: &str,
) {
    let a = x.node_range(g);
    assert_eq!(x.sizes()[g], q.sizes()[qg], "{id} under {rule}");
    // the targets: total U0 in Hartree, and the QM9 plugin's atomisation energy from it
    assert_eq!(x.targets(g)[0], q.targets(qg)[0], "{id}");
    let ev = (f64::from(x.targets(g)[0])
        - x.atomic_numbers()[a.clone()]
            .iter()
            .map(|&z| reference_energy_u0(z).unwrap())
            .sum::<f64>())
        * HARTREE_EV;
    assert!(
        (ev - f64::from(q.targets(qg)[1])).abs() < 1e-3,
        "{id}: {ev} eV"
    );
}

/// Frame `g` has molecule `qg`'s stored edges, same ends and vectors within 1e-5 (none if full),
/// or at a near tie another neighbour at the same distance.
fn the_same_edges_as_qm9(x: &GraphSet, q: &GraphSet, g: usize, qg: usize, id: &str) {
    if !matches!(x.edges(), Edges::Full) {
        let (ex, eq) = (stored(x, g), stored(q, qg));
        assert_eq!(ex.len(), eq.len(), "{id}");
        let len = |v: [f32; 3]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (e, f) in ex.iter().zip(&eq) {
            assert_eq!(e.0, f.0, "{id}");
            if e.1 == f.1 {
                for k in 0..3 {
                    assert!((e.2[k] - f.2[k]).abs() < 1e-5, "{id}");
                }
            } else {
                // the file's positions have more digits than QM9's float32 ones, and edges are
                // found in double precision: two neighbours at one distance (to 1e-5 A) may
                // swap places, never a neighbour at another distance
                assert!((len(e.2) - len(f.2)).abs() < 1e-5, "{id}: {e:?} vs {f:?}");
            }
        }
    }
}

#[test]
fn flashmd_frames_are_periodic_with_energy_stress_and_forces() {
    let path = fixture("flashmd.xyz");
    let f = read_frames(&path, &["forces".to_string(), "energies".to_string()]);
    assert_eq!(f.len(), 10);
    for fr in &f {
        assert_eq!(fr.numbers, vec![13; 32]);
        assert_eq!(fr.pbc, [true; 3]);
        assert_eq!(
            fr.lattice.unwrap(),
            [[8.1, 0.0, 0.0], [0.0, 8.1, 0.0], [0.0, 0.0, 8.1]]
        );
        let forces = fr.column("forces").unwrap();
        assert_eq!(forces.width, 3);
        assert!(matches!(&forces.data, ColumnData::Real(v) if v.len() == 96));
        assert!(matches!(fr.info("stress"), Some(Value::Reals(v)) if v.len() == 9));
    }
    assert_eq!(f[0].info("energy"), Some(&Value::Real(1.485070621928732)));
    assert_eq!(f[0].positions[0], [-0.20355672, 0.00361457, 0.22515666]);
    let ColumnData::Real(forces) = &f[0].column("forces").unwrap().data else {
        unreachable!()
    };
    assert_eq!(forces[..3], [0.03577615, 0.66753406, -0.32228997]);
    // the dataset: periodic graphs, every atom of this fcc cell has its 12 neighbours within 3.4 A
    let dir = tempfile::tempdir().unwrap();
    let d = load(
        &spec(&format!(
            "path = {:?}\ntargets = [\"energy\", \"free_energy\"]\nper_atom = [\"energy\"]\n\
             graph = {{ kind = \"cutoff\", radius = 3.4 }}\n{ALL_TRAIN}",
            path.display().to_string()
        )),
        dir.path(),
    );
    let t = d.split(SplitName::Train);
    assert_eq!(t.len(), 10);
    assert_eq!(d.target_names(), ["energy_per_atom", "free_energy"]);
    let g0 = (0..10).find(|&g| t.id(g) == "flashmd.xyz:0").unwrap();
    assert_eq!(
        t.targets(g0),
        [
            (1.485070621928732f64 / 32.0) as f32,
            1.485070621928732f64 as f32
        ]
    );
    assert!(t.cell(g0).is_periodic());
    let edges = t.sizes()[g0].edges;
    assert!((32 * 11..=32 * 13).contains(&edges), "{edges} edges");
    // wrapped into the cell: every position lies in [0, 8.1]
    assert!(
        t.positions()
            .iter()
            .flatten()
            .all(|&x| (0.0..=8.1).contains(&x))
    );
    assert!(
        d.source().contains("10 structures read, 10 kept"),
        "{}",
        d.source()
    );
}

#[test]
fn gzip_folders_and_globs_read_the_same_frames() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let text = std::fs::read(fixture("flashmd.xyz")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    std::fs::write(data.join("a.xyz.gz"), gz.finish().unwrap()).unwrap();
    std::fs::copy(fixture("qm9_reduced_100.xyz"), data.join("b.extxyz")).unwrap();
    std::fs::write(data.join("notes.txt"), "not a frame").unwrap();
    let body = |p: &Path| {
        format!(
            "path = {:?}\ntargets = [\"energy\"]\n{ALL_TRAIN}",
            p.display().to_string()
        )
    };
    // the QM9 molecules have no energy: skipped and counted
    let d = load(&spec(&body(&data)), dir.path());
    assert_eq!(d.split(SplitName::Train).len(), 10);
    assert!(
        d.source()
            .contains("110 structures read, 10 kept; skipped: 100 without energy"),
        "{}",
        d.source()
    );
    assert!((0..10).any(|g| d.split(SplitName::Train).id(g) == "a.xyz.gz:9"));
    let d = load(&spec(&body(&data.join("*.xyz.gz"))), dir.path());
    assert_eq!(d.split(SplitName::Train).len(), 10);
    let e = load_err(&spec(&body(&data.join("*.none"))), dir.path());
    assert!(e.contains("matches no file"), "{e}");
    let e = load_err(&spec(&body(&dir.path().join("absent.xyz"))), dir.path());
    assert!(e.contains("absent.xyz: no such file or folder"), "{e}");
}

#[test]
fn selections_ids_and_splits() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture("qm9_reduced_100.xyz").display().to_string();
    // molecules without a dipole (mu = 0): methane, acetylene, ...
    let d = load(
        &spec(&format!(
            "path = {path:?}\ntargets = [\"U0\"]\nselect = {{ mu = 0 }}\n{ALL_TRAIN}"
        )),
        dir.path(),
    );
    let kept = d.split(SplitName::Train).len();
    assert!(kept > 0 && kept < 100, "{kept}");
    assert!(
        d.source().contains(&format!("{} not selected", 100 - kept)),
        "{}",
        d.source()
    );
    // an id_key every frame has is used; one with repeated values is refused
    let d = load(
        &spec(&format!(
            "path = {path:?}\ntargets = [\"U0\"]\nid_key = \"U0\"\n{ALL_TRAIN}"
        )),
        dir.path(),
    );
    assert!((0..100).any(|g| d.split(SplitName::Train).id(g) == "-40.47893"));
    let e = load_err(
        &spec(&format!(
            "path = {path:?}\ntargets = [\"U0\"]\nid_key = \"Cv_missing\""
        )),
        dir.path(),
    );
    assert!(e.contains("frame 0 (line 1): no \"Cv_missing\""), "{e}");
    let e = load_err(
        &spec(&format!(
            "path = {path:?}\ntargets = [\"U0\"]\nid_key = \"mu\""
        )),
        dir.path(),
    );
    assert!(e.contains("appears twice"), "{e}");
    // a non-numeric target names the frame
    let e = load_err(
        &spec(&format!(
            "path = {path:?}\ntargets = [\"pbc_x\", \"U0\"]\nselect = {{ mu = 0 }}"
        )),
        dir.path(),
    );
    assert!(e.contains("no usable structures"), "{e}");
    // the default split: 80 / 10 / 10, saved and reused by id
    let dir = tempfile::tempdir().unwrap();
    let s = spec(&format!(
        "path = {path:?}\ntargets = [\"U0\"]\nunits = [\"Ha\"]"
    ));
    let a = load(&s, dir.path());
    assert_eq!(SplitName::ALL.map(|n| a.split(n).len()), [80, 10, 10]);
    assert_eq!(a.target_units(), ["Ha"]);
    let saved =
        geobatch_testkit::results::files_starting(&dir.path().join("splits"), "extxyz-100-");
    assert_eq!(saved.len(), 1);
    // the split file named: reused under another seed
    let mut s = s;
    s.split_file = Some(saved[0].clone());
    let b = s
        .load(&DatasetContext {
            seed: 99,
            data_dir: dir.path().to_path_buf(),
        })
        .unwrap();
    let ids = |d: &dyn Dataset| {
        let t = d.split(SplitName::Test);
        (0..t.len())
            .map(|g| t.id(g).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(a.as_ref()), ids(b.as_ref()));
    // a split file of other sizes is refused by core's checks
    let s2 = spec(&format!(
        "path = {path:?}\ntargets = [\"U0\"]\nsplit_file = {:?}\nsplit = {{ train = 50, validation = 25, test = 25 }}",
        saved[0].display().to_string()
    ));
    let e = load_err(&s2, dir.path());
    assert!(e.contains("holds 80 / 10 / 10"), "{e}");
}

#[test]
fn damaged_files_are_errors_naming_file_frame_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("flashmd.xyz")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // frame 2 starts at line 69 (1 + 2 * 34); its fourth atom is line 73
    lines[72] = "Al 0.0 0.0";
    let bad = dir.path().join("bad.xyz");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let s = spec(&format!(
        "path = {:?}\ntargets = [\"energy\"]",
        bad.display().to_string()
    ));
    let e = load_err(&s, dir.path());
    assert!(
        e.contains("bad.xyz: frame 2 (line 73): 3 fields where Properties asks for 17"),
        "{e}"
    );
    // a target that is not a number
    let t = "1\nenergy=abc\nH 0 0 0\n";
    std::fs::write(&bad, t).unwrap();
    let e = load_err(&s, dir.path());
    assert!(
        e.contains("bad.xyz: frame 0 (line 1): target energy is a string \"abc\""),
        "{e}"
    );
    std::fs::write(&bad, "1\nenergy=nan\nH 0 0 0\n").unwrap();
    let e = load_err(&s, dir.path());
    assert!(
        e.contains("target energy is NaN, not a finite number"),
        "{e}"
    );
    // a periodic frame whose cell is flat
    std::fs::write(&bad, "1\nenergy=1 Lattice=\"1 0 0 2 0 0 0 0 1\"\nH 0 0 0\n").unwrap();
    let e = load_err(&s, dir.path());
    assert!(
        e.contains("frame 0 (line 1): the periodic cell") && e.contains("no volume"),
        "{e}"
    );
    // options checked before reading
    for (body, what) in [
        ("targets = []", "at least one target"),
        (
            "targets = [\"e\"]\nper_atom = [\"f\"]",
            "not one of dataset.targets",
        ),
        ("targets = [\"e\", \"e\"]", "twice"),
        (
            "targets = [\"e\"]\nunits = [\"eV\", \"Ha\"]",
            "2 units for 1 targets",
        ),
        (
            "targets = [\"e\"]\ngraph = { kind = \"knn\", k = 0 }",
            "graph.k",
        ),
    ] {
        let e = spec(&format!("path = \"x.xyz\"\n{body}"))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains(what), "{body}: {e}");
    }
}
