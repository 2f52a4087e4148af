//! What a process must not leave behind however it ends: the process groups of workers it
//! started, temporary folders and shared-memory files.
//!
//! Each owner removes its own when it is dropped. A process that ends without dropping (the exit
//! of a second Ctrl-C or SIGTERM) calls [`clean_up`] first: every leftover still registered is
//! removed there, in the order it was registered in reverse (a worker's process group is killed
//! before its folder is removed). A SIGKILL runs nothing: the python model's worker watches for
//! that itself (docs/python.md).

use std::path::PathBuf;
use std::sync::Mutex;

/// One thing to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// A process group to kill (SIGKILL), by its leader's id.
    ProcessGroup(u32),
    /// A folder to remove with everything in it.
    Folder(PathBuf),
    /// A file to remove.
    File(PathBuf),
}

/// Registered leftovers, by registration number.
static REGISTERED: Mutex<Vec<(u64, Leftover)>> = Mutex::new(Vec::new());
/// The next registration number.
static NEXT: Mutex<u64> = Mutex::new(0);

fn registered() -> std::sync::MutexGuard<'static, Vec<(u64, Leftover)>> {
    REGISTERED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A registration: dropping it forgets the leftover (its owner removed it, or will).
#[derive(Debug)]
#[must_use = "dropping the registration forgets the leftover at once"]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        registered().retain(|(id, _)| *id != self.0);
    }
}

/// Registers `what` to be removed by [`clean_up`] until the returned registration is dropped.
pub fn register(what: Leftover) -> Registration {
    let id = {
        let mut next = NEXT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *next += 1;
        *next
    };
    registered().push((id, what));
    Registration(id)
}

/// Removes every registered leftover, newest first, and forgets them; for a process about to
/// end without dropping their owners. Errors are ignored: this is the last thing it does.
pub fn clean_up() {
    let all = std::mem::take(&mut *registered());
    for (_, what) in all.into_iter().rev() {
        match what {
            Leftover::ProcessGroup(leader) => {
                if let Some(pid) = i32::try_from(leader)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
            }
            Leftover::Folder(path) => {
                let _ = std::fs::remove_dir_all(path);
            }
            Leftover::File(path) => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// The leftovers registered now (for tests).
pub fn pending() -> Vec<Leftover> {
    registered().iter().map(|(_, w)| w.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_up_removes_what_is_registered_and_nothing_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = dir.path().join("kept");
        let gone = dir.path().join("gone");
        let file = dir.path().join("segment");
        std::fs::create_dir_all(gone.join("inner")).expect("made");
        std::fs::create_dir_all(&kept).expect("made");
        std::fs::write(&file, b"x").expect("written");
        let _folder = register(Leftover::Folder(gone.clone()));
        let _file = register(Leftover::File(file.clone()));
        drop(register(Leftover::Folder(kept.clone())));
        assert!(!pending().contains(&Leftover::Folder(kept.clone())));
        clean_up();
        assert!(
            !gone.exists() && !file.exists(),
            "registered leftovers removed"
        );
        assert!(kept.exists(), "a dropped registration is forgotten");
        assert!(!pending().contains(&Leftover::Folder(gone)));
    }
}
