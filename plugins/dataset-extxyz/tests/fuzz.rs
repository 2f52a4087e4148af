//! Mutation fuzzing of the extended XYZ reader and the dataset: the committed metatrain files,
//! damaged (lines lost, repeated or swapped, hostile values, flipped bytes, cut short), must read
//! or fail with an error naming the file, the frame and the line, never panic, hang or allocate by
//! a damaged count. `GEOBATCH_FUZZ_CASES` runs a longer campaign.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_dataset_extxyz::{ExtxyzSpec, comment, frames};
use geobatch_testkit::fuzz;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(geobatch_testkit::fixture!(name)).unwrap()
}

/// The first `n` frames of the periodic fixture (34 lines each).
fn flashmd(n: usize) -> Vec<u8> {
    let text = String::from_utf8(fixture("flashmd.xyz")).unwrap();
    let lines: Vec<&str> = text.lines().take(34 * n).collect();
    format!("{}\n", lines.join("\n")).into_bytes()
}

/// The first `n` molecules of the QM9 fixture.
fn qm9(n: usize) -> Vec<u8> {
    let text = String::from_utf8(fixture("qm9_reduced_100.xyz")).unwrap();
    let mut out = String::new();
    let mut lines = text.lines();
    for _ in 0..n {
        let count = lines.next().unwrap();
        out.push_str(count);
        out.push('\n');
        for _ in 0..=count.trim().parse::<usize>().unwrap() {
            out.push_str(lines.next().unwrap());
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// Reads every frame; an error must name the file, a frame and a line within the text.
fn check_frames(bytes: &[u8]) -> Result<(), TestCaseError> {
    let lines = bytes.split(|&b| b == b'\n').count();
    let keep = vec!["forces".to_string()];
    for f in frames::frames(bytes, "damaged.xyz", &keep) {
        match f {
            Ok(f) => {
                prop_assert_eq!(f.numbers.len(), f.positions.len());
                if let Some(c) = f.column("forces") {
                    prop_assert_eq!(c.width, 3);
                }
            }
            Err(e) => {
                prop_assert_eq!(e.file.as_str(), "damaged.xyz");
                prop_assert!(e.line >= 1 && e.line <= lines, "{}", e);
            }
        }
    }
    Ok(())
}

fn load(bytes: &[u8], target: &str, graph: &str) -> Result<(), TestCaseError> {
    let options = format!("targets = [{target:?}]\ngraph = {graph}");
    fuzz::loads_or_names_the_file::<ExtxyzSpec>(bytes, "damaged.xyz", &options)
}

proptest! {
    #![proptest_config(fuzz::config(200))]

    #[test]
    fn a_damaged_periodic_file_reads_or_names_file_frame_and_line(
        bytes in fuzz::mutated(flashmd(3), 4)
    ) {
        check_frames(&bytes)?;
    }

    #[test]
    fn a_damaged_molecule_file_reads_or_names_file_frame_and_line(
        bytes in fuzz::mutated(qm9(6), 4)
    ) {
        check_frames(&bytes)?;
    }

    #[test]
    fn a_damaged_periodic_file_loads_or_names_the_file(bytes in fuzz::mutated(flashmd(2), 3)) {
        load(&bytes, "energy", "{ kind = \"cutoff\", radius = 4.0 }")?;
    }

    #[test]
    fn a_damaged_molecule_file_loads_or_names_the_file(bytes in fuzz::mutated(qm9(6), 3)) {
        load(&bytes, "U0", "{ kind = \"knn\", k = 12 }")?;
    }

    #[test]
    fn any_comment_line_parses_or_is_refused(line in ".{0,120}") {
        let _ = comment::parse(&line);
    }
}
