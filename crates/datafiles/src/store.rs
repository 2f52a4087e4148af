//! Stores of data (an imported or fetched dataset file) are never replaced without an explicit
//! flag (DESIGN.md §13). One rule for every import and fetch: a new store is written beside its
//! target and put in place by [`put_in_place`], which refuses to replace other content unless
//! forced; [`refuse_unless_forced`] is the same refusal for a check made before the work (a
//! fetch that would download for nothing).

use crate::output::{self, Accept, Inputs};
use geobatch_core::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// What [`put_in_place`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Nothing was at the target: the new store is there now.
    New,
    /// The target already held the same bytes: it is left as it was and the new file removed.
    Same,
    /// The target held other content and replacing it was forced: the new store is there now.
    Replaced,
}

/// Whether the files `a` and `b` hold the same bytes (lengths first, then streamed).
pub fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    if std::fs::metadata(a)?.len() != std::fs::metadata(b)?.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The refusal to replace the store at `target`: `why` says what is there (after the path), `how`
/// how to go on (the flag that replaces it, another place to write). An [`Error::Refused`]: the
/// user's input to change, exit code 2.
pub fn refusal(target: &Path, why: &str, how: &str) -> Error {
    Error::Refused(format!("{} {why}: {how}", target.display()))
}

/// `Ok` when `force` is given, else [`refusal`]: for the checks a fetch makes before it starts.
pub fn refuse_unless_forced(target: &Path, force: bool, why: &str, how: &str) -> Result<()> {
    if force {
        Ok(())
    } else {
        Err(refusal(target, why, how))
    }
}

/// Puts the finished file `new` at `target` (a rename; both in one folder): when `target` does
/// not exist, or holds the same bytes (then it is left as it is and `new` removed), or `force` is
/// given. Otherwise refuses with [`refusal`] (`how` says how to go on) and leaves both files as
/// they are: the caller decides whether `new` is kept (a fetch's pages) or removed.
pub fn put_in_place(new: &Path, target: &Path, force: bool, how: &str) -> Result<Placed> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| Error::invalid(format!("{p}: {e}"))
    };
    // a store is a regular file (a link's target): a FIFO, a device or a folder there is never
    // renamed over, nor called a store with other content
    let resolved = output::resolve(target, "the store", &Inputs::new(), Accept::Files, true)?;
    let target = resolved.path();
    let placed = match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Placed::New,
        Err(e) => return Err(io(target)(e)),
        Ok(_) => {
            if same_bytes(new, target).map_err(io(target))? {
                std::fs::remove_file(new).map_err(io(new))?;
                return Ok(Placed::Same);
            }
            refuse_unless_forced(
                target,
                force,
                "already holds a store with other content, which this would replace",
                how,
            )?;
            Placed::Replaced
        }
    };
    std::fs::rename(new, target).map_err(io(target))?;
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_content_is_replaced_only_when_forced() {
        let dir = tempfile::tempdir().unwrap();
        let (new, target) = (dir.path().join("new"), dir.path().join("store"));
        std::fs::write(&new, b"full store").unwrap();
        assert_eq!(
            put_in_place(&new, &target, false, "h").unwrap(),
            Placed::New
        );
        assert!(!new.exists());
        // the same bytes: left as it is, the new file removed
        std::fs::write(&new, b"full store").unwrap();
        assert_eq!(
            put_in_place(&new, &target, false, "h").unwrap(),
            Placed::Same
        );
        assert!(!new.exists());
        // other content (of the same length too): refused, both files kept
        for other in [&b"50 molecules"[..], &b"full stora"[..]] {
            std::fs::write(&new, other).unwrap();
            let e = put_in_place(&new, &target, false, "add --force").unwrap_err();
            assert!(matches!(e, Error::Refused(_)), "{e:?}");
            let e = e.to_string();
            assert!(
                e.contains("store already holds a store with other content")
                    && e.ends_with(": add --force"),
                "{e}"
            );
            assert_eq!(std::fs::read(&target).unwrap(), b"full store");
            assert_eq!(std::fs::read(&new).unwrap(), other);
        }
        assert_eq!(
            put_in_place(&new, &target, true, "h").unwrap(),
            Placed::Replaced
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"full stora");
    }

    #[test]
    fn same_bytes_compares_past_one_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut bytes = vec![7u8; 200_000];
        std::fs::write(&a, &bytes).unwrap();
        std::fs::write(&b, &bytes).unwrap();
        assert!(same_bytes(&a, &b).unwrap());
        bytes[150_000] = 8;
        std::fs::write(&b, &bytes).unwrap();
        assert!(!same_bytes(&a, &b).unwrap());
        assert!(same_bytes(&a, &dir.path().join("absent")).is_err());
    }
}
