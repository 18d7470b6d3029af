//! The crate's only door to dense linear algebra (faer): a column-major matrix, one
//! matrix-product wrapper (plus its lower-triangular variant), Cholesky with jitter
//! escalation and triangular inversion, and the run-time SIMD dispatch of elementwise
//! loops. Keeping every call here lets the backend change in one place.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par, Side};

/// A dense column-major matrix of `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    nrows: usize,
    ncols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// A matrix of zeros.
    pub fn zeros(nrows: usize, ncols: usize) -> Self {
        Self {
            nrows,
            ncols,
            data: vec![0.0; nrows * ncols],
        }
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Entry `(i, j)`.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i + j * self.nrows]
    }

    /// Sets entry `(i, j)`.
    #[inline]
    pub fn set(&mut self, i: usize, j: usize, value: f64) {
        self.data[i + j * self.nrows] = value;
    }

    /// Column `j` as a slice.
    #[inline]
    pub fn col(&self, j: usize) -> &[f64] {
        &self.data[j * self.nrows..(j + 1) * self.nrows]
    }

    /// Column `j` as a mutable slice.
    #[inline]
    pub fn col_mut(&mut self, j: usize) -> &mut [f64] {
        &mut self.data[j * self.nrows..(j + 1) * self.nrows]
    }

    /// A faer view.
    pub fn view(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.data, self.nrows, self.ncols)
    }

    /// A mutable faer view.
    pub fn view_mut(&mut self) -> MatMut<'_, f64> {
        MatMut::from_column_major_slice_mut(&mut self.data, self.nrows, self.ncols)
    }

    fn from_view(view: MatRef<'_, f64>) -> Self {
        let mut out = Self::zeros(view.nrows(), view.ncols());
        for j in 0..view.ncols() {
            for i in 0..view.nrows() {
                out.set(i, j, view[(i, j)]);
            }
        }
        out
    }
}

/// Runs `f` with the CPU's best SIMD instruction set enabled (AVX2 + FMA where present, found
/// at run time; the default build targets baseline x86-64), so that the loops inlined into
/// it are auto-vectorized for it. Everything it calls must be `#[inline(always)]`. Results
/// are the same bits as without it (no fast-math, no contraction into FMA).
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// `dst = lhs · rhs` (single-threaded: parallelism goes across trials, not inside one).
pub fn product(dst: MatMut<'_, f64>, lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) {
    matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::Seq);
}

/// `dst = lower · rhs` for a lower-triangular `lower` (its upper part is not read): half the
/// work of [`product`].
pub fn product_lower(dst: MatMut<'_, f64>, lower: MatRef<'_, f64>, rhs: MatRef<'_, f64>) {
    use faer::linalg::matmul::triangular::{BlockStructure, matmul};
    matmul(
        dst,
        BlockStructure::Rectangular,
        Accum::Replace,
        lower,
        BlockStructure::TriangularLower,
        rhs,
        BlockStructure::Rectangular,
        1.0,
        Par::Seq,
    );
}

/// `dst = lowerᵀ · rhs` for a lower-triangular `lower` (its upper part is not read).
pub fn product_lower_transposed(
    dst: MatMut<'_, f64>,
    lower: MatRef<'_, f64>,
    rhs: MatRef<'_, f64>,
) {
    use faer::linalg::matmul::triangular::{BlockStructure, matmul};
    matmul(
        dst,
        BlockStructure::Rectangular,
        Accum::Replace,
        lower.transpose(),
        BlockStructure::TriangularUpper,
        rhs,
        BlockStructure::Rectangular,
        1.0,
        Par::Seq,
    );
}

/// The lower Cholesky factor of a symmetric positive definite matrix plus the jitter that
/// had to be added to its diagonal.
pub struct Cholesky {
    /// Lower-triangular factor `L` with `L·Lᵀ = A + jitter·I`.
    pub factor: Matrix,
    /// Diagonal jitter added (0 when the matrix factored as given).
    pub jitter: f64,
}

/// Cholesky factor of the symmetric matrix `a`; on failure retries with diagonal jitter
/// starting at `1e-8·mean(diag)`, raised ×10 up to `max_jitter`. `None` if all attempts fail
/// or the matrix holds non-finite entries.
pub fn cholesky(a: &Matrix, max_jitter: f64) -> Option<Cholesky> {
    if a.data.iter().any(|v| !v.is_finite()) {
        return None;
    }
    if let Ok(llt) = a.view().llt(Side::Lower) {
        return Some(Cholesky {
            factor: lower_part(llt.L()),
            jitter: 0.0,
        });
    }
    let n = a.nrows;
    let mean_diag = (0..n).map(|i| a.get(i, i)).sum::<f64>() / n.max(1) as f64;
    let mut jitter = 1e-8 * mean_diag.abs().max(1e-12);
    let mut shifted = a.clone();
    while jitter <= max_jitter {
        for i in 0..n {
            shifted.set(i, i, a.get(i, i) + jitter);
        }
        if let Ok(llt) = shifted.view().llt(Side::Lower) {
            return Some(Cholesky {
                factor: lower_part(llt.L()),
                jitter,
            });
        }
        jitter *= 10.0;
    }
    None
}

fn lower_part(l: MatRef<'_, f64>) -> Matrix {
    let mut out = Matrix::from_view(l);
    for j in 0..out.ncols {
        for i in 0..j {
            out.set(i, j, 0.0);
        }
    }
    out
}

