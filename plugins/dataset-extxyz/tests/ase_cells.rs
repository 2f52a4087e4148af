//! Graph edges against ASE's `neighbor_list`, edge for edge, on structures ASE's builders make in
//! every kind of cell ASE accepts (written by ASE, with the edges ASE finds in them, by
//! scripts/ase-cells.py): skewed and tiny 3D cells, atoms outside the cell, slabs with and
//! without vacuum, graphene and MoS2 layers whose cell has c = 0, a nanotube whose cell has only
//! c, a wire, a molecule.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::GraphRule;
use geobatch_core::{DatasetContext, DatasetSpec};
use geobatch_dataset_extxyz::ExtxyzSpec;
use geobatch_dataset_extxyz::comment::Value;
use geobatch_dataset_extxyz::frames::{self, Frame};
use geobatch_dataset_extxyz::sources;
use geobatch_dataset_extxyz::structures::Structure;
use geobatch_geometry::edges::build_edges;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    geobatch_testkit::fixture!(name)
}

fn real(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Real(x)) => *x,
        Some(Value::Int(i)) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::Str(s)) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

/// ASE's edges per frame: (i, j) -> images S of j.
fn ase_edges() -> BTreeMap<usize, Vec<(u32, u32, [i32; 3])>> {
    let text = std::fs::read_to_string(fixture("ase-cells-edges.txt")).unwrap();
    let mut out: BTreeMap<usize, Vec<_>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let v: Vec<i64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let s = [v[3], v[4], v[5]].map(|x| x as i32);
        out.entry(v[0] as usize)
            .or_default()
            .push((v[1] as u32, v[2] as u32, s));
    }
    out
}

