//! Checkpoints: the trainer's files plus the runner's state (next step, batch source position,
//! task state, sink states, running totals), written so that a kill at any moment leaves either
//! the previous checkpoint or the new one: the new one is written into `checkpoint.tmp`, the
//! previous one moved aside to `checkpoint.old`, the new one moved into place, and only then the
//! previous one removed. A kill between the two moves leaves `checkpoint.old` alone, which
//! [`exists`] counts and [`recover`] moves back.

use super::progress::Progress;
use crate::error::RunError;
use geobatch_core::{Batch, Error, Learner};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Name of the runner's state file inside a checkpoint folder.
pub const STATE_FILE: &str = "state.json";

/// What a checkpoint holds besides the trainer's own files.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The next step to run.
    pub step: u64,
    /// The batch source's position after the last checkpointed step.
    pub source: serde_json::Value,
    /// The task's own state (node-level: learning-rate plateau, early stopping, best epoch).
    pub task: serde_json::Value,
    /// Each sink's resume state, in config order.
    pub sinks: Vec<serde_json::Value>,
    /// Running totals.
    pub progress: Progress,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.to_path_buf();
    move |source| RunError::Io { path, source }
}

/// The checkpoint folder of a run folder.
pub fn folder(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint")
}

/// Where the previous checkpoint waits while the new one is moved into place.
fn previous(dir: &Path) -> PathBuf {
    dir.with_extension("old")
}

/// Whether a run folder holds a checkpoint to resume from (maybe only the previous one, left
/// by a kill while a new one was moved into place).
pub fn exists(run_dir: &Path) -> bool {
    let dir = folder(run_dir);
    dir.join(STATE_FILE).is_file() || previous(&dir).join(STATE_FILE).is_file()
}

/// Makes the checkpoint folder `dir` the one to resume from: when a kill left only the
/// previous checkpoint (`checkpoint.old`), it is moved back. Call before [`read`].
pub fn recover(dir: &Path) -> Result<(), RunError> {
    let old = previous(dir);
    if !dir.join(STATE_FILE).is_file() && old.join(STATE_FILE).is_file() {
        remove(dir)?;
        std::fs::rename(&old, dir).map_err(io(dir))?;
    }
    Ok(())
}

/// Reads the checkpoint in `dir` (see [`folder`]).
pub fn read(dir: &Path) -> Result<CheckpointState, RunError> {
    let path = dir.join(STATE_FILE);
    let text = geobatch_datafiles::files::read_text(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| {
        RunError::Core(Error::invalid(format!(
            "{}: not a checkpoint of this geobatch: {e}",
            path.display()
        )))
    })
}

/// Removes the checkpoint folder `dir` and the previous one beside it, if there are any.
pub fn discard(dir: &Path) -> Result<(), RunError> {
    remove(dir)?;
    remove(&previous(dir))
}

fn remove(dir: &Path) -> Result<(), RunError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    Ok(())
}

/// Writes a checkpoint: into `checkpoint.tmp`, then moved into place (see the module's text).
pub fn write<B: Batch>(
    dir: &Path,
    state: &CheckpointState,
    trainer: &dyn Learner<B>,
) -> Result<(), RunError> {
    let (tmp, old) = (dir.with_extension("tmp"), previous(dir));
    remove(&tmp)?;
    let staged = (|| {
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        trainer.save(&tmp)?;
        let text = serde_json::to_string(state)
            .map_err(|e| RunError::Core(Error::invalid(e.to_string())))?;
        std::fs::write(tmp.join(STATE_FILE), text).map_err(io(&tmp))
    })();
    if let Err(e) = staged {
        // a half-written checkpoint (a full disk) is removed at once: the previous one stays
        // the one to resume from, and the space goes to the run's status
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.join(STATE_FILE).is_file() {
        remove(&old)?;
        std::fs::rename(dir, &old).map_err(io(dir))?;
    } else {
        remove(dir)?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))?;
    remove(&old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_of(dir: &Path) -> Option<String> {
        std::fs::read_to_string(dir.join(STATE_FILE)).ok()
    }

    #[test]
    fn a_kill_between_the_two_moves_leaves_the_previous_checkpoint_to_resume_from() {
        let run = tempfile::tempdir().unwrap();
        let dir = folder(run.path());
        // killed after the previous checkpoint was moved aside, before the new one moved in
        let old = previous(&dir);
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join(STATE_FILE), "previous").unwrap();
        std::fs::create_dir_all(dir.with_extension("tmp")).unwrap();
        assert!(exists(run.path()));
        recover(&dir).unwrap();
        assert_eq!(state_of(&dir).as_deref(), Some("previous"));
        assert!(!old.exists());
        // a complete checkpoint wins over a leftover previous one, which is left alone
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join(STATE_FILE), "older").unwrap();
        recover(&dir).unwrap();
        assert_eq!(state_of(&dir).as_deref(), Some("previous"));
        discard(&dir).unwrap();
        assert!(!exists(run.path()) && !old.exists());
    }

    /// A trainer whose saved state is one number.
    struct Counter(u64);

    impl Learner for Counter {
        fn train_step(
            &mut self,
            _: &geobatch_core::GraphBatch,
            _: u64,
        ) -> geobatch_core::Result<geobatch_core::StepStats> {
            unreachable!("checkpoints only save")
        }
        fn parameter_count(&self) -> usize {
            1
        }
        fn save(&self, dir: &Path) -> geobatch_core::Result<()> {
            std::fs::write(dir.join("counter"), self.0.to_string())
                .map_err(|e| Error::invalid(e.to_string()))
        }
        fn load(&mut self, _: &Path) -> geobatch_core::Result<()> {
            unreachable!("checkpoints only save")
        }
        fn keep_best(&mut self) -> geobatch_core::Result<()> {
            Ok(())
        }
        fn restore_best(&mut self) -> geobatch_core::Result<bool> {
            Ok(false)
        }
    }

    #[test]
    fn each_checkpoint_replaces_the_previous_one_and_leaves_nothing_beside_it() {
        let run = tempfile::tempdir().unwrap();
        let dir = folder(run.path());
        for step in [10, 20] {
            let state = CheckpointState {
                step,
                source: serde_json::Value::Null,
                task: serde_json::Value::Null,
                sinks: vec![],
                progress: Progress::new(100),
            };
            write(&dir, &state, &Counter(step)).unwrap();
            assert_eq!(read(&dir).unwrap().step, step);
            let counter = std::fs::read_to_string(dir.join("counter")).unwrap();
            assert_eq!(counter, step.to_string());
            let names: Vec<_> = std::fs::read_dir(run.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["checkpoint"], "no tmp or old folder is left");
        }
    }

    #[test]
    fn no_checkpoint_is_no_checkpoint() {
        let run = tempfile::tempdir().unwrap();
        let dir = folder(run.path());
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            !exists(run.path()),
            "a folder without its state file is not a checkpoint"
        );
        recover(&dir).unwrap();
        assert!(state_of(&dir).is_none());
    }
}
