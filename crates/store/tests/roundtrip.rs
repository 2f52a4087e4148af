//! A store written part by part reads back the sets it was given, row for row; what was not
//! committed is not seen; a damaged file is named with its row; NumPy reads the columns.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::GraphRule;
use geobatch_core::graph::{AtomLabels, Cell, Edges, GraphSet, LabelKinds};
use geobatch_geometry::GraphSetBuilder;
use geobatch_store::{DiskStore, StoreError, StoreMeta, StoreWriter, names};
use std::path::Path;

/// `n` small molecules of H, C, N, O with two targets, positions from a fixed sequence.
fn molecules(n: usize, seed: u64) -> GraphSet {
    molecules_by(n, seed, &GraphRule::Full)
}

/// [`molecules`] with their edges made by `rule`.
fn molecules_by(n: usize, seed: u64, rule: &GraphRule) -> GraphSet {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) as f64 / f64::from(1u32 << 31)
    };
    let mut b = GraphSetBuilder::new(vec!["u0".into(), "gap".into()]);
    for i in 0..n {
        let atoms = 2 + (next() * 8.0) as usize;
        let z: Vec<u8> = (0..atoms)
            .map(|_| [1, 6, 7, 8][(next() * 4.0) as usize % 4])
            .collect();
        let p: Vec<[f64; 3]> = (0..atoms)
            .map(|k| [k as f64 * 1.1, next() * 2.0, next() * 2.0].map(|v| f64::from(v as f32)))
            .collect();
        let t = [next() as f32, -(next() as f32)];
        b.push(&format!("mol-{seed}-{i}"), &z, &p, None, &t)
            .unwrap();
    }
    b.build(rule, Some(&[1, 6, 7, 8])).unwrap()
}

/// Periodic copper cells with forces, every other one with a stress, edges under a cutoff.
fn crystals(n: usize) -> GraphSet {
    let mut b = GraphSetBuilder::new(vec!["energy".into()]).carrying(LabelKinds {
        forces: true,
        stress: true,
    });
    for i in 0..n {
        let a = 2.5 + 0.1 * i as f64;
        let cell = Cell::periodic([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]]);
        let atoms = 1 + i % 3;
        let p: Vec<[f64; 3]> = (0..atoms).map(|k| [0.5 * k as f64, 0.25, 0.0]).collect();
        let f: Vec<[f64; 3]> = (0..atoms).map(|k| [k as f64, -0.5, 0.125]).collect();
        let s = [[0.1, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 0.3]];
        let labels = AtomLabels {
            forces: Some(&f),
            stress: (i % 2 == 0).then_some(s),
        };
        let z = vec![29; atoms];
        b.push_labelled(
            &format!("cu-{i}"),
            &z,
            &p,
            Some(cell),
            &[-3.0 * atoms as f32],
            labels,
        )
        .unwrap();
    }
    b.build(&GraphRule::Cutoff { radius: 3.0 }, None).unwrap()
}

/// Every column of structure `i` of `a` equal to structure `j` of `b`.
fn assert_same_structure(a: &GraphSet, i: usize, b: &GraphSet, j: usize) {
    assert_eq!(a.sizes()[i], b.sizes()[j]);
    assert_eq!(a.id(i), b.id(j));
    let (na, nb) = (a.node_range(i), b.node_range(j));
    assert_eq!(
        a.atomic_numbers()[na.clone()],
        b.atomic_numbers()[nb.clone()]
    );
    let elements = |s: &GraphSet, r: std::ops::Range<usize>| -> Vec<u8> {
        s.species()[r]
            .iter()
            .map(|&c| s.species_classes()[c as usize])
            .collect()
    };
    assert_eq!(elements(a, na.clone()), elements(b, nb.clone()));
    assert_eq!(a.positions()[na.clone()], b.positions()[nb.clone()]);
    assert_eq!(
        a.forces().map(|f| &f[na.clone()]),
        b.forces().map(|f| &f[nb.clone()])
    );
    assert_eq!(a.cell(i), b.cell(j));
    assert_eq!(a.targets(i), b.targets(j));
    assert_eq!(a.stress(i), b.stress(j));
    match (a.edges(), b.edges()) {
        (Edges::Full, Edges::Full) => {}
        (Edges::Stored(x), Edges::Stored(y)) => {
            let (ra, rb) = (x.range(i), y.range(j));
            assert_eq!(x.senders[ra.clone()], y.senders[rb.clone()]);
            assert_eq!(x.receivers[ra.clone()], y.receivers[rb.clone()]);
            assert_eq!(x.vectors[ra.clone()], y.vectors[rb.clone()]);
            assert_eq!(x.shifts.get(ra), y.shifts.get(rb));
        }
        other => panic!("edges differ: {other:?}"),
    }
}

fn write_parts(dir: &Path, parts: &[&GraphSet]) {
    let mut w = StoreWriter::create(dir, StoreMeta::of(parts[0])).unwrap();
    for p in parts {
        w.append(p).unwrap();
        w.commit().unwrap();
    }
    let m = w.finish().unwrap();
    assert_eq!(m.graphs, parts.iter().map(|p| p.len() as u64).sum::<u64>());
}

