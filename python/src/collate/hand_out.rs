//! A collated batch handed to Python: its arrays as NumPy arrays over its buffer, which they
//! own through its lease.

use super::*;

/// The bytes of a buffer of `shape`, or an error when they overflow.
pub(super) fn checked_bytes(columns: &Columns, (n, e, g): Counts) -> PyResult<usize> {
    // every array's bytes are at most (rows + 1) x the widest row, so this bounds the sum
    let widest = columns
        .node
        .iter()
        .chain(&columns.edge)
        .chain(&columns.graph)
        .map(|c| c.row_bytes)
        .fold(2 * columns.index_bytes + 8, usize::max);
    let arrays = columns.node.len() + columns.edge.len() + columns.graph.len() + 8;
    n.checked_add(e)
        .and_then(|x| x.checked_add(g))
        .and_then(|x| x.checked_add(2))
        .and_then(|x| x.checked_mul(widest))
        .and_then(|x| x.checked_mul(arrays))
        .ok_or_else(|| value_error("capacity is too large"))?;
    Ok(buffer_bytes(columns, (n, e, g)))
}

impl Collator {
    /// The arrays of a collated batch, which own its buffer through their lease.
    pub(super) fn hand_out<'py>(
        &self,
        py: Python<'py>,
        collated: Collated,
    ) -> PyResult<(Counts, Bound<'py, PyTuple>)> {
        let Collated {
            buffer,
            real,
            shape,
        } = collated;
        let places = places(&self.engine.columns, shape);
        let data = buffer.ptr.as_ptr();
        let lease = Bound::new(
            py,
            Lease {
                buffer: Some(buffer),
                pool: self.engine.pool.clone(),
            },
        )?;
        let arrays = self.arrays(py, &lease, data, &places, shape)?;
        Ok((real, PyTuple::new(py, arrays)?))
    }

    /// The NumPy arrays of a collated buffer, each with `lease` as its base, in the order of
    /// `places`: the node, edge and graph arrays, `edge_index` (2, edges), `node_graph`,
    /// `n_node`, `n_edge`, `graph_mask`, and for PyG `ptr`, `node_mask`, `edge_mask`.
    pub(super) fn arrays<'py>(
        &self,
        py: Python<'py>,
        lease: &Bound<'py, Lease>,
        data: *mut u8,
        places: &[(usize, usize)],
        (n, e, g): Counts,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let c = &self.engine.columns;
        let index = c.index.bind(py);
        let (b, i64_) = (dtype::<bool>(py), dtype::<i64>(py));
        let mut specs: Vec<(&Bound<'py, PyArrayDescr>, Vec<usize>)> = Vec::new();
        for (group, rows) in [(&c.node, n), (&c.edge, e), (&c.graph, g)] {
            for col in group {
                let mut dims = vec![rows];
                dims.extend(&col.trailing);
                specs.push((col.dtype.bind(py), dims));
            }
        }
        specs.extend([
            (index, vec![2, e]),
            (index, vec![n]),
            (index, vec![g]),
            (index, vec![g]),
            (&b, vec![g]),
        ]);
        let pyg = c.kind == Kind::Pyg;
        if pyg {
            specs.extend([(&i64_, vec![g + 1]), (&b, vec![n]), (&b, vec![e])]);
        }
        // PyG's batches have no n_node and n_edge (ptr says it): `None` in their place
        let skipped = specs.len() - if pyg { 6 } else { 3 };
        specs
            .into_iter()
            .zip(places)
            .enumerate()
            .map(|(k, ((dt, dims), &(at, _)))| {
                if pyg && (k == skipped || k == skipped + 1) {
                    return Ok(py.None().into_bound(py));
                }
                // SAFETY: `at` and the array's bytes lie inside the lease's buffer (`places`
                // made the buffer's size), which the lease owns and which lives as long as the
                // array (its base)
                unsafe { array_over(py, lease, dt, &dims, data.add(at)) }
            })
            .collect()
    }
}

/// A writable C-contiguous NumPy array of `dtype` and `dims` over `data`, whose base is `base`.
///
/// # Safety
/// `data` points to at least the array's bytes, aligned for the dtype, owned by `base` for as
/// long as `base` lives.
pub(super) unsafe fn array_over<'py>(
    py: Python<'py>,
    base: &Bound<'py, Lease>,
    dtype: &Bound<'py, PyArrayDescr>,
    dims: &[usize],
    data: *mut u8,
) -> PyResult<Bound<'py, PyAny>> {
    let mut dims: Vec<npyffi::npy_intp> = dims.iter().map(|&d| d as npyffi::npy_intp).collect();
    // SAFETY: NewFromDescr steals the dtype reference it is given (a new one); SetBaseObject
    // steals the base reference (a new one) and the array keeps it
    unsafe {
        let ptr = npyffi::PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            dtype.clone().into_dtype_ptr(),
            dims.len() as std::os::raw::c_int,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            data.cast(),
            NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_WRITEABLE | NPY_ARRAY_ALIGNED,
            std::ptr::null_mut(),
        );
        let array = Bound::from_owned_ptr_or_err(py, ptr)?;
        let rc = npyffi::PY_ARRAY_API.PyArray_SetBaseObject(
            py,
            ptr.cast(),
            base.clone().into_any().into_ptr(),
        );
        if rc < 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(array)
    }
}
