//! A run folder's record of itself, read and written by every command through this one API: how
//! far the run got and how it ended ([`StatusRecord`], `status.json`, written by the runner at
//! the first step and at the end, whatever the run's sinks), and what its result files must hold
//! ([`crate::Manifest`], written by the sink that writes them).

use crate::manifest::Manifest;
use geobatch_core::records::RunStatus;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The runner's record of a run's status, in the run folder.
pub const STATUS_FILE: &str = "status.json";

/// What `status.json` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// `running` from the first step on, then how the run ended.
    pub status: RunStatus,
    /// Steps recorded so far (a resumed run's earlier steps included).
    pub steps: u64,
}

/// Records `status` after `steps` in `run_dir` (written whole or not at all).
pub fn record(run_dir: &Path, status: RunStatus, steps: u64) -> std::io::Result<()> {
    let text = serde_json::to_string(&StatusRecord { status, steps })
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    geobatch_datafiles::atomic::write_atomic(&run_dir.join(STATUS_FILE), |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })
}

/// The status `run_dir` records: its `status.json`, or for folders written before that file
/// existed the status of their manifest; `None` when neither can be read.
pub fn stored_status(run_dir: &Path) -> Option<RunStatus> {
    let recorded = geobatch_datafiles::files::read(&run_dir.join(STATUS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<StatusRecord>(&b).ok());
    match recorded {
        Some(r) => Some(r.status),
        None => Manifest::read(run_dir).ok().flatten().map(|m| m.status),
    }
}

/// Whether `run_dir` holds a complete run.
pub fn is_complete(run_dir: &Path) -> bool {
    stored_status(run_dir) == Some(RunStatus::Complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_file_wins_and_the_manifest_speaks_for_older_folders() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(stored_status(dir.path()), None);
        let manifest = Manifest {
            version: crate::manifest::MANIFEST_VERSION,
            run_id: "r".into(),
            status: RunStatus::Complete,
            steps: 3,
            parts: Vec::new(),
            eval_rows: 0,
        };
        manifest.write(dir.path()).expect("manifest written");
        assert!(is_complete(dir.path()));
        record(dir.path(), RunStatus::Interrupted, 2).expect("status written");
        assert_eq!(stored_status(dir.path()), Some(RunStatus::Interrupted));
        std::fs::write(dir.path().join(STATUS_FILE), "{not json").expect("written");
        // a damaged status file is no record: the manifest is read
        assert_eq!(stored_status(dir.path()), Some(RunStatus::Complete));
    }
}
