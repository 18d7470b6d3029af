//! The Matérn 5/2 kernel with one length scale per column (ARD) and Hamming distance on
//! categorical columns: `k(x, x') = c · m(r²)`, `r² = Σ_j λ_j · d_j²`, `λ_j = 1/ℓ_j²`.

/// Kernel hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelParams {
    /// `λ_j = 1/ℓ_j²` per column.
    pub inverse_squared_lengthscales: Vec<f64>,
    /// Signal variance `c`.
    pub signal: f64,
    /// Observation noise variance added to the diagonal.
    pub noise: f64,
}

use crate::special::exp_nonpositive;

/// Matérn 5/2 as a function of the squared scaled distance:
/// `m(r²) = (1 + √(5r²) + 5r²/3)·exp(-√(5r²))`.
#[inline]
pub fn matern52(r2: f64) -> f64 {
    let s = (5.0 * r2).sqrt();
    (1.0 + s + 5.0 / 3.0 * r2) * (-s).exp()
}

/// `dm/dr²`, written out so that it is finite at `r² = 0`:
/// `-(5/6)(1 + √(5r²))·exp(-√(5r²))`.
#[inline]
pub fn matern52_derivative(r2: f64) -> f64 {
    let s = (5.0 * r2).sqrt();
    -5.0 / 6.0 * (1.0 + s) * (-s).exp()
}

/// Both `m(r²)` and `dm/dr²` with one exponential.
#[inline]
pub fn matern52_with_derivative(r2: f64) -> (f64, f64) {
    let s = (5.0 * r2).sqrt();
    let e = (-s).exp();
    ((1.0 + s + 5.0 / 3.0 * r2) * e, -5.0 / 6.0 * (1.0 + s) * e)
}

/// `c·m(r²)` in place over a slice of `r²` values: the batched form of [`matern52`]
/// (polynomial exponential, so that the loop vectorizes inside
/// [`crate::linalg::vectorized`]).
#[inline(always)]
pub fn scaled_matern52_in_place(values: &mut [f64], signal: f64) {
    for v in values.iter_mut() {
        let r2 = *v;
        let s = (5.0 * r2).sqrt();
        *v = signal * (1.0 + s + 5.0 / 3.0 * r2) * exp_nonpositive(-s);
    }
}

/// `m(r²)` and `dm/dr²` over a slice of `r²` values, written into `k` and `dk`: the batched
/// form of [`matern52_with_derivative`].
#[inline(always)]
pub fn matern52_with_derivative_into(r2: &[f64], k: &mut [f64], dk: &mut [f64]) {
    for ((&r, kv), dv) in r2.iter().zip(k.iter_mut()).zip(dk.iter_mut()) {
        let s = (5.0 * r).sqrt();
        let e = exp_nonpositive(-s);
        *kv = (1.0 + s + 5.0 / 3.0 * r) * e;
        *dv = -5.0 / 6.0 * (1.0 + s) * e;
    }
}

/// The squared distance of two coordinates in one column.
#[inline]
pub fn column_sq_distance(a: f64, b: f64, categorical: bool) -> f64 {
    if categorical {
        if a == b { 0.0 } else { 1.0 }
    } else {
        (a - b) * (a - b)
    }
}

/// Training inputs kept twice: row-major for per-point access and column-major so that the
/// distances from one point to all training points run over contiguous memory.
#[derive(Debug, Clone)]
pub struct Inputs {
    n: usize,
    d: usize,
    rows: Vec<f64>,
    cols: Vec<f64>,
    categorical: Vec<bool>,
}

