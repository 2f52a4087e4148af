//! geobatch-gather: padded shapes ([`Shape`], [`Budget`]) and the one collation engine: a plan's graphs gathered from a store of per-graph columns into
//! padded outputs, in jraph's `pad_with_graphs` layout (spec §1.8). The runner's
//! `geobatch_core::GraphBatch` and the Python package's `Collator` both collate
//! through [`collate`]; they differ only in where their columns live and in their integer types.
//! The Python package's jraph tuples, joined by NumPy, are padded through [`pad`]: one
//! implementation of the layout.
//!
//! Layout: real graphs first, concatenated; the first padding graph owns every padding node and
//! edge; padding edges point at the first padding node; padding rows are zero; further padding
//! graphs are empty.
//!
//! Columns are rows of bytes ([`Rows`]), so a dtype and a trailing shape are only a row width:
//! a graph's rows are one copy per column. Edges come from the store (per-graph ranges of local
//! endpoints) or, for fully connected graphs, from cached patterns ([`FullPatterns`]); a stored
//! graph whose edges are exactly its full pattern ([`full_pattern_graphs`]) takes its endpoints
//! from the pattern too, which is in cache, instead of from memory. While one graph is copied,
//! the next graphs' rows are asked for (`prefetch`): a plan's graphs lie at random places in
//! a large store and their first cache lines are most of the time otherwise.

mod columns;
mod prefetch;
pub mod shape;

pub use columns::{Index, IndexOut, Rows, RowsOut};
pub use shape::{Budget, Shape};

use prefetch::prefetch;

/// Why a plan cannot be collated: nothing is written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The padded shape cannot hold the real content plus one padding node and graph.
    #[error(
        "padded shape {padded} cannot hold real content {real}: needs more nodes than real \
         (strictly), at least as many edges, and more graphs than real (strictly)"
    )]
    PaddingTooSmall {
        /// Real content of the batch.
        real: Shape,
        /// Requested padded shape.
        padded: Shape,
    },
    /// A plan, a store or its outputs are inconsistent (named).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An [`Error::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }
}

/// What collation returns.
pub type Result<T> = std::result::Result<T, Error>;

/// Graphs ahead of the one being copied whose rows are asked for.
const AHEAD: usize = 4;

/// Where a store's edges come from.
#[derive(Debug, Clone, Copy)]
pub enum EdgeSource<'a, E: Index, L: Index> {
    /// Every ordered pair of distinct nodes of each graph, receiver-major, made at collation.
    Full,
    /// Edges held per graph, contiguous, with endpoints local to their graph.
    Stored {
        /// Edge offsets per graph (graphs + 1 entries, from 0, never decreasing).
        offsets: &'a [E],
        /// Local sender of every edge.
        senders: &'a [L],
        /// Local receiver of every edge.
        receivers: &'a [L],
        /// Per graph, whether its stored edges are exactly its full pattern
        /// ([`full_pattern_graphs`]); empty: none is.
        full: &'a [bool],
    },
}

/// Everything a collation reads.
#[derive(Debug, Clone, Copy)]
pub struct Store<'a, N: Index, E: Index, L: Index> {
    /// Node offsets per graph (graphs + 1 entries, from 0, never decreasing).
    pub node_offsets: &'a [N],
    /// The edges.
    pub edges: EdgeSource<'a, E, L>,
    /// Columns with a row per node.
    pub node_rows: &'a [Rows<'a>],
    /// Columns with a row per stored edge (none for [`EdgeSource::Full`]).
    pub edge_rows: &'a [Rows<'a>],
    /// Columns with a row per graph.
    pub graph_rows: &'a [Rows<'a>],
}

/// The columns of every padded batch in jraph's layout: where [`collate`] and [`pad`] write.
#[derive(Debug)]
pub struct PaddedColumns<'s, 'a> {
    /// One per store node column, in its order.
    pub node_rows: &'s mut [RowsOut<'a>],
    /// One per store edge column, in its order.
    pub edge_rows: &'s mut [RowsOut<'a>],
    /// One per store graph column, in its order.
    pub graph_rows: &'s mut [RowsOut<'a>],
    /// Absolute sender of every edge.
    pub senders: IndexOut<'a>,
    /// Absolute receiver of every edge.
    pub receivers: IndexOut<'a>,
    /// Nodes per graph.
    pub n_node: IndexOut<'a>,
    /// Edges per graph.
    pub n_edge: IndexOut<'a>,
}

/// Where a collation writes; every column holds at least the padded shape's rows.
#[derive(Debug)]
pub struct Outputs<'s, 'a> {
    /// The batch's rows, endpoints and counts.
    pub columns: PaddedColumns<'s, 'a>,
    /// Graph (within the batch) of every node.
    pub node_graph: IndexOut<'a>,
    /// True for real graphs.
    pub graph_mask: &'a mut [bool],
}

