//! geobatch-results: a run folder as evidence, one definition for every reader and writer.
//!
//! * [`record`]: the folder's record of itself (`status.json`: how far the run got and how it
//!   ended), written by the runner whatever its sinks;
//! * [`manifest`]: what its result files must hold (`manifest.json`, written by the sink that
//!   writes them);
//! * [`tables`]: the Arrow record batches of the three result tables (`steps`, `run`, `evals`)
//!   with the schema version they carry, written atomically as Parquet (the Parquet sink's files,
//!   the report's and advise's own tables);
//! * [`read`]: those files read back; [`verify`]: a folder held against its manifest.
//!
//! The runner claims and records run folders through it, the Parquet sink writes through it and
//! the report reads through it: none of them depends on another for the format.

pub mod manifest;
pub mod read;
pub mod record;
pub mod tables;
pub mod verify;

pub use manifest::{MANIFEST_FILE, Manifest, PartEntry};

use std::path::PathBuf;

/// A results file that cannot be read: the file and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct ReadError {
    /// The file (or folder).
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}
