//! A run folder's manifest (DESIGN.md §13): what the run's results must contain, written by the
//! sink that writes the result files at every checkpoint and at the end. Readers (`report`,
//! `advise`, `sweep --status`) verify a run against it and leave out, loudly, a run whose files
//! are missing, extra, duplicated or inconsistent.

use geobatch_core::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::Path;

/// File name of the manifest inside a run folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Format version of [`Manifest`].
pub const MANIFEST_VERSION: u32 = 1;

/// One closed part file of the steps table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// File name inside the run folder (`steps-00000.parquet`).
    pub file: String,
    /// Rows (steps) it holds.
    pub rows: u64,
    /// Its first step.
    pub first_step: u64,
    /// Its last step.
    pub last_step: u64,
}

/// What a run folder holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`] of the writer.
    pub version: u32,
    /// The run's `run_id`.
    pub run_id: String,
    /// The status `run.parquet` records (`running`, `complete`, `failed`, `interrupted`).
    pub status: geobatch_core::records::RunStatus,
    /// Steps recorded: the steps table holds steps `0..steps`, each once.
    pub steps: u64,
    /// The step part files, in step order.
    pub parts: Vec<PartEntry>,
    /// Rows of `evals.parquet` (0: no such file).
    pub eval_rows: u64,
}

impl Manifest {
    /// Reads the manifest of a run folder; `Ok(None)` when there is none.
    pub fn read(run_dir: &Path) -> Result<Option<Manifest>> {
        let path = run_dir.join(MANIFEST_FILE);
        let text = match geobatch_datafiles::files::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
                Error::invalid(format!(
                    "{}: not a geobatch manifest: binary data, not JSON text",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::invalid(format!("{}: {e}", path.display()))),
        };
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(format!("{}: not a geobatch manifest: {e}", path.display()))
        })?;
        if m.version > MANIFEST_VERSION {
            return Err(Error::invalid(format!(
                "{}: manifest version {} is newer than this geobatch reads ({MANIFEST_VERSION})",
                path.display(),
                m.version
            )));
        }
        Ok(Some(m))
    }

    /// Writes the manifest into `run_dir` under a temporary name, then renames it.
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::invalid(e.to_string()))?;
        geobatch_datafiles::atomic::write_atomic(&path, |f| f.write_all(text.as_bytes()))
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
    }

    /// Checks that the parts are in step order, cover `0..steps` without gaps or overlaps, and
    /// that each part's rows match its step range.
    pub fn check(&self) -> std::result::Result<(), String> {
        let mut next = 0;
        for p in &self.parts {
            if p.rows == 0 || p.first_step != next || p.last_step + 1 - p.first_step != p.rows {
                return Err(format!(
                    "manifest: part {} holds steps {}..={} in {} rows where step {next} comes next",
                    p.file, p.first_step, p.last_step, p.rows
                ));
            }
            next = p.last_step + 1;
        }
        if next != self.steps {
            return Err(format!(
                "manifest: its parts hold {next} steps, but it records {} steps",
                self.steps
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(i: u32, first: u64, rows: u64) -> PartEntry {
        PartEntry {
            file: format!("steps-{i:05}.parquet"),
            rows,
            first_step: first,
            last_step: first + rows - 1,
        }
    }

    fn manifest(parts: Vec<PartEntry>, steps: u64) -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            run_id: "r".into(),
            status: geobatch_core::records::RunStatus::Complete,
            steps,
            parts,
            eval_rows: 2,
        }
    }

    #[test]
    fn parts_must_cover_every_step_once() {
        assert!(
            manifest(vec![part(0, 0, 10), part(1, 10, 5)], 15)
                .check()
                .is_ok()
        );
        assert!(manifest(vec![], 0).check().is_ok());
        // a gap, an overlap, a short count, a wrong total
        assert!(
            manifest(vec![part(0, 0, 10), part(1, 11, 4)], 15)
                .check()
                .is_err()
        );
        assert!(
            manifest(vec![part(0, 0, 10), part(1, 9, 6)], 15)
                .check()
                .is_err()
        );
        let mut short = part(1, 10, 5);
        short.rows = 4;
        assert!(manifest(vec![part(0, 0, 10), short], 15).check().is_err());
        assert!(manifest(vec![part(0, 0, 10)], 15).check().is_err());
    }

    #[test]
    fn round_trip_and_absence() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), None);
        let m = manifest(vec![part(0, 0, 3)], 3);
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), Some(m));
        std::fs::write(dir.path().join(MANIFEST_FILE), "{").unwrap();
        let e = Manifest::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("manifest.json") && e.contains("not a geobatch manifest"),
            "{e}"
        );
    }
}
