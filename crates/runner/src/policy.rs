//! Run policy, once for every command: what a run folder holds (its status, the run record of
//! `geobatch_results::record`, whatever sinks the run has), and what a command may do with
//! it: take its lock, start it, continue it from its checkpoint, discard it, or leave it
//! (complete, or another process's). `geobatch run`, `sweep` (and its SLURM array tasks) and
//! `advise`'s probes ask through [`claim`].

use crate::error::RunError;
use crate::lock::RunLock;
use crate::train::checkpoint;
use geobatch_core::RunStatus;
use std::path::Path;

pub use geobatch_results::record::{STATUS_FILE, StatusRecord, is_complete, stored_status};

/// Records `status` after `steps` in `run_dir` (written whole or not at all).
pub fn record(run_dir: &Path, status: RunStatus, steps: u64) -> Result<(), RunError> {
    geobatch_results::record::record(run_dir, status, steps).map_err(|source| RunError::Io {
        path: run_dir.join(STATUS_FILE),
        source,
    })
}

/// What a run folder holds: the one view of a run folder every command decides on (`run`, a
/// sweep and its SLURM tasks, `sweep --dry-run` and `--status`, `advise`'s probes), read from its
/// lock, its run record (`geobatch_results::record`) and its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Nothing of a run.
    Fresh,
    /// Another process holds its lock and runs it.
    Running,
    /// A complete run.
    Complete,
    /// A run that stopped before its end.
    Stopped {
        /// How it stopped.
        how: Stopped,
        /// A checkpoint is there to continue from.
        checkpoint: bool,
    },
    /// Recorded complete, but its files are not what it recorded: only a reader of the files
    /// says so ([`RunState::verified`], `sweep --status`); [`RunState::of`] does not read them.
    Inconsistent,
}

/// How a run stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// By a signal.
    Interrupted,
    /// By an error.
    Failed,
    /// Recorded as running, but no process holds it: the process died.
    Killed,
}

impl RunState {
    /// The state of the run folder `run_dir`, its lock included.
    pub fn of(run_dir: &Path) -> Self {
        if crate::lock::is_locked(run_dir) {
            return RunState::Running;
        }
        Self::recorded(run_dir)
    }

    /// [`RunState::of`], with a complete run's files read back and held against what it
    /// recorded ([`geobatch_results::verify::verify_folder`]): [`RunState::Inconsistent`] and
    /// why, when they are not.
    pub fn verified(run_dir: &Path) -> (Self, Option<String>) {
        match Self::of(run_dir) {
            RunState::Complete => match complete(run_dir) {
                Claim::Damaged(why) => (RunState::Inconsistent, Some(why)),
                _ => (RunState::Complete, None),
            },
            state => (state, None),
        }
    }

    /// The state `run_dir` records, its lock left aside (for the holder of the lock).
    pub fn recorded(run_dir: &Path) -> Self {
        let status = stored_status(run_dir);
        let checkpoint = checkpoint::exists(run_dir);
        let how = match status {
            Some(RunStatus::Complete) => return RunState::Complete,
            None if !checkpoint => return RunState::Fresh,
            Some(RunStatus::Interrupted) => Stopped::Interrupted,
            Some(RunStatus::Failed) => Stopped::Failed,
            Some(RunStatus::Running) | None => Stopped::Killed,
        };
        RunState::Stopped { how, checkpoint }
    }

    /// What a sweep does with it, as `sweep --dry-run` shows it.
    pub fn action(self) -> &'static str {
        match self {
            RunState::Fresh => "to run",
            RunState::Running => "running",
            RunState::Complete => "complete",
            RunState::Stopped {
                checkpoint: true, ..
            } => "resumable",
            RunState::Stopped { .. } | RunState::Inconsistent => "to rerun",
        }
    }

    /// Where it stands, as `sweep --status` shows it.
    pub fn status(self) -> &'static str {
        match self {
            RunState::Fresh => "not started",
            RunState::Running => "running",
            RunState::Complete => "complete",
            RunState::Stopped { how, .. } => match how {
                Stopped::Interrupted => "interrupted",
                Stopped::Failed => "failed",
                Stopped::Killed => "killed",
            },
            RunState::Inconsistent => "inconsistent",
        }
    }

    /// A stopped run with a checkpoint to continue from.
    pub fn is_resumable(self) -> bool {
        matches!(
            self,
            RunState::Stopped {
                checkpoint: true,
                ..
            }
        )
    }
}

