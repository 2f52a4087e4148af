//! Mutation fuzzing of the ASE database readers: the committed JSON database (its first rows) and
//! SQLite database, damaged (lines lost or repeated, hostile values, flipped bytes, cut short),
//! must load or fail with an error naming the file, never panic or hang.
//! `GEOBATCH_FUZZ_CASES` runs a longer campaign.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_dataset_asedb::AsedbSpec;
use geobatch_testkit::fuzz;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(geobatch_testkit::fixture!(name)).unwrap()
}

/// Rows 10 to 13 of the JSON fixture (an Al frame and three molecules), as ASE writes them.
fn json_rows() -> Vec<u8> {
    let text = String::from_utf8(fixture("structures.json")).unwrap();
    let start = text.find("\"10\": {").unwrap();
    let end = text.find("\"14\": {").unwrap();
    format!(
        "{{{}\"ids\": [10, 11, 12, 13],\n\"nextid\": 14}}\n",
        &text[start..end]
    )
    .into_bytes()
}

fn load(bytes: &[u8], file: &str) -> Result<(), TestCaseError> {
    fuzz::loads_or_names_the_file::<AsedbSpec>(bytes, file, "targets = [\"energy\"]")
}

#[test]
fn the_json_excerpt_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.json");
    std::fs::write(&path, json_rows()).unwrap();
    assert_eq!(geobatch_dataset_asedb::read(&path).unwrap().len(), 4);
}

proptest! {
    #![proptest_config(fuzz::config(200))]

    #[test]
    fn a_damaged_json_database_loads_or_names_the_file(bytes in fuzz::mutated(json_rows(), 4)) {
        load(&bytes, "damaged.json")?;
    }

    #[test]
    fn a_damaged_sqlite_database_loads_or_names_the_file(
        bytes in fuzz::mutated(fixture("structures.db"), 4)
    ) {
        load(&bytes, "damaged.db")?;
    }
}
