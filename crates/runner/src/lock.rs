//! Run-folder locks: a process owns a run folder while it runs it, so that two sweeps (or N array
//! tasks of a cluster job) on one results folder share the runs instead of taking over each
//! other's live checkpoints. The lock is an OS advisory lock (`flock` on Unix, `LockFileEx` on
//! Windows, through std) on the file `.lock` in the run folder: it is released when the process
//! ends, however it ends, so a killed run never stays locked.

use crate::error::RunError;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// Name of the lock file inside a run folder.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive hold on a run folder, released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    dir: PathBuf,
}

impl RunLock {
    /// Takes the lock of `run_dir` (creating the folder), or `None` when another process holds it.
    pub fn try_acquire(run_dir: &Path) -> Result<Option<RunLock>, RunError> {
        let io = |source| RunError::Io {
            path: run_dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(run_dir).map_err(io)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(run_dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock {
                _file: file,
                dir: run_dir.to_path_buf(),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Removes everything of an earlier run from the folder, keeping the lock.
    pub fn clear(&self) -> Result<(), RunError> {
        let io = |path: PathBuf| move |source| RunError::Io { path, source };
        for entry in std::fs::read_dir(&self.dir).map_err(io(self.dir.clone()))? {
            let entry = entry.map_err(io(self.dir.clone()))?;
            let path = entry.path();
            if entry.file_name() == LOCK_FILE {
                continue;
            }
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(io(path))?;
        }
        Ok(())
    }
}

/// Whether another process holds the lock of `run_dir` now.
pub fn is_locked(run_dir: &Path) -> bool {
    run_dir.join(LOCK_FILE).is_file() && matches!(RunLock::try_acquire(run_dir), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let held = RunLock::try_acquire(&run).unwrap().expect("free");
        // a second open file description is refused, as another process would be
        assert!(RunLock::try_acquire(&run).unwrap().is_none());
        assert!(is_locked(&run));
        std::fs::write(run.join("steps-00000.parquet"), b"x").unwrap();
        std::fs::create_dir_all(run.join("checkpoint")).unwrap();
        held.clear().unwrap();
        let left: Vec<_> = std::fs::read_dir(&run)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [LOCK_FILE]);
        drop(held);
        assert!(!is_locked(&run));
        assert!(RunLock::try_acquire(&run).unwrap().is_some());
    }
}
