//! The `parquet` sink: every measurement as Parquet files in the run folder (DESIGN.md §8).
//!
//! * `run.parquet`: one row, the run's identity and environment; written at start with status
//!   `running` and replaced at the end with the final status.
//! * `steps-NNNNN.parquet`: one row per step, a new part file every `rows_per_part` rows, so a
//!   crash loses at most the open part.
//! * `evals.parquet`: one row per (evaluation, split), rewritten after every evaluation.
//! * `manifest.json`: what the folder must hold (each closed part with its rows and step
//!   range, the evaluation rows, the status), written at start, at every checkpoint and at the
//!   end, before `run.parquet`'s final status; readers verify the files against it.
//!
//! Identity columns are repeated in every file, so globs over many runs need no joins. Every file
//! is written under a temporary name and renamed when complete, so a file with its final name is
//! always readable. The schema version sits in the key-value metadata under
//! `geobatch.schema_version`. Columns are documented in `docs/results-schema.md`.

use geobatch_results::tables;
pub use geobatch_results::tables::SCHEMA_VERSION;

use geobatch_core::records::{EvalRecord, RunEnd, RunStatus};
use geobatch_core::{Error, Result, RunInfo, Sink, SinkSpec, StepRecord, plugin_options};
use geobatch_results::manifest::{MANIFEST_VERSION, Manifest, PartEntry};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Config of the Parquet sink.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSpec {
    /// Steps per part file.
    #[option(
        ty = "integer",
        default = 10_000,
        doc = "steps per part file; a crash loses at most the open part"
    )]
    pub rows_per_part: usize,
}

/// The runtime Parquet sink.
#[derive(Debug)]
pub struct ParquetSink {
    rows_per_part: usize,
    run: Option<RunInfo>,
    steps: Vec<StepRecord>,
    evals: Vec<EvalRecord>,
    part: u32,
    written: u64,
    /// The closed parts, for the manifest; `None` after resuming from a checkpoint written
    /// before manifests existed (such a run gets none).
    entries: Option<Vec<PartEntry>>,
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Sink {
        sink: "parquet".into(),
        message: e.to_string(),
    }
}

impl ParquetSink {
    /// A sink writing a part file every `rows_per_part` steps.
    pub fn new(rows_per_part: usize) -> Self {
        ParquetSink {
            rows_per_part: rows_per_part.max(1),
            run: None,
            steps: Vec::new(),
            evals: Vec::new(),
            part: 0,
            written: 0,
            entries: Some(Vec::new()),
        }
    }

    fn run(&self) -> Result<&RunInfo> {
        self.run
            .as_ref()
            .ok_or_else(|| err("the sink was not started"))
    }

    fn flush_steps(&mut self) -> Result<()> {
        if self.steps.is_empty() {
            return Ok(());
        }
        let run = self.run()?;
        let batch = tables::step_batch(run, &self.steps).map_err(err)?;
        let file = format!("steps-{:05}.parquet", self.part);
        tables::write_atomic(&run.run_dir.join(&file), &batch, "steps").map_err(err)?;
        if let (Some(entries), Some(first), Some(last)) =
            (&mut self.entries, self.steps.first(), self.steps.last())
        {
            entries.push(PartEntry {
                file,
                rows: self.steps.len() as u64,
                first_step: first.step,
                last_step: last.step,
            });
        }
        self.part += 1;
        self.written += self.steps.len() as u64;
        self.steps.clear();
        Ok(())
    }

    /// Writes `manifest.json` with `status` (see the module docs).
    fn write_manifest(&self, status: RunStatus) -> Result<()> {
        let (run, Some(parts)) = (self.run()?, &self.entries) else {
            return Ok(());
        };
        Manifest {
            version: MANIFEST_VERSION,
            run_id: run.run_id.clone(),
            status,
            steps: parts.last().map_or(0, |p| p.last_step + 1),
            parts: parts.clone(),
            eval_rows: self.evals.len() as u64,
        }
        .write(&run.run_dir)
        .map_err(err)
    }

    fn write_run(&self, end: Option<&RunEnd>) -> Result<()> {
        let run = self.run()?;
        let batch = tables::run_batch(run, end).map_err(err)?;
        tables::write_atomic(&run.run_dir.join("run.parquet"), &batch, "run").map_err(err)
    }
}

fn remove_stale(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name == "run.parquet"
            || name == "evals.parquet"
            || name == geobatch_results::MANIFEST_FILE
            || (name.starts_with("steps-") && name.contains(".parquet"));
        if stale {
            std::fs::remove_file(entry.path())
                .map_err(|e| err(format!("{}: {e}", entry.path().display())))?;
        }
    }
    Ok(())
}

