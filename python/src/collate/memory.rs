//! The buffers batches are written into: one aligned allocation each ([`Buffer`]), the
//! collator's free list ([`Pool`]) and the [`Lease`] through which a batch's arrays own theirs.

use super::*;

/// One allocation holding a batch's arrays, 64-byte aligned and zeroed when made.
pub(super) struct Buffer {
    pub(super) ptr: NonNull<u8>,
    pub(super) bytes: usize,
}

// SAFETY: a buffer is plain memory owned by whoever holds it (a collation, a lease, the free
// list); it is written only by the collation that took it, before any array is made over it.
unsafe impl Send for Buffer {}
// SAFETY: as above.
unsafe impl Sync for Buffer {}

impl Buffer {
    /// A zeroed buffer of `bytes` (at least one cache line); `None` when the allocation fails.
    pub(super) fn new(bytes: usize) -> Option<Buffer> {
        let layout = AllocLayout::from_size_align(bytes.max(ALIGN), ALIGN).ok()?;
        // SAFETY: the layout has a non-zero size
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        Some(Buffer {
            ptr,
            bytes: layout.size(),
        })
    }

    /// The whole buffer as bytes.
    ///
    /// # Safety
    /// Nothing else reads or writes the buffer while the slice is used (no array has been made
    /// over it yet).
    pub(super) unsafe fn bytes_mut<'a>(&mut self) -> &'a mut [u8] {
        // SAFETY: the caller's; `bytes` is the allocation's size and it was zeroed when made
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.bytes) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated by `Buffer::new` with this size and alignment
        unsafe {
            std::alloc::dealloc(
                self.ptr.as_ptr(),
                AllocLayout::from_size_align_unchecked(self.bytes, ALIGN),
            )
        }
    }
}

/// A collator's buffers: the free ones, how many are out, how large each is.
pub(super) struct Pool {
    pub(super) free: Mutex<Vec<Buffer>>,
    /// The most free buffers kept; one given back beyond them is freed.
    pub(super) max_free: AtomicUsize,
    /// Buffers out with batches (leased).
    pub(super) leased: AtomicUsize,
    pub(super) bytes: usize,
}

impl Pool {
    pub(super) fn free_list(&self) -> std::sync::MutexGuard<'_, Vec<Buffer>> {
        // a panic while the lock was held cannot leave the list inconsistent (push and pop)
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free buffer, else a new one (`None`: out of memory).
    pub(super) fn take(&self) -> Option<Buffer> {
        let buffer = self.free_list().pop().or_else(|| Buffer::new(self.bytes))?;
        self.leased.fetch_add(1, Ordering::Relaxed);
        Some(buffer)
    }

    /// A buffer back from its batch: kept for the next one, or freed.
    pub(super) fn give_back(&self, buffer: Buffer) {
        self.leased.fetch_sub(1, Ordering::Relaxed);
        let mut free = self.free_list();
        if free.len() < self.max_free.load(Ordering::Relaxed) {
            free.push(buffer);
        }
    }
}

/// The owner of one batch's buffer: the base of every NumPy array of the batch. When the last
/// of them is gone, the buffer goes back to its collator (or is freed).
#[pyclass(module = "geobatch._native", frozen)]
pub struct Lease {
    pub(super) buffer: Option<Buffer>,
    pub(super) pool: Arc<Pool>,
}

#[pymethods]
impl Lease {
    fn __repr__(&self) -> String {
        format!(
            "Lease({} bytes of a collated batch)",
            self.buffer.as_ref().map_or(0, |b| b.bytes)
        )
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.give_back(buffer);
        }
    }
}

/// Where each array of a batch of one padded shape lies in its buffer: (offset, bytes), in the
/// order the arrays are handed out.
pub(super) fn places(columns: &Columns, (n, e, g): Counts) -> Vec<(usize, usize)> {
    let mut sizes: Vec<usize> = Vec::new();
    sizes.extend(columns.node.iter().map(|c| n * c.row_bytes));
    sizes.extend(columns.edge.iter().map(|c| e * c.row_bytes));
    sizes.extend(columns.graph.iter().map(|c| g * c.row_bytes));
    let i = columns.index_bytes;
    // edge_index (2, e), node_graph, n_node, n_edge, graph_mask
    sizes.extend([2 * e * i, n * i, g * i, g * i, g]);
    if columns.kind == Kind::Pyg {
        // ptr (int64), node_mask, edge_mask
        sizes.extend([(g + 1) * 8, n, e]);
    }
    let mut at = 0;
    sizes
        .into_iter()
        .map(|s| {
            let place = (at, s);
            at += s.div_ceil(ALIGN) * ALIGN;
            place
        })
        .collect()
}

/// The bytes a buffer of shape `shape` needs.
pub(super) fn buffer_bytes(columns: &Columns, shape: Counts) -> usize {
    places(columns, shape)
        .last()
        .map_or(0, |&(at, s)| at + s)
        .max(ALIGN)
}
