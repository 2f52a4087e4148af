//! The store arrays a collator is made from ([`Arrays`]), checked and turned into the
//! addresses a collation reads ([`Layout`]).

use super::*;

/// The store arrays a collator is made from, as `Collator::new` takes them.
pub(super) struct Arrays<'py> {
    pub(super) node_offsets: Bound<'py, PyAny>,
    pub(super) edge_offsets: Option<Bound<'py, PyAny>>,
    pub(super) senders_local: Option<Bound<'py, PyAny>>,
    pub(super) receivers_local: Option<Bound<'py, PyAny>>,
    pub(super) node_src: Vec<Bound<'py, PyAny>>,
    pub(super) edge_src: Vec<Bound<'py, PyAny>>,
    pub(super) graph_src: Vec<Bound<'py, PyAny>>,
}

impl Arrays<'_> {
    /// Checks what memory safety needs and takes every address a collation reads: dtypes,
    /// contiguity and row widths here, the store's offsets and endpoints by the engine
    /// ([`Store::check`]).
    pub(super) fn layout(&self) -> PyResult<Layout> {
        let offsets = typed::<i64>(&self.node_offsets, "node_offsets")?;
        // SAFETY: read while the GIL is held and the array is borrowed by `self`
        let node_offsets = unsafe { offsets.as_slice() }.map_err(value_error)?;
        let graphs = node_offsets.len().saturating_sub(1);
        let edges = self.stored_edges()?;
        if edges.is_none() && !self.edge_src.is_empty() {
            return Err(value_error("full graphs have no stored edge arrays"));
        }
        let all = |v: &[Bound<'_, PyAny>], what: &str| -> PyResult<Vec<Rows>> {
            v.iter().map(|a| rows(a, what)).collect()
        };
        let mut layout = Layout {
            patterns: FullPatterns::default(),
            node_offsets: offsets.data(),
            node_offsets_len: node_offsets.len(),
            edges,
            node_src: all(&self.node_src, "node arrays")?,
            edge_src: all(&self.edge_src, "edge arrays")?,
            graph_src: all(&self.graph_src, "graph arrays")?,
        };
        // SAFETY: the arrays are alive (borrowed by `self`) and not written meanwhile
        unsafe { layout.store(|store| store.check()) }.map_err(|e| value_error(e.to_string()))?;
        // checked: the full patterns the collations need (a full store's, and those of stored
        // graphs whose edges are exactly their pattern, which are then not read)
        let full = unsafe { layout.store(full_pattern_flags) };
        let largest = match &full {
            None => Some(largest_full_graph(node_offsets)?),
            Some(flags) => (0..graphs)
                .filter(|&g| flags[g])
                .map(|g| (node_offsets[g + 1] - node_offsets[g]) as usize)
                .max(),
        };
        if let Some(n) = largest {
            layout.patterns.cover(n);
        }
        if let (Some(e), Some(flags)) = (layout.edges.as_mut(), full) {
            e.full = flags;
        }
        Ok(layout)
    }

    /// The stored edges' arrays: `edge_offsets`, `senders_local` and
    /// `receivers_local` together, or none of them (full graphs).
    pub(super) fn stored_edges(&self) -> PyResult<Option<StoredEdges>> {
        match (
            &self.edge_offsets,
            &self.senders_local,
            &self.receivers_local,
        ) {
            (None, None, None) => Ok(None),
            (Some(eo), Some(s), Some(r)) => edge_arrays(eo, s, r).map(Some),
            _ => Err(value_error(
                "edge_offsets, senders and receivers go together (or none: full graphs)",
            )),
        }
    }

    /// Every store array, to be kept alive by the collator.
    pub(super) fn keep(self) -> Vec<Py<PyAny>> {
        [self.edge_offsets, self.senders_local, self.receivers_local]
            .into_iter()
            .flatten()
            .chain([self.node_offsets])
            .chain(self.node_src)
            .chain(self.edge_src)
            .chain(self.graph_src)
            .map(Bound::unbind)
            .collect()
    }
}

