//! `geobatch report RESULTS`: reads the Parquet files of any number of runs and writes, into a
//! report folder, Markdown for people (`report.md`), CSV for machines (`summary.csv`,
//! `speedup.csv`, `ttests.csv`) and figures (`*.svg`, `*.png`).
//!
//! Per (dataset, model, batch size, batcher, mode), over seeds: batching, update and combined time
//! per step (mean over every step, warm-up and new shapes included, as the study's figures; and the
//! steady-state median), graphs/s and nodes/s, fill, distinct shapes, final validation and test
//! RMSE/MAE as mean ± sd. Per (dataset, model, mode, batch size): the speedup of the fastest over
//! the slowest batcher (combined mean), and Welch t-tests of the test RMSE between every pair of
//! batchers, Holm-corrected across all tests of the report.

pub mod charts;
pub mod compile;
pub mod document;
pub mod figures;
pub mod stats;
pub mod summary;
pub mod table;
pub mod tables;
pub mod write;

pub use summary::{Cell, Row, Summary, Test, speedups, summarise};

use std::path::Path;

pub use geobatch_results::ResultsError;

/// What [`report`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The Markdown of `report.md`.
    pub markdown: String,
    /// Runs left out because their files cannot be read: the file and why.
    pub damaged: Vec<String>,
    /// Complete runs left out because their files are not what they recorded: why.
    pub inconsistent: Vec<String>,
    /// Runs left out because they did not complete: run id and status.
    pub incomplete: Vec<String>,
}

/// Writes the report into `out` from every readable run; returns its Markdown and the runs left
/// out as unreadable or inconsistent. The pipeline: read and aggregate the runs
/// ([`summarise`]), make the tables ([`tables`]) and figures ([`charts`]), write them as one
/// set ([`document::write`] into a temporary folder beside `out`, which then replaces `out`; an
/// earlier report there is removed whole; a folder holding anything a report did not write is
/// refused, [`ResultsError::Refused`]).
pub fn report(results: &Path, out: &Path) -> Result<Written, ResultsError> {
    if !results.is_dir() {
        let what = if results.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        return Err(ResultsError::Refused(format!(
            "{}: {what}; give the results folder of your runs (the `results` of their configs)",
            results.display()
        )));
    }
    let s = summarise(results)?;
    write::as_one_set(out, |staging| document::write(results, s, staging))
}