#[test]
fn molecules_written_in_parts_read_back_row_for_row_in_any_order() {
    let tmp = tempfile::tempdir().unwrap();
    let parts = [molecules(40, 1), molecules(1, 2), molecules(25, 3)];
    write_parts(tmp.path(), &parts.iter().collect::<Vec<_>>());
    let store = DiskStore::open(tmp.path()).unwrap();
    assert_eq!(store.len(), 66);
    // classes in the order the elements were first met: appending never renumbers one
    let mut elements = store.manifest().elements.clone();
    let first = parts[0].atomic_numbers()[0];
    assert_eq!(elements[0], first);
    elements.sort_unstable();
    assert_eq!(elements, [1, 6, 7, 8]);
    let sizes: Vec<_> = parts.iter().flat_map(|p| p.sizes().to_vec()).collect();
    assert_eq!(store.sizes(), sizes);
    let all = store.set().unwrap();
    assert_eq!(all.species_classes(), store.manifest().elements);
    store.check().unwrap();
    let whole = |g: usize| match g {
        0..40 => (&parts[0], g),
        40 => (&parts[1], 0),
        _ => (&parts[2], g - 41),
    };
    for g in 0..66 {
        let (set, i) = whole(g);
        assert_same_structure(set, i, &all, g);
    }
    // a batch's rows, out of order and repeated
    let rows = [65u32, 3, 40, 3, 17];
    let batch = all.subset(&rows);
    for (j, &g) in rows.iter().enumerate() {
        let (set, i) = whole(g as usize);
        assert_same_structure(set, i, &batch, j);
    }
}

#[test]
fn periodic_cells_keep_forces_stress_and_their_edges_shifts() {
    let tmp = tempfile::tempdir().unwrap();
    let set = crystals(9);
    write_parts(tmp.path(), &[&set]);
    let store = DiskStore::open(tmp.path()).unwrap();
    assert!(store.manifest().meta.shifts && store.manifest().meta.stored_edges);
    let back = store.set().unwrap();
    store.check().unwrap();
    // every structure's rows asked ahead (the mapped files' pages advised), then read
    back.will_need(&(0..9).collect::<Vec<_>>());
    assert_eq!(back.labels(), set.labels());
    // copied into memory (`memory = "ram"`): every column owned, the same set
    let mut copied = back.clone();
    copied.copy_in();
    let (before, after) = (format!("{back:?}"), format!("{copied:?}"));
    assert!(
        before.contains("mapped") && !after.contains("mapped"),
        "{after}"
    );
    for g in 0..9 {
        assert_same_structure(&back, g, &copied, g);
    }
    for g in 0..9 {
        assert_same_structure(&set, g, &back, g);
    }
}

#[test]
fn the_atoms_a_rule_leaves_alone_are_counted_as_written_not_read_through() {
    let tmp = tempfile::tempdir().unwrap();
    // a short cutoff leaves some atoms without a neighbour
    let rule = GraphRule::Cutoff { radius: 1.2 };
    let parts = [molecules_by(30, 5, &rule), molecules_by(20, 6, &rule)];
    let alone: usize = parts.iter().map(GraphSet::alone_atoms).sum();
    assert!(alone > 0);
    write_parts(tmp.path(), &parts.iter().collect::<Vec<_>>());
    let store = DiskStore::open(tmp.path()).unwrap();
    assert_eq!(store.manifest().alone, Some(alone as u64));
    let back = store.set().unwrap();
    assert_eq!(back.alone_atoms(), alone);
    // the same count as the copy's, read from its edges
    let copy = back.subset(&(0..50).collect::<Vec<_>>());
    assert_eq!(copy.alone_atoms(), alone);
    // a manifest counting more atoms alone than it holds is refused by name
    let path = tmp.path().join("store.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let damaged = text.replace(&format!("\"alone\": {alone}"), "\"alone\": 99999999");
    assert_ne!(damaged, text);
    std::fs::write(&path, damaged).unwrap();
    let err = DiskStore::open(tmp.path()).err().unwrap().to_string();
    assert!(err.contains("store.json") && err.contains("alone"), "{err}");
}

#[test]
fn numpy_reads_the_columns_as_written() {
    use ndarray_npy::ReadNpyExt;
    let tmp = tempfile::tempdir().unwrap();
    let set = crystals(4);
    write_parts(tmp.path(), &[&set]);
    let open = |name: &str| std::fs::File::open(tmp.path().join(format!("{name}.npy"))).unwrap();
    let p = ndarray::Array2::<f32>::read_npy(open(names::POSITIONS)).unwrap();
    assert_eq!(p.as_slice().unwrap(), set.positions().as_flattened());
    let n = ndarray::Array1::<u32>::read_npy(open(names::N_NODE)).unwrap();
    assert_eq!(
        n.to_vec(),
        set.sizes().iter().map(|s| s.nodes).collect::<Vec<_>>()
    );
    let c = ndarray::Array3::<f64>::read_npy(open(names::CELL)).unwrap();
    assert_eq!(c.shape(), [4, 3, 3]);
}

