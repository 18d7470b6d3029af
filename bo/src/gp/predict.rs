//! Batched prediction from a [`Gp`]: posterior means (under the GP's own outputs or under
//! several fantasized output vectors at once) and latent variances at many points, with
//! gradients through any function of them, and the joint posterior at a few points.
//!
//! Per batch of `m` points and `n` conditioning points the work is the cross-kernel
//! (`n·m` kernel values), one triangular product `L⁻¹·K(X, x)` for the variances and one
//! product for the means; gradients add one more triangular product.

use crate::kernel::{matern52, matern52_with_derivative_into, scaled_matern52_in_place};
use crate::linalg::{Matrix, product, product_lower, product_lower_transposed, vectorized};

use super::posterior::{Gp, dot};

/// Posterior means and variances of a batch of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Posterior mean per point.
    pub mean: Vec<f64>,
    /// Posterior variance of the latent function per point (≥ 0).
    pub variance: Vec<f64>,
}

/// Posterior means under several coefficient vectors sharing one posterior variance.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiPrediction {
    /// `s×m`: column `i` holds point `i`'s mean under each of the `s` coefficient vectors.
    pub means: Matrix,
    /// Posterior variance of the latent function per point (≥ 0).
    pub variance: Vec<f64>,
}

impl Gp {
    /// Cross-kernel `k(X, x_i)` for each of the `m` row-major points, as an `n×m` matrix,
    /// and the `r²` values when asked.
    pub(super) fn cross_kernel(&self, points: &[f64], m: usize, keep_r2: bool) -> (Matrix, Matrix) {
        let n = self.len();
        let d = self.inputs.dims();
        let lam = &self.params.inverse_squared_lengthscales;
        let mut kx = Matrix::zeros(n, m);
        let mut r2 = if keep_r2 {
            Matrix::zeros(n, m)
        } else {
            Matrix::zeros(0, 0)
        };
        let signal = self.params.signal;
        vectorized(
            #[inline(always)]
            || {
                for i in 0..m {
                    let col = kx.col_mut(i);
                    self.inputs
                        .scaled_sq_distances(&points[i * d..(i + 1) * d], lam, col);
                    if keep_r2 {
                        r2.col_mut(i).copy_from_slice(col);
                    }
                    scaled_matern52_in_place(col, signal);
                }
            },
        );
        (kx, r2)
    }

    /// `signal - ‖L⁻¹·k(X, x_i)‖²` per column of the cross-kernel, with `L⁻¹·kx` kept.
    fn variances(&self, kx: &Matrix) -> (Vec<f64>, Matrix) {
        let mut v = Matrix::zeros(kx.nrows(), kx.ncols());
        product_lower(v.view_mut(), self.linv.view(), kx.view());
        let variance = (0..kx.ncols())
            .map(|i| (self.params.signal - dot(v.col(i), v.col(i))).max(0.0))
            .collect();
        (variance, v)
    }

    /// Posterior mean and latent variance at `m` row-major points.
    pub fn predict(&self, points: &[f64]) -> Prediction {
        let multi = self.predict_multi(points, &self.alpha);
        Prediction {
            mean: (0..multi.variance.len())
                .map(|i| multi.means.get(0, i))
                .collect(),
            variance: multi.variance,
        }
    }

    /// Posterior means under each column of `alphas` (`n×s` coefficient vectors
    /// `(K + noise·I)⁻¹·y` of outputs at these inputs: [`Gp::alpha`], or fantasies made with
    /// [`Gp::solve`]) and the latent variance, at `m` row-major points.
    pub fn predict_multi(&self, points: &[f64], alphas: &Matrix) -> MultiPrediction {
        let m = points.len() / self.inputs.dims();
        let (kx, _) = self.cross_kernel(points, m, false);
        let (variance, _) = self.variances(&kx);
        let mut means = Matrix::zeros(alphas.ncols(), m);
        product(means.view_mut(), alphas.view().transpose(), kx.view());
        MultiPrediction { means, variance }
    }

    /// Values of a function of the posterior at `m` row-major points, with its gradient with
    /// respect to each point's coordinates written row-major into `grad` (zero on
    /// categorical columns). `f(means, variance, dmeans)` gets one point's means under the
    /// columns of `alphas` (see [`Gp::predict_multi`]) and its variance, writes the partial
    /// derivatives with respect to the means into `dmeans` and returns the value and its
    /// partial derivative with respect to the variance.
    pub fn value_with_gradient<F>(
        &self,
        points: &[f64],
        alphas: &Matrix,
        mut f: F,
        grad: &mut [f64],
    ) -> Vec<f64>
    where
        F: FnMut(&[f64], f64, &mut [f64]) -> (f64, f64),
    {
        let d = self.inputs.dims();
        let m = points.len() / d;
        let n = self.len();
        let s = alphas.ncols();
        let lam = &self.params.inverse_squared_lengthscales;
        let (kx, r2) = self.cross_kernel(points, m, true);
        let (variance, v) = self.variances(&kx);
        // w = K⁻¹·k(X, x) = L⁻ᵀ·v, for the variance's gradient.
        let mut w = Matrix::zeros(n, m);
        product_lower_transposed(w.view_mut(), self.linv.view(), v.view());
        let mut means = Matrix::zeros(s, m);
        product(means.view_mut(), alphas.view().transpose(), kx.view());
        let mut values = Vec::with_capacity(m);
        let mut dmeans = vec![0.0; s];
        let mut coef_alpha = vec![0.0; n];
        let mut coef = vec![0.0; n];
        let (mut scratch, mut dk) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..m {
            let (value, dvar) = f(means.col(i), variance[i], &mut dmeans);
            values.push(value);
            // Σ_s dmean_s·α_s: the mean part of the gradient in one coefficient vector.
            coef_alpha.iter_mut().for_each(|c| *c = 0.0);
            for (k, &dm) in dmeans.iter().enumerate() {
                if dm != 0.0 {
                    for (c, a) in coef_alpha.iter_mut().zip(alphas.col(k)) {
                        *c += dm * a;
                    }
                }
            }
            // dk_t/dx_j = c·m'(r²_t)·2λ_j·(x_j - x_tj); dvar/dk_t = -2·w_t.
            vectorized(
                #[inline(always)]
                || matern52_with_derivative_into(r2.col(i), &mut scratch, &mut dk),
            );
            let two_c = 2.0 * self.params.signal;
            for (t, c) in coef.iter_mut().enumerate() {
                *c = (coef_alpha[t] - 2.0 * dvar * w.get(t, i)) * two_c * dk[t];
            }
            let x = &points[i * d..(i + 1) * d];
            for j in 0..d {
                grad[i * d + j] = if self.inputs.categorical()[j] {
                    0.0
                } else {
                    let col = self.inputs.column(j);
                    let sum: f64 = coef.iter().zip(col).map(|(c, xt)| c * (x[j] - xt)).sum();
                    sum * lam[j]
                };
            }
        }
        values
    }

