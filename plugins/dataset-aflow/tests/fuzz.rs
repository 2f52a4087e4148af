//! Mutation fuzzing of the AFLOW reader: the committed fixture's records, damaged (lines lost or
//! repeated, hostile values, flipped bytes, cut short), must load or fail with an error naming the
//! file, never panic, hang or allocate by a damaged count. `GEOBATCH_FUZZ_CASES` runs longer.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{DatasetContext, DatasetSpec};
use geobatch_dataset_aflow::AflowSpec;
use geobatch_testkit::fuzz;
use proptest::prelude::*;
use std::path::Path;

fn fixture() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/aflow-sample.jsonl"),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    #[test]
    fn damaged_records_load_or_name_the_file(bytes in fuzz::mutated(fixture(), 4)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.jsonl");
        std::fs::write(&path, &bytes).unwrap();
        let spec = AflowSpec {
            path: Some(path),
            split: toml::from_str("train = 1.0\nvalidation = 0.0\ntest = 0.0").unwrap(),
            ..AflowSpec::default()
        };
        let ctx = DatasetContext { seed: 1, data_dir: dir.path().to_path_buf() };
        if let Err(e) = spec.load(&ctx) {
            let e = e.to_string();
            prop_assert!(e.contains("damaged.jsonl"), "{}", e);
        }
    }
}
