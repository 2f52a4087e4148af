//! [`Column`]: one of a graph set's per-atom or per-edge columns, held in memory or read in
//! place from bytes another crate keeps alive (a memory-mapped store file, `geobatch-store`).
//! Either way it reads as a slice, so collation, batchers and models never tell them apart;
//! a mapped column's pages are read only when a batch touches its rows.

use crate::error::{Error, Result};
use bytemuck::Pod;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Bytes kept alive, unchanged, for as long as a [`Column`] reads them: a memory-mapped file.
pub trait MappedBytes: Send + Sync {
    /// The bytes.
    fn bytes(&self) -> &[u8];

    /// Asks for the bytes `range` to be read ahead of their use, without waiting (a mapped
    /// file's pages brought in while other work goes on); by default nothing.
    fn will_need(&self, _range: std::ops::Range<usize>) {}

    /// Whether the page holding byte `at` is in memory; true where it cannot be told (then
    /// nothing is read ahead on its account).
    fn resident(&self, _at: usize) -> bool {
        true
    }
}

/// Values of type `T`: a vector, or `len` values read in place from a [`MappedBytes`].
pub struct Column<T>(Repr<T>);

enum Repr<T> {
    Owned(Vec<T>),
    Mapped {
        owner: Arc<dyn MappedBytes>,
        start: usize,
        len: usize,
    },
}

impl<T: Pod> Column<T> {
    /// The `len` values at byte `start` of `owner`; refused when they do not fit in its bytes
    /// or are not aligned for `T`.
    pub fn mapped(owner: Arc<dyn MappedBytes>, start: usize, len: usize) -> Result<Column<T>> {
        let bytes = owner.bytes();
        let end = len
            .checked_mul(size_of::<T>())
            .and_then(|n| n.checked_add(start))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "a mapped column of {len} values at byte {start} does not fit in {} bytes",
                    bytes.len()
                ))
            })?;
        bytemuck::try_cast_slice::<u8, T>(&bytes[start..end]).map_err(|e| {
            Error::invalid(format!(
                "a mapped column at byte {start} cannot be read: {e}"
            ))
        })?;
        Ok(Column(Repr::Mapped { owner, start, len }))
    }

    /// The values as a vector to change, copied out of the mapping first when mapped.
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let Repr::Mapped { .. } = self.0 {
            self.0 = Repr::Owned(self.deref().to_vec());
        }
        match &mut self.0 {
            Repr::Owned(v) => v,
            Repr::Mapped { .. } => unreachable!("made owned above"),
        }
    }

    /// Asks for the values `rows` to be read ahead of their use where they are read in place
    /// (nothing for values in memory).
    pub fn will_need(&self, rows: std::ops::Range<usize>) {
        if let Repr::Mapped { owner, start, .. } = &self.0
            && rows.start < rows.end
        {
            let size = size_of::<T>();
            owner.will_need(start + rows.start * size..start + rows.end * size);
        }
    }

    /// Whether value `row` is in memory: always for values held in memory, the page's state for
    /// values read in place (a row past the end counts as held).
    pub fn resident(&self, row: usize) -> bool {
        match &self.0 {
            Repr::Mapped { owner, start, len } if row < *len => {
                owner.resident(start + row * size_of::<T>())
            }
            _ => true,
        }
    }

    /// Whether the values are read in place from mapped bytes.
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Repr::Mapped { .. })
    }
}

impl<T: Pod> Deref for Column<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.0 {
            Repr::Owned(v) => v,
            // checked to fit and to be aligned when made; the owner never changes its bytes
            Repr::Mapped { owner, start, len } => {
                bytemuck::cast_slice(&owner.bytes()[*start..*start + len * size_of::<T>()])
            }
        }
    }
}

impl<T> From<Vec<T>> for Column<T> {
    fn from(v: Vec<T>) -> Self {
        Column(Repr::Owned(v))
    }
}

impl<T> Default for Column<T> {
    fn default() -> Self {
        Column(Repr::Owned(Vec::new()))
    }
}

impl<T: Clone> Clone for Column<T> {
    fn clone(&self) -> Self {
        Column(match &self.0 {
            Repr::Owned(v) => Repr::Owned(v.clone()),
            Repr::Mapped { owner, start, len } => Repr::Mapped {
                owner: Arc::clone(owner),
                start: *start,
                len: *len,
            },
        })
    }
}

impl<T: Pod + PartialEq> PartialEq for Column<T> {
    fn eq(&self, other: &Self) -> bool {
        self.deref() == other.deref()
    }
}

impl<T: Pod> fmt::Debug for Column<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.is_mapped() { "mapped" } else { "owned" };
        write!(f, "Column({} values, {how})", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bytes(Vec<u8>);

    impl MappedBytes for Bytes {
        fn bytes(&self) -> &[u8] {
            &self.0
        }
    }

    fn owner() -> Arc<dyn MappedBytes> {
        let values: Vec<u32> = (0..8).collect();
        Arc::new(Bytes(bytemuck::cast_slice(&values).to_vec()))
    }

    #[test]
    fn a_mapped_column_reads_as_its_values_and_copies_out_to_change() {
        let mut c = Column::<u32>::mapped(owner(), 8, 4).unwrap();
        assert!(c.is_mapped());
        assert_eq!(&*c, &[2, 3, 4, 5]);
        assert_eq!(c, Column::from(vec![2, 3, 4, 5]));
        c.to_mut().push(9);
        assert!(!c.is_mapped());
        assert_eq!(&*c, &[2, 3, 4, 5, 9]);
    }

    /// Bytes that record the ranges asked to be read ahead.
    struct Asked(Vec<u8>, std::sync::Mutex<Vec<std::ops::Range<usize>>>);

    impl MappedBytes for Asked {
        fn bytes(&self) -> &[u8] {
            &self.0
        }

        fn will_need(&self, range: std::ops::Range<usize>) {
            self.1.lock().unwrap().push(range);
        }

        fn resident(&self, at: usize) -> bool {
            at < 24 // the first page of these bytes, say, is in memory
        }
    }

    #[test]
    fn read_ahead_asks_for_the_rows_bytes_of_a_mapped_column_only() {
        let asked = Arc::new(Asked(vec![0; 64], Default::default()));
        let c = Column::<u32>::mapped(asked.clone(), 8, 10).unwrap();
        c.will_need(2..5);
        c.will_need(3..3);
        assert_eq!(*asked.1.lock().unwrap(), vec![16..28]);
        // values in memory: nothing to read ahead, and nothing fails
        Column::from(vec![1u32, 2]).will_need(0..2);
        // a row's residency is its bytes' (value 3 starts at byte 8 + 12 = 20, value 4 at 24)
        assert!(c.resident(3) && !c.resident(4) && c.resident(10));
        assert!(Column::from(vec![1u32]).resident(0));
    }

    #[test]
    fn a_mapped_column_out_of_its_bytes_or_misaligned_is_refused() {
        assert!(Column::<u32>::mapped(owner(), 8, 7).is_err());
        assert!(Column::<u32>::mapped(owner(), usize::MAX, 1).is_err());
        assert!(Column::<u32>::mapped(owner(), 2, 1).is_err());
        assert!(Column::<u32>::mapped(owner(), 32, 0).unwrap().is_empty());
    }
}
