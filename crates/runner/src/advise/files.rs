//! The advice as Parquet: `advice.parquet` (a row per candidate) and `crossovers.parquet` (a row
//! per pair), columns in docs/results-schema.md.

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::ArrowError;
use geobatch_advice::{Advice, Measured};
use std::path::Path;
use std::sync::Arc;

/// A float64 column.
fn f(v: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(v))
}

/// A uint64 column.
fn u(v: Vec<u64>) -> ArrayRef {
    Arc::new(UInt64Array::from(v))
}

/// A string column.
fn t(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

/// Writes `advice.parquet` (a row per candidate) and `crossovers.parquet` (a row per pair)
/// into `dir`; what fails names the file.
pub fn write(advice: &Advice, dir: &Path) -> Result<(), String> {
    let fail = |e: ArrowError| format!("cannot write {}: {e}", dir.display());
    let table = advice_table(advice).map_err(fail)?;
    let crossovers = crossover_table(advice).map_err(fail)?;
    write_parquet(&dir.join("advice.parquet"), &table, "advice")?;
    write_parquet(&dir.join("crossovers.parquet"), &crossovers, "crossovers")
}

/// A row per candidate, fastest first.
fn advice_table(a: &Advice) -> Result<RecordBatch, ArrowError> {
    let r = &a.ranked;
    let opt = |g: &dyn Fn(&Measured) -> f64| {
        Arc::new(Float64Array::from(
            r.iter()
                .map(|x| x.measured.as_ref().map(g))
                .collect::<Vec<_>>(),
        )) as ArrayRef
    };
    RecordBatch::try_from_iter([
        ("rank", u(r.iter().map(|x| x.rank as u64).collect())),
        ("batcher", t(r.iter().map(|x| x.label.clone()).collect())),
        (
            "batcher_table",
            t(r.iter().map(|x| x.spec.clone()).collect()),
        ),
        ("steps", u(r.iter().map(|_| a.steps).collect())),
        (
            "predicted_total_s",
            f(r.iter().map(|x| x.predicted_ms / 1e3).collect()),
        ),
        ("steady_ms", f(r.iter().map(|x| x.steady_ms).collect())),
        (
            "distinct_shapes",
            u(r.iter().map(|x| x.shapes as u64).collect()),
        ),
        (
            "new_shape_s",
            f(r.iter().map(|x| x.compile_ms / 1e3).collect()),
        ),
        (
            "compile_ms_per_shape",
            f(r.iter().map(|_| a.model.compile.mean).collect()),
        ),
        (
            "first_step_s",
            f(r.iter().map(|x| x.first_ms / 1e3).collect()),
        ),
        ("fill_nodes", f(r.iter().map(|x| x.fill.0).collect())),
        ("fill_edges", f(r.iter().map(|x| x.fill.1).collect())),
        (
            "graphs_per_step",
            f(r.iter().map(|x| x.graphs_per_step).collect()),
        ),
        (
            "probe_steps",
            u(r.iter().map(|x| x.probe.0 as u64).collect()),
        ),
        (
            "probe_shapes",
            u(r.iter().map(|x| x.probe.1 as u64).collect()),
        ),
        ("measured_steps", opt(&|m| m.steps as f64)),
        ("measured_total_s", opt(&|m| m.total_ms / 1e3)),
        ("predicted_same_steps_s", opt(&|m| m.predicted_ms / 1e3)),
        ("error_pct", opt(&Measured::error_pct)),
    ])
}

/// A row per pair of candidates.
fn crossover_table(a: &Advice) -> Result<RecordBatch, ArrowError> {
    let c = &a.crossovers;
    RecordBatch::try_from_iter([
        ("steps", u(c.iter().map(|_| a.steps).collect())),
        ("faster", t(c.iter().map(|x| x.faster.clone()).collect())),
        ("slower", t(c.iter().map(|x| x.slower.clone()).collect())),
        (
            "faster_after_steps",
            Arc::new(UInt64Array::from(
                c.iter().map(|x| x.after).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        ("margin_pct", f(c.iter().map(|x| x.margin_pct).collect())),
    ])
}

/// Writes one table of the advice as geobatch writes every Parquet table (whole or not at all,
/// tagged with the schema version and `table`).
fn write_parquet(path: &Path, batch: &RecordBatch, table: &str) -> Result<(), String> {
    geobatch_results::tables::write_table(path, batch, table)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geobatch_advice::{Candidate, Probe, advise};

    /// Both tables are written and read back with a row per candidate and per pair.
    #[test]
    fn the_advice_tables_are_readable_parquet() {
        let cand = |label: &str, ms: f64| {
            let mut probe = Probe::default();
            for i in 0..6 {
                probe.push(ms, [64, 512, 9], i == 0, false);
            }
            Candidate {
                label: label.into(),
                spec: format!("kind = {label:?}"),
                padded: vec![[64, 512, 9]; 20],
                fill: (1.0, 1.0),
                graphs_per_step: 8.0,
                probe,
            }
        };
        let mut advice = advise(&[cand("a", 1.0), cand("b", 2.0)], 20, 0);
        advice.check("a", &[1.0; 8]);
        let dir = tempfile::tempdir().expect("tempdir");
        write(&advice, dir.path()).expect("written");
        let rows = |name: &str| -> usize {
            let file = std::fs::File::open(dir.path().join(name)).expect("file");
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.build())
                .expect("reader")
                .map(|b| b.expect("batch").num_rows())
                .sum()
        };
        assert_eq!(rows("advice.parquet"), 2);
        assert_eq!(rows("crossovers.parquet"), 1);
    }
}
