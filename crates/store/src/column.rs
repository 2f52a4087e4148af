//! One column file: rows appended by a [`ColumnWriter`] (the header's shape rewritten at every
//! commit), read through a memory map by [`MappedColumn`] up to the rows the store committed.

use crate::StoreError;
use crate::layout::Spec;
use crate::npy::{self, Element, HEADER};
use geobatch_core::{Column, MappedBytes};
use memmap2::Mmap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A column being written.
pub(crate) struct ColumnWriter {
    path: PathBuf,
    file: BufWriter<File>,
    descr: &'static str,
    width: Vec<usize>,
    per_row: usize,
    rows: u64,
}

impl ColumnWriter {
    /// A new column file of `spec`'s rows, with no rows.
    pub(crate) fn create(path: PathBuf, spec: &Spec) -> Result<Self, StoreError> {
        let io = |e| StoreError::io(&path, e);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        file.write_all(&npy::header(spec.descr, 0, &spec.width))
            .map_err(io)?;
        file.seek(SeekFrom::Start(HEADER as u64)).map_err(io)?;
        Ok(ColumnWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            descr: spec.descr,
            width: spec.width.clone(),
            per_row: spec.width.iter().product(),
            rows: 0,
            path,
        })
    }

    /// Appends whole rows.
    pub(crate) fn push<T: Element>(&mut self, values: &[T]) -> Result<(), StoreError> {
        debug_assert_eq!(T::DESCR, self.descr, "{}", self.path.display());
        debug_assert_eq!(values.len() % self.per_row, 0, "{}", self.path.display());
        self.file
            .write_all(bytemuck::cast_slice(values))
            .map_err(|e| StoreError::io(&self.path, e))?;
        self.rows += (values.len() / self.per_row) as u64;
        Ok(())
    }

    /// Writes the rows out and the header's shape to them, on the disk when this returns.
    pub(crate) fn commit(&mut self) -> Result<u64, StoreError> {
        let io = |e| StoreError::io(&self.path, e);
        self.file.flush().map_err(io)?;
        let file = self.file.get_ref();
        file.write_all_at(&npy::header(self.descr, self.rows, &self.width), 0)
            .map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(self.rows)
    }
}

/// `file` mapped read-only: with [`crate::pages`], the store's only unsafe code.
#[allow(unsafe_code)]
fn map(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: a mapped file must not change under the map. A store's files are only appended
    // to past their committed rows and never rewritten below them (a store is not overwritten:
    // StoreWriter refuses a folder that holds one), and the header, rewritten at a commit, is
    // not part of the rows read through the map.
    unsafe { Mmap::map(file) }
}

/// A column file's map, shared by the sets that read it in place.
struct Map(Mmap);

impl MappedBytes for Map {
    fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn will_need(&self, range: std::ops::Range<usize>) {
        crate::pages::will_need(self.0.as_ptr() as usize + range.start, range.len());
    }

    fn resident(&self, at: usize) -> bool {
        crate::pages::resident(self.0.as_ptr() as usize + at)
    }
}

/// A committed column, memory-mapped.
pub(crate) struct MappedColumn {
    map: Option<Arc<Map>>,
    rows: usize,
    per_row: usize,
    size: usize,
}

impl MappedColumn {
    /// The first `rows` rows of the column file at `path`, which must hold `spec`'s rows;
    /// bytes past them (rows appended after the store's last commit) are not read.
    pub(crate) fn open(path: &Path, spec: &Spec, rows: u64) -> Result<Self, StoreError> {
        let bad = |message: String| StoreError::Format {
            path: path.to_path_buf(),
            message,
        };
        // a FIFO or a device where a column belongs is refused, not waited on
        let file = geobatch_datafiles::files::open(path).map_err(|e| StoreError::io(path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        let mut head = [0u8; HEADER];
        file.read_exact_at(&mut head[..HEADER.min(len as usize)], 0)
            .map_err(|e| StoreError::io(path, e))?;
        let (descr, written, width) = npy::parse(&head).map_err(bad)?;
        if descr != spec.descr || width != spec.width {
            return Err(bad(format!(
                "holds {descr} rows of {width:?}, where the store keeps {} rows of {:?}",
                spec.descr, spec.width
            )));
        }
        let per_row: usize = width.iter().product();
        let need = u128::from(rows) * (per_row * spec.size) as u128 + HEADER as u128;
        if written < rows || u128::from(len) < need {
            return Err(bad(format!(
                "truncated: the store committed {rows} rows, the file's header says {written} and \
                 its {len} bytes hold fewer than {need}"
            )));
        }
        let rows = usize::try_from(rows).map_err(|_| bad(format!("{rows} rows")))?;
        let map = if rows == 0 {
            None
        } else {
            Some(Arc::new(Map(
                map(&file).map_err(|e| StoreError::io(path, e))?
            )))
        };
        Ok(MappedColumn {
            map,
            rows,
            per_row,
            size: spec.size,
        })
    }

    /// The committed rows as elements.
    pub(crate) fn values<T: Element>(&self) -> &[T] {
        match &self.map {
            None => &[],
            Some(m) => {
                let end = HEADER + self.rows * self.per_row * size_of::<T>();
                // aligned: the map starts on a page and the header is a multiple of 64 bytes
                bytemuck::cast_slice(&m.0[HEADER..end])
            }
        }
    }

    /// The committed rows as a set's column of `T` (a whole row, or one element of it), read
    /// in place: the map stays alive as long as the column.
    pub(crate) fn column<T: bytemuck::Pod>(&self) -> geobatch_core::Result<Column<T>> {
        let Some(m) = &self.map else {
            return Ok(Column::default());
        };
        let len = self.rows * self.per_row * self.size / size_of::<T>();
        Column::mapped(Arc::clone(m) as Arc<dyn MappedBytes>, HEADER, len)
    }
}
