//! A collation through a [`Layout`]: the engine's view of the store, the output arrays carved
//! from a buffer, and PyG's layout written over jraph's.

use super::*;

/// The output columns of one group, from the next of `parts`.
pub(super) fn rows_out<'a>(
    group: &[Column],
    parts: &mut std::vec::IntoIter<&'a mut [u8]>,
) -> Vec<RowsOut<'a>> {
    group
        .iter()
        .zip(parts.by_ref())
        .map(|(c, bytes)| RowsOut {
            bytes,
            row_bytes: c.row_bytes,
        })
        .collect()
}

/// Splits `bytes` into the arrays at `places` (offsets rising, each inside `bytes`).
pub(super) fn carve<'a>(mut bytes: &'a mut [u8], places: &[(usize, usize)]) -> Vec<&'a mut [u8]> {
    let mut out = Vec::with_capacity(places.len());
    let mut at = 0;
    for &(start, len) in places {
        let (_, rest) = std::mem::take(&mut bytes).split_at_mut(start - at);
        let (this, rest) = rest.split_at_mut(len);
        out.push(this);
        bytes = rest;
        at = start + len;
    }
    out
}

/// An index column over its bytes (64-byte aligned, a whole number of entries).
pub(super) fn index_out(bytes: &mut [u8], index_bytes: usize) -> IndexOut<'_> {
    if index_bytes == 8 {
        IndexOut::I64(bytemuck::cast_slice_mut(bytes))
    } else {
        IndexOut::I32(bytemuck::cast_slice_mut(bytes))
    }
}

/// Writes `v` into entries `range` of an index column.
pub(super) fn fill(column: &mut IndexOut<'_>, range: std::ops::Range<usize>, v: usize) {
    match column {
        IndexOut::U32(o) => o[range].fill(v as u32),
        IndexOut::I32(o) => o[range].fill(v as i32),
        IndexOut::I64(o) => o[range].fill(v as i64),
    }
}

/// Entry `i` of an index column.
pub(super) fn get(column: &IndexOut<'_>, i: usize) -> usize {
    match column {
        IndexOut::U32(o) => o[i] as usize,
        IndexOut::I32(o) => o[i] as usize,
        IndexOut::I64(o) => o[i] as usize,
    }
}

impl Layout {
    /// Calls `f` with the engine's view of the store.
    ///
    /// # Safety
    /// The store's arrays are alive and not resized meanwhile.
    pub(super) unsafe fn store<T>(&self, f: impl FnOnce(&Store<'_, i64, i64, i32>) -> T) -> T {
        // SAFETY: the caller's; every length is the array's own
        unsafe {
            let node_offsets = std::slice::from_raw_parts(self.node_offsets, self.node_offsets_len);
            let node_rows: Vec<_> = self.node_src.iter().map(|r| r.view()).collect();
            let edge_rows: Vec<_> = self.edge_src.iter().map(|r| r.view()).collect();
            let graph_rows: Vec<_> = self.graph_src.iter().map(|r| r.view()).collect();
            let edges = match &self.edges {
                None => EdgeSource::Full,
                Some(e) => EdgeSource::Stored {
                    offsets: std::slice::from_raw_parts(e.offsets, e.lens[0]),
                    senders: std::slice::from_raw_parts(e.senders, e.lens[1]),
                    receivers: std::slice::from_raw_parts(e.receivers, e.lens[2]),
                    full: &e.full,
                },
            };
            f(&Store {
                node_offsets,
                edges,
                node_rows: &node_rows,
                edge_rows: &edge_rows,
                graph_rows: &graph_rows,
            })
        }
    }

    /// The collation of `indices` into `bytes` (a buffer laid out by `places` for `shape`), by
    /// the engine ([`gather::collate`]), then PyG's layout where asked.
    ///
    /// # Safety
    /// The store's arrays are alive and not resized.
    pub(super) unsafe fn collate(
        &self,
        columns: &Columns,
        index_bytes: usize,
        bytes: &mut [u8],
        places: &[(usize, usize)],
        indices: &[i64],
        (pn, pe, pg): Counts,
    ) -> Result<Counts, String> {
        let mut parts = carve(bytes, places).into_iter();
        let mut node_out = rows_out(&columns.node, &mut parts);
        let mut edge_out = rows_out(&columns.edge, &mut parts);
        let mut graph_out = rows_out(&columns.graph, &mut parts);
        let mut next = || parts.next().unwrap_or_default();
        let edge_index = next();
        let (s, r) = edge_index.split_at_mut(pe * index_bytes);
        let (node_graph, n_node, n_edge, mask) = (next(), next(), next(), next());
        mask.fill(0);
        // SAFETY: bool's valid values are 0 and 1, and every byte of `mask` is 0
        let graph_mask =
            unsafe { std::slice::from_raw_parts_mut(mask.as_mut_ptr().cast::<bool>(), mask.len()) };
        let mut out = Outputs {
            columns: PaddedColumns {
                node_rows: &mut node_out,
                edge_rows: &mut edge_out,
                graph_rows: &mut graph_out,
                senders: index_out(s, index_bytes),
                receivers: index_out(r, index_bytes),
                n_node: index_out(n_node, index_bytes),
                n_edge: index_out(n_edge, index_bytes),
            },
            node_graph: index_out(node_graph, index_bytes),
            graph_mask,
        };
        let padded = Shape::new(pn, pe, pg);
        // SAFETY: the caller's
        let real = unsafe {
            self.store(|store| gather::collate(store, &self.patterns, indices, padded, &mut out))
        }
        .map_err(|e| e.to_string())?;
        let real = (real.nodes, real.edges, real.graphs);
        if columns.kind == Kind::Pyg {
            if pn < real.0 + 2 {
                return Err(format!(
                    "padded nodes {} cannot hold the batch's {} nodes and a padding node",
                    pn - 1,
                    real.0
                ));
            }
            let (ptr, node_mask, edge_mask) = (next(), next(), next());
            pyg_layout(&mut out, real, (pn, pe, pg), ptr, node_mask, edge_mask);
        }
        Ok(real)
    }
}

/// PyG's layout over a batch the engine wrote in jraph's (see the module's text): padding edges
/// from the first padding node to the second, padding nodes and edges in the last graph, `ptr`
/// and the masks. The padded shape holds at least two padding nodes (one more than the plan's).
pub(super) fn pyg_layout(
    out: &mut Outputs<'_, '_>,
    (rn, re, rg): Counts,
    (pn, pe, pg): Counts,
    ptr: &mut [u8],
    node_mask: &mut [u8],
    edge_mask: &mut [u8],
) {
    fill(&mut out.columns.receivers, re..pe, rn + 1);
    let last = pg - 1;
    if last != rg {
        fill(&mut out.node_graph, rn..pn, last);
        fill(&mut out.columns.n_node, rg..rg + 1, 0);
        fill(&mut out.columns.n_edge, rg..rg + 1, 0);
        fill(&mut out.columns.n_node, last..pg, pn - rn);
        fill(&mut out.columns.n_edge, last..pg, pe - re);
    }
    let ptr: &mut [i64] = bytemuck::cast_slice_mut(ptr);
    let mut at = 0usize;
    ptr[0] = 0;
    for (i, p) in ptr[1..].iter_mut().enumerate() {
        at += get(&out.columns.n_node, i);
        *p = at as i64;
    }
    node_mask[..rn].fill(1);
    node_mask[rn..].fill(0);
    edge_mask[..re].fill(1);
    edge_mask[re..].fill(0);
}