impl Inputs {
    /// Wraps `n×d` row-major points (`rows.len()` must be a multiple of `categorical.len()`).
    pub fn new(rows: Vec<f64>, categorical: Vec<bool>) -> Self {
        let d = categorical.len();
        let n = rows.len().checked_div(d).unwrap_or(0);
        let mut cols = vec![0.0; n * d];
        for i in 0..n {
            for j in 0..d {
                cols[j * n + i] = rows[i * d + j];
            }
        }
        Self {
            n,
            d,
            rows,
            cols,
            categorical,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Number of columns.
    pub fn dims(&self) -> usize {
        self.d
    }

    /// Point `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * self.d..(i + 1) * self.d]
    }

    /// All points, row-major.
    pub fn rows(&self) -> &[f64] {
        &self.rows
    }

    /// Column `j` over all points.
    #[inline(always)]
    pub fn column(&self, j: usize) -> &[f64] {
        &self.cols[j * self.n..(j + 1) * self.n]
    }

    /// The categorical flags.
    pub fn categorical(&self) -> &[bool] {
        &self.categorical
    }

    /// These inputs followed by `extra` row-major points.
    pub fn appended(&self, extra: &[f64]) -> Self {
        let mut rows = self.rows.clone();
        rows.extend_from_slice(extra);
        Self::new(rows, self.categorical.clone())
    }

    /// Writes `r²(x, x_t)` for every training point `t` into `out`.
    #[inline(always)]
    pub fn scaled_sq_distances(&self, x: &[f64], lam: &[f64], out: &mut [f64]) {
        self.scaled_sq_distances_from(0, x, lam, out);
    }

    /// Writes `r²(x, x_t)` for the training points `t ≥ start` into `out` (of length
    /// `n - start`).
    #[inline(always)]
    pub fn scaled_sq_distances_from(&self, start: usize, x: &[f64], lam: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        for j in 0..self.d {
            let col = &self.column(j)[start..];
            let (xj, lj) = (x[j], lam[j]);
            if self.categorical[j] {
                for (o, &c) in out.iter_mut().zip(col) {
                    if c != xj {
                        *o += lj;
                    }
                }
            } else {
                for (o, &c) in out.iter_mut().zip(col) {
                    let diff = xj - c;
                    *o += lj * diff * diff;
                }
            }
        }
    }

    /// `r²` between training points `a` and `b`.
    pub fn pair_sq_distance(&self, a: usize, b: usize, lam: &[f64]) -> f64 {
        let (ra, rb) = (self.row(a), self.row(b));
        (0..self.d)
            .map(|j| lam[j] * column_sq_distance(ra[j], rb[j], self.categorical[j]))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matern_derivative_matches_finite_differences() {
        for r2 in [1e-6f64, 0.01, 0.3, 1.0, 4.0] {
            let eps = 1e-7 * r2.max(1e-3);
            let fd = (matern52(r2 + eps) - matern52(r2 - eps)) / (2.0 * eps);
            let rel = (matern52_derivative(r2) - fd).abs() / fd.abs();
            assert!(rel < 1e-5, "r2 {r2}: {} vs {fd}", matern52_derivative(r2));
        }
        assert_eq!(matern52(0.0), 1.0);
        assert!((matern52_derivative(0.0) + 5.0 / 6.0).abs() < 1e-15);
    }

    #[test]
    fn batched_kernels_match_the_scalar_ones() {
        let r2: Vec<f64> = (0..300).map(|i| (i as f64 * 0.037).powi(2)).collect();
        let mut k = r2.clone();
        scaled_matern52_in_place(&mut k, 1.7);
        let (mut k2, mut dk) = (vec![0.0; 300], vec![0.0; 300]);
        matern52_with_derivative_into(&r2, &mut k2, &mut dk);
        for i in 0..300 {
            let (m, dm) = matern52_with_derivative(r2[i]);
            assert!((k[i] - 1.7 * m).abs() <= 1e-15 * (1.0 + m));
            assert!((k2[i] - m).abs() <= 1e-15 && (dk[i] - dm).abs() <= 1e-15);
        }
    }

    #[test]
    fn distances_use_hamming_on_categorical_columns() {
        let inputs = Inputs::new(vec![0.1, 0.25, 0.4, 0.75], vec![false, true]);
        let lam = [2.0, 3.0];
        let mut out = [0.0; 2];
        inputs.scaled_sq_distances(&[0.1, 0.75], &lam, &mut out);
        assert!((out[0] - 3.0).abs() < 1e-15);
        assert!((out[1] - 2.0 * 0.09).abs() < 1e-15);
        assert!((inputs.pair_sq_distance(0, 1, &lam) - (2.0 * 0.09 + 3.0)).abs() < 1e-15);
    }
}
