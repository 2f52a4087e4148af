//! The format of a run's result files, one definition for every writer: Arrow record batches of
//! the three result tables (`steps`, `run`, `evals`) with the schema version they carry, and
//! atomic Parquet writing (the Parquet sink's files, and the report's and advise's own tables).

use arrow_array::builder::{
    BooleanBuilder, Float32Builder, Float64Builder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{ArrowError, Field, Schema};
use geobatch_core::records::{EvalRecord, RunEnd};
use geobatch_core::{RunInfo, StepRecord};
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// Version of the results schema, stored as `geobatch.schema_version` in every file.
pub const SCHEMA_VERSION: &str = "5";

/// [`SCHEMA_VERSION`] as a number (files of a later version are refused by the reader).
pub fn schema_version() -> u32 {
    SCHEMA_VERSION.parse().unwrap_or(u32::MAX)
}

/// Columns being built: (name, type, nullable, values).
struct Columns(Vec<(Field, ArrayRef)>);

impl Columns {
    fn add(&mut self, name: &str, array: ArrayRef) {
        let nullable = array.null_count() > 0
            || matches!(
                name,
                "model"
                    | "git_revision"
                    | "update_ns"
                    | "wait_ns"
                    | "loss"
                    | "message"
                    | "budget_nodes"
                    | "budget_edges"
                    | "budget_graphs"
                    | "resumed_from"
                    | "accuracy"
                    | "macro_f1"
                    | "inference"
                    | "eval_ns"
            );
        self.0
            .push((Field::new(name, array.data_type().clone(), nullable), array));
    }

    fn u64(&mut self, name: &str, n: usize, f: impl Fn(usize) -> Option<u64>) {
        let mut b = UInt64Builder::with_capacity(n);
        (0..n).for_each(|i| b.append_option(f(i)));
        self.add(name, Arc::new(b.finish()));
    }

    fn u32(&mut self, name: &str, n: usize, f: impl Fn(usize) -> Option<u32>) {
        let mut b = UInt32Builder::with_capacity(n);
        (0..n).for_each(|i| b.append_option(f(i)));
        self.add(name, Arc::new(b.finish()));
    }

    fn str(&mut self, name: &str, n: usize, f: impl Fn(usize) -> Option<String>) {
        let mut b = StringBuilder::new();
        (0..n).for_each(|i| b.append_option(f(i)));
        self.add(name, Arc::new(b.finish()));
    }

    fn bool(&mut self, name: &str, n: usize, f: impl Fn(usize) -> bool) {
        let mut b = BooleanBuilder::with_capacity(n);
        (0..n).for_each(|i| b.append_value(f(i)));
        self.add(name, Arc::new(b.finish()));
    }

    fn f64(&mut self, name: &str, n: usize, f: impl Fn(usize) -> f64) {
        let mut b = Float64Builder::with_capacity(n);
        (0..n).for_each(|i| b.append_value(f(i)));
        self.add(name, Arc::new(b.finish()));
    }

    fn f64_opt(&mut self, name: &str, n: usize, f: impl Fn(usize) -> Option<f64>) {
        let mut b = Float64Builder::with_capacity(n);
        (0..n).for_each(|i| b.append_option(f(i)));
        self.add(name, Arc::new(b.finish()));
    }

    /// Identity columns repeated in every table.
    fn identity(&mut self, run: &RunInfo, n: usize) {
        let s = |v: &str| {
            let v = v.to_string();
            move |_| Some(v.clone())
        };
        self.str("experiment", n, s(&run.experiment));
        self.str("run_id", n, s(&run.run_id));
        self.str("job", n, s(&run.job));
        self.str("dataset", n, s(&run.dataset));
        let model = run.model.clone();
        self.str("model", n, move |_| model.clone());
        self.str("batcher", n, s(&run.batcher));
        self.str("batcher_label", n, s(&run.batcher_label));
        self.u32("batch_size", n, |_| Some(run.batch_size));
        self.u64("seed", n, |_| Some(run.seed));
        self.str("quirks", n, s(&run.quirks));
        self.str("mode", n, s(&run.mode));
        self.str("device", n, s(&run.device));
    }

    fn finish(self) -> Result<RecordBatch, ArrowError> {
        let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = self.0.into_iter().unzip();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }
}

/// The `steps` table for a slice of step records.
pub fn step_batch(run: &RunInfo, rows: &[StepRecord]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut c = Columns(Vec::new());
    c.identity(run, n);
    c.u64("step", n, |i| Some(rows[i].step));
    c.u64("plan_ns", n, |i| Some(rows[i].plan_ns));
    c.u64("collate_ns", n, |i| Some(rows[i].collate_ns));
    c.u64("batching_ns", n, |i| Some(rows[i].batching_ns));
    c.u64("update_ns", n, |i| rows[i].update_ns);
    c.u64("wait_ns", n, |i| rows[i].wait_ns);
    c.u64("combined_ns", n, |i| Some(rows[i].combined_ns));
    c.u32("real_nodes", n, |i| Some(rows[i].real.nodes as u32));
    c.u32("real_edges", n, |i| Some(rows[i].real.edges as u32));
    c.u32("real_graphs", n, |i| Some(rows[i].real.graphs as u32));
    c.u32("padded_nodes", n, |i| Some(rows[i].padded.nodes as u32));
    c.u32("padded_edges", n, |i| Some(rows[i].padded.edges as u32));
    c.u32("padded_graphs", n, |i| Some(rows[i].padded.graphs as u32));
    c.bool("new_shape", n, |i| rows[i].new_shape);
    c.bool("cold_shape", n, |i| rows[i].cold_shape);
    c.bool("warmup", n, |i| rows[i].warmup);
    let mut loss = Float32Builder::with_capacity(n);
    rows.iter().for_each(|r| loss.append_option(r.loss));
    c.add("loss", Arc::new(loss.finish()));
    c.u64("transfer_ns", n, |i| rows[i].phases.transfer_ns);
    c.u64("forward_ns", n, |i| rows[i].phases.forward_ns);
    c.u64("backward_ns", n, |i| rows[i].phases.backward_ns);
    c.u64("optimizer_ns", n, |i| rows[i].phases.optimizer_ns);
    c.finish()
}

/// The `evals` table.
pub fn eval_batch(run: &RunInfo, rows: &[EvalRecord]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut c = Columns(Vec::new());
    c.identity(run, n);
    c.u64("step", n, |i| Some(rows[i].step));
    c.str("split", n, |i| Some(rows[i].split.clone()));
    c.str("target", n, |i| Some(rows[i].target.clone()));
    c.f64("rmse", n, |i| rows[i].rmse);
    c.f64("mae", n, |i| rows[i].mae);
    c.u64("graphs", n, |i| Some(rows[i].graphs));
    c.f64_opt("accuracy", n, |i| rows[i].accuracy);
    c.f64_opt("macro_f1", n, |i| rows[i].macro_f1);
    c.str("inference", n, |i| rows[i].inference.clone());
    c.u64("eval_ns", n, |i| rows[i].eval_ns);
    c.finish()
}

/// The one-row `run` table; `end` is `None` while the run is going.
pub fn run_batch(run: &RunInfo, end: Option<&RunEnd>) -> Result<RecordBatch, ArrowError> {
    let mut c = Columns(Vec::new());
    c.identity(run, 1);
    let one = |v: &str| {
        let v = v.to_string();
        move |_| Some(v.clone())
    };
    c.str("dataset_source", 1, one(&run.dataset_source));
    c.str("batcher_options", 1, one(&run.batcher_options));
    c.u32("threads", 1, |_| Some(run.threads));
    c.str("host", 1, one(&run.host));
    c.str("cpu", 1, one(&run.cpu));
    let rev = run.git_revision.clone();
    c.str("git_revision", 1, move |_| rev.clone());
    c.str("version", 1, one(&run.version));
    c.add(
        "started_at",
        Arc::new(Int64Array::from(vec![run.started_at])),
    );
    c.str("config_hash", 1, one(&run.config_hash));
    c.u64("planned_steps", 1, |_| Some(run.planned_steps));
    c.u64("budget_nodes", 1, |_| run.budget.map(|b| b.nodes as u64));
    c.u64("budget_edges", 1, |_| run.budget.map(|b| b.edges as u64));
    c.u64("budget_graphs", 1, |_| run.budget.map(|b| b.graphs as u64));
    c.u64("resumed_from", 1, |_| run.resumed_from);
    let status = end.map_or("running", |e| e.status.as_str());
    c.str("status", 1, one(status));
    c.u64("steps", 1, |_| Some(end.map_or(0, |e| e.steps)));
    c.u64("wall_ns", 1, |_| Some(end.map_or(0, |e| e.wall_ns)));
    let message = end.and_then(|e| e.message.clone());
    c.str("message", 1, move |_| message.clone());
    c.finish()
}

/// Writes `batch` to `path` whole or not at all (core's atomic writer), Snappy-compressed, with
/// the schema version and the table name in the key-value metadata: the one way geobatch writes
/// a Parquet table (results and advice).
pub fn write_table(path: &Path, batch: &RecordBatch, table: &str) -> std::io::Result<()> {
    write_table_to(
        &geobatch_datafiles::output::Output::New(path.to_path_buf()),
        batch,
        table,
    )
}

/// [`write_table`] to an output a user named (`geobatch_datafiles::output`): a file whole or
/// not at all, or a FIFO or device in place.
pub fn write_table_to(
    out: &geobatch_datafiles::output::Output,
    batch: &RecordBatch,
    table: &str,
) -> std::io::Result<()> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![
            KeyValue::new("geobatch.schema_version".into(), SCHEMA_VERSION.to_string()),
            KeyValue::new("geobatch.table".into(), table.to_string()),
        ]))
        .build();
    // a half-written file (a full disk) is removed: it holds nothing and would take space that
    // the run's status still needs
    out.write(|file| {
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props))?;
        writer.write(batch)?;
        writer.close()?;
        Ok(())
    })
}

/// [`write_table`], its error naming the file.
pub fn write_atomic(path: &Path, batch: &RecordBatch, table: &str) -> Result<(), String> {
    write_table(path, batch, table).map_err(|e| format!("{}: {e}", path.display()))
}
