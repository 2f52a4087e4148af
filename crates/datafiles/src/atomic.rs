//! Files written whole or not at all: the one way geobatch writes a file that a reader, a resume
//! or a report may open while it is being replaced (Parquet parts and tables, manifests, stores,
//! fetch states). The bytes go to `<name>.tmp` beside the file and are renamed over it, so a
//! reader sees the old file or the new one, never a part; a failed write removes its temporary
//! file (a full disk must not be filled further by it). Nothing but a regular file is renamed
//! over: a FIFO, a device or a directory where the file belongs is an error, and a symbolic
//! link's target is written with the link left in place.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The temporary name of `path` while it is written: `<name>.tmp` in the same folder.
pub fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The file a write of `path` replaces: `path` itself, or the file a symbolic link at `path`
/// leads to (the link stays a link); an error when what is there is not a regular file (a FIFO,
/// a device, a directory, a socket, a link to nothing): nothing is ever renamed over it.
fn replaceable(path: &Path) -> io::Result<PathBuf> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => return Err(e),
        Ok(m) => m,
    };
    let (target, meta) = if meta.file_type().is_symlink() {
        let followed = std::fs::metadata(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("a symbolic link whose target cannot be written ({e})"),
            )
        })?;
        (std::fs::canonicalize(path)?, followed)
    } else {
        (path.to_path_buf(), meta)
    };
    if meta.is_file() {
        Ok(target)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}, not a regular file: geobatch never renames a file over it",
                crate::files::not_regular(&meta).unwrap_or("not a regular file")
            ),
        ))
    }
}

/// Renames the finished file `tmp` over `path` (over the file a link there leads to), checked
/// first as [`write_atomic`] checks it: never over what is not a regular file.
pub fn rename_over(tmp: &Path, path: &Path) -> io::Result<()> {
    let path = replaceable(path)?;
    std::fs::rename(tmp, path)
}

/// Writes `path` with `write`, which gets the temporary file ([`temporary`]), then renames it
/// over `path` (over the file a symbolic link there leads to; never over anything that is not a
/// regular file, [`replaceable`]). On any failure the temporary file is removed and the error
/// returned; `path` is left as it was. Callers name `path` in their own error.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let path = replaceable(path)?;
    let tmp = temporary(&path);
    let written = File::create(&tmp)
        .and_then(|mut file| write(&mut file))
        // checked again: something else may have been put there while the file was written
        .and_then(|()| replaceable(&path))
        .and_then(|_| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_write_replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.parquet");
        std::fs::write(&path, b"old").unwrap();
        write_atomic(&path, |f| f.write_all(b"new bytes")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new bytes");
        assert!(!temporary(&path).exists());
        assert_eq!(temporary(&path).file_name().unwrap(), "table.parquet.tmp");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, b"old").unwrap();
        let err = write_atomic(&path, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!temporary(&path).exists());
        // a folder that does not exist: the error, nothing left behind
        let missing = dir.path().join("no/such/file");
        assert!(write_atomic(&missing, |_| Ok(())).is_err());
        assert!(!temporary(&missing).exists());
    }
}
