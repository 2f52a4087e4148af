//! Checkpoints: the trainer's files plus the runner's state (next step, batch source position,
//! task state, sink states, running totals), written atomically so a kill at any moment leaves
//! either the previous checkpoint or the new one.

use super::progress::Progress;
use crate::error::RunError;
use geobatch_core::{Batch, Error, Trainer};
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

/// Whether a run folder holds a checkpoint to resume from.
pub fn exists(run_dir: &Path) -> bool {
    folder(run_dir).join(STATE_FILE).is_file()
}

/// Reads the checkpoint in `dir` (see [`folder`]).
pub fn read(dir: &Path) -> Result<CheckpointState, RunError> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| {
        RunError::Core(Error::invalid(format!(
            "{}: not a checkpoint of this geobatch: {e}",
            path.display()
        )))
    })
}

/// Removes the checkpoint folder `dir` if there is one.
pub fn discard(dir: &Path) -> Result<(), RunError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    Ok(())
}

/// Writes a checkpoint atomically: into `checkpoint.tmp`, then renamed over `dir`.
pub fn write<B: Batch>(
    dir: &Path,
    state: &CheckpointState,
    trainer: &dyn Trainer<B>,
) -> Result<(), RunError> {
    let tmp = dir.with_extension("tmp");
    discard(&tmp)?;
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    trainer.save(&tmp)?;
    let text =
        serde_json::to_string(state).map_err(|e| RunError::Core(Error::invalid(e.to_string())))?;
    std::fs::write(tmp.join(STATE_FILE), text).map_err(io(&tmp))?;
    discard(dir)?;
    std::fs::rename(&tmp, dir).map_err(io(dir))
}
