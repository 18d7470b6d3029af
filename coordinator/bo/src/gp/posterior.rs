//! A fitted Gaussian-process posterior with the inverse Cholesky factor cached, so that a batch
//! of candidates costs one matrix product, and pending points join it by a Cholesky
//! extension without a refit.

use crate::kernel::{Inputs, KernelParams, matern52, matern52_with_derivative};
use crate::linalg::{Matrix, cholesky, invert_lower, product};

/// Largest jitter tried when a kernel matrix does not factor.
const MAX_JITTER: f64 = 1e-2;

/// Posterior means and variances of a batch of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Posterior mean per point.
    pub mean: Vec<f64>,
    /// Posterior variance of the latent function per point (≥ 0).
    pub variance: Vec<f64>,
}

/// A Gaussian-process posterior on fixed hyperparameters.
#[derive(Debug, Clone)]
pub struct Gp {
    inputs: Inputs,
    params: KernelParams,
    y: Vec<f64>,
    /// `L⁻¹` where `L·Lᵀ = K + (noise + jitter)·I`.
    linv: Matrix,
    /// `(K + noise·I)⁻¹·y`.
    alpha: Vec<f64>,
    /// Noise plus the jitter the factorization needed.
    diagonal_noise: f64,
}

impl Gp {
    /// Conditions the prior on `y` at `inputs`. `None` if the kernel matrix does not factor
    /// even with jitter (or holds non-finite numbers).
    pub fn new(inputs: Inputs, y: Vec<f64>, params: KernelParams) -> Option<Self> {
        let n = inputs.len();
        let mut k = Matrix::zeros(n, n);
        for b in 0..n {
            for a in b..n {
                let v = params.signal
                    * matern52(inputs.pair_sq_distance(a, b, &params.inverse_squared_lengthscales));
                k.set(a, b, v);
                k.set(b, a, v);
            }
            k.set(b, b, params.signal + params.noise);
        }
        let chol = cholesky(&k, MAX_JITTER)?;
        let linv = invert_lower(&chol.factor);
        let mut gp = Self {
            inputs,
            params,
            y,
            linv,
            alpha: Vec::new(),
            diagonal_noise: 0.0,
        };
        gp.diagonal_noise = gp.params.noise + chol.jitter;
        gp.alpha = gp.solve(&gp.y);
        Some(gp)
    }