fn frames() -> Vec<Frame> {
    let bytes = sources::read(&fixture("ase-cells.xyz")).unwrap();
    frames::frames(&bytes, "ase-cells.xyz", &[])
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn every_cell_ase_builds_gives_ases_edges() {
    let want = ase_edges();
    let frames = frames();
    assert_eq!(frames.len(), 11);
    for (k, f) in frames.iter().enumerate() {
        let name = text(f.info("name"));
        let radius = real(f.info("cutoff"));
        let s = Structure {
            id: name.clone(),
            origin: name.clone(),
            numbers: f.numbers.clone(),
            positions: f.positions.clone(),
            lattice: f.lattice,
            pbc: f.pbc,
            forces: None,
            stress: None,
        };
        let (cell, pos) = s.geometry().unwrap_or_else(|e| panic!("{name}: {e}"));
        let cell = cell.unwrap_or_default();
        let (mut snd, mut rcv, mut vec) = (Vec::new(), Vec::new(), Vec::new());
        build_edges(
            &GraphRule::Cutoff { radius },
            &pos,
            &cell,
            &mut snd,
            &mut rcv,
            &mut vec,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        // geobatch's vector is receiver - (sender + shift) = -D; ASE's D = r_j - r_i + S . cell
        // on the file's positions; positions here are wrapped into the cell, so compare vectors
        let lattice = f.lattice.unwrap_or_default();
        let ase: Vec<(u32, u32, [f64; 3])> = want[&k]
            .iter()
            .map(|&(i, j, sh)| {
                let (pi, pj) = (f.positions[i as usize], f.positions[j as usize]);
                let d = [0, 1, 2].map(|c| {
                    pj[c] - pi[c]
                        + f64::from(sh[0]) * lattice[0][c]
                        + f64::from(sh[1]) * lattice[1][c]
                        + f64::from(sh[2]) * lattice[2][c]
                });
                (i, j, d.map(|x| -x))
            })
            .collect();
        let mut ours: Vec<(u32, u32, [f64; 3])> = (0..snd.len())
            .map(|e| (rcv[e], snd[e], vec[e].map(f64::from)))
            .collect();
        let key = |a: &(u32, u32, [f64; 3])| (a.0, a.1, a.2.map(|x| (x * 1e3).round() as i64));
        let mut ase = ase;
        ase.sort_by_key(key);
        ours.sort_by_key(key);
        assert_eq!(ours.len(), ase.len(), "{name}: edge count");
        for (a, b) in ours.iter().zip(&ase) {
            let close = (0..3).all(|c| (a.2[c] - b.2[c]).abs() < 1e-4);
            assert!(
                a.0 == b.0 && a.1 == b.1 && close,
                "{name}: {a:?} vs ASE {b:?}"
            );
        }
    }
}

#[test]
fn every_cell_ase_builds_loads_as_a_dataset() {
    let spec: ExtxyzSpec = toml::from_str(&format!(
        "path = {:?}\ntargets = [\"energy\"]\ngraph = {{ kind = \"cutoff\", radius = 3.0 }}\n\
         split = {{ train = 1.0, validation = 0.0, test = 0.0 }}",
        fixture("ase-cells.xyz")
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = spec
        .load(&DatasetContext {
            seed: 7,
            data_dir: dir.path().to_path_buf(),
        })
        .unwrap();
    let train = data.split(geobatch_core::SplitName::Train);
    assert_eq!(train.len(), 11);
}

/// Loads `text` as an extended XYZ dataset with a 5 A cutoff; the train split's stored edges.
fn cutoff_edges(text: &str) -> Vec<(u32, u32, [f32; 3])> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.xyz");
    std::fs::write(&path, text).unwrap();
    let spec: ExtxyzSpec = toml::from_str(&format!(
        "path = {path:?}\ntargets = [\"energy\"]\ngraph = {{ kind = \"cutoff\", radius = 5.0 }}\n\
         split = {{ train = 1.0, validation = 0.0, test = 0.0 }}"
    ))
    .unwrap();
    let data = spec
        .load(&DatasetContext {
            seed: 7,
            data_dir: dir.path().to_path_buf(),
        })
        .unwrap();
    let set = data.split(geobatch_core::SplitName::Train);
    let geobatch_core::graph::Edges::Stored(s) = set.edges() else {
        panic!("cutoff graphs store their edges")
    };
    (0..s.senders.len())
        .map(|e| (s.receivers[e], s.senders[e], s.vectors[e]))
        .collect()
}

#[test]
fn edges_are_found_in_double_precision_with_the_strict_rule() {
    // 5.0000002 A apart: not an edge at a 5 A cutoff
    let apart = "2\nenergy=1.0 pbc=\"F F F\"\nC 0.0 0.0 0.0\nC 5.0000002 0.0 0.0\n";
    assert!(cutoff_edges(apart).is_empty());
    // exactly at the radius: not an edge (ASE's `<`); 2e-7 A under: an edge (in float32 it is
    // 5.0 A, not one)
    let at = "2\nenergy=1.0 pbc=\"F F F\"\nC 0.0 0.0 0.0\nC 5.0 0.0 0.0\n";
    assert!(cutoff_edges(at).is_empty());
    let under = "2\nenergy=1.0 pbc=\"F F F\"\nC 0.0 0.0 0.0\nC 4.9999998 0.0 0.0\n";
    assert_eq!(cutoff_edges(under).len(), 2);
    // a molecule 1e4 A from the origin keeps its bond to float32's precision of the bond, not of
    // the position (float32 positions there are 1e-3 A apart)
    let far = "2\nenergy=1.0 pbc=\"F F F\"\nC 10000.0 0.0 0.0\nC 10001.2345678 0.0 0.0\n";
    let e = cutoff_edges(far);
    assert_eq!(e.len(), 2);
    assert!((e[0].2[0].abs() - 1.234_567_8).abs() < 1e-6, "{e:?}");
}

#[test]
fn a_non_finite_frame_is_named_or_left_out_and_counted_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.xyz");
    let frame = |e: &str| format!("1\nenergy={e} pbc=\"F F F\"\nC 0.0 0.0 0.0\n");
    std::fs::write(&path, [frame("1.0"), frame("nan"), frame("2.0")].concat()).unwrap();
    let load = |extra: &str| {
        let spec: ExtxyzSpec = toml::from_str(&format!(
            "path = {path:?}\ntargets = [\"energy\"]\n{extra}\n\
             split = {{ train = 1.0, validation = 0.0, test = 0.0 }}"
        ))
        .unwrap();
        spec.load(&DatasetContext {
            seed: 7,
            data_dir: dir.path().to_path_buf(),
        })
    };
    let e = load("").err().unwrap().to_string();
    assert!(e.contains("frame 1") && e.contains("NaN"), "{e}");
    let d = load("skip_non_finite = true").unwrap();
    assert_eq!(d.split(geobatch_core::SplitName::Train).len(), 2);
    assert!(
        d.source().contains("1 with non-finite values"),
        "{}",
        d.source()
    );
}
