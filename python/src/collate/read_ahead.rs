//! Read-ahead for a store read in place (`geobatch.disk`, arrays mapped from the store's
//! files): before a batch is collated, the pages of its rows in every array are asked for at
//! once (`madvise(MADV_WILLNEED)`), so the system reads them together instead of one page
//! fault after another as the copy meets them. A batch whose sampled pages are all resident
//! already (a store the page cache holds) is not advised: the few hundred calls would cost more
//! than the copy.

use super::*;
use geobatch_store::pages::{resident, will_need};

/// Graphs of a batch whose first row is looked up before reading the batch ahead.
const PROBES: usize = 4;

/// `rows` of a store array, read ahead.
fn advise_rows(src: &Rows, rows: std::ops::Range<usize>) {
    let end = rows.end.min(src.rows);
    if rows.start < end {
        will_need(
            src.ptr as usize + rows.start * src.row_bytes,
            (end - rows.start) * src.row_bytes,
        );
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
                    row >= src.rows || resident(src.ptr as usize + row * src.row_bytes)
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
