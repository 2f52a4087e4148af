//! Files a user names, opened only when they are regular files: a FIFO, a device, a socket or
//! a directory where a config, a data file or a run's part is expected is refused by name
//! before it is opened (opening a FIFO blocks until a writer comes; `/dev/zero` never ends), and
//! a text read has a size bound.

use std::fs::{File, Metadata};
use std::io::{Error, ErrorKind, Result};
use std::path::Path;

/// The largest config (or other small text file: a status record, a split) read whole: 64 MiB.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// What `meta` is, when it is not a regular file: `Some("a FIFO (named pipe)")`, a device...
pub(crate) fn not_regular(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// The metadata of `path` (symbolic links followed) when it is a regular file; otherwise an
/// [`ErrorKind::InvalidInput`] error saying what it is (callers name the path).
pub fn regular(path: &Path) -> Result<Metadata> {
    let meta = std::fs::metadata(path)?;
    match not_regular(&meta) {
        None => Ok(meta),
        Some(what) => Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{what}, not a regular file: geobatch reads files it can read to their end"),
        )),
    }
}

/// `path` opened for reading when it is a regular file ([`regular`]).
pub fn open(path: &Path) -> Result<File> {
    regular(path)?;
    File::open(path)
}

/// The text of the regular file `path`, refused past [`MAX_TEXT_BYTES`].
pub fn read_text(path: &Path) -> Result<String> {
    let meta = regular(path)?;
    if meta.len() > MAX_TEXT_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{} bytes, more than the {} MiB a text file geobatch reads whole may have",
                meta.len(),
                MAX_TEXT_BYTES >> 20
            ),
        ));
    }
    std::fs::read_to_string(path)
}

/// The bytes of the regular file `path` ([`regular`]).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    regular(path)?;
    std::fs::read(path)
}

/// The SHA-256 of the regular file `path`'s content, as 64 hex digits (streamed, not cached).
pub fn sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A fingerprint of a file's content: its size and the first 16 hex digits of its SHA-256,
/// computed once per file, size and modification time in a process (a sweep asks for every run).
pub fn file_fingerprint(path: &std::path::Path) -> geobatch_core::Result<String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Key = (std::path::PathBuf, u64, Option<std::time::SystemTime>);
    static CACHE: Mutex<Option<HashMap<Key, String>>> = Mutex::new(None);
    let fail =
        |e: std::io::Error| geobatch_core::Error::invalid(format!("{}: {e}", path.display()));
    let meta = regular(path).map_err(fail)?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = cache.get_or_insert_with(HashMap::new).get(&key) {
        return Ok(f.clone());
    }
    let hex = sha256(path).map_err(fail)?;
    let f = format!("{} bytes, sha256 {}", meta.len(), &hex[..16]);
    cache
        .get_or_insert_with(HashMap::new)
        .insert(key, f.clone());
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "x = 1").unwrap();
        assert_eq!(read_text(&file).unwrap(), "x = 1");
        let e = read_text(dir.path()).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        #[cfg(unix)]
        {
            let e = read_text(Path::new("/dev/zero")).unwrap_err();
            assert!(e.to_string().contains("a character device"), "{e}");
            let fifo = dir.path().join("part-0001.parquet");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            if made.is_ok_and(|s| s.success()) {
                // opening it would block until a writer came: refused before it is opened
                let e = open(&fifo).unwrap_err();
                assert!(e.to_string().contains("a FIFO"), "{e}");
                assert_eq!(e.kind(), ErrorKind::InvalidInput);
            }
        }
    }
}