#[test]
fn structures_appended_after_the_last_commit_are_not_seen() {
    let tmp = tempfile::tempdir().unwrap();
    let first = molecules(10, 7);
    let mut w = StoreWriter::create(tmp.path(), StoreMeta::of(&first)).unwrap();
    w.append(&first).unwrap();
    w.commit().unwrap();
    w.append(&molecules(5, 8)).unwrap();
    // the writer is dropped here as a killed import would be: no commit
    drop(w);
    let store = DiskStore::open(tmp.path()).unwrap();
    assert_eq!(store.len(), 10);
    assert_eq!(store.sizes(), first.sizes());
}

/// Writes `value` at byte `at` of column `name`'s rows: the store still opens, and its check
/// says every one of `parts`; then the column is put back.
fn damaged_check_names(dir: &Path, name: &str, at: usize, value: &[u8], parts: &[&str]) {
    let path = dir.join(format!("{name}.npy"));
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    let at = geobatch_store::npy::HEADER + at;
    bad[at..at + value.len()].copy_from_slice(value);
    std::fs::write(&path, &bad).unwrap();
    let store = DiskStore::open(dir).unwrap();
    let err = store.check().err().unwrap().to_string();
    assert!(parts.iter().all(|p| err.contains(p)), "{err}");
    std::fs::write(&path, &good).unwrap();
}

#[test]
fn damaged_files_are_named_with_the_structure_s_row() {
    let tmp = tempfile::tempdir().unwrap();
    let set = molecules(12, 4);
    write_parts(tmp.path(), &[&set]);
    // a truncated column: opening names the file
    let positions = tmp.path().join(format!("{}.npy", names::POSITIONS));
    let len = std::fs::metadata(&positions).unwrap().len();
    let bytes = std::fs::read(&positions).unwrap();
    std::fs::write(&positions, &bytes[..(len - 12) as usize]).unwrap();
    let err = DiskStore::open(tmp.path()).err().unwrap().to_string();
    assert!(
        err.contains("positions.npy") && err.contains("truncated"),
        "{err}"
    );
    std::fs::write(&positions, &bytes).unwrap();
    // a structure's start past the atoms: reading it names the file and the row
    let starts = tmp.path().join(format!("{}.npy", names::NODE_START));
    let mut s = std::fs::read(&starts).unwrap();
    let at = geobatch_store::npy::HEADER + 8 * 7;
    s[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&starts, &s).unwrap();
    let store = DiskStore::open(tmp.path()).unwrap();
    let err = store.set().err().unwrap().to_string();
    assert!(
        err.contains("node_start.npy") && err.contains("structure 7"),
        "{err}"
    );
    let fixed = u64::from(set.node_offsets()[7]).to_le_bytes();
    s[at..at + 8].copy_from_slice(&fixed);
    std::fs::write(&starts, &s).unwrap();
    DiskStore::open(tmp.path()).unwrap().check().unwrap();
    // an atom's species class that is not its element, a position that is not a number:
    // the store opens, and a check names the file and the structure
    let atom = set.node_offsets()[5] as usize + 1;
    damaged_check_names(
        tmp.path(),
        names::SPECIES,
        4 * atom,
        &77u32.to_le_bytes(),
        &["species.npy", "structure 5", "class 77"],
    );
    damaged_check_names(
        tmp.path(),
        names::POSITIONS,
        12 * set.node_offsets()[9] as usize,
        &f32::NAN.to_le_bytes(),
        &["positions.npy", "structure 9", "not finite"],
    );
    // a FIFO where a column belongs: refused by name, not waited on
    std::fs::remove_file(&positions).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&positions)
        .status()
        .unwrap();
    assert!(made.success());
    let err = DiskStore::open(tmp.path()).err().unwrap().to_string();
    assert!(
        err.contains("positions.npy") && err.contains("FIFO"),
        "{err}"
    );
    std::fs::remove_file(&positions).unwrap();
    std::fs::write(&positions, &bytes).unwrap();
    // a manifest of another format
    std::fs::write(tmp.path().join("store.json"), "{\"format\": 3}").unwrap();
    let err = DiskStore::open(tmp.path()).err().unwrap().to_string();
    assert!(err.contains("store.json"), "{err}");
}

#[test]
fn a_store_is_not_overwritten_nor_given_a_set_of_another_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let set = molecules(3, 5);
    let mut w = StoreWriter::create(tmp.path(), StoreMeta::of(&set)).unwrap();
    let err = w.append(&crystals(2)).err().unwrap();
    assert!(matches!(err, StoreError::Refused(_)), "{err}");
    w.append(&set).unwrap();
    w.finish().unwrap();
    let again = StoreWriter::create(tmp.path(), StoreMeta::of(&set))
        .err()
        .unwrap();
    assert!(
        again.to_string().contains("a store is already there"),
        "{again}"
    );
    assert_eq!(DiskStore::open(tmp.path()).unwrap().len(), 3);
}