/// What the sink needs to continue after a checkpoint.
#[derive(Debug, Serialize, Deserialize)]
struct Resume {
    /// Step part files closed at the checkpoint.
    parts: u32,
    /// Evaluations recorded up to the checkpoint.
    evals: Vec<EvalRecord>,
    /// The closed parts (absent in checkpoints written before manifests existed).
    #[serde(default)]
    entries: Option<Vec<PartEntry>>,
}

impl Sink for ParquetSink {
    fn start(&mut self, run: &RunInfo) -> Result<()> {
        let dir: &PathBuf = &run.run_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        if run.resumed_from.is_none() {
            remove_stale(dir)?;
        }
        self.run = Some(run.clone());
        if run.resumed_from.is_none() {
            self.write_manifest(RunStatus::Running)?;
        }
        self.write_run(None)
    }

    fn step(&mut self, record: &StepRecord) -> Result<()> {
        self.steps.push(*record);
        if self.steps.len() >= self.rows_per_part {
            self.flush_steps()?;
        }
        Ok(())
    }

    fn eval(&mut self, record: &EvalRecord) -> Result<()> {
        self.evals.push(record.clone());
        let run = self.run()?;
        let batch = tables::eval_batch(run, &self.evals).map_err(err)?;
        tables::write_atomic(&run.run_dir.join("evals.parquet"), &batch, "evals").map_err(err)
    }

    fn checkpoint(&mut self) -> Result<serde_json::Value> {
        self.flush_steps()?;
        self.write_manifest(RunStatus::Running)?;
        serde_json::to_value(Resume {
            parts: self.part,
            evals: self.evals.clone(),
            entries: self.entries.clone(),
        })
        .map_err(err)
    }

    fn resume(&mut self, state: &serde_json::Value) -> Result<()> {
        let state: Resume = serde_json::from_value(state.clone())
            .map_err(|e| err(format!("bad checkpoint state: {e}")))?;
        let dir = self.run()?.run_dir.clone();
        // Parts closed after the checkpoint hold steps that will be recorded again: drop them.
        let entries =
            std::fs::read_dir(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let index = name
                .strip_prefix("steps-")
                .and_then(|n| n.split('.').next())
                .and_then(|n| n.parse::<u32>().ok());
            // parts after the checkpoint and this sink's half-written files; not the runner's
            // `checkpoint.tmp` folder, left by a kill while a checkpoint was being written
            let stale = index.is_some_and(|i| i >= state.parts);
            let half_written = name.ends_with(".parquet.tmp");
            if (stale || half_written) && entry.path().is_file() {
                std::fs::remove_file(entry.path())
                    .map_err(|e| err(format!("{}: {e}", entry.path().display())))?;
            }
        }
        self.part = state.parts;
        self.steps.clear();
        self.evals = state.evals;
        self.entries = state.entries.filter(|e| e.len() == state.parts as usize);
        if self.entries.is_none() {
            let _ = std::fs::remove_file(dir.join(geobatch_results::MANIFEST_FILE));
        }
        self.write_manifest(RunStatus::Running)?;
        let run = self.run()?;
        if self.evals.is_empty() {
            let _ = std::fs::remove_file(run.run_dir.join("evals.parquet"));
            return Ok(());
        }
        let batch = tables::eval_batch(run, &self.evals).map_err(err)?;
        tables::write_atomic(&run.run_dir.join("evals.parquet"), &batch, "evals").map_err(err)
    }

    fn finish(&mut self, end: &RunEnd) -> Result<()> {
        let flushed = self.flush_steps();
        let mut end = end.clone();
        if let Err(e) = &flushed {
            end.status = RunStatus::Failed;
            end.message = Some(e.to_string());
        }
        // the manifest first: a kill between the two leaves `run.parquet` short of complete
        self.write_manifest(end.status)?;
        self.write_run(Some(&end))?;
        flushed
    }
}

#[geobatch_core::plugin(
    name = "parquet",
    summary = "run.parquet, steps-*.parquet (part files) and evals.parquet in the run folder",
    example = "rows_per_part = 10000\n"
)]
impl SinkSpec for ParquetSpec {
    fn validate(&self) -> Result<()> {
        if self.rows_per_part == 0 {
            return Err(Error::invalid("sinks.rows_per_part must be at least 1"));
        }
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Sink>> {
        self.validate()?;
        Ok(Box::new(ParquetSink::new(self.rows_per_part)))
    }

    fn files(&self) -> &'static [&'static str] {
        &[
            "run.parquet",
            "steps-*",
            "evals.parquet",
            geobatch_results::MANIFEST_FILE,
        ]
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
