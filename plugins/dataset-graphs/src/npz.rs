//! The NumPy `.npz` CSR format (Shchur et al.'s gnn-benchmark, graph2gauss): `adj_data`,
//! `adj_indices`, `adj_indptr`, `adj_shape`; attributes as CSR (`attr_*`) or a dense
//! `attr_matrix`; `labels`. Integer and float widths and the array order are read from each
//! `.npy` header.

use geobatch_core::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzReader, ReadableElement};
use std::fs::File;
use std::path::Path;

/// A graph as read from an `.npz` file, before pre-processing.
#[derive(Debug, Clone)]
pub struct RawGraph {
    /// Nodes.
    pub n: usize,
    /// Directed edges as stored (any weights dropped).
    pub edges: Vec<(u32, u32)>,
    /// Row-major features, `n x n_features`.
    pub features: Vec<f32>,
    /// Features per node.
    pub n_features: usize,
    /// Label of every node (`-1` when unlabelled).
    pub labels: Vec<i32>,
}

fn fail(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{}: {message}", path.display()))
}

fn read_as<T: ReadableElement + Clone>(npz: &mut NpzReader<File>, name: &str) -> Option<ArrayD<T>> {
    npz.by_name::<ndarray::OwnedRepr<T>, IxDyn>(name).ok()
}

/// Reads any integer array as i64 (row-major order).
fn ints(npz: &mut NpzReader<File>, path: &Path, name: &str) -> Result<Vec<i64>> {
    macro_rules! try_ty {
        ($($t:ty),*) => {$(
            if let Some(a) = read_as::<$t>(npz, name) {
                return Ok(a.iter().map(|&x| x as i64).collect());
            }
        )*};
    }
    try_ty!(i64, i32, i16, i8, u64, u32, u16, u8);
    Err(fail(
        path,
        format!("array `{name}` is missing or not an integer array"),
    ))
}

/// Reads any numeric array as f32 (row-major order).
fn floats(npz: &mut NpzReader<File>, path: &Path, name: &str) -> Result<Vec<f32>> {
    macro_rules! try_ty {
        ($($t:ty),*) => {$(
            if let Some(a) = read_as::<$t>(npz, name) {
                return Ok(a.iter().map(|&x| x as f32).collect());
            }
        )*};
    }
    try_ty!(f32, f64, i64, i32, i16, i8, u8);
    if let Some(a) = read_as::<bool>(npz, name) {
        return Ok(a.iter().map(|&x| f32::from(u8::from(x))).collect());
    }
    Err(fail(
        path,
        format!("array `{name}` is missing or not numeric"),
    ))
}

fn dims(npz: &mut NpzReader<File>, name: &str) -> Option<Vec<usize>> {
    macro_rules! try_ty {
        ($($t:ty),*) => {$(
            if let Some(a) = read_as::<$t>(npz, name) {
                return Some(a.shape().to_vec());
            }
        )*};
    }
    try_ty!(f32, f64, i64, i32, u8);
    None
}

/// Checks a CSR pair (row pointer, column indices) against its shape; returns `(rows, cols)`.
fn csr(
    path: &Path,
    prefix: &str,
    indptr: &[i64],
    indices: &[i64],
    shape: &[i64],
) -> Result<(usize, usize)> {
    let [rows, cols] = shape else {
        return Err(fail(
            path,
            format!("`{prefix}_shape` must hold two numbers"),
        ));
    };
    // node indices are u32: a shape beyond that (or negative) is damage, not a graph
    let dim = |v: i64| usize::try_from(v).ok().filter(|&v| v <= u32::MAX as usize);
    let (Some(rows), Some(cols)) = (dim(*rows), dim(*cols)) else {
        return Err(fail(
            path,
            format!("`{prefix}_shape` is ({rows}, {cols}): each must lie in 0..=2^32-1"),
        ));
    };
    if indptr.len() != rows + 1 {
        return Err(fail(
            path,
            format!(
                "`{prefix}_indptr` has {} entries, expected rows + 1 = {}",
                indptr.len(),
                rows + 1
            ),
        ));
    }
    if indptr.first() != Some(&0) {
        return Err(fail(path, format!("`{prefix}_indptr` must start at 0")));
    }
    for (r, w) in indptr.windows(2).enumerate() {
        if w[1] < w[0] || w[1] as usize > indices.len() {
            return Err(fail(
                path,
                format!("`{prefix}_indptr` is not a valid row pointer at row {r}"),
            ));
        }
    }
    if let Some(k) = indices.iter().position(|&c| c < 0 || c as usize >= cols) {
        let row = indptr.partition_point(|&p| p as usize <= k) - 1;
        return Err(fail(
            path,
            format!(
                "`{prefix}_indices` entry {k} (row {row}) is {}, outside the {cols} columns",
                indices[k]
            ),
        ));
    }
    Ok((rows, cols))
}

/// Dense features beyond this many values (32 GiB of f32) are refused rather than allocated.
const MAX_DENSE_VALUES: usize = 1 << 33;

