//! Acquisition functions on the posterior of standardized outputs that are **minimized**;
//! every acquisition here is to be **maximized**. Batched evaluation with gradients goes
//! through [`Gp::value_with_gradient`]. Under constraints, a log acquisition is multiplied by
//! the probability of feasibility (its log added, [`Acquisition::Constrained`]), or replaced
//! by it while no observation is feasible ([`Acquisition::Feasibility`]).

use std::sync::Arc;

use crate::feasibility::Feasibility;
use crate::gp::Gp;
use crate::hypervolume::HypervolumeImprovement;
use crate::linalg::Matrix;
use crate::special::{d_log_h, d_log_norm_cdf, log_h, log_norm_cdf};

/// Added to the posterior variance before taking its square root (as Optuna does).
const VARIANCE_FLOOR: f64 = 1e-12;

/// Fantasized outcomes of the pending points: per sample, the coefficient vector of the
/// posterior mean given the observations plus that sample's values at the pending points,
/// and the incumbent value counting them (see [`crate::pending`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Fantasies {
    /// `n×s`: column `k` is `(K + noise·I)⁻¹·[y; f_k]` on the extended inputs.
    pub alphas: Matrix,
    /// Per sample, the best of the observed values and the sample's pending values.
    pub best: Vec<f64>,
}

/// An acquisition function.
#[derive(Debug, Clone)]
pub enum Acquisition {
    /// Logarithm of the expected improvement below `best`.
    LogEi {
        /// The incumbent value on the model's scale.
        best: f64,
    },
    /// Logarithm of the probability of improving on `best`.
    LogPi {
        /// The incumbent value on the model's scale.
        best: f64,
    },
    /// Negative lower confidence bound `κ·σ - μ`.
    Lcb {
        /// Exploration weight κ.
        kappa: f64,
    },
    /// Logarithm of the expected improvement averaged over fantasized outcomes of the
    /// pending points (each sample conditions the posterior mean on its outcomes and
    /// improves on its own incumbent; the variance is the same for all).
    PendingLogEi(Fantasies),
    /// `objective` plus the log probability that every constraint holds (constrained EI in
    /// log space). The constraint term is read from the constraint models, not from the
    /// objective's posterior, so it enters [`Acquisition::evaluate`] and
    /// [`Acquisition::evaluate_with_gradient`] only; the single-point methods give the
    /// objective's part.
    Constrained {
        /// The acquisition on the objective's GP.
        objective: Box<Acquisition>,
        /// The constraint models.
        feasibility: Arc<Feasibility>,
    },
    /// The log probability that every constraint holds, alone: the acquisition while no
    /// observation is feasible. Like [`Acquisition::Constrained`], it is seen only by the
    /// batch methods; the single-point methods give 0.
    Feasibility(Arc<Feasibility>),
    /// The log expected hypervolume improvement of two objectives, read from their own GPs
    /// (the `gp` handed to the batch methods is not used). Like
    /// [`Acquisition::Feasibility`], it is seen only by the batch methods.
    Hypervolume(Arc<HypervolumeImprovement>),
}

impl Acquisition {
    /// Value and partial derivatives with respect to the posterior mean and variance of a
    /// single-mean acquisition (`PendingLogEi` goes through [`Acquisition::value`]).
    pub fn value_and_partials(&self, mean: f64, variance: f64) -> (f64, f64, f64) {
        let var = variance + VARIANCE_FLOOR;
        let sigma = var.sqrt();
        match self {
            Acquisition::LogEi { best } => log_ei(*best, mean, var, sigma),
            Acquisition::LogPi { best } => {
                let z = (best - mean) / sigma;
                let r = d_log_norm_cdf(z);
                (log_norm_cdf(z), -r / sigma, -z * r / (2.0 * var))
            }
            Acquisition::Lcb { kappa } => (kappa * sigma - mean, -1.0, kappa / (2.0 * sigma)),
            Acquisition::Constrained { objective, .. } => {
                objective.value_and_partials(mean, variance)
            }
            Acquisition::Feasibility(_) | Acquisition::Hypervolume(_) => (0.0, 0.0, 0.0),
            Acquisition::PendingLogEi(f) => {
                let mut dm = vec![0.0; f.best.len()];
                let means = vec![mean; f.best.len()];
                let (v, dv) = self.value(&means, variance, &mut dm);
                (v, dm.iter().sum(), dv)
            }
        }
    }

