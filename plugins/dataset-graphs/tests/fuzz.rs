//! Fuzzing of the `.npz` reader: CSR arrays with hostile shapes, pointers and indices (negative,
//! beyond 32 bits, inconsistent), and a valid file with flipped bytes, must read or fail with an
//! error naming the file, never panic or allocate by a damaged shape. `GEOBATCH_FUZZ_CASES` runs
//! a longer campaign.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_dataset_graphs::npz;
use geobatch_testkit::fuzz;
use ndarray::Array1;
use ndarray_npy::NpzWriter;
use proptest::prelude::*;
use std::fs::File;
use std::path::Path;

/// Values a damaged array may hold.
fn hostile_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        0i64..6,
        Just(-1),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(1 << 32),
        Just((1 << 32) - 1),
        Just(1 << 40),
    ]
}

fn write(path: &Path, arrays: &[(&str, Vec<i64>)]) {
    let mut w = NpzWriter::new(File::create(path).unwrap());
    for (name, v) in arrays {
        w.add_array(*name, &Array1::from(v.clone())).unwrap();
    }
    w.finish().unwrap();
}

/// A valid 3-node graph with sparse attributes, as `.npz` bytes.
fn valid(dir: &Path) -> Vec<u8> {
    let p = dir.join("valid.npz");
    write(
        &p,
        &[
            ("adj_indptr", vec![0, 1, 2, 3]),
            ("adj_indices", vec![1, 2, 0]),
            ("adj_shape", vec![3, 3]),
            ("attr_indptr", vec![0, 1, 1, 2]),
            ("attr_indices", vec![0, 1]),
            ("attr_data", vec![1, 1]),
            ("attr_shape", vec![3, 2]),
            ("labels", vec![0, 1, -1]),
        ],
    );
    std::fs::read(p).unwrap()
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    #[test]
    fn hostile_csr_arrays_read_or_name_the_file(
        indptr in proptest::collection::vec(hostile_int(), 0..6),
        indices in proptest::collection::vec(hostile_int(), 0..6),
        shape in proptest::collection::vec(hostile_int(), 0..4),
        attr_shape in proptest::collection::vec(hostile_int(), 2..3),
        labels in proptest::collection::vec(hostile_int(), 0..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hostile.npz");
        write(&p, &[
            ("adj_indptr", indptr.clone()),
            ("adj_indices", indices),
            ("adj_shape", shape),
            ("attr_indptr", indptr),
            ("attr_indices", vec![]),
            ("attr_data", vec![]),
            ("attr_shape", attr_shape),
            ("labels", labels),
        ]);
        match npz::read(&p) {
            Ok(g) => {
                prop_assert_eq!(g.labels.len(), g.n);
                prop_assert_eq!(g.features.len(), g.n * g.n_features);
            }
            Err(e) => prop_assert!(e.to_string().contains("hostile.npz"), "{}", e),
        }
    }

    #[test]
    fn a_damaged_file_reads_or_names_the_file(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = valid(dir.path());
        let len = bytes.len();
        for (i, b) in flips {
            bytes[i % len] = b;
        }
        let p = dir.path().join("damaged.npz");
        std::fs::write(&p, &bytes).unwrap();
        if let Err(e) = npz::read(&p) {
            prop_assert!(e.to_string().contains("damaged.npz"), "{}", e);
        }
    }
}