/// Inverse of a lower-triangular matrix (lower-triangular).
pub fn invert_lower(l: &Matrix) -> Matrix {
    let mut out = Matrix::zeros(l.nrows, l.ncols);
    faer::linalg::triangular_inverse::invert_lower_triangular(out.view_mut(), l.view(), Par::Seq);
    for j in 0..out.ncols {
        for i in 0..j {
            out.set(i, j, 0.0);
        }
    }
    out
}

/// The lower triangle (diagonal included) of the inverse of `A = L·Lᵀ` from its Cholesky
/// factor; the strict upper triangle is left zero. `A⁻¹ = L⁻ᵀ·L⁻¹` as a product of two
/// triangles into a triangle: a third of a full product.
pub fn inverse_lower_from_cholesky(l: &Matrix) -> Matrix {
    use faer::linalg::matmul::triangular::{BlockStructure, matmul};
    let inv = invert_lower(l);
    let mut out = Matrix::zeros(l.nrows, l.ncols);
    matmul(
        out.view_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        inv.view().transpose(),
        BlockStructure::TriangularUpper,
        inv.view(),
        BlockStructure::TriangularLower,
        1.0,
        Par::Seq,
    );
    out
}

/// Solves `L·x = b` in place for lower-triangular `L`.
pub fn solve_lower_in_place(l: &Matrix, b: &mut [f64]) {
    let n = l.nrows;
    for j in 0..n {
        let xj = b[j] / l.get(j, j);
        b[j] = xj;
        let col = l.col(j);
        for i in j + 1..n {
            b[i] -= col[i] * xj;
        }
    }
}

/// Solves `Lᵀ·x = b` in place for lower-triangular `L`.
pub fn solve_lower_transpose_in_place(l: &Matrix, b: &mut [f64]) {
    let n = l.nrows;
    for j in (0..n).rev() {
        let col = l.col(j);
        let dot: f64 = (j + 1..n).map(|i| col[i] * b[i]).sum();
        b[j] = (b[j] - dot) / l.get(j, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> Matrix {
        let mut a = Matrix::zeros(n, n);
        for i in 0..n {
            for j in 0..n {
                let d = i as f64 - j as f64;
                a.set(i, j, (-0.1 * d * d).exp());
            }
            a.set(i, i, a.get(i, i) + 0.1);
        }
        a
    }

    #[test]
    fn inverse_from_cholesky_inverts() {
        for n in [12, 150] {
            let a = spd(n);
            let chol = cholesky(&a, 1.0).expect("positive definite");
            assert_eq!(chol.jitter, 0.0);
            let lower = inverse_lower_from_cholesky(&chol.factor);
            let mut inv = lower.clone();
            for j in 0..n {
                for i in 0..j {
                    assert_eq!(lower.get(i, j), 0.0);
                    inv.set(i, j, lower.get(j, i));
                }
            }
            let mut prod = Matrix::zeros(n, n);
            product(prod.view_mut(), a.view(), inv.view());
            for i in 0..n {
                for j in 0..n {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (prod.get(i, j) - want).abs() < 1e-9,
                        "n {n}: ({i},{j}) = {}",
                        prod.get(i, j)
                    );
                }
            }
        }
    }

    #[test]
    fn triangular_solves_agree_with_the_factor() {
        let a = spd(7);
        let l = cholesky(&a, 1.0).expect("positive definite").factor;
        let b: Vec<f64> = (0..7).map(|i| i as f64 - 3.0).collect();
        let mut x = b.clone();
        solve_lower_in_place(&l, &mut x);
        solve_lower_transpose_in_place(&l, &mut x);
        for (i, bi) in b.iter().enumerate() {
            let ax: f64 = (0..7).map(|j| a.get(i, j) * x[j]).sum();
            assert!((ax - bi).abs() < 1e-10);
        }
    }

    #[test]
    fn lower_product_reads_only_the_lower_triangle() {
        let l = cholesky(&spd(9), 1.0).expect("positive definite").factor;
        let mut garbage_above = l.clone();
        for j in 0..9 {
            for i in 0..j {
                garbage_above.set(i, j, 7.0);
            }
        }
        let rhs = spd(9);
        let (mut a, mut b) = (Matrix::zeros(9, 9), Matrix::zeros(9, 9));
        product(a.view_mut(), l.view(), rhs.view());
        product_lower(b.view_mut(), garbage_above.view(), rhs.view());
        for (x, y) in a.data.iter().zip(&b.data) {
            assert!((x - y).abs() < 1e-12);
        }
        product(a.view_mut(), l.view().transpose(), rhs.view());
        product_lower_transposed(b.view_mut(), garbage_above.view(), rhs.view());
        for (x, y) in a.data.iter().zip(&b.data) {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn singular_matrix_gets_jitter() {
        let mut a = Matrix::zeros(3, 3);
        for i in 0..3 {
            for j in 0..3 {
                a.set(i, j, 1.0);
            }
        }
        let chol = cholesky(&a, 1.0).expect("jitter makes it positive definite");
        assert!(chol.jitter > 0.0);
        let mut bad = a.clone();
        bad.set(0, 0, f64::NAN);
        assert!(cholesky(&bad, 1.0).is_none());
    }
}