/// How a command asks for a run folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// `geobatch run`: a stopped run is continued only with `resume`, discarded only with
    /// `restart`; a complete one is left unless `restart`.
    Run {
        /// `--resume`.
        resume: bool,
        /// `--restart`.
        restart: bool,
    },
    /// A sweep's run (and a SLURM array task's): a complete run is skipped, a run with a
    /// checkpoint continued, any other started again from nothing; one another process holds is
    /// left to it.
    Sweep,
    /// A probe (`advise`): always a fresh run, whatever the folder held.
    Fresh,
}

/// What a command may do with a run folder.
#[derive(Debug)]
pub enum Claim {
    /// Run it, holding its lock until the claim is dropped.
    Run {
        /// The lock.
        lock: RunLock,
        /// Continue from the folder's checkpoint (else start from the first step).
        resume: bool,
        /// What the folder held.
        state: RunState,
    },
    /// The run is complete and its files are what it recorded: nothing to do.
    Complete,
    /// The run records itself complete, but its files are not what it recorded (why): it is
    /// left as it is, never counted and never run over without `--restart`.
    Damaged(String),
    /// Another process runs it now (a sweep leaves it to that process).
    Busy,
}

/// The one verification of a run that records itself complete: taken at its word only when its
/// files are what it recorded ([`geobatch_results::verify::verify_folder`]), else damaged.
fn complete(run_dir: &Path) -> Claim {
    match geobatch_results::verify::verify_folder(run_dir) {
        Ok(()) => Claim::Complete,
        Err(why) => Claim::Damaged(why),
    }
}

/// Decides what `ask` may do with `run_dir` and, to run it, takes its lock (and clears what it
/// discards); a complete run's files are verified ([`Claim::Damaged`] when they disagree). A refusal is bad input (exit 2): conflicting flags, or a stopped run that
/// `geobatch run` was not told to resume or restart. Another process on the folder is an error
/// for `run` and `advise` ([`RunError::Busy`]) and [`Claim::Busy`] for a sweep.
pub fn claim(run_dir: &Path, ask: Ask) -> Result<Claim, RunError> {
    let refuse = |m: String| RunError::Core(geobatch_core::Error::Refused(m));
    let shown = run_dir.display();
    if ask
        == (Ask::Run {
            resume: true,
            restart: true,
        })
    {
        return Err(refuse(
            "--resume continues a run, --restart discards it: give one of them".into(),
        ));
    }
    // complete runs are never locked for long: a sweep skips them without waiting on a lock
    if ask == Ask::Sweep && is_complete(run_dir) {
        return Ok(complete(run_dir));
    }
    let Some(lock) = RunLock::try_acquire(run_dir)? else {
        return match ask {
            Ask::Sweep => Ok(Claim::Busy),
            _ => Err(RunError::Busy {
                dir: run_dir.to_path_buf(),
                lock: run_dir.join(crate::lock::LOCK_FILE),
            }),
        };
    };
    let state = RunState::recorded(run_dir);
    let (resume, discard) = match (ask, state) {
        (Ask::Fresh, _) => (false, true),
        (Ask::Sweep, RunState::Complete) => return Ok(complete(run_dir)),
        (Ask::Sweep, _) if state.is_resumable() => (true, false),
        (Ask::Sweep, _) => (false, true),
        (Ask::Run { restart: true, .. }, _) => (false, true),
        (Ask::Run { .. }, RunState::Complete) => return Ok(complete(run_dir)),
        (Ask::Run { resume: false, .. }, RunState::Stopped { .. }) => {
            let what = if state.is_resumable() {
                "stopped with a checkpoint: --resume continues it"
            } else {
                "stopped before its first checkpoint: --resume starts it again"
            };
            return Err(refuse(format!(
                "{shown} holds a run of this config that {what}, --restart discards it and \
                 starts over"
            )));
        }
        (Ask::Run { resume, .. }, _) => (resume, false),
    };
    if discard {
        lock.clear()?;
    }
    if resume && state.is_resumable() {
        parts_are_there(run_dir).map_err(refuse)?;
    }
    Ok(Claim::Run {
        lock,
        resume,
        state,
    })
}

