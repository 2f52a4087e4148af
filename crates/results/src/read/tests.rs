//! Results files rewritten by the tools users analyse them with (polars writes text as
//! `large_string` and drops the key-value metadata; pandas may narrow integers), and files of a
//! later schema version.

use super::*;
use crate::tables::{run_batch, step_batch};
use arrow_array::{ArrayRef, Int64Array, LargeStringArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use geobatch_core::{RunInfo, StepRecord};
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

/// `batch` with its text as `large_string` and its u64 columns as int64 (polars, pandas).
fn as_polars_writes(batch: &RecordBatch) -> RecordBatch {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let (t, a): (DataType, ArrayRef) = if let Some(s) = c.as_string_opt::<i32>() {
            (
                DataType::LargeUtf8,
                Arc::new(s.iter().collect::<LargeStringArray>()),
            )
        } else if let Some(p) = c.as_primitive_opt::<UInt64Type>() {
            let v: Int64Array = p.iter().map(|v| v.map(|v| v as i64)).collect();
            (DataType::Int64, Arc::new(v))
        } else {
            (f.data_type().clone(), c.clone())
        };
        fields.push(Field::new(f.name(), t, true));
        arrays.push(a);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn write(path: &Path, batch: &RecordBatch, version: Option<&str>) {
    let props = WriterProperties::builder()
        .set_key_value_metadata(version.map(|v| {
            vec![parquet::file::metadata::KeyValue::new(
                "geobatch.schema_version".into(),
                v.to_string(),
            )]
        }))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

fn run_folder(dir: &Path, rewrite: bool, version: Option<&str>) {
    let run = RunInfo {
        run_id: "r1".into(),
        job: "train".into(),
        dataset: "qm9".into(),
        batcher_label: "pack".into(),
        batch_size: 32,
        seed: 7,
        mode: "train".into(),
        ..RunInfo::default()
    };
    let steps: Vec<StepRecord> = (0..5)
        .map(|i| StepRecord {
            step: i,
            batching_ns: 100 + i,
            combined_ns: 1000 + i,
            ..StepRecord::default()
        })
        .collect();
    let (r, s) = (
        run_batch(&run, None).unwrap(),
        step_batch(&run, &steps).unwrap(),
    );
    let (r, s) = if rewrite {
        (as_polars_writes(&r), as_polars_writes(&s))
    } else {
        (r, s)
    };
    write(&dir.join("run.parquet"), &r, version);
    write(&dir.join("steps-0001.parquet"), &s, version);
}

#[test]
fn files_rewritten_by_polars_read_as_written() {
    let dir = tempfile::tempdir().unwrap();
    run_folder(dir.path(), true, None);
    let run = read_run(dir.path()).unwrap();
    assert_eq!(run.id.run_id, "r1");
    assert_eq!(
        (run.id.batcher.as_str(), run.id.batch_size, run.id.seed),
        ("pack", 32, 7)
    );
    assert_eq!(run.steps.step, vec![0, 1, 2, 3, 4]);
    assert_eq!(run.steps.combined_ns[4], 1004);
}

#[test]
fn a_later_schema_version_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    run_folder(dir.path(), false, Some("99"));
    let e = read_run(dir.path()).unwrap_err();
    assert!(
        e.message.contains("newer geobatch") && e.message.contains("99"),
        "{e:?}"
    );
    run_folder(dir.path(), false, Some(crate::tables::SCHEMA_VERSION));
    assert_eq!(
        read_run(dir.path()).unwrap().id.schema_version,
        schema_version_now()
    );
}

fn schema_version_now() -> u32 {
    crate::tables::schema_version()
}

/// A link to a folder above it (a cycle) or to one already walked adds no run; a link to
/// results elsewhere adds theirs, once.
#[cfg(unix)]
#[test]
fn links_to_folders_are_walked_once_and_cycles_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for run in ["exp/a", "exp/b", "elsewhere/c"] {
        std::fs::create_dir_all(d.join(run)).unwrap();
        std::fs::write(d.join(run).join("run.parquet"), b"x").unwrap();
    }
    std::fs::create_dir_all(d.join("results")).unwrap();
    std::os::unix::fs::symlink(d.join("exp"), d.join("results/exp")).unwrap();
    std::os::unix::fs::symlink(d.join("exp"), d.join("results/exp-again")).unwrap();
    std::os::unix::fs::symlink(d.join("elsewhere"), d.join("results/more")).unwrap();
    // a link to its own parent: walked, it would be results/up/up/up/... 40 levels deep
    std::os::unix::fs::symlink(d.join("results"), d.join("results/up")).unwrap();
    let runs = find_runs(&d.join("results")).unwrap();
    let mut names: Vec<String> = runs
        .iter()
        .map(|r| r.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c"], "{runs:?}");
}