    /// The joint posterior of the latent function at `q` row-major points: means and the
    /// `q×q` covariance.
    pub fn joint_posterior(&self, points: &[f64]) -> (Vec<f64>, Matrix) {
        let q = points.len() / self.inputs.dims();
        let (kx, _) = self.cross_kernel(points, q, false);
        let mut v = Matrix::zeros(kx.nrows(), q);
        product_lower(v.view_mut(), self.linv.view(), kx.view());
        let mut means = Matrix::zeros(1, q);
        product(means.view_mut(), self.alpha.view().transpose(), kx.view());
        let mut cov = Matrix::zeros(q, q);
        product(cov.view_mut(), v.view().transpose(), v.view());
        let pending =
            crate::kernel::Inputs::new(points.to_vec(), self.inputs.categorical().to_vec());
        for b in 0..q {
            for a in 0..q {
                let prior = self.params.signal
                    * matern52(pending.pair_sq_distance(
                        a,
                        b,
                        &self.params.inverse_squared_lengthscales,
                    ));
                cov.set(a, b, prior - cov.get(a, b));
            }
        }
        ((0..q).map(|i| means.get(0, i)).collect(), cov)
    }
}

#[cfg(test)]
mod tests {
    use super::super::posterior::tests::{params, toy};
    use super::*;

    #[test]
    fn gradients_of_mean_and_variance_match_finite_differences() {
        let (inputs, y) = toy(20, 3, 4);
        let gp = Gp::new(inputs, y, params(3, 1e-4)).expect("factors");
        let x = [0.3, 0.6, 0.45, 0.9, 0.1, 0.7];
        let mut gm = [0.0; 6];
        let mut gv = [0.0; 6];
        let mean = |m: &[f64], _v: f64, dm: &mut [f64]| {
            dm[0] = 1.0;
            (m[0], 0.0)
        };
        let var = |_m: &[f64], v: f64, dm: &mut [f64]| {
            dm[0] = 0.0;
            (v, 1.0)
        };
        gp.value_with_gradient(&x, gp.alpha(), mean, &mut gm);
        gp.value_with_gradient(&x, gp.alpha(), var, &mut gv);
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
    fn several_coefficient_vectors_give_the_means_of_their_outputs() {
        let (inputs, y) = toy(18, 2, 8);
        let gp = Gp::new(inputs.clone(), y.clone(), params(2, 1e-4)).expect("factors");
        let other: Vec<f64> = y.iter().map(|v| 2.0 * v - 1.0).collect();
        let twin = Gp::new(inputs, other.clone(), params(2, 1e-4)).expect("factors");
        let mut alphas = Matrix::zeros(18, 2);
        alphas.col_mut(0).copy_from_slice(gp.alpha().col(0));
        alphas.col_mut(1).copy_from_slice(&gp.solve(&other));
        let (probe, _) = toy(7, 2, 9);
        let multi = gp.predict_multi(probe.rows(), &alphas);
        let (a, b) = (gp.predict(probe.rows()), twin.predict(probe.rows()));
        for i in 0..7 {
            assert!((multi.means.get(0, i) - a.mean[i]).abs() < 1e-10);
            assert!((multi.means.get(1, i) - b.mean[i]).abs() < 1e-9);
            assert!((multi.variance[i] - b.variance[i]).abs() < 1e-10);
        }
    }

    #[test]
    fn joint_posterior_matches_the_marginals_and_is_symmetric() {
        let (inputs, y) = toy(15, 2, 10);
        let gp = Gp::new(inputs, y, params(2, 1e-4)).expect("factors");
        let (probe, _) = toy(4, 2, 11);
        let (mean, cov) = gp.joint_posterior(probe.rows());
        let marginal = gp.predict(probe.rows());
        for (i, (m, v)) in mean.iter().zip(&marginal.variance).enumerate() {
            assert!((m - marginal.mean[i]).abs() < 1e-10);
            assert!((cov.get(i, i) - v).abs() < 1e-10);
            for j in 0..4 {
                assert!((cov.get(i, j) - cov.get(j, i)).abs() < 1e-10);
            }
        }
    }
}
