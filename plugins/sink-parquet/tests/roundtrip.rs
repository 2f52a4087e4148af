//! Parquet files written by the sink are read back with arrow and match what was recorded; a
//! sink that dies without `finish` leaves its closed part files readable.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use geobatch_core::records::{EvalRecord, RunEnd, RunStatus};
use geobatch_core::{Phases, RunInfo, Shape, Sink, StepRecord};
use geobatch_sink_parquet::{ParquetSink, SCHEMA_VERSION};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

/// The status column of the run table in `dir`.
fn run_status(dir: &Path) -> String {
    let (r, _) = read(&dir.join("run.parquet"));
    let status = r.column_by_name("status").unwrap().as_string::<i32>();
    status.value(0).to_string()
}

fn read(path: &Path) -> (RecordBatch, Vec<(String, String)>) {
    let file = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|v| {
            v.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    (arrow_select_concat(&batches), kv)
}

fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    assert_eq!(batches.len(), 1, "small files hold one record batch");
    batches[0].clone()
}

fn run_info(dir: &Path) -> RunInfo {
    RunInfo {
        experiment: "exp".into(),
        run_id: "r1".into(),
        run_dir: dir.to_path_buf(),
        job: "batches".into(),
        dataset: "synthetic".into(),
        batcher: "static".into(),
        batcher_label: "static-64".into(),
        batch_size: 16,
        seed: 7,
        quirks: "clean".into(),
        mode: "serial".into(),
        device: "cpu".into(),
        planned_steps: 10,
        budget: Some(Shape::new(1, 2, 3)),
        ..Default::default()
    }
}

fn record(step: u64) -> StepRecord {
    StepRecord {
        step,
        plan_ns: 100 + step,
        collate_ns: 200 + step,
        batching_ns: 300 + 2 * step,
        update_ns: step.is_multiple_of(2).then_some(1000 + step),
        wait_ns: None,
        combined_ns: 1300 + 3 * step,
        real: Shape::new(10 + step as usize, 90, 15),
        padded: Shape::new(64, 128, 16),
        new_shape: step == 0,
        cold_shape: step == 0 || step == 3,
        warmup: step < 2,
        loss: Some(0.5 / (1.0 + step as f32)),
        // a trainer that tells the phases apart on even steps, only the transfer on odd ones
        phases: Phases {
            transfer_ns: Some(10 + step),
            forward_ns: step.is_multiple_of(2).then_some(400 + step),
            backward_ns: step.is_multiple_of(2).then_some(500 + step),
            optimizer_ns: step.is_multiple_of(2).then_some(60 + step),
        },
    }
}

#[test]
fn steps_evals_and_run_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ParquetSink::new(4);
    sink.start(&run_info(dir.path())).unwrap();
    run_parquet_carries_the_schema_version(dir.path());
    record_ten_steps_an_eval_and_finish(&mut sink);
    let parts = step_parts_are_numbered_in_order(dir.path());
    let mut step = 0u64;
    for p in &parts {
        step = step_part_rows_match_the_records(&dir.path().join(p), step);
    }
    assert_eq!(step, 10);
    evals_parquet_holds_the_eval(dir.path());
    run_parquet_holds_the_end_of_the_run(dir.path());
}

/// `run.parquet`, written at `start`, carries the schema version in its key-value metadata.
fn run_parquet_carries_the_schema_version(dir: &Path) {
    let (_, kv) = read(&dir.join("run.parquet"));
    assert!(kv.contains(&("geobatch.schema_version".into(), SCHEMA_VERSION.into())));
}

/// Ten steps, one validation eval and a complete end are all accepted by the sink.
fn record_ten_steps_an_eval_and_finish(sink: &mut ParquetSink) {
    for s in 0..10 {
        sink.step(&record(s)).unwrap();
    }
    sink.eval(&EvalRecord {
        step: 9,
        split: "validation".into(),
        target: "y".into(),
        rmse: 0.25,
        mae: 0.125,
        graphs: 100,
        accuracy: None,
        macro_f1: None,
        inference: None,
        eval_ns: None,
    })
    .unwrap();
    sink.finish(&RunEnd {
        status: RunStatus::Complete,
        steps: 10,
        wall_ns: 55,
        message: None,
    })
    .unwrap();
}

/// Ten steps at four rows a part give three step parts, numbered from zero; returns their names.
fn step_parts_are_numbered_in_order(dir: &Path) -> Vec<String> {
    let mut parts: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("steps-"))
        .collect();
    parts.sort();
    assert_eq!(
        parts,
        vec![
            "steps-00000.parquet",
            "steps-00001.parquet",
            "steps-00002.parquet"
        ]
    );
    parts
}

/// Every row of one step part matches `record(step)` from `first_step` on; returns the next step.
fn step_part_rows_match_the_records(path: &Path, first_step: u64) -> u64 {
    let (b, kv) = read(path);
    assert!(kv.contains(&("geobatch.table".into(), "steps".into())));
    let mut step = first_step;
    for i in 0..b.num_rows() {
        step_row_matches_its_record(&b, i, &record(step));
        step += 1;
    }
    step
}