/// The stored edges' addresses (their offsets and endpoints are checked with the rest of the
/// store by the engine; which graphs' edges are their full pattern is found after that).
pub(super) fn edge_arrays(
    eo: &Bound<'_, PyAny>,
    s: &Bound<'_, PyAny>,
    r: &Bound<'_, PyAny>,
) -> PyResult<StoredEdges> {
    let eo_a = typed::<i64>(eo, "edge_offsets")?;
    let (s_a, r_a) = (typed::<i32>(s, "senders")?, typed::<i32>(r, "receivers")?);
    Ok(StoredEdges {
        offsets: eo_a.data(),
        senders: s_a.data(),
        receivers: r_a.data(),
        lens: [eo_a.len(), s_a.len(), r_a.len()],
        full: Vec::new(),
    })
}

/// Per stored graph, whether its edges are exactly its full pattern (`None`: a full store).
pub(super) fn full_pattern_flags(store: &Store<'_, i64, i64, i32>) -> Option<Vec<bool>> {
    match store.edges {
        EdgeSource::Full => None,
        EdgeSource::Stored {
            offsets,
            senders,
            receivers,
            ..
        } => Some(gather::full_pattern_graphs(
            store.node_offsets,
            offsets,
            senders,
            receivers,
            MAX_PATTERN_NODES,
        )),
    }
}

/// The largest graph of a full store; one over `MAX_FULL_NODES` nodes is refused.
pub(super) fn largest_full_graph(node_offsets: &[i64]) -> PyResult<usize> {
    let largest = node_offsets
        .windows(2)
        .map(|w| (w[1] - w[0]).max(0) as usize)
        .max()
        .unwrap_or(0);
    if largest > MAX_FULL_NODES {
        return Err(value_error(format!(
            "a full graph of {largest} nodes would have {} edges made at every collation: \
             store its edges (edge_index) instead (at most {MAX_FULL_NODES} nodes)",
            largest * (largest - 1)
        )));
    }
    Ok(largest)
}

/// Address and rows of a C-contiguous `uint8` 2-D array.
pub(super) fn rows(a: &Bound<'_, PyAny>, what: &str) -> PyResult<Rows> {
    let a = a
        .cast::<PyArray2<u8>>()
        .map_err(|_| value_error(format!("{what}: expected a 2-D uint8 view")))?;
    if !a.is_c_contiguous() {
        return Err(value_error(format!("{what} must be C-contiguous")));
    }
    let shape = a.shape();
    Ok(Rows {
        ptr: a.data(),
        rows: shape[0],
        row_bytes: shape[1],
    })
}

pub(super) fn typed<'a, 'py, T: numpy::Element>(
    a: &'a Bound<'py, PyAny>,
    what: &str,
) -> PyResult<&'a Bound<'py, PyArray1<T>>> {
    let a = a.cast::<PyArray1<T>>().map_err(|_| {
        value_error(format!(
            "{what}: expected a 1-D {} array",
            std::any::type_name::<T>()
        ))
    })?;
    if !a.is_c_contiguous() {
        return Err(value_error(format!("{what} must be C-contiguous")));
    }
    Ok(a)
}

/// An output column of a store array: its dtype and trailing shape, checked against its rows.
pub(super) fn column(
    src: &Rows,
    spec: &Bound<'_, PyAny>,
    what: &str,
    k: usize,
) -> PyResult<Column> {
    let (dt, trailing): (Bound<'_, PyArrayDescr>, Vec<usize>) = spec.extract().map_err(|_| {
        value_error(format!(
            "{what} array {k}: expected (dtype, trailing shape)"
        ))
    })?;
    let row_bytes = trailing
        .iter()
        .try_fold(dt.itemsize(), |a, &d| a.checked_mul(d))
        .ok_or_else(|| value_error(format!("{what} array {k}: rows too large")))?;
    if dt.has_object() || row_bytes != src.row_bytes {
        return Err(value_error(format!(
            "{what} array {k}: rows of {} bytes, its dtype and trailing shape make {row_bytes} \
             (object dtypes are refused)",
            src.row_bytes
        )));
    }
    Ok(Column {
        dtype: dt.unbind(),
        trailing,
        row_bytes,
    })
}
