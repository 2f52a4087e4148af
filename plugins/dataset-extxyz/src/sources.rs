//! Where frames come from: one file, a folder of files or a glob pattern, each plain or gzip.

use geobatch_core::{Error, Result};
use std::path::{Path, PathBuf};

/// One file to read and the name its frames' ids start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// How its frames are named by default (`<name>:<frame>`): the file name for one file, the
    /// path below the folder for a folder, the path for a glob.
    pub name: String,
}

/// Whether a file name is an extended XYZ file (`.xyz`, `.extxyz`, either gzip'd).
pub fn is_xyz(p: &Path) -> bool {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let n = n.strip_suffix(".gz").unwrap_or(n);
    n.ends_with(".xyz") || n.ends_with(".extxyz")
}

/// Whether a path is a glob pattern (`*`, `?` or `[`).
pub fn is_glob(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.contains(['*', '?', '[']))
}

/// The files `path` names: itself, a folder's `.xyz`/`.extxyz` files (gzip'd or not, not
/// recursing) in name order, or the files a glob pattern matches in name order.
pub fn sources(path: &Path) -> Result<Vec<Source>> {
    if path.is_file() {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        return Ok(vec![Source {
            path: path.to_path_buf(),
            name,
        }]);
    }
    if path.is_dir() {
        let rd = std::fs::read_dir(path)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_xyz(p))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::invalid(format!(
                "{}: no .xyz, .extxyz (or .gz of them) files in this folder",
                path.display()
            )));
        }
        return Ok(files
            .into_iter()
            .map(|p| {
                let name = p
                    .strip_prefix(path)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned();
                Source { path: p, name }
            })
            .collect());
    }
    if is_glob(path) {
        let pattern = path.to_string_lossy();
        let paths = glob::glob(&pattern).map_err(|e| {
            Error::invalid(format!(
                "dataset.path = {pattern:?} is not a glob pattern: {e}"
            ))
        })?;
        let mut files: Vec<PathBuf> = paths
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::invalid(format!(
                "dataset.path = {pattern:?}: the pattern matches no file"
            )));
        }
        return Ok(files
            .into_iter()
            .map(|p| Source {
                name: p.display().to_string(),
                path: p,
            })
            .collect());
    }
    Err(Error::invalid(format!(
        "{}: no such file or folder (set dataset.path to an extended XYZ file, a folder of them \
         or a glob pattern such as \"data/*.xyz\")",
        path.display()
    )))
}

/// The bytes of a file, decompressed when its first bytes say gzip, bzip2 or xz (an archive or
/// another compression is refused, named: never read as frames of binary noise).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    geobatch_datafiles::compressed::read(path)
}
