//! Writing a report folder as one set: never a mix of files from two reports.

use crate::ResultsError;
use std::path::{Path, PathBuf};

/// The file every report folder holds.
pub const MARK: &str = "report.md";

/// The record of the files a report wrote (one path per line, relative, `/`-separated): a report
/// replaces a folder only when everything in it is listed there.
pub const FILES: &str = ".geobatch-report-files";

fn write_err(path: &Path, e: impl std::fmt::Display) -> ResultsError {
    ResultsError::Write {
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

/// Every file (or link) under `dir`, as a relative `/`-separated path, sorted; links are not
/// followed.
fn files_under(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for entry in std::fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let path = rel.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                todo.push(path);
            } else {
                let parts: Vec<_> = path.iter().map(|p| p.to_string_lossy()).collect();
                found.push(parts.join("/"));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Refuses an `out` that holds anything a report did not write: a file, a folder of other files,
/// or a report folder with files added (the user's `thesis.tex` beside `report.md`). An empty
/// folder, or one holding only what its [`FILES`] record lists, may be replaced.
fn check_replaceable(out: &Path) -> Result<(), ResultsError> {
    let refuse = |why: String| {
        ResultsError::Refused(format!(
            "{}: {why}; a report replaces only the files a report wrote: give --out a new \
             folder, or move those files away",
            out.display()
        ))
    };
    match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(write_err(out, e)),
        Ok(m) if !m.is_dir() => return Err(refuse("it is a file, not a report folder".into())),
        Ok(_) => {}
    }
    // a folder without a report's record is judged by its first entry: never walked (`--out /`
    // would walk the whole file system before refusing)
    let listed = match std::fs::read_to_string(out.join(FILES)) {
        Ok(text) => text.lines().map(str::to_owned).collect::<Vec<_>>(),
        Err(_) => {
            let first = std::fs::read_dir(out)
                .map_err(|e| write_err(out, e))?
                .next()
                .transpose()
                .map_err(|e| write_err(out, e))?;
            return match first {
                None => Ok(()),
                Some(_) if out.join(MARK).exists() => Err(refuse(format!(
                    "it holds {MARK} but no record of the files a report wrote ({FILES}: a \
                     report of an earlier geobatch, or files put there by hand), so nothing in \
                     it is known to be a report's"
                ))),
                Some(entry) => Err(refuse(format!(
                    "it holds files ({}) but no {MARK}, so it is not a geobatch report and is \
                     left alone",
                    entry.file_name().to_string_lossy()
                ))),
            };
        }
    };
    let files = files_under(out).map_err(|e| write_err(out, e))?;
    let foreign: Vec<&String> = files
        .iter()
        .filter(|f| *f != FILES && !listed.contains(f))
        .collect();
    match foreign.as_slice() {
        [] => Ok(()),
        [one] => Err(refuse(format!("it holds {one}, which no report wrote"))),
        [first, rest @ ..] => Err(refuse(format!(
            "it holds {first} and {} more files no report wrote",
            rest.len()
        ))),
    }
}

/// Runs `write` on a fresh temporary folder beside `out`, then puts that folder in `out`'s
/// place: an earlier report in `out` is moved aside and removed only once the new one is in
/// place. On failure the temporary folder is removed and `out` is left as it was.
pub fn as_one_set<T>(
    out: &Path,
    write: impl FnOnce(&Path) -> Result<T, ResultsError>,
) -> Result<T, ResultsError> {
    recover(out)?;
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
    let value = match write(&staging).and_then(|v| record_files(&staging).map(|()| v)) {
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

/// Clears what a killed report left beside `out` (`.NAME.tmp-PID`, `.NAME.old-PID` of a process
/// that is gone): a half-written report is removed; an earlier report moved aside is put back
/// when `out` is missing (the report was killed between its two renames), else removed.
fn recover(out: &Path) -> Result<(), ResultsError> {
    let Some(name) = out.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    let gone = |pid: &str| {
        pid.parse::<u32>().is_ok_and(|p| {
            p != std::process::id()
                && Path::new("/proc/self").exists()
                && !Path::new("/proc").join(pid).exists()
        })
    };
    let mut stale: Vec<(PathBuf, bool)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let rest = file.strip_prefix(&format!(".{name}."))?;
            let (tag, pid) = rest.split_once('-')?;
            let old = match tag {
                "tmp" => false,
                "old" => true,
                _ => return None,
            };
            gone(pid).then(|| (e.path(), old))
        })
        .collect();
    stale.sort();
    for (path, old) in stale {
        if old && !out.exists() && path.join(MARK).is_file() {
            std::fs::rename(&path, out).map_err(|e| write_err(&path, e))?;
        } else {
            std::fs::remove_dir_all(&path).map_err(|e| write_err(&path, e))?;
        }
    }
    Ok(())
}

/// Writes the [`FILES`] record of everything in `dir`.
fn record_files(dir: &Path) -> Result<(), ResultsError> {
    let files = files_under(dir).map_err(|e| write_err(dir, e))?;
    let mut text = files.join("\n");
    text.push('\n');
    std::fs::write(dir.join(FILES), text).map_err(|e| write_err(dir, e))
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
        let failed = as_one_set(&out, |d| -> Result<(), ResultsError> {
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

    #[test]
    fn files_added_to_a_report_folder_are_never_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report");
        let report = |d: &Path| -> Result<(), ResultsError> {
            std::fs::create_dir(d.join("figures")).map_err(|e| write_err(d, e))?;
            std::fs::write(d.join("figures/a.svg"), "<svg/>").map_err(|e| write_err(d, e))?;
            std::fs::write(d.join(MARK), "r").map_err(|e| write_err(d, e))
        };
        as_one_set(&out, report).unwrap();
        let listed = std::fs::read_to_string(out.join(FILES)).unwrap();
        assert_eq!(listed, "figures/a.svg\nreport.md\n");
        // again over its own files: replaced
        as_one_set(&out, report).unwrap();
        // the user's files beside it: refused, every file kept, named in the message
        std::fs::write(out.join("thesis.tex"), "precious").unwrap();
        std::fs::create_dir(out.join("figs")).unwrap();
        std::fs::write(out.join("figs/raw.csv"), "1,2").unwrap();
        let e = as_one_set(&out, report).unwrap_err();
        assert!(matches!(e, ResultsError::Refused(_)), "{e}");
        assert!(e.to_string().contains("figs/raw.csv and 1 more"), "{e}");
        assert_eq!(
            std::fs::read_to_string(out.join("thesis.tex")).unwrap(),
            "precious"
        );
        assert!(out.join("figs/raw.csv").is_file() && out.join(MARK).is_file());
        // a report without the record (an earlier geobatch's) is not replaced either
        std::fs::remove_file(out.join("thesis.tex")).unwrap();
        std::fs::remove_dir_all(out.join("figs")).unwrap();
        std::fs::remove_file(out.join(FILES)).unwrap();
        let e = as_one_set(&out, report).unwrap_err().to_string();
        assert!(e.contains("no record of the files"), "{e}");
        assert!(out.join("figures/a.svg").is_file());
    }

    /// A killed report's half-written folder is removed by the next report; an earlier report
    /// it had moved aside is put back first; a folder without a record is refused without being
    /// walked (`--out /`).
    #[test]
    fn a_killed_reports_leftovers_are_cleared_and_no_folder_is_walked() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report");
        // no process has this id (above the kernel's pid_max)
        let dead = 4_999_999;
        let tmp = dir.path().join(format!(".report.tmp-{dead}"));
        let old = dir.path().join(format!(".report.old-{dead}"));
        std::fs::create_dir(&tmp).unwrap();
        std::fs::write(tmp.join(MARK), "half").unwrap();
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join(MARK), "earlier").unwrap();
        std::fs::write(old.join(FILES), "report.md\n").unwrap();
        as_one_set(&out, |d| {
            assert_eq!(std::fs::read_to_string(out.join(MARK)).unwrap(), "earlier");
            std::fs::write(d.join(MARK), "new").map_err(|e| write_err(d, e))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(out.join(MARK)).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["report"], "nothing left beside the report");
        // a folder of other things, with a deep tree: refused by its first entry
        let big = dir.path().join("big");
        std::fs::create_dir_all(big.join("a/b/c")).unwrap();
        let e = as_one_set(&big, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("(a) but no report.md"), "{e}");
        let e = as_one_set(Path::new("/"), |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a geobatch report"), "{e}");
    }
}