    /// The value at one point given its means (one per coefficient vector of
    /// [`Acquisition::alphas`]) and variance; writes the partial derivatives with respect to
    /// the means into `dmeans` and returns the value and its derivative with respect to the
    /// variance.
    pub fn value(&self, means: &[f64], variance: f64, dmeans: &mut [f64]) -> (f64, f64) {
        if let Acquisition::Constrained { objective, .. } = self {
            return objective.value(means, variance, dmeans);
        }
        let Acquisition::PendingLogEi(f) = self else {
            let (v, dm, dv) = self.value_and_partials(means[0], variance);
            dmeans[0] = dm;
            return (v, dv);
        };
        // log((1/S)·Σ_k EI_k) with EI_k = exp(log-EI_k), by log-sum-exp over the samples;
        // each sample's partials are weighted by its share of the sum.
        let var = variance + VARIANCE_FLOOR;
        let sigma = var.sqrt();
        let terms: Vec<(f64, f64, f64)> = means
            .iter()
            .zip(&f.best)
            .map(|(&m, &best)| log_ei(best, m, var, sigma))
            .collect();
        let top = terms.iter().map(|t| t.0).fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = terms.iter().map(|t| (t.0 - top).exp()).sum();
        let mut dvar = 0.0;
        for (dm, &(l, dl_dm, dl_dv)) in dmeans.iter_mut().zip(&terms) {
            let weight = (l - top).exp() / total;
            *dm = weight * dl_dm;
            dvar += weight * dl_dv;
        }
        (top + (total / terms.len() as f64).ln(), dvar)
    }

    /// The coefficient vectors whose posterior means the acquisition reads: the GP's own,
    /// or one per fantasy.
    pub fn alphas<'a>(&'a self, gp: &'a Gp) -> &'a Matrix {
        match self {
            Acquisition::PendingLogEi(f) => &f.alphas,
            Acquisition::Constrained { objective, .. } => objective.alphas(gp),
            _ => gp.alpha(),
        }
    }

    /// Values at a batch of row-major points.
    pub fn evaluate(&self, gp: &Gp, points: &[f64]) -> Vec<f64> {
        match self {
            Acquisition::Constrained {
                objective,
                feasibility,
            } => {
                let mut values = objective.evaluate(gp, points);
                let log_pof = feasibility.log_probability(points);
                values.iter_mut().zip(log_pof).for_each(|(v, l)| *v += l);
                values
            }
            Acquisition::Feasibility(feasibility) => feasibility.log_probability(points),
            Acquisition::Hypervolume(ehvi) => ehvi.evaluate(points),
            _ => self.evaluate_objective(gp, points),
        }
    }

    /// Values at a batch of row-major points, with gradients written row-major into `grad`.
    pub fn evaluate_with_gradient(&self, gp: &Gp, points: &[f64], grad: &mut [f64]) -> Vec<f64> {
        match self {
            Acquisition::Constrained {
                objective,
                feasibility,
            } => {
                let mut values = objective.evaluate_with_gradient(gp, points, grad);
                let log_pof =
                    feasibility.log_probability_with_gradient(points, grad, &mut Vec::new());
                values.iter_mut().zip(log_pof).for_each(|(v, l)| *v += l);
                values
            }
            Acquisition::Feasibility(feasibility) => {
                grad.iter_mut().for_each(|g| *g = 0.0);
                feasibility.log_probability_with_gradient(points, grad, &mut Vec::new())
            }
            Acquisition::Hypervolume(ehvi) => ehvi.evaluate_with_gradient(points, grad),
            _ => gp.value_with_gradient(
                points,
                self.alphas(gp),
                |means, variance, dmeans| self.value(means, variance, dmeans),
                grad,
            ),
        }
    }