    /// `(K + noise·I)⁻¹·v` through the cached inverse factor.
    fn solve(&self, v: &[f64]) -> Vec<f64> {
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

    /// Posterior means at the conditioning points themselves (`y - noise·α`).
    pub fn means_at_inputs(&self) -> Vec<f64> {
        self.y
            .iter()
            .zip(&self.alpha)
            .map(|(y, a)| y - self.diagonal_noise * a)
            .collect()
    }

    /// Cross-kernel `k(X, x_i)` for each of the `m` row-major points, as an `n×m` matrix,
    /// and the `r²` values when asked.
    fn cross_kernel(&self, points: &[f64], m: usize, keep_r2: bool) -> (Matrix, Matrix) {
        let n = self.len();
        let d = self.inputs.dims();
        let lam = &self.params.inverse_squared_lengthscales;
        let mut kx = Matrix::zeros(n, m);
        let mut r2 = if keep_r2 {
            Matrix::zeros(n, m)
        } else {
            Matrix::zeros(0, 0)
        };
        let mut buf = vec![0.0; n];
        for i in 0..m {
            self.inputs
                .scaled_sq_distances(&points[i * d..(i + 1) * d], lam, &mut buf);
            for (o, &v) in kx.col_mut(i).iter_mut().zip(&buf) {
                *o = self.params.signal * matern52(v);
            }
            if keep_r2 {
                r2.col_mut(i).copy_from_slice(&buf);
            }
        }
        (kx, r2)
    }

    /// Posterior mean and latent variance at `m` row-major points.
    pub fn predict(&self, points: &[f64]) -> Prediction {
        let d = self.inputs.dims();
        let m = points.len() / d;
        let n = self.len();
        let (kx, _) = self.cross_kernel(points, m, false);
        let mut v = Matrix::zeros(n, m);
        product(v.view_mut(), self.linv.view(), kx.view());
        let mean = (0..m).map(|i| dot(kx.col(i), &self.alpha)).collect();
        let variance = (0..m)
            .map(|i| (self.params.signal - dot(v.col(i), v.col(i))).max(0.0))
            .collect();
        Prediction { mean, variance }
    }

    /// Like [`Gp::predict`], also writing the gradients of mean and variance with respect to
    /// each point's coordinates (row-major `m×d`; zero on categorical columns).
    pub fn predict_with_gradient(
        &self,
        points: &[f64],
        grad_mean: &mut [f64],
        grad_variance: &mut [f64],
    ) -> Prediction {
        let d = self.inputs.dims();
        let m = points.len() / d;
        let n = self.len();
        let lam = &self.params.inverse_squared_lengthscales;
        let (kx, r2) = self.cross_kernel(points, m, true);
        let mut v = Matrix::zeros(n, m);
        product(v.view_mut(), self.linv.view(), kx.view());
        let mut w = Matrix::zeros(n, m);
        product(w.view_mut(), self.linv.view().transpose(), v.view());
        let mut mean = Vec::with_capacity(m);
        let mut variance = Vec::with_capacity(m);
        let mut coef_mean = vec![0.0; n];
        let mut coef_var = vec![0.0; n];
        for i in 0..m {
            mean.push(dot(kx.col(i), &self.alpha));
            variance.push((self.params.signal - dot(v.col(i), v.col(i))).max(0.0));
            // dk_t/dx_j = c·m'(r²_t)·2λ_j·(x_j - x_tj)
            for (t, &r) in r2.col(i).iter().enumerate() {
                let g = 2.0 * self.params.signal * matern52_with_derivative(r).1;
                coef_mean[t] = self.alpha[t] * g;
                coef_var[t] = -2.0 * w.get(t, i) * g;
            }
            let x = &points[i * d..(i + 1) * d];
            for j in 0..d {
                let (gm, gv) = if self.inputs.categorical()[j] {
                    (0.0, 0.0)
                } else {
                    let col = self.inputs.column(j);
                    let (mut gm, mut gv) = (0.0, 0.0);
                    for t in 0..n {
                        let diff = x[j] - col[t];
                        gm += coef_mean[t] * diff;
                        gv += coef_var[t] * diff;
                    }
                    (gm * lam[j], gv * lam[j])
                };
                grad_mean[i * d + j] = gm;
                grad_variance[i * d + j] = gv;
            }
        }
        Prediction { mean, variance }
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
        product(b.view_mut(), self.linv.view(), k12.view());
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
            alpha: Vec::new(),
            diagonal_noise: self.diagonal_noise,
        };
        gp.alpha = gp.solve(&gp.y);
        Some(gp)
    }
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn toy(n: usize, d: usize, seed: u64) -> (Inputs, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rows: Vec<f64> = (0..n * d).map(|_| rng.random::<f64>()).collect();
        let y = (0..n)
            .map(|i| (6.0 * rows[i * d]).sin() + rows[i * d + d - 1])
            .collect();
        (Inputs::new(rows, vec![false; d]), y)
    }

    fn params(d: usize, noise: f64) -> KernelParams {
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
    fn gradients_match_finite_differences() {
        let (inputs, y) = toy(20, 3, 4);
        let gp = Gp::new(inputs, y, params(3, 1e-4)).expect("factors");
        let x = [0.3, 0.6, 0.45, 0.9, 0.1, 0.7];
        let mut gm = [0.0; 6];
        let mut gv = [0.0; 6];
        gp.predict_with_gradient(&x, &mut gm, &mut gv);
        for k in 0..6 {
            let eps = 1e-6;
            let (mut up, mut down) = (x, x);
            up[k] += eps;
            down[k] -= eps;
            let (pu, pd) = (gp.predict(&up), gp.predict(&down));
            let i = k / 3;
            let fd_m = (pu.mean[i] - pd.mean[i]) / (2.0 * eps);
            let fd_v = (pu.variance[i] - pd.variance[i]) / (2.0 * eps);
            assert!(
                (gm[k] - fd_m).abs() < 1e-5 * (1.0 + fd_m.abs()),
                "mean {k}: {} vs {fd_m}",
                gm[k]
            );
            assert!(
                (gv[k] - fd_v).abs() < 1e-5 * (1.0 + fd_v.abs()),
                "var {k}: {} vs {fd_v}",
                gv[k]
            );
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
