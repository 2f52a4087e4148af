//! The shared-memory segment a batch is written into: a file in `/dev/shm` (a memory file system;
//! another temporary folder where there is none) that the worker maps once and reads through
//! NumPy views. Writing an array is one copy from the collated batch into the segment, the
//! analogue of a host-to-device transfer; nothing is serialised and Python copies nothing.

use crate::wire::Wire;
use geobatch_core::{Error, Result};
use serde_json::{Value, json};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Every array starts at a multiple of this many bytes (a cache line).
const ALIGN: u64 = 64;

/// The segment and its current size.
pub struct Segment {
    file: tempfile::NamedTempFile,
    size: u64,
    /// Removes the file if geobatch ends at once (a second Ctrl-C): `file` does when dropped.
    _leftover: geobatch_process::leftovers::Registration,
}

impl Segment {
    /// An empty segment; it grows to the largest batch written.
    pub fn new() -> Result<Segment> {
        let shm = Path::new("/dev/shm");
        let builder = || {
            let mut b = tempfile::Builder::new();
            b.prefix("geobatch-batch-");
            b
        };
        let file = if shm.is_dir() {
            builder().tempfile_in(shm)
        } else {
            builder().tempfile()
        }
        .or_else(|_| builder().tempfile())
        .map_err(|e| Error::invalid(format!("python model: cannot make the batch segment: {e}")))?;
        let _leftover = geobatch_process::leftovers::register(
            geobatch_process::leftovers::Leftover::File(file.path().to_path_buf()),
        );
        Ok(Segment {
            file,
            size: 0,
            _leftover,
        })
    }

    /// Writes every array of `batch` (in the bridge's order for its task) and returns the layout
    /// the worker reads it with: the segment, each array's offset and leading dimension, and the
    /// batch's scalars.
    pub fn write<B: Wire>(&mut self, batch: &B) -> Result<Value> {
        let parts = batch.parts();
        let mut offsets = Vec::with_capacity(parts.len());
        let mut end = 0u64;
        for (bytes, _) in &parts {
            offsets.push(end);
            end = (end + bytes.len() as u64).div_ceil(ALIGN) * ALIGN;
        }
        let io = |e: std::io::Error| {
            Error::invalid(format!(
                "python model: cannot write the batch into {}: {e}",
                self.file.path().display()
            ))
        };
        if end > self.size {
            let size = end.max(self.size * 2).max(1 << 16);
            self.file.as_file().set_len(size).map_err(io)?;
            self.size = size;
        }
        let mut layout = Vec::with_capacity(parts.len());
        for ((bytes, rows), &offset) in parts.iter().zip(&offsets) {
            self.file
                .as_file()
                .write_all_at(bytes, offset)
                .map_err(io)?;
            layout.push(json!([offset, rows]));
        }
        let mut fields = batch.scalars();
        if let Some(obj) = fields.as_object_mut() {
            obj.insert("segment".into(), json!(self.file.path()));
            obj.insert("size".into(), json!(self.size));
            obj.insert("arrays".into(), Value::Array(layout));
        }
        Ok(fields)
    }
}
