//! Read-ahead for a store read in place (`geobatch.disk`, arrays mapped from the store's
//! files): before a batch is collated, the pages of its rows in every array are asked for at
//! once (`madvise(MADV_WILLNEED)`), so the system reads them together instead of one page
//! fault after another as the copy meets them. A batch whose sampled pages are all resident
//! already (a store the page cache holds) is not advised: the few hundred calls would cost more
//! than the copy.

use super::*;
use std::sync::OnceLock;

/// The system's page size (a power of two).
#[cfg(unix)]
fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf reads a constant of the system
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 && (p as usize).is_power_of_two() => p as usize,
        _ => 4096,
    })
}

/// Asks for the bytes `range` after `ptr` to be read ahead: a hint, whose failure (memory not
/// mapped from a file, or not at all) changes nothing.
#[cfg(unix)]
fn advise(ptr: *const u8, range: std::ops::Range<usize>) {
    if range.start >= range.end {
        return;
    }
    let start = (ptr as usize).wrapping_add(range.start);
    let aligned = start & !(page_size() - 1);
    let len = range.end - range.start + (start - aligned);
    // SAFETY: madvise with MADV_WILLNEED reads nothing through the pointer and changes no
    // memory's contents; an address range that is not mapped is an error it returns
    unsafe { libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_WILLNEED) };
}

/// Elsewhere the pages are read as the collation meets them.
#[cfg(not(unix))]
fn advise(_ptr: *const u8, _range: std::ops::Range<usize>) {}

/// Whether the page holding the byte `at` after `ptr` is in memory (`mincore`); true where
/// the system cannot tell (then nothing is read ahead on its account).
#[cfg(unix)]
fn resident(ptr: *const u8, at: usize) -> bool {
    let page = page_size();
    let aligned = (ptr as usize).wrapping_add(at) & !(page - 1);
    let mut state = 0u8;
    // SAFETY: mincore writes one byte per page of the range into `state` (one page here) and
    // reads no memory through the address; an unmapped address is an error it returns
    let failed = unsafe { libc::mincore(aligned as *mut libc::c_void, page, &mut state) } != 0;
    failed || state & 1 == 1
}

/// Elsewhere every page counts as resident.
#[cfg(not(unix))]
fn resident(_ptr: *const u8, _at: usize) -> bool {
    true
}

/// Graphs of a batch whose first row is looked up before reading the batch ahead.
const PROBES: usize = 4;

/// `rows` of a store array, read ahead.
fn advise_rows(src: &Rows, rows: std::ops::Range<usize>) {
    let end = rows.end.min(src.rows);
    if rows.start < end {
        advise(src.ptr, rows.start * src.row_bytes..end * src.row_bytes);
    }
}

impl Layout {
    /// Whether the first row of [`PROBES`] graphs spread over `idx`, in the largest column
    /// (the first edge array, or the first node array), is resident: the batch then most
    /// likely is.
    fn all_resident(
        &self,
        idx: &[i64],
        nodes: &[i64],
        edges: Option<&[i64]>,
        graphs: usize,
    ) -> bool {
        let (src, offsets) = match (self.edge_src.first(), edges) {
            (Some(src), Some(offsets)) => (src, offsets),
            _ => match self.node_src.first() {
                Some(src) => (src, nodes),
                None => return true,
            },
        };
        (0..PROBES.min(idx.len())).all(|k| {
            let g = idx[k * idx.len() / PROBES.min(idx.len())];
            match usize::try_from(g) {
                Ok(g) if g < graphs && g < offsets.len() => {
                    let row = offsets[g].max(0) as usize;
                    row >= src.rows || resident(src.ptr, row * src.row_bytes)
                }
                _ => true,
            }
        })
    }

    /// Reads ahead the rows of the graphs `idx` in every array (nodes, edges with their
    /// endpoints, the graphs' own rows). Indices out of the store are skipped: the collation
    /// that follows refuses them.
    ///
    /// # Safety
    /// The store's arrays are alive and not resized (the collator keeps them).
    pub(super) unsafe fn read_ahead(&self, idx: &[i64]) {
        // SAFETY: the caller's; the lengths are the arrays' own
        let nodes = unsafe { std::slice::from_raw_parts(self.node_offsets, self.node_offsets_len) };
        let edges = self.edges.as_ref().map(|e| {
            // SAFETY: as above
            (e, unsafe {
                std::slice::from_raw_parts(e.offsets, e.lens[0])
            })
        });
        let graphs = self.node_offsets_len.saturating_sub(1);
        if self.all_resident(idx, nodes, edges.map(|(_, o)| o), graphs) {
            return;
        }
        for &g in idx {
            let Ok(g) = usize::try_from(g) else { continue };
            if g >= graphs {
                continue;
            }
            let atoms = nodes[g].max(0) as usize..nodes[g + 1].max(0) as usize;
            for src in &self.node_src {
                advise_rows(src, atoms.clone());
            }
            for src in &self.graph_src {
                advise_rows(src, g..g + 1);
            }
            if let Some((e, offsets)) = edges
                && g + 1 < offsets.len()
            {
                let rows = offsets[g].max(0) as usize..offsets[g + 1].max(0) as usize;
                for src in &self.edge_src {
                    advise_rows(src, rows.clone());
                }
                for (ptr, len) in [(e.senders, e.lens[1]), (e.receivers, e.lens[2])] {
                    let endpoints = Rows {
                        ptr: ptr.cast(),
                        rows: len,
                        row_bytes: 4,
                    };
                    advise_rows(&endpoints, rows.clone());
                }
            }
        }
    }
}
