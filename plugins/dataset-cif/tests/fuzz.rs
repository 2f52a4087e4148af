//! Mutation fuzzing of the CIF table reader and the P1 CIF parser: the committed fixture, damaged
//! (lines lost or repeated, hostile values, flipped bytes, cut short), must load or fail with an
//! error naming the file, never panic or hang. `GEOBATCH_FUZZ_CASES` runs a longer campaign.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{DatasetContext, DatasetSpec};
use geobatch_dataset_cif::{CifSpec, cif::parse_p1};
use geobatch_testkit::fuzz;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/cif-sample.csv")
}

/// One CIF of the fixture (the text of its first `cif` cell).
fn one_cif() -> String {
    let mut csv = csv::Reader::from_path(fixture()).unwrap();
    let col = csv
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "cif")
        .unwrap();
    let rec = csv.records().next().unwrap().unwrap();
    rec.get(col).unwrap().to_string()
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    #[test]
    fn a_damaged_cif_is_an_error_or_a_structure(text in fuzz::mutated(one_cif().into_bytes(), 4)) {
        if let Ok(s) = parse_p1(&String::from_utf8_lossy(&text)) {
            prop_assert_eq!(s.atomic_numbers.len(), s.fractional.len());
        }
    }

    #[test]
    fn a_damaged_table_loads_or_names_the_file(
        bytes in fuzz::mutated(std::fs::read(fixture()).unwrap(), 3)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.csv");
        std::fs::write(&path, &bytes).unwrap();
        let spec: CifSpec = toml::from_str(&format!(
            "path = {:?}\ntargets = [\"energy_per_atom\"]\nsplit = {{ train = 1.0, validation = 0.0, test = 0.0 }}",
            path.display().to_string()
        ))
        .unwrap();
        let ctx = DatasetContext { seed: 1, data_dir: dir.path().to_path_buf() };
        if let Err(e) = spec.load(&ctx) {
            let e = e.to_string();
            prop_assert!(e.contains("damaged.csv"), "{}", e);
        }
    }
}
