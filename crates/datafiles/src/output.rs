//! Files a command writes where a user names them (`predict --out` and `--parquet`, `data import
//! --out`, `bench --csv`): one rule for every output path, decided before any work and said in
//! the refusal (DESIGN.md §13).
//!
//! * A symbolic link is followed: its target is written and the link stays a link. A link to
//!   nothing is refused (its target is named).
//! * A file that the command reads (its input, a file of a run folder it opens) is never written:
//!   refused, naming both roles (`predict --data lab.xyz --out lab.xyz` replaced the DFT labels).
//! * Nothing that is not a regular file is renamed over: a FIFO or a character device
//!   (`/dev/stdout`, a terminal, `/dev/null`) is written in place as a shell's `>` writes it,
//!   where the command streams ([`Accept::Streams`]), and refused where the output is a file read
//!   back later (a store); a directory, a block device or a socket is always refused.
//! * A regular file that is there is replaced only when the command is told so (`--force`):
//!   the refusal says what is there and how big it is.
//!
//! Errors are [`Error::Refused`]: the user's input to change, exit code 2, nothing written.

use crate::atomic::write_atomic;
use geobatch_core::error::{Error, Result};
use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

/// What kinds of file an output may be besides a regular one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Regular files only: the output is read back (a store, a table another command opens).
    Files,
    /// Also a FIFO or a character device, written in place (predictions, a CSV of timings).
    Streams,
}

/// Where an output goes, as [`resolve`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Nothing is there: the file is written whole under a temporary name and renamed.
    New(PathBuf),
    /// A regular file is there (the command was told to replace it, or appends to it): written
    /// as [`Output::New`], over it.
    Existing {
        /// The file (a link's target).
        path: PathBuf,
        /// Its size now.
        bytes: u64,
    },
    /// A FIFO or a character device: written in place, never renamed over.
    Stream {
        /// The FIFO or device (a link's target).
        path: PathBuf,
        /// What it is, in words.
        what: &'static str,
    },
}

impl Output {
    /// The file written (a link's target).
    pub fn path(&self) -> &Path {
        match self {
            Output::New(p) | Output::Existing { path: p, .. } | Output::Stream { path: p, .. } => p,
        }
    }

