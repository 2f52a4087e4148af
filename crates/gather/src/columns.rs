//! The columns the collation engine reads and writes: store columns as rows of bytes, output
//! columns, and the integer types of offsets, endpoints and indices.

/// An integer the engine reads: an offset, a local endpoint or a graph number. Signed ones are
/// checked non-negative where they enter ([`crate::Store::check`]; graph numbers by [`crate::collate`]).
pub trait Index: bytemuck::Pod + Send + Sync {
    /// The value as an index (a negative one wraps to a huge index, which every check refuses).
    fn at(self) -> usize;
}

macro_rules! index {
    ($($t:ty),*) => {$(
        impl Index for $t {
            #[inline]
            fn at(self) -> usize {
                self as usize
            }
        }
    )*};
}
index!(u32, u64, i32, i64);

/// An integer column the engine writes (endpoints, node-to-graph, counts).
#[derive(Debug)]
pub enum IndexOut<'a> {
    /// `u32` (the runner's batches).
    U32(&'a mut [u32]),
    /// `int32` (the Python package's default).
    I32(&'a mut [i32]),
    /// `int64` (PyTorch's index dtype).
    I64(&'a mut [i64]),
}

impl IndexOut<'_> {
    /// Entries in the column.
    pub fn len(&self) -> usize {
        match self {
            IndexOut::U32(v) => v.len(),
            IndexOut::I32(v) => v.len(),
            IndexOut::I64(v) => v.len(),
        }
    }

    /// Whether the column is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn set(&mut self, i: usize, v: usize) {
        match self {
            IndexOut::U32(o) => o[i] = v as u32,
            IndexOut::I32(o) => o[i] = v as i32,
            IndexOut::I64(o) => o[i] = v as i64,
        }
    }

    pub(super) fn fill(&mut self, range: std::ops::Range<usize>, v: usize) {
        match self {
            IndexOut::U32(o) => o[range].fill(v as u32),
            IndexOut::I32(o) => o[range].fill(v as i32),
            IndexOut::I64(o) => o[range].fill(v as i64),
        }
    }

    /// Writes `base + local[k]` at `at + k` for every k (the type matched once per graph).
    #[inline]
    pub(super) fn offset_copy<L: Index>(&mut self, at: usize, local: &[L], base: usize) {
        let r = at..at + local.len();
        match self {
            IndexOut::U32(o) => {
                for (o, &x) in o[r].iter_mut().zip(local) {
                    *o = (x.at() + base) as u32;
                }
            }
            IndexOut::I32(o) => {
                for (o, &x) in o[r].iter_mut().zip(local) {
                    *o = (x.at() + base) as i32;
                }
            }
            IndexOut::I64(o) => {
                for (o, &x) in o[r].iter_mut().zip(local) {
                    *o = (x.at() + base) as i64;
                }
            }
        }
    }
}

/// One column of a store: `bytes` holds rows of `row_bytes` each.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// The column's bytes.
    pub bytes: &'a [u8],
    /// Bytes per row (a dtype's size times its trailing shape).
    pub row_bytes: usize,
}

impl Rows<'_> {
    pub(super) fn block(&self, from: usize, n: usize) -> &[u8] {
        &self.bytes[from * self.row_bytes..(from + n) * self.row_bytes]
    }
}

/// One output column: rows of `row_bytes` each, as many as the capacity.
#[derive(Debug)]
pub struct RowsOut<'a> {
    /// The column's bytes.
    pub bytes: &'a mut [u8],
    /// Bytes per row; equal to its store column's.
    pub row_bytes: usize,
}

impl RowsOut<'_> {
    /// Rows the column holds (a column of zero-width rows holds any number).
    pub(super) fn rows(&self) -> usize {
        self.bytes
            .len()
            .checked_div(self.row_bytes)
            .unwrap_or(usize::MAX)
    }

    pub(super) fn copy(&mut self, at: usize, block: &[u8]) {
        let from = at * self.row_bytes;
        self.bytes[from..from + block.len()].copy_from_slice(block);
    }

    pub(super) fn zero(&mut self, from: usize, to: usize) {
        self.bytes[from * self.row_bytes..to * self.row_bytes].fill(0);
    }
}