/// Local (senders, receivers) of fully connected graphs, one per node count, receiver-major.
#[derive(Debug, Clone, Default)]
pub struct FullPatterns {
    by_size: Vec<(Vec<u32>, Vec<u32>)>,
}

impl FullPatterns {
    /// Makes the patterns of every node count up to `n`.
    pub fn cover(&mut self, n: usize) {
        while self.by_size.len() <= n {
            let m = self.by_size.len() as u32;
            let (mut s, mut r) = (Vec::new(), Vec::new());
            for i in 0..m {
                for j in (0..m).filter(|&j| j != i) {
                    s.push(j);
                    r.push(i);
                }
            }
            self.by_size.push((s, r));
        }
    }

    /// The largest node count covered (`None`: none yet).
    pub fn largest(&self) -> Option<usize> {
        self.by_size.len().checked_sub(1)
    }

    fn get(&self, n: usize) -> (&[u32], &[u32]) {
        let (s, r) = &self.by_size[n];
        (s, r)
    }
}

/// Per graph, whether its stored edges are exactly the full pattern of its node count (up to
/// `most_nodes` nodes): such graphs are collated from the pattern.
pub fn full_pattern_graphs<N: Index, E: Index, L: Index>(
    node_offsets: &[N],
    edge_offsets: &[E],
    senders: &[L],
    receivers: &[L],
    most_nodes: usize,
) -> Vec<bool> {
    let graphs = node_offsets.len().saturating_sub(1);
    (0..graphs)
        .map(|g| {
            let n = node_offsets[g + 1].at() - node_offsets[g].at();
            let e = edge_offsets[g].at()..edge_offsets[g + 1].at();
            if n > most_nodes || e.len() != n * n.saturating_sub(1) {
                return false;
            }
            let (s, r) = (&senders[e.clone()], &receivers[e]);
            let mut k = 0;
            for i in 0..n {
                for j in (0..n).filter(|&j| j != i) {
                    if s[k].at() != j || r[k].at() != i {
                        return false;
                    }
                    k += 1;
                }
            }
            true
        })
        .collect()
}

impl<N: Index, E: Index, L: Index> Store<'_, N, E, L> {
    /// Number of graphs.
    pub fn graphs(&self) -> usize {
        self.node_offsets.len().saturating_sub(1)
    }

    /// Checks what every collation relies on: offsets from 0 that never decrease and match the
    /// columns' rows, every stored endpoint inside its graph. For stores whose maker does not
    /// already guarantee it (the Python package's, made from a user's arrays).
    pub fn check(&self) -> Result<()> {
        let nodes = offsets_total(self.node_offsets, "node_offsets")?;
        let graphs = self.graphs();
        rows_match(self.node_rows, nodes, "node")?;
        rows_match(self.graph_rows, graphs, "graph")?;
        match self.edges {
            EdgeSource::Full if !self.edge_rows.is_empty() => {
                Err(Error::invalid("full graphs have no stored edge arrays"))
            }
            EdgeSource::Full => Ok(()),
            EdgeSource::Stored {
                offsets,
                senders,
                receivers,
                full,
            } => {
                if offsets.len() != graphs + 1 {
                    return Err(Error::invalid(
                        "edge_offsets must have one entry per graph + 1",
                    ));
                }
                let edges = offsets_total(offsets, "edge_offsets")?;
                if senders.len() != edges || receivers.len() != edges {
                    return Err(Error::invalid(format!(
                        "senders and receivers must hold the {edges} stored edges"
                    )));
                }
                if !full.is_empty() && full.len() != graphs {
                    return Err(Error::invalid("one full-pattern flag per graph"));
                }
                rows_match(self.edge_rows, edges, "edge")?;
                check_endpoints(self.node_offsets, offsets, senders, receivers)
            }
        }
    }

    /// First node, nodes, first stored edge, edges, and whether the endpoints are the pattern's.
    #[inline]
    fn counts(&self, g: usize) -> (usize, usize, usize, usize, bool) {
        let n0 = self.node_offsets[g].at();
        let n = self.node_offsets[g + 1].at() - n0;
        match self.edges {
            EdgeSource::Full => (n0, n, 0, n * n.saturating_sub(1), true),
            EdgeSource::Stored { offsets, full, .. } => {
                let e0 = offsets[g].at();
                let pattern = full.get(g).copied().unwrap_or(false);
                (n0, n, e0, offsets[g + 1].at() - e0, pattern)
            }
        }
    }

    /// Asks for graph `g`'s rows ahead of their copy.
    fn prefetch(&self, g: usize) {
        let (n0, n, e0, m, pattern) = self.counts(g);
        for c in self.node_rows {
            prefetch(c.block(n0, n));
        }
        for c in self.graph_rows {
            prefetch(c.block(g, 1));
        }
        if let EdgeSource::Stored {
            senders, receivers, ..
        } = self.edges
        {
            for c in self.edge_rows {
                prefetch(c.block(e0, m));
            }
            if !pattern {
                prefetch(bytes_of(&senders[e0..e0 + m]));
                prefetch(bytes_of(&receivers[e0..e0 + m]));
            }
        }
    }
}