    /// Values of an acquisition that reads only the objective's posterior.
    fn evaluate_objective(&self, gp: &Gp, points: &[f64]) -> Vec<f64> {
        let alphas = self.alphas(gp);
        let pred = gp.predict_multi(points, alphas);
        let mut dmeans = vec![0.0; alphas.ncols()];
        pred.variance
            .iter()
            .enumerate()
            .map(|(i, &v)| self.value(pred.means.col(i), v, &mut dmeans).0)
            .collect()
    }
}

/// log-EI below `best` with its partials in the mean and the variance.
fn log_ei(best: f64, mean: f64, var: f64, sigma: f64) -> (f64, f64, f64) {
    let z = (best - mean) / sigma;
    let r = d_log_h(z);
    (
        sigma.ln() + log_h(z),
        -r / sigma,
        (1.0 - z * r) / (2.0 * var),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Inputs, KernelParams};

    #[test]
    fn partials_match_finite_differences() {
        let acqs = [
            Acquisition::LogEi { best: -0.3 },
            Acquisition::LogPi { best: -0.3 },
            Acquisition::Lcb { kappa: 2.0 },
        ];
        for acq in acqs {
            for (m, v) in [(0.1, 0.5), (-0.2, 0.01), (2.0, 0.04), (5.0, 1e-3)] {
                let (_, dm, dv) = acq.value_and_partials(m, v);
                let e = 1e-7;
                let fdm = (acq.value_and_partials(m + e, v).0 - acq.value_and_partials(m - e, v).0)
                    / (2.0 * e);
                let ev = 1e-7 * v;
                let fdv = (acq.value_and_partials(m, v + ev).0
                    - acq.value_and_partials(m, v - ev).0)
                    / (2.0 * ev);
                assert!(
                    (dm - fdm).abs() < 1e-5 * (1.0 + fdm.abs()),
                    "{acq:?} dm {dm} vs {fdm}"
                );
                assert!(
                    (dv - fdv).abs() < 1e-4 * (1.0 + fdv.abs()),
                    "{acq:?} dv {dv} vs {fdv}"
                );
            }
        }
    }

    #[test]
    fn log_ei_stays_finite_far_from_the_incumbent() {
        // A point whose mean is 60 standard deviations worse than the incumbent: plain EI
        // underflows to 0 (log → -inf); log-EI stays finite and keeps a useful gradient.
        let acq = Acquisition::LogEi { best: 0.0 };
        let (v, dm, _) = acq.value_and_partials(6.0, 0.01);
        assert!(v.is_finite() && v < -1700.0, "{v}");
        assert!(dm.is_finite() && dm < 0.0);
    }

    #[test]
    fn batch_gradient_matches_finite_differences() {
        let rows = vec![0.1, 0.2, 0.8, 0.3, 0.5, 0.9, 0.3, 0.7];
        let gp = crate::gp::Gp::new(
            Inputs::new(rows, vec![false, false]),
            vec![0.5, -1.0, 0.2, 1.1],
            KernelParams {
                inverse_squared_lengthscales: vec![3.0, 5.0],
                signal: 1.0,
                noise: 1e-6,
            },
        )
        .expect("factors");
        let acq = Acquisition::LogEi { best: -1.0 };
        let x = [0.6, 0.35, 0.05, 0.95];
        let mut g = [0.0; 4];
        acq.evaluate_with_gradient(&gp, &x, &mut g);
        for k in 0..4 {
            let e = 1e-6;
            let (mut up, mut down) = (x, x);
            up[k] += e;
            down[k] -= e;
            let fd = (acq.evaluate(&gp, &up)[k / 2] - acq.evaluate(&gp, &down)[k / 2]) / (2.0 * e);
            assert!(
                (g[k] - fd).abs() < 1e-4 * (1.0 + fd.abs()),
                "{k}: {} vs {fd}",
                g[k]
            );
        }
    }
}