    /// Writes the output with `write`: a file whole or not at all ([`write_atomic`]), a stream in
    /// place. Callers name the path in their own error.
    pub fn write(&self, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
        match self {
            Output::New(p) | Output::Existing { path: p, .. } => write_atomic(p, write),
            Output::Stream { path, .. } => {
                let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
                write(&mut f)?;
                f.sync_data().or_else(|e| {
                    // pipes, terminals and /dev/null cannot be synced: what was written is out
                    if e.kind() == io::ErrorKind::InvalidInput {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
            }
        }
    }

    /// A writer of this output made piece by piece ([`Piecewise`]).
    pub fn piecewise(&self) -> io::Result<Piecewise> {
        match self {
            Output::New(p) | Output::Existing { path: p, .. } => {
                let tmp = crate::atomic::temporary(p);
                Ok(Piecewise {
                    file: io::BufWriter::new(File::create(&tmp)?),
                    rename: Some((tmp, p.clone())),
                })
            }
            Output::Stream { path, .. } => Ok(Piecewise {
                file: io::BufWriter::new(std::fs::OpenOptions::new().write(true).open(path)?),
                rename: None,
            }),
        }
    }

    /// Appends with `write` (a file made when new, a stream written in place); never renames.
    pub fn append(&self, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(matches!(self, Output::New(_)))
            .append(!matches!(self, Output::Stream { .. }))
            .write(true)
            .open(self.path())?;
        write(&mut f)
    }
}

/// An output written piece by piece (rows as they come, [`Output::piecewise`]): a file goes
/// to its temporary name and is renamed into place by [`Piecewise::finish`] (removed if never
/// finished), a stream is written in place.
#[derive(Debug)]
pub struct Piecewise {
    file: io::BufWriter<File>,
    /// (temporary, final) of a file; `None` for a stream.
    rename: Option<(PathBuf, PathBuf)>,
}

impl Piecewise {
    /// Flushes what was written and puts a file in place (never over what is not a regular
    /// file).
    pub fn finish(mut self) -> io::Result<()> {
        io::Write::flush(&mut self.file)?;
        match self.rename.take() {
            Some((tmp, path)) => {
                let renamed = crate::atomic::rename_over(&tmp, &path);
                if renamed.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                renamed
            }
            None => Ok(()),
        }
    }
}

impl io::Write for Piecewise {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Piecewise {
    fn drop(&mut self) {
        if let Some((tmp, _)) = &self.rename {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The files a command reads: an output may be none of them.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    files: Vec<(Identity, String)>,
}

/// A file's identity: the same file under any name (links, `./`, hard links).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    #[cfg(unix)]
    id: (u64, u64),
    #[cfg(not(unix))]
    id: PathBuf,
}

impl Identity {
    fn of(path: &Path, meta: &Metadata) -> Option<Identity> {
        #[cfg(unix)]
        {
            let _ = path;
            use std::os::unix::fs::MetadataExt;
            Some(Identity {
                id: (meta.dev(), meta.ino()),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            std::fs::canonicalize(path).ok().map(|id| Identity { id })
        }
    }
}

/// The most files of one folder read as inputs ([`Inputs::tree`]): a run folder holds tens.
const MAX_TREE_FILES: usize = 100_000;

impl Inputs {
    /// No input.
    pub fn new() -> Self {
        Self::default()
    }

    /// `path` is read by the command as `role` (`--data lab.xyz`); a path that is not there
    /// (or a folder: see [`Inputs::tree`]) adds nothing.
    pub fn file(mut self, path: &Path, role: &str) -> Self {
        if let Ok(meta) = std::fs::metadata(path)
            && meta.is_file()
            && let Some(id) = Identity::of(path, &meta)
        {
            self.files
                .push((id, format!("{role} ({})", path.display())));
        }
        self
    }

    /// Every regular file below the folder `dir` (or `dir` itself when a file) is read as
    /// `role`; links to folders are not followed, and the walk stops after 100,000 files.
    pub fn tree(mut self, dir: &Path, role: &str) -> Self {
        let mut todo = vec![dir.to_path_buf()];
        let mut seen = 0;
        while let Some(d) = todo.pop() {
            let Ok(meta) = std::fs::symlink_metadata(&d) else {
                continue;
            };
            if meta.is_dir() {
                if let Ok(entries) = std::fs::read_dir(&d) {
                    todo.extend(entries.flatten().map(|e| e.path()));
                }
            } else {
                seen += 1;
                self = self.file(&d, role);
            }
            if seen >= MAX_TREE_FILES {
                break;
            }
        }
        self
    }

    /// The role of the input that `meta` (of `path`) is, if any.
    fn find(&self, path: &Path, meta: &Metadata) -> Option<&str> {
        let id = Identity::of(path, meta)?;
        self.files
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, r)| r.as_str())
    }
}

/// Whether `meta` is something written in place ([`Accept::Streams`]): a FIFO or a character
/// device.
fn streams(meta: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        t.is_fifo() || t.is_char_device()
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// `path` with its symbolic links followed (the file they lead to), or the refusal of a link
/// to nothing; `Ok(None)` when nothing is at `path`.
fn followed(path: &Path, flag: &str) -> Result<Option<(PathBuf, Metadata)>> {
    let io = |e: io::Error| Error::invalid(format!("{flag} {}: {e}", path.display()));
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
        Ok(m) if !m.file_type().is_symlink() => return Ok(Some((path.to_path_buf(), m))),
        Ok(_) => {}
    }
    match std::fs::metadata(path) {
        Ok(meta) => {
            let target = std::fs::canonicalize(path).map_err(io)?;
            Ok(Some((target, meta)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let to = std::fs::read_link(path).map_err(io)?;
            Err(Error::Refused(format!(
                "{flag} {} is a symbolic link to {}, which does not exist: give the path of \
                 the file to write",
                path.display(),
                to.display()
            )))
        }
        Err(e) => Err(io(e)),
    }
}

/// Where the output `path` (given as `flag`, `--out`) goes, by the rule of this module: never
/// one of `inputs`, never renamed over what is not a regular file (written in place where
/// `accept` takes streams), a regular file there replaced only with `replace` (the command's
/// `--force`; an appending output passes `true`). What is refused is [`Error::Refused`], naming
/// what is there.
pub fn resolve(
    path: &Path,
    flag: &str,
    inputs: &Inputs,
    accept: Accept,
    replace: bool,
) -> Result<Output> {
    let Some((target, meta)) = followed(path, flag)? else {
        return Ok(Output::New(path.to_path_buf()));
    };
    let shown = if target == path {
        path.display().to_string()
    } else {
        format!("{} (a link to {})", path.display(), target.display())
    };
    if let Some(role) = inputs.find(&target, &meta) {
        return Err(Error::Refused(format!(
            "{flag} {shown} is the file this command reads as {role}: writing it would replace \
             what it reads; give another output path"
        )));
    }
    if meta.is_file() {
        if replace {
            return Ok(Output::Existing {
                path: target,
                bytes: meta.len(),
            });
        }
        return Err(Error::Refused(format!(
            "{flag} {shown} already exists (a file of {} bytes), which this would replace: add \
             --force to replace it, or give another path",
            meta.len()
        )));
    }
    let what = crate::files::not_regular(&meta).unwrap_or("not a regular file");
    if accept == Accept::Streams && streams(&meta) {
        return Ok(Output::Stream { path: target, what });
    }
    Err(Error::Refused(format!(
        "{flag} {shown} is {what}, not a regular file: {}",
        match accept {
            Accept::Files =>
                "this output is a file read back later, so it is written whole \
                              into a regular file; give a file path",
            Accept::Streams =>
                "geobatch writes a regular file, a FIFO or a character device \
                                (never renaming over anything else); give a file path",
        }
    )))
}

/// The files two outputs of one command write must differ (`--out` and `--parquet`): the
/// refusal when `a` and `b` are one file, or one path.
pub fn distinct(a: (&Output, &str), b: (&Output, &str)) -> Result<()> {
    let identity = |p: &Path| std::fs::metadata(p).ok().and_then(|m| Identity::of(p, &m));
    let same_path = a.0.path() == b.0.path();
    let same_file = identity(a.0.path()).is_some_and(|i| Some(i) == identity(b.0.path()));
    if (same_path || same_file) && !matches!(a.0, Output::Stream { .. }) {
        return Err(Error::Refused(format!(
            "{} and {} name one file ({}): each output needs its own path",
            a.1,
            b.1,
            a.0.path().display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