/// The bytes of a slice of integers (to ask for them with [`prefetch`]).
fn bytes_of<L: Index>(v: &[L]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// Checks offsets (from 0, never decreasing); returns the total.
fn offsets_total<O: Index>(o: &[O], what: &str) -> Result<usize> {
    if o.first().map(|x| x.at()) != Some(0) {
        return Err(Error::invalid(format!("{what} must start at 0")));
    }
    if let Some(k) = o.windows(2).position(|w| w[1].at() < w[0].at()) {
        return Err(Error::invalid(format!("{what} decreases at graph {k}")));
    }
    Ok(o.last().map_or(0, |x| x.at()))
}

/// Checks that every column of `cols` has `rows` rows.
fn rows_match(cols: &[Rows<'_>], rows: usize, what: &str) -> Result<()> {
    match cols
        .iter()
        .position(|c| c.bytes.len() != rows * c.row_bytes)
    {
        Some(k) => Err(Error::invalid(format!(
            "{what} arrays: array {k} has {} bytes in rows of {}; expected {rows} rows",
            cols[k].bytes.len(),
            cols[k].row_bytes
        ))),
        None => Ok(()),
    }
}

/// Checks that every stored edge's local endpoints lie inside its graph's nodes.
fn check_endpoints<N: Index, E: Index, L: Index>(
    node_offsets: &[N],
    edge_offsets: &[E],
    senders: &[L],
    receivers: &[L],
) -> Result<()> {
    for g in 0..node_offsets.len().saturating_sub(1) {
        let n = node_offsets[g + 1].at() - node_offsets[g].at();
        let e = edge_offsets[g].at()..edge_offsets[g + 1].at();
        if let Some(k) = e
            .clone()
            .find(|&k| senders[k].at() >= n || receivers[k].at() >= n)
        {
            return Err(Error::invalid(format!(
                "edge {k} of graph {g} has an endpoint outside the graph's {n} nodes"
            )));
        }
    }
    Ok(())
}

impl Outputs<'_, '_> {
    /// The padded shape the outputs can hold (nodes, edges, graphs).
    pub fn capacity(&self) -> Shape {
        let c = self.columns.capacity();
        Shape::new(
            c.nodes.min(self.node_graph.len()),
            c.edges,
            c.graphs.min(self.graph_mask.len()),
        )
    }
}

/// Collates store graphs `graphs` into `out`, padded to `padded`; returns the real content.
/// Full patterns must cover the plan's graphs ([`FullPatterns::cover`]). Errors (nothing
/// written): a graph number outside the store, a padded shape that cannot hold the graphs
/// (more nodes and graphs, at least as many edges) or larger than the outputs.
pub fn collate<G: Index, N: Index, E: Index, L: Index>(
    store: &Store<'_, N, E, L>,
    patterns: &FullPatterns,
    graphs: &[G],
    padded: Shape,
    out: &mut Outputs<'_, '_>,
) -> Result<Shape> {
    let real = real_content(store, patterns, graphs)?;
    fits(real, padded, out.capacity())?;
    write_graphs(store, patterns, graphs, out);
    write_padding(real, padded, out);
    Ok(real)
}

/// Refuses a padded shape that cannot hold `real` or is larger than the outputs' `capacity`.
fn fits(real: Shape, padded: Shape, capacity: Shape) -> Result<()> {
    if !padded.can_pad(&real) {
        return Err(Error::PaddingTooSmall { real, padded });
    }
    if padded.nodes > capacity.nodes
        || padded.edges > capacity.edges
        || padded.graphs > capacity.graphs
    {
        return Err(Error::invalid(format!(
            "padded shape {padded} is larger than the outputs' capacity {capacity}"
        )));
    }
    Ok(())
}

/// The real content of `graphs`, each checked to be in the store (and covered by `patterns`
/// where its edges are the pattern's).
fn real_content<G: Index, N: Index, E: Index, L: Index>(
    store: &Store<'_, N, E, L>,
    patterns: &FullPatterns,
    graphs: &[G],
) -> Result<Shape> {
    let (mut nodes, mut edges) = (0usize, 0usize);
    let count = store.graphs();
    for (b, &g) in graphs.iter().enumerate() {
        let g = g.at();
        if g >= count {
            return Err(Error::invalid(format!(
                "indices[{b}] = {}: the store holds graphs 0..{count}",
                g as i64
            )));
        }
        let (_, n, _, m, pattern) = store.counts(g);
        if pattern && patterns.largest().is_none_or(|l| l < n) {
            return Err(Error::invalid(format!(
                "graph {g}: no full pattern of {n} nodes was made"
            )));
        }
        nodes += n;
        edges += m;
    }
    Ok(Shape::new(nodes, edges, graphs.len()))
}

/// Copies the graphs' rows and writes their endpoints, counts and mask.
fn write_graphs<G: Index, N: Index, E: Index, L: Index>(
    store: &Store<'_, N, E, L>,
    patterns: &FullPatterns,
    graphs: &[G],
    out: &mut Outputs<'_, '_>,
) {
    let (mut at_n, mut at_e) = (0usize, 0usize);
    for &g in graphs.iter().take(AHEAD) {
        store.prefetch(g.at());
    }
    for (b, &g) in graphs.iter().enumerate() {
        if let Some(&next) = graphs.get(b + AHEAD) {
            store.prefetch(next.at());
        }
        let g = g.at();
        let (n0, n, e0, m, pattern) = store.counts(g);
        for (c, o) in store.node_rows.iter().zip(out.columns.node_rows.iter_mut()) {
            o.copy(at_n, c.block(n0, n));
        }
        out.node_graph.fill(at_n..at_n + n, b);
        for (c, o) in store.edge_rows.iter().zip(out.columns.edge_rows.iter_mut()) {
            o.copy(at_e, c.block(e0, m));
        }
        match (store.edges, pattern) {
            (
                EdgeSource::Stored {
                    senders, receivers, ..
                },
                false,
            ) => {
                out.columns
                    .senders
                    .offset_copy(at_e, &senders[e0..e0 + m], at_n);
                out.columns
                    .receivers
                    .offset_copy(at_e, &receivers[e0..e0 + m], at_n);
            }
            _ => {
                let (s, r) = patterns.get(n);
                out.columns.senders.offset_copy(at_e, s, at_n);
                out.columns.receivers.offset_copy(at_e, r, at_n);
            }
        }
        for (c, o) in store
            .graph_rows
            .iter()
            .zip(out.columns.graph_rows.iter_mut())
        {
            o.copy(b, c.block(g, 1));
        }
        out.columns.n_node.set(b, n);
        out.columns.n_edge.set(b, m);
        out.graph_mask[b] = true;
        at_n += n;
        at_e += m;
    }
}

/// The padding: the first padding graph owns every padding node and edge, which point at the
/// first padding node; padding rows are zero; further padding graphs are empty.
fn write_padding(real: Shape, padded: Shape, out: &mut Outputs<'_, '_>) {
    out.columns.write_padding(real, padded);
    out.node_graph.fill(real.nodes..padded.nodes, real.graphs);
    out.graph_mask[real.graphs..padded.graphs].fill(false);
}

impl PaddedColumns<'_, '_> {
    /// Rows every column holds, in (nodes, edges, graphs).
    fn capacity(&self) -> Shape {
        let least =
            |cols: &[RowsOut<'_>], n: usize| cols.iter().map(RowsOut::rows).fold(n, usize::min);
        Shape::new(
            least(self.node_rows, usize::MAX),
            least(self.edge_rows, self.senders.len().min(self.receivers.len())),
            least(self.graph_rows, self.n_node.len().min(self.n_edge.len())),
        )
    }

    /// [`pad`], the shapes checked by the caller.
    fn write_padding(&mut self, real: Shape, padded: Shape) {
        let (rn, re, rg) = (real.nodes, real.edges, real.graphs);
        let (pn, pe, pg) = (padded.nodes, padded.edges, padded.graphs);
        for o in self.node_rows.iter_mut() {
            o.zero(rn, pn);
        }
        for o in self.edge_rows.iter_mut() {
            o.zero(re, pe);
        }
        for o in self.graph_rows.iter_mut() {
            o.zero(rg, pg);
        }
        self.senders.fill(re..pe, rn);
        self.receivers.fill(re..pe, rn);
        self.n_node.set(rg, pn - rn);
        self.n_edge.set(rg, pe - re);
        self.n_node.fill(rg + 1..pg, 0);
        self.n_edge.fill(rg + 1..pg, 0);
    }
}

/// Pads a batch of `real` content, already written by other means than [`collate`] (the Python
/// package's jraph tuples, joined by NumPy), to `padded` in jraph's layout, the one [`collate`]
/// writes: zero rows after the real ones in every column, the padding edges from and to the
/// first padding node, the first padding graph holding every padding node and edge, empty
/// graphs after it. Errors (nothing written): a padded shape that cannot hold the real
/// content, or columns shorter than it.
pub fn pad(real: Shape, padded: Shape, out: &mut PaddedColumns<'_, '_>) -> Result<()> {
    fits(real, padded, out.capacity())?;
    out.write_padding(real, padded);
    Ok(())
}

#[cfg(test)]
mod tests;
