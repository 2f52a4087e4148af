//! Writing a report folder as one set: never a mix of files from two reports.

use crate::ReportError;
use std::path::{Path, PathBuf};

/// The file every report folder holds; a folder with it (or an empty one) may be replaced.
pub const MARK: &str = "report.md";

fn write_err(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// `out` with its file name changed to `.NAME.TAG-PID`, beside it.
fn sibling(out: &Path, tag: &str) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    out.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
}

/// Refuses an `out` that exists and is not a report folder (a file, or a folder with other
/// files and no `report.md`): replacing it would delete what it holds.
fn check_replaceable(out: &Path) -> Result<(), ReportError> {
    if !out.exists() {
        return Ok(());
    }
    let refuse = |why: &str| {
        write_err(
            out,
            format!("{why}; give --out a new folder or an earlier report's folder"),
        )
    };
    if !out.is_dir() {
        return Err(refuse("it is a file, not a report folder"));
    }
    let mut entries = std::fs::read_dir(out).map_err(|e| write_err(out, e))?;
    if out.join(MARK).is_file() || entries.next().is_none() {
        return Ok(());
    }
    Err(refuse(&format!(
        "it holds files but no {MARK}, so it is not a geobatch report and is left alone"
    )))
}

/// Runs `write` on a fresh temporary folder beside `out`, then puts that folder in `out`'s
/// place: an earlier report in `out` is moved aside and removed only once the new one is in
/// place. On failure the temporary folder is removed and `out` is left as it was.
pub fn as_one_set<T>(
    out: &Path,
    write: impl FnOnce(&Path) -> Result<T, ReportError>,
) -> Result<T, ReportError> {
    check_replaceable(out)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| write_err(parent, e))?;
    }
    let (staging, old) = (sibling(out, "tmp"), sibling(out, "old"));
    for leftover in [&staging, &old] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover).map_err(|e| write_err(leftover, e))?;
        }
    }
    std::fs::create_dir(&staging).map_err(|e| write_err(&staging, e))?;
    let value = match write(&staging) {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let had = out.exists();
    if had {
        std::fs::rename(out, &old).map_err(|e| write_err(out, e))?;
    }
    if let Err(e) = std::fs::rename(&staging, out) {
        if had {
            let _ = std::fs::rename(&old, out);
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(write_err(out, e));
    }
    if had {
        std::fs::remove_dir_all(&old).map_err(|e| write_err(&old, e))?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_report_replaces_an_old_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report");
        as_one_set(&out, |d| {
            std::fs::write(d.join(MARK), "one").map_err(|e| write_err(d, e))?;
            std::fs::write(d.join("old-only.csv"), "x").map_err(|e| write_err(d, e))
        })
        .unwrap();
        as_one_set(&out, |d| {
            std::fs::write(d.join(MARK), "two").map_err(|e| write_err(d, e))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(out.join(MARK)).unwrap(), "two");
        assert!(!out.join("old-only.csv").exists());
        // nothing left beside it
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_report_leaves_the_earlier_one_and_a_foreign_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join(MARK), "earlier").unwrap();
        let failed = as_one_set(&out, |d| -> Result<(), ReportError> {
            std::fs::write(d.join(MARK), "half").map_err(|e| write_err(d, e))?;
            Err(write_err(d, "disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(out.join(MARK)).unwrap(), "earlier");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let foreign = dir.path().join("data");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("qm9.parquet"), "precious").unwrap();
        let e = as_one_set(&foreign, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("not a geobatch report"), "{e}");
        assert!(foreign.join("qm9.parquet").is_file());
    }
}