/// Row `i` of a steps batch holds the timings, phases, shapes, flags and run columns of `want`.
fn step_row_matches_its_record(b: &RecordBatch, i: usize, want: &StepRecord) {
    let col = |name: &str| {
        b.column_by_name(name)
            .unwrap_or_else(|| panic!("column {name}"))
            .clone()
    };
    assert_eq!(col("step").as_primitive::<UInt64Type>().value(i), want.step);
    assert_eq!(
        col("plan_ns").as_primitive::<UInt64Type>().value(i),
        want.plan_ns
    );
    assert_eq!(
        col("collate_ns").as_primitive::<UInt64Type>().value(i),
        want.collate_ns
    );
    assert_eq!(
        col("combined_ns").as_primitive::<UInt64Type>().value(i),
        want.combined_ns
    );
    let update = col("update_ns");
    assert_eq!(update.is_null(i), want.update_ns.is_none());
    if let Some(u) = want.update_ns {
        assert_eq!(update.as_primitive::<UInt64Type>().value(i), u);
    }
    assert!(col("wait_ns").is_null(i));
    for (name, want) in [
        ("transfer_ns", want.phases.transfer_ns),
        ("forward_ns", want.phases.forward_ns),
        ("backward_ns", want.phases.backward_ns),
        ("optimizer_ns", want.phases.optimizer_ns),
    ] {
        let c = col(name);
        assert_eq!(c.is_null(i), want.is_none(), "{name}");
        if let Some(v) = want {
            assert_eq!(c.as_primitive::<UInt64Type>().value(i), v, "{name}");
        }
    }
    assert_eq!(
        col("real_nodes").as_primitive::<UInt32Type>().value(i) as usize,
        want.real.nodes
    );
    assert_eq!(
        col("padded_edges").as_primitive::<UInt32Type>().value(i) as usize,
        want.padded.edges
    );
    assert_eq!(col("new_shape").as_boolean().value(i), want.new_shape);
    assert_eq!(col("cold_shape").as_boolean().value(i), want.cold_shape);
    assert_eq!(col("warmup").as_boolean().value(i), want.warmup);
    assert_eq!(
        col("loss").as_primitive::<Float32Type>().value(i),
        want.loss.unwrap()
    );
    assert_eq!(
        col("batcher_label").as_string::<i32>().value(i),
        "static-64"
    );
    assert_eq!(col("batch_size").as_primitive::<UInt32Type>().value(i), 16);
    assert_eq!(col("seed").as_primitive::<UInt64Type>().value(i), 7);
}

/// `evals.parquet` holds the one eval with its rmse, split and run id.
fn evals_parquet_holds_the_eval(dir: &Path) {
    let (e, _) = read(&dir.join("evals.parquet"));
    assert_eq!(e.num_rows(), 1);
    assert_eq!(
        e.column_by_name("rmse")
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(0),
        0.25
    );
    assert_eq!(
        e.column_by_name("split")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "validation"
    );
    assert_eq!(
        e.column_by_name("run_id")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "r1"
    );
}

/// `run.parquet`, rewritten at `finish`, holds the status, step count and budget; no model.
fn run_parquet_holds_the_end_of_the_run(dir: &Path) {
    assert_eq!(run_status(dir), "complete");
    let (r, _) = read(&dir.join("run.parquet"));
    assert_eq!(
        r.column_by_name("steps")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .value(0),
        10
    );
    assert_eq!(
        r.column_by_name("budget_edges")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .value(0),
        2
    );
    assert!(r.column_by_name("model").unwrap().is_null(0));
}

/// A sink of `rows`-row step parts started in a fresh folder, with `steps` steps recorded.
fn started_with_steps(rows: usize, steps: u64) -> (tempfile::TempDir, ParquetSink) {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ParquetSink::new(rows);
    sink.start(&run_info(dir.path())).unwrap();
    for s in 0..steps {
        sink.step(&record(s)).unwrap();
    }
    (dir, sink)
}

#[test]
fn a_sink_that_dies_leaves_its_closed_parts_readable() {
    let (dir, sink) = started_with_steps(3, 8);
    drop(sink); // no finish: a crash
    let (a, _) = read(&dir.path().join("steps-00000.parquet"));
    let (b, _) = read(&dir.path().join("steps-00001.parquet"));
    assert_eq!(
        a.num_rows() + b.num_rows(),
        6,
        "the open part (2 rows) is lost, nothing else"
    );
    assert!(!dir.path().join("steps-00002.parquet").exists());
    assert_eq!(run_status(dir.path()), "running");
}

#[test]
fn a_failed_run_records_its_status_and_keeps_its_rows() {
    let (dir, mut sink) = started_with_steps(100, 5);
    let end = RunEnd {
        status: RunStatus::Failed,
        steps: 5,
        wall_ns: 1,
        message: Some("graph 3 too large".into()),
    };
    sink.finish(&end).unwrap();
    let (a, _) = read(&dir.path().join("steps-00000.parquet"));
    assert_eq!(a.num_rows(), 5);
    assert_eq!(run_status(dir.path()), "failed");
    let (r, _) = read(&dir.path().join("run.parquet"));
    assert_eq!(
        r.column_by_name("message")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "graph 3 too large"
    );
}
