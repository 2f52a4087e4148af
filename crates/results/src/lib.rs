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

/// What can go wrong with a results folder: reading it, writing what is made of it (a report),
/// or the folders given (nothing in them, a folder that would be replaced, runs that cannot be
/// compared).
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// A results file cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A file cannot be written.
    #[error("cannot write {}: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Nothing to report: no run in the folders given (bad input).
    #[error("{0}")]
    Empty(String),
    /// The user's input cannot be used as it is: results that do not exist, an `--out` that
    /// holds files a report did not write (bad input).
    #[error("{0}")]
    Refused(String),
    /// Runs of different configurations (or the same seed twice) would share a cell (bad input).
    #[error("{0}")]
    Mixed(String),
}

impl ResultsError {
    /// Whether the error is the folders the user gave rather than a failure while reading or
    /// writing.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            ResultsError::Empty(_) | ResultsError::Refused(_) | ResultsError::Mixed(_)
        )
    }
}
