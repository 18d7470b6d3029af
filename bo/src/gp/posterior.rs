//! A fitted Gaussian-process posterior with the inverse Cholesky factor cached, so that a batch
//! of candidates costs one matrix product ([`super::predict`]), and pending points join it by
//! a Cholesky extension without a refit.

use crate::kernel::{Inputs, KernelParams, matern52, scaled_matern52_in_place};
use crate::linalg::{Matrix, cholesky, invert_lower, product, product_lower, vectorized};

/// Largest jitter tried when a kernel matrix does not factor.
const MAX_JITTER: f64 = 1e-2;

/// A Gaussian-process posterior on fixed hyperparameters.
#[derive(Debug, Clone)]
pub struct Gp {
    pub(super) inputs: Inputs,
    pub(super) params: KernelParams,
    y: Vec<f64>,
    /// `L⁻¹` where `L·Lᵀ = K + (noise + jitter)·I`.
    pub(super) linv: Matrix,
    /// `(K + noise·I)⁻¹·y` as an `n×1` matrix.
    pub(super) alpha: Matrix,
    /// Noise plus the jitter the factorization needed.
    diagonal_noise: f64,
}

impl Gp {
    /// Conditions the prior on `y` at `inputs`. `None` if the kernel matrix does not factor
    /// even with jitter (or holds non-finite numbers).
    pub fn new(inputs: Inputs, y: Vec<f64>, params: KernelParams) -> Option<Self> {
        let n = inputs.len();
        // The lower triangle only: the factorization reads no more.
        let mut k = Matrix::zeros(n, n);
        let lam = &params.inverse_squared_lengthscales;
        vectorized(
            #[inline(always)]
            || {
                for b in 0..n {
                    let below = &mut k.col_mut(b)[b + 1..];
                    inputs.scaled_sq_distances_from(b + 1, inputs.row(b), lam, below);
                    scaled_matern52_in_place(below, params.signal);
                }
            },
        );
        for b in 0..n {
            k.set(b, b, params.signal + params.noise);
        }
        let chol = cholesky(&k, MAX_JITTER)?;
        let linv = invert_lower(&chol.factor);
        let mut gp = Self {
            inputs,
            params,
            y,
            linv,
            alpha: Matrix::zeros(0, 0),
            diagonal_noise: 0.0,
        };
        gp.diagonal_noise = gp.params.noise + chol.jitter;
        gp.alpha = column(gp.solve(&gp.y));
        Some(gp)
    }

    /// `(K + noise·I)⁻¹·v` through the cached inverse factor: the coefficient vector of the
    /// posterior mean for outputs `v` at these inputs (e.g. fantasized ones).
    pub fn solve(&self, v: &[f64]) -> Vec<f64> {
        let n = v.len();
        let mut w = vec![0.0; n];
        // w = L⁻¹·v
        for (j, &vj) in v.iter().enumerate() {
            let col = self.linv.col(j);
            for (wi, ci) in w[j..].iter_mut().zip(&col[j..]) {
                *wi += ci * vj;
            }
        }
        // out = L⁻ᵀ·w
        (0..n)
            .map(|j| (j..n).map(|i| self.linv.get(i, j) * w[i]).sum())
            .collect()
    }

    /// Number of conditioning points (observed plus pending).
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Whether the posterior has no conditioning points.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The hyperparameters.
    pub fn params(&self) -> &KernelParams {
        &self.params
    }

    /// The conditioning inputs.
    pub fn inputs(&self) -> &Inputs {
        &self.inputs
    }

    /// The conditioning outputs.
    pub fn outputs(&self) -> &[f64] {
        &self.y
    }

    /// The noise variance on the diagonal (the fitted noise plus any jitter).
    pub fn diagonal_noise(&self) -> f64 {
        self.diagonal_noise
    }

    /// The coefficient vector `(K + noise·I)⁻¹·y` of the posterior mean, as an `n×1` matrix.
    pub fn alpha(&self) -> &Matrix {
        &self.alpha
    }