/// Refuses a resume over a folder missing a part its manifest lists: the continued run would
/// end `complete` with a hole in its steps table.
fn parts_are_there(run_dir: &Path) -> Result<(), String> {
    let manifest = geobatch_results::Manifest::read(run_dir).map_err(|e| e.to_string())?;
    let missing = manifest
        .iter()
        .flat_map(|m| &m.parts)
        .find(|p| !run_dir.join(&p.file).is_file());
    match missing {
        Some(p) => Err(format!(
            "{}: {} is missing ({} lists it, steps {}-{}): resuming would leave those steps out \
             of a run that ends complete; --restart runs it again from the first step",
            run_dir.display(),
            p.file,
            geobatch_results::MANIFEST_FILE,
            p.first_step,
            p.last_step
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_ask(resume: bool, restart: bool) -> Ask {
        Ask::Run { resume, restart }
    }

    #[test]
    fn the_status_the_runner_records_decides_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("run");
        assert_eq!(RunState::of(&d), RunState::Fresh);
        std::fs::create_dir_all(&d).unwrap();
        record(&d, RunStatus::Running, 3).unwrap();
        let killed = RunState::Stopped {
            how: Stopped::Killed,
            checkpoint: false,
        };
        assert_eq!(RunState::of(&d), killed);
        assert_eq!((killed.status(), killed.action()), ("killed", "to rerun"));
        record(&d, RunStatus::Failed, 3).unwrap();
        assert_eq!(RunState::of(&d).status(), "failed");
        record(&d, RunStatus::Interrupted, 3).unwrap();
        assert_eq!(RunState::of(&d).status(), "interrupted");
        assert!(!RunState::of(&d).is_resumable());
        // while a process holds the lock, the folder is running (its holder reads the record)
        let held = RunLock::try_acquire(&d).unwrap().expect("free");
        assert_eq!(RunState::of(&d), RunState::Running);
        assert_eq!(RunState::recorded(&d).status(), "interrupted");
        drop(held);
        record(&d, RunStatus::Complete, 10).unwrap();
        assert_eq!(RunState::of(&d), RunState::Complete);
        assert!(is_complete(&d));
        // a damaged record is no status at all
        std::fs::write(d.join(STATUS_FILE), b"{").unwrap();
        assert_eq!(stored_status(&d), None);
    }

    #[test]
    fn each_command_gets_its_rule() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("run");
        // both flags: refused before the folder is made
        let e = claim(&d, run_ask(true, true)).unwrap_err();
        assert!(e.is_input_error() && e.to_string().contains("give one of them"));
        assert!(!d.exists());
        // a fresh folder: run it (--resume has nothing to continue)
        match claim(&d, run_ask(true, false)).unwrap() {
            Claim::Run { resume, state, .. } => {
                assert!(resume);
                assert_eq!(state, RunState::Fresh);
            }
            other => panic!("{other:?}"),
        }
        // stopped before a checkpoint: run refuses without a flag, a sweep starts it again
        record(&d, RunStatus::Interrupted, 5).unwrap();
        let e = claim(&d, run_ask(false, false)).unwrap_err();
        assert!(e.is_input_error() && e.to_string().contains("--restart discards it"));
        match claim(&d, Ask::Sweep).unwrap() {
            Claim::Run { resume, state, .. } => {
                assert!(!resume);
                assert_eq!(
                    state,
                    RunState::Stopped {
                        how: Stopped::Interrupted,
                        checkpoint: false
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        // the sweep's claim cleared the folder
        assert_eq!(RunState::of(&d), RunState::Fresh);
        // complete: run and sweep leave it, restart and a probe discard it
        record(&d, RunStatus::Complete, 9).unwrap();
        assert!(matches!(claim(&d, Ask::Sweep).unwrap(), Claim::Complete));
        assert!(matches!(
            claim(&d, run_ask(false, false)).unwrap(),
            Claim::Complete
        ));
        assert!(matches!(
            claim(&d, run_ask(false, true)).unwrap(),
            Claim::Run { resume: false, .. }
        ));
        assert_eq!(RunState::of(&d), RunState::Fresh);
        record(&d, RunStatus::Complete, 9).unwrap();
        assert!(matches!(
            claim(&d, Ask::Fresh).unwrap(),
            Claim::Run { resume: false, .. }
        ));
        assert_eq!(RunState::of(&d), RunState::Fresh);
    }

    #[test]
    fn a_held_folder_is_busy_for_a_sweep_and_an_error_for_run() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("run");
        let held = claim(&d, Ask::Fresh).unwrap();
        // a second open file description of the lock file conflicts, as another process would
        assert!(matches!(claim(&d, Ask::Sweep).unwrap(), Claim::Busy));
        let e = claim(&d, run_ask(false, false)).unwrap_err();
        assert!(matches!(e, RunError::Busy { .. }) && !e.is_input_error());
        drop(held);
        assert!(matches!(
            claim(&d, run_ask(false, false)).unwrap(),
            Claim::Run { .. }
        ));
    }
}