/// The length of a dense `n x f` feature matrix, or an error when it cannot be held.
fn dense_len(path: &Path, n: usize, f: usize) -> Result<usize> {
    n.checked_mul(f)
        .filter(|&len| len <= MAX_DENSE_VALUES)
        .ok_or_else(|| {
            fail(
                path,
                format!(
                    "dense features of {n} nodes x {f} columns exceed the {MAX_DENSE_VALUES} values                      (32 GiB) geobatch holds in memory"
                ),
            )
        })
}

/// Reads an `.npz` graph.
pub fn read(path: &Path) -> Result<RawGraph> {
    let file = geobatch_datafiles::files::open(path)
        .map_err(|e| fail(path, format!("cannot open: {e}")))?;
    let mut npz = NpzReader::new(file).map_err(|e| fail(path, format!("not an .npz file: {e}")))?;
    let indptr = ints(&mut npz, path, "adj_indptr")?;
    let indices = ints(&mut npz, path, "adj_indices")?;
    let shape = ints(&mut npz, path, "adj_shape")?;
    let (n, cols) = csr(path, "adj", &indptr, &indices, &shape)?;
    if n != cols {
        return Err(fail(
            path,
            format!("the adjacency is {n} x {cols}, not square"),
        ));
    }
    let mut edges = Vec::with_capacity(indices.len());
    for r in 0..n {
        for &c in &indices[indptr[r] as usize..indptr[r + 1] as usize] {
            edges.push((r as u32, c as u32));
        }
    }
    let (features, n_features) = if let Ok(aptr) = ints(&mut npz, path, "attr_indptr") {
        let aind = ints(&mut npz, path, "attr_indices")?;
        let ashape = ints(&mut npz, path, "attr_shape")?;
        let adata = floats(&mut npz, path, "attr_data")?;
        let (rows, f) = csr(path, "attr", &aptr, &aind, &ashape)?;
        if rows != n {
            return Err(fail(
                path,
                format!("attributes cover {rows} nodes, the graph has {n}"),
            ));
        }
        if adata.len() != aind.len() {
            return Err(fail(
                path,
                "`attr_data` and `attr_indices` differ in length",
            ));
        }
        let mut x = vec![0f32; dense_len(path, n, f)?];
        for r in 0..n {
            for k in aptr[r] as usize..aptr[r + 1] as usize {
                x[r * f + aind[k] as usize] = adata[k];
            }
        }
        (x, f)
    } else if let Some(d) = dims(&mut npz, "attr_matrix") {
        let x = floats(&mut npz, path, "attr_matrix")?;
        match d.as_slice() {
            [rows, f] if *rows == n => (x, *f),
            _ => {
                return Err(fail(
                    path,
                    format!("`attr_matrix` has shape {d:?}, expected ({n}, F)"),
                ));
            }
        }
    } else {
        (Vec::new(), 0)
    };
    let labels = ints(&mut npz, path, "labels")?;
    if labels.len() != n {
        return Err(fail(path, format!("{} labels for {n} nodes", labels.len())));
    }
    if let Some(k) = labels.iter().position(|&l| l > i32::MAX as i64) {
        return Err(fail(
            path,
            format!("label of node {k} is {}, too large", labels[k]),
        ));
    }
    Ok(RawGraph {
        n,
        edges,
        features,
        n_features,
        labels: labels
            .into_iter()
            .map(|l| if l < 0 { -1 } else { l as i32 })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, arr1};
    use ndarray_npy::NpzWriter;

    fn write(path: &Path, indices: Vec<i32>, labels: Vec<i8>) {
        let mut w = NpzWriter::new(File::create(path).unwrap());
        w.add_array("adj_indptr", &arr1(&[0i32, 1, 2, 3])).unwrap();
        w.add_array("adj_indices", &Array1::from(indices)).unwrap();
        w.add_array("adj_data", &arr1(&[1f32, 1.0, 1.0])).unwrap();
        w.add_array("adj_shape", &arr1(&[3i64, 3])).unwrap();
        let x = Array2::from_shape_vec((3, 2), vec![1f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let x = x
            .reversed_axes()
            .as_standard_layout()
            .reversed_axes()
            .to_owned();
        w.add_array("attr_matrix", &x).unwrap();
        w.add_array("labels", &Array1::from(labels)).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn reads_any_widths_and_fortran_order_and_names_bad_entries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.npz");
        write(&p, vec![1, 2, 0], vec![0, 1, -1]);
        let g = read(&p).unwrap();
        assert_eq!(g.n, 3);
        assert_eq!(g.edges, vec![(0, 1), (1, 2), (2, 0)]);
        assert_eq!(g.features, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(g.labels, vec![0, 1, -1]);
        write(&p, vec![1, 7, 0], vec![0, 1, 1]);
        let e = read(&p).unwrap_err().to_string();
        assert!(
            e.contains("g.npz") && e.contains("entry 1 (row 1) is 7"),
            "{e}"
        );
    }
}
