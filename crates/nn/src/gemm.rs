//! One checked entry into the `gemm` crate (the matrix kernels burn's flex backend uses), so the
//! parallel CPU kernels ([`crate::parallel`]) can write each chunk's product straight into its
//! part of the result.
//!
//! This is the workspace's only `unsafe` code: `gemm::gemm` takes raw pointers and strides.
//! [`MatRef`] checks when it is made that every element it can address lies inside its slice, and
//! [`matmul_into`] checks the shapes against each other and against the destination, so every
//! pointer the call dereferences is in bounds; the destination is a `&mut` slice, so it cannot
//! alias the inputs.
#![allow(unsafe_code)]

/// A read-only `rows x cols` matrix over a slice: element `(i, j)` is
/// `data[i * row_stride + j * col_stride]`, every one of them inside `data`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// The row-major `rows x cols` matrix at the start of `data`.
    ///
    /// # Panics
    /// When `data` holds fewer than `rows * cols` elements.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// A matrix with the given strides.
    ///
    /// # Panics
    /// When an element the strides address lies outside `data`.
    pub fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1).checked_mul(row_stride).and_then(|r| {
                (cols - 1)
                    .checked_mul(col_stride)
                    .and_then(|c| r.checked_add(c))
            });
            assert!(
                last.is_some_and(|last| last < data.len()),
                "a {rows} x {cols} matrix with strides ({row_stride}, {col_stride}) does not fit \
                 in {} elements",
                data.len()
            );
        }
        MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// The transpose (no copy: the strides swap).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// `dst = a b` (or `dst += a b` with `accumulate`), `dst` row-major `a.rows() x b.cols()`, on
/// the calling thread (the kernels parallelise over chunks themselves). Each element is summed
/// over the inner dimension in the same order whatever the other dimensions are.
///
/// # Panics
/// When the shapes do not agree.
pub fn matmul_into(dst: &mut [f32], a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul: {m} x {k} times {} x {n}", b.rows);
    assert_eq!(
        dst.len(),
        m * n,
        "matmul: a {m} x {n} result in {} elements",
        dst.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    let stride = |s: usize| isize::try_from(s).unwrap_or(isize::MAX);
    // SAFETY: `a` and `b` address only elements inside their slices (checked in
    // `MatRef::strided`), the inner dimensions agree (checked above), and `dst` holds exactly the
    // m x n row-major result (checked above) and is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(n),
            accumulate,
            a.data.as_ptr(),
            stride(a.col_stride),
            stride(a.row_stride),
            b.data.as_ptr(),
            stride(b.col_stride),
            stride(b.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef<'_>, b: MatRef<'_>) -> Vec<f64> {
        let at = |m: &MatRef<'_>, i: usize, j: usize| {
            f64::from(m.data[i * m.row_stride + j * m.col_stride])
        };
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|p| at(&a, i, p) * at(&b, p, j)).sum();
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn products_with_transposes_match_a_naive_product() {
        for (m, k, n) in [(1, 1, 1), (7, 5, 3), (33, 64, 17), (130, 150, 64)] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let bt = values(n * k, 3);
            let cases = [
                (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n)),
                (
                    MatRef::row_major(&a, m, k),
                    MatRef::row_major(&bt, n, k).t(),
                ),
                (MatRef::row_major(&a, k, m).t(), MatRef::row_major(&b, k, n)),
            ];
            for (x, y) in cases {
                let want = naive(x, y);
                let mut got = vec![f32::NAN; m * n];
                matmul_into(&mut got, x, y, false);
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (f64::from(*g) - w).abs() < 1e-4 * w.abs().max(1.0),
                        "{m} {k} {n}"
                    );
                }
                matmul_into(&mut got, x, y, true);
                for (g, w) in got.iter().zip(&want) {
                    assert!((f64::from(*g) - 2.0 * w).abs() < 2e-4 * w.abs().max(1.0));
                }
            }
        }
    }

    #[test]
    fn an_empty_inner_dimension_gives_zeros() {
        let mut out = vec![1.0; 6];
        matmul_into(
            &mut out,
            MatRef::row_major(&[], 2, 0),
            MatRef::row_major(&[], 0, 3),
            false,
        );
        assert_eq!(out, vec![0.0; 6]);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_view_beyond_its_slice_is_refused() {
        let _ = MatRef::strided(&[0.0; 5], 2, 3, 3, 1);
    }
}
