//! A run folder's record of itself, read and written by every command through this one API: how
//! far the run got and how it ended ([`StatusRecord`], `status.json`, written by the runner at
//! the first step and at the end, whatever the run's sinks), and what its result files must hold
//! ([`crate::Manifest`], written by the sink that writes them).

use crate::manifest::Manifest;
use geobatch_core::records::RunStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The runner's record of a run's status, in the run folder.
pub const STATUS_FILE: &str = "status.json";

/// The folder of a run's trained model (a potential's, kept once the run is complete).
pub const MODEL_DIR: &str = "model";

/// The run's config as the run resolved it, which a model is rebuilt from.
pub const CONFIG_FILE: &str = "config.toml";

/// What `status.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// `running` from the first step on, then how the run ended.
    pub status: RunStatus,
    /// Steps recorded so far (a resumed run's earlier steps included).
    pub steps: u64,
    /// A complete run's trained model as it saved it: the SHA-256 of `config.toml` and of every
    /// file of `model/` (by its path in the run folder); absent without a model (and in records
    /// written before geobatch kept one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<BTreeMap<String, String>>,
}

/// Records `status` after `steps` in `run_dir` (written whole or not at all); a complete run
/// with a `model/` folder records its model's digest ([`model_digest`]).
pub fn record(run_dir: &Path, status: RunStatus, steps: u64) -> std::io::Result<()> {
    let model = if status == RunStatus::Complete {
        model_digest(run_dir)?
    } else {
        None
    };
    let text = serde_json::to_string(&StatusRecord {
        status,
        steps,
        model,
    })
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    geobatch_datafiles::atomic::write_atomic(&run_dir.join(STATUS_FILE), |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })
}

/// The SHA-256 of a run's model files ([`StatusRecord::model`]): `config.toml` and every file
/// below `model/`, by their `/`-separated paths in the run folder; `None` without a `model/`.
pub fn model_digest(run_dir: &Path) -> std::io::Result<Option<BTreeMap<String, String>>> {
    let dir = run_dir.join(MODEL_DIR);
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut digest = BTreeMap::new();
    let mut todo = vec![(dir, MODEL_DIR.to_string())];
    while let Some((d, rel)) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let name = format!("{rel}/{}", entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                todo.push((entry.path(), name));
            } else {
                digest.insert(name, geobatch_datafiles::files::sha256(&entry.path())?);
            }
        }
    }
    let config = run_dir.join(CONFIG_FILE);
    digest.insert(
        CONFIG_FILE.to_string(),
        geobatch_datafiles::files::sha256(&config)?,
    );
    Ok(Some(digest))
}

/// Checks that `run_dir`'s model files are what the run recorded when it completed
/// ([`StatusRecord::model`]): none changed, missing or added. `Ok(false)` when the run recorded
/// no digest (a run of an earlier geobatch): nothing to check against.
pub fn verify_model(run_dir: &Path) -> Result<bool, String> {
    let path = run_dir.join(STATUS_FILE);
    let bytes = geobatch_datafiles::files::read(&path).map_err(|e| {
        format!(
            "{}: {e}: not the folder of a complete run (which records its model there)",
            path.display()
        )
    })?;
    let record: StatusRecord = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{}: not a run's status record ({e})", path.display()))?;
    if record.status != RunStatus::Complete {
        return Err(format!(
            "{}: the run is {}, not complete: its model is not a trained one",
            path.display(),
            record.status.as_str()
        ));
    }
    let Some(recorded) = record.model else {
        return Ok(false);
    };
    let found = model_digest(run_dir)
        .map_err(|e| format!("{}: {e}", run_dir.display()))?
        .unwrap_or_default();
    let changed = recorded
        .iter()
        .find(|(f, d)| found.get(*f) != Some(*d))
        .map(|(f, _)| (f, found.contains_key(f)))
        .map(|(f, there)| {
            if there {
                format!("{f} is not the file the run saved (its SHA-256 differs)")
            } else {
                format!("{f}, which the run saved, is missing")
            }
        })
        .or_else(|| {
            found
                .keys()
                .find(|f| !recorded.contains_key(*f))
                .map(|f| format!("{f} was added after the run saved its model"))
        });
    match changed {
        None => Ok(true),
        Some(why) => Err(format!(
            "{}: {why} (status.json records the SHA-256 of every model file when the run \
             completes): a model edited or copied in by hand predicts what training never \
             made; restore the run's own files, or train it again",
            run_dir.display()
        )),
    }
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
    fn a_complete_runs_model_is_recorded_and_any_change_to_it_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join(CONFIG_FILE), "[model]\nkind = \"schnet\"\n").expect("config");
        // no model: nothing recorded, nothing to check
        record(d, RunStatus::Complete, 3).expect("status written");
        assert_eq!(verify_model(d), Ok(false));
        std::fs::create_dir_all(d.join("model/weights")).expect("model folder");
        std::fs::write(d.join("model/potential.json"), "{\"scale\": 0.5}").expect("written");
        std::fs::write(d.join("model/weights/w.mpk"), [1u8, 2, 3]).expect("written");
        record(d, RunStatus::Running, 3).expect("status written");
        let e = verify_model(d).unwrap_err();
        assert!(e.contains("running, not complete"), "{e}");
        record(d, RunStatus::Complete, 3).expect("status written");
        assert_eq!(verify_model(d), Ok(true));
        let kept: StatusRecord =
            serde_json::from_slice(&std::fs::read(d.join(STATUS_FILE)).expect("read"))
                .expect("a record");
        let files: Vec<&str> = kept
            .model
            .as_ref()
            .expect("digest")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            files,
            ["config.toml", "model/potential.json", "model/weights/w.mpk"]
        );
        // an edit, a removal, an addition, an edited config: each named (`None`: removed)
        let cases: [(&str, Option<&str>, &str); 4] = [
            (
                "model/potential.json",
                Some("{\"scale\": 1e300}"),
                "model/potential.json is not the file the run saved",
            ),
            (
                "model/weights/w.mpk",
                None,
                "model/weights/w.mpk, which the run saved, is missing",
            ),
            ("model/extra.json", Some("{}"), "model/extra.json was added"),
            (
                CONFIG_FILE,
                Some("[model]\nkind = \"painn\"\n"),
                "config.toml is not the file the run saved",
            ),
        ];
        for (file, content, says) in cases {
            let saved: Vec<(std::path::PathBuf, Option<Vec<u8>>)> = [
                CONFIG_FILE,
                "model/potential.json",
                "model/weights/w.mpk",
                "model/extra.json",
            ]
            .iter()
            .map(|f| (d.join(f), std::fs::read(d.join(f)).ok()))
            .collect();
            match content {
                Some(text) => std::fs::write(d.join(file), text).expect("edited"),
                None => std::fs::remove_file(d.join(file)).expect("removed"),
            }
            let e = verify_model(d).unwrap_err();
            assert!(e.contains(says), "{file}: {e}");
            assert!(e.contains("train it again"), "{e}");
            for (path, bytes) in saved {
                match bytes {
                    Some(b) => std::fs::write(&path, b).expect("put back"),
                    None => {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
            assert_eq!(verify_model(d), Ok(true), "{file} put back");
        }
    }

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