    /// The posterior after also observing `values` at the row-major `points`, on the same
    /// hyperparameters: the cached factor is extended (one block solve plus a small
    /// Cholesky), not recomputed. `None` if the new block does not factor.
    pub fn extended(&self, points: &[f64], values: &[f64]) -> Option<Self> {
        let q = values.len();
        if q == 0 {
            return Some(self.clone());
        }
        let n = self.len();
        let lam = &self.params.inverse_squared_lengthscales;
        let (k12, _) = self.cross_kernel(points, q, false);
        let pending = Inputs::new(points.to_vec(), self.inputs.categorical().to_vec());
        let mut b = Matrix::zeros(n, q);
        product_lower(b.view_mut(), self.linv.view(), k12.view());
        let mut s = Matrix::zeros(q, q);
        for c in 0..q {
            for r in c..q {
                let kv = self.params.signal * matern52(pending.pair_sq_distance(r, c, lam));
                let v = kv - dot(b.col(r), b.col(c));
                s.set(r, c, v);
                s.set(c, r, v);
            }
            s.set(
                c,
                c,
                self.params.signal + self.diagonal_noise - dot(b.col(c), b.col(c)),
            );
        }
        let l22 = cholesky(&s, MAX_JITTER)?;
        let l22inv = invert_lower(&l22.factor);
        // Bottom-left block of the new inverse factor: -L22⁻¹·Bᵀ·L⁻¹.
        let mut bt_linv = Matrix::zeros(q, n);
        product(bt_linv.view_mut(), b.view().transpose(), self.linv.view());
        let mut bottom = Matrix::zeros(q, n);
        product(bottom.view_mut(), l22inv.view(), bt_linv.view());
        let mut linv = Matrix::zeros(n + q, n + q);
        for j in 0..n {
            linv.col_mut(j)[..n].copy_from_slice(self.linv.col(j));
            for r in 0..q {
                linv.set(n + r, j, -bottom.get(r, j));
            }
        }
        for j in 0..q {
            for r in 0..q {
                linv.set(n + r, n + j, l22inv.get(r, j));
            }
        }
        let mut y = self.y.clone();
        y.extend_from_slice(values);
        let mut gp = Self {
            inputs: self.inputs.appended(points),
            params: self.params.clone(),
            y,
            linv,
            alpha: Matrix::zeros(0, 0),
            diagonal_noise: self.diagonal_noise,
        };
        gp.alpha = column(gp.solve(&gp.y));
        Some(gp)
    }
}

/// `v` as an `n×1` matrix.
fn column(v: Vec<f64>) -> Matrix {
    let mut m = Matrix::zeros(v.len(), 1);
    m.col_mut(0).copy_from_slice(&v);
    m
}

#[inline]
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    pub(crate) fn toy(n: usize, d: usize, seed: u64) -> (Inputs, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rows: Vec<f64> = (0..n * d).map(|_| rng.random::<f64>()).collect();
        let y = (0..n)
            .map(|i| (6.0 * rows[i * d]).sin() + rows[i * d + d - 1])
            .collect();
        (Inputs::new(rows, vec![false; d]), y)
    }

    pub(crate) fn params(d: usize, noise: f64) -> KernelParams {
        KernelParams {
            inverse_squared_lengthscales: vec![4.0; d],
            signal: 1.3,
            noise,
        }
    }

    #[test]
    fn mean_interpolates_noise_free_training_points() {
        let (inputs, y) = toy(15, 3, 1);
        let gp = Gp::new(inputs.clone(), y.clone(), params(3, 1e-10)).expect("factors");
        let pred = gp.predict(inputs.rows());
        for (i, (m, t)) in pred.mean.iter().zip(&y).enumerate() {
            assert!((m - t).abs() < 1e-5, "point {i}: mean {m} vs {t}");
            assert!(
                pred.variance[i] < 1e-5,
                "point {i}: variance {}",
                pred.variance[i]
            );
        }
    }

    #[test]
    fn variance_is_non_negative_and_bounded_by_the_signal() {
        let (inputs, y) = toy(30, 2, 2);
        let gp = Gp::new(inputs, y, params(2, 1e-6)).expect("factors");
        let (grid, _) = toy(400, 2, 3);
        let pred = gp.predict(grid.rows());
        for v in pred.variance {
            assert!((0.0..=1.3 + 1e-12).contains(&v), "variance {v}");
        }
    }

    #[test]
    fn extension_equals_refactoring_from_scratch() {
        let (inputs, y) = toy(25, 2, 5);
        let p = params(2, 1e-4);
        let base = Gp::new(
            Inputs::new(inputs.rows()[..40].to_vec(), vec![false; 2]),
            y[..20].to_vec(),
            p.clone(),
        )
        .expect("factors");
        let extended = base
            .extended(&inputs.rows()[40..], &y[20..])
            .expect("extends");
        let full = Gp::new(inputs, y, p).expect("factors");
        let (probe, _) = toy(50, 2, 6);
        let (a, b) = (extended.predict(probe.rows()), full.predict(probe.rows()));
        for i in 0..50 {
            assert!((a.mean[i] - b.mean[i]).abs() < 1e-8);
            assert!((a.variance[i] - b.variance[i]).abs() < 1e-8);
        }
    }
}
