//! A dataset's store as one Parquet file (what `geobatch data fetch` and `data import` write for
//! QM9 and mlearn): written through a temporary file and a rename, tagged with its format
//! (`geobatch.schema`), units and source; read back with the format checked first, and a damaged
//! file named as corrupt, never a crash.

use arrow_array::{ArrayRef, RecordBatch};
use geobatch_core::{Error, Result};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;
use std::path::Path;

/// The format of a store file, as its writer tags it and its reader checks it.
#[derive(Debug, Clone, Copy)]
pub struct Format<'a> {
    /// The `geobatch.schema` tag (`qm9/1`); its part before `/` names the kind of file.
    pub schema: &'a str,
    /// The kind of file in messages (`QM9`).
    pub kind: &'a str,
    /// What a file of this format holds, in messages (`QM9 molecules`).
    pub holds: &'a str,
    /// The commands that make one, in messages.
    pub made_by: &'a str,
}

/// Writes `batch` to `out` (its folder made if missing), Snappy-compressed, tagged with
/// `format`'s schema, `units` (JSON: column -> unit) and `source`; row groups of at most
/// `row_group_rows` rows where given. Errors name `out`.
pub fn write(
    out: &Path,
    batch: std::result::Result<RecordBatch, arrow_schema::ArrowError>,
    format: &Format<'_>,
    units: String,
    source: &str,
    row_group_rows: Option<usize>,
) -> Result<()> {
    let fail = |e: String| Error::invalid(format!("{}: {e}", out.display()));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    let batch = batch.map_err(|e| fail(e.to_string()))?;
    let mut props = WriterProperties::builder().set_compression(Compression::SNAPPY);
    if let Some(rows) = row_group_rows {
        props = props.set_max_row_group_row_count(Some(rows));
    }
    let props = props
        .set_key_value_metadata(Some(vec![
            KeyValue::new("geobatch.schema".into(), format.schema.to_string()),
            KeyValue::new("geobatch.units".into(), units),
            KeyValue::new("geobatch.source".into(), source.to_string()),
        ]))
        .build();
    crate::atomic::write_atomic(out, |file| {
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
        w.write(&batch)?;
        w.close()?;
        Ok(())
    })
    .map_err(|e| fail(e.to_string()))
}

/// Reads a file [`write`] wrote in `format`, handing each record batch to `append`; `name`
/// names the file in errors. A file of another format is refused in words (not geobatch's, of
/// another version, of another kind) with the commands that make one; a damaged file that makes
/// the decoder panic (e.g. on flipped bytes) is reported as corrupt.
pub fn read<R: ChunkReader + 'static>(
    input: R,
    name: &str,
    format: &Format<'_>,
    append: impl FnMut(&RecordBatch) -> std::result::Result<(), String>,
) -> Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode(input, name, format, append)
    }))
    .unwrap_or_else(|panic| {
        Err(Error::invalid(format!(
            "{name}: corrupt data, the Parquet decoder gave up ({}); fetch or import the file \
             again",
            panic_reason(panic.as_ref())
        )))
    })
}

/// What a decoder's panic said (a damaged Parquet file can make the decoder panic, e.g. "column
/// start and length should not be negative"), for the error that reports the file as corrupt.
pub fn panic_reason(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("the decoder failed")
}

fn decode<R: ChunkReader + 'static>(
    input: R,
    name: &str,
    format: &Format<'_>,
    mut append: impl FnMut(&RecordBatch) -> std::result::Result<(), String>,
) -> Result<()> {
    let fail = |m: String| Error::invalid(format!("{name}: {m}"));
    let builder = ParquetRecordBatchReaderBuilder::try_new(input)
        .map_err(|e| fail(format!("not a readable Parquet file ({e})")))?;
    let tag = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "geobatch.schema"))
        .and_then(|k| k.value.clone());
    if tag.as_deref() != Some(format.schema) {
        let family = format.schema.split('/').next().unwrap_or(format.schema);
        let what = match tag.as_deref() {
            None => "a Parquet file that geobatch did not write (it has no geobatch.schema tag)"
                .to_string(),
            Some(t) if t.split('/').next() == Some(family) => {
                format!(
                    "a {} file of another geobatch version (format {t})",
                    format.kind
                )
            }
            Some(t) => format!("a geobatch file of another kind (format {t})"),
        };
        return Err(fail(format!(
            "{what}, not the {} this geobatch reads (format {}); make one with {}",
            format.holds, format.schema, format.made_by
        )));
    }
    let reader = builder
        .with_batch_size(65_536)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| fail(format!("corrupt data ({e})")))?;
        append(&batch).map_err(&fail)?;
    }
    Ok(())
}

/// The column `name` of `b`, or a message naming it.
pub fn column<'a>(b: &'a RecordBatch, name: &str) -> std::result::Result<&'a ArrayRef, String> {
    b.column_by_name(name)
        .ok_or_else(|| format!("missing column {name:?}"))
}
