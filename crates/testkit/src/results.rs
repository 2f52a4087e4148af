//! Reading results files back in tests.

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

/// Every record batch of a Parquet file (panics with the path when it cannot be read).
pub fn read(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|b| b.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// The files in `dir` whose names start with `prefix`, sorted by name (panics when `dir`
/// cannot be read).
pub fn files_starting(dir: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut found: Vec<_> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

/// Every record batch of a run's step parts (`steps-*.parquet`), in part order.
pub fn steps(run_dir: &Path) -> Vec<RecordBatch> {
    files_starting(run_dir, "steps-")
        .iter()
        .flat_map(|p| read(p))
        .collect()
}

/// A string column of a run's one-row `run.parquet` (e.g. `status`, `message`).
pub fn run_value(run_dir: &Path, column: &str) -> String {
    let batches = read(&run_dir.join("run.parquet"));
    let col = batches[0]
        .column_by_name(column)
        .unwrap_or_else(|| panic!("run.parquet has no {column}"));
    col.as_string::<i32>().value(0).to_string()
}

/// An unsigned integer column of a run's one-row `run.parquet` (e.g. `threads`).
pub fn run_count(run_dir: &Path, column: &str) -> u64 {
    use arrow_array::types::{UInt32Type, UInt64Type};
    let batches = read(&run_dir.join("run.parquet"));
    let col = batches[0]
        .column_by_name(column)
        .unwrap_or_else(|| panic!("run.parquet has no {column}"));
    if let Some(c) = col.as_primitive_opt::<UInt32Type>() {
        u64::from(c.value(0))
    } else if let Some(c) = col.as_primitive_opt::<UInt64Type>() {
        c.value(0)
    } else {
        panic!("run.parquet: {column} is {}, not u32/u64", col.data_type())
    }
}
