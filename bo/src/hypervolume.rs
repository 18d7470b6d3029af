//! Expected hypervolume improvement (EHVI) of two minimized objectives, each with its own
//! GP, computed exactly and in log space.
//!
//! The region a new point `y` can add to the front's hypervolume is the part of the box
//! below the reference point that no front member dominates. With the front sorted by the
//! first objective, that region is a staircase of vertical strips: strip `i` spans the
//! first objective from front member `i` to member `i + 1` (from −∞ before the first, to
//! the reference after the last) and the second objective from −∞ to member `i`'s value
//! (the reference's before the first). Since `HVI(y) = ∫ 1[y ≤ z] dz` over that region and
//! the two posteriors are independent,
//!
//! `EHVI = Σ_strips (ψ₁(hi) − ψ₁(lo)) · ψ₂(top)`,  `ψ(z) = ∫_{−∞}^{z} Φ((t − μ)/σ) dt = σ·h((z − μ)/σ)`
//!
//! with `h(u) = u·Φ(u) + φ(u)`, the same function as log-EI's, whose logarithm stays finite
//! far into the tail. `∂ψ/∂μ = −Φ(u)` and `∂ψ/∂σ² = φ(u)/(2σ)` give the gradient.

use crate::gp::Gp;
use crate::special::{log_h, log_norm_cdf};

/// Added to the posterior variance before taking its square root (as the other
/// acquisitions do).
const VARIANCE_FLOOR: f64 = 1e-12;

/// `ln √(2π)`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// The staircase of strips below `reference` that `front` (points, in any order, dominated
/// ones included) does not dominate, as the edges of the strips: strip `i` spans the first
/// objective from `edges[i - 1]` (−∞ for `i = 0`) to `edges[i]`, the second from −∞ to
/// `tops[i]`.
fn strips(front: &[[f64; 2]], reference: [f64; 2]) -> (Vec<f64>, Vec<f64>) {
    let mut inside: Vec<[f64; 2]> = front
        .iter()
        .copied()
        .filter(|p| p[0] < reference[0] && p[1] < reference[1])
        .collect();
    inside.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let (mut edges, mut tops) = (Vec::new(), vec![reference[1]]);
    for p in inside {
        if tops.last().is_some_and(|&top| p[1] < top) {
            edges.push(p[0]);
            tops.push(p[1]);
        }
    }
    edges.push(reference[0]);
    (edges, tops)
}

/// `ln ψ(z)` for a posterior `N(μ, σ²)`, and `u = (z − μ)/σ`.
fn log_psi(z: f64, mean: f64, sigma: f64) -> (f64, f64) {
    let u = (z - mean) / sigma;
    (sigma.ln() + log_h(u), u)
}

/// `ln φ(u)`.
fn log_pdf(u: f64) -> f64 {
    -0.5 * u * u - LN_SQRT_2PI
}

/// The log-EHVI of a point, with its partial derivatives in both objectives' posterior
/// means and variances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogEhvi {
    /// `ln EHVI` (`−∞` only when every strip is empty).
    pub value: f64,
    /// `∂/∂μ_j`.
    pub dmean: [f64; 2],
    /// `∂/∂σ²_j`.
    pub dvariance: [f64; 2],
}

/// The expected improvement of a two-objective front's hypervolume at new points, read
/// from one GP per objective (both on the scale the front is given in).
#[derive(Debug, Clone)]
pub struct HypervolumeImprovement {
    objectives: [Gp; 2],
    /// The strips' right edges in the first objective (see [`strips`]).
    edges: Vec<f64>,
    /// The strips' tops in the second objective.
    tops: Vec<f64>,
}

/// `ln ψ` at each of `points` under `N(mean, sigma²)`, with `u`; and, when asked for,
/// `ln Φ(u)` and `ln φ(u)` (for the partials).
fn at_edges(points: &[f64], mean: f64, sigma: f64, partials: bool) -> Vec<[f64; 4]> {
    points
        .iter()
        .map(|&z| {
            let (log_psi, u) = log_psi(z, mean, sigma);
            if partials {
                [log_psi, u, log_norm_cdf(u), log_pdf(u)]
            } else {
                [log_psi, u, 0.0, 0.0]
            }
        })
        .collect()
}

impl HypervolumeImprovement {
    /// The EHVI over `front` (the observed values of both objectives, to be minimized,
    /// dominated points allowed) up to `reference`, with `objectives` the two GPs.
    pub fn new(objectives: [Gp; 2], front: &[[f64; 2]], reference: [f64; 2]) -> Self {
        let (edges, tops) = strips(front, reference);
        Self {
            objectives,
            edges,
            tops,
        }
    }

    /// The log-EHVI of a point whose posteriors are `N(mean_j, variance_j)`, with its
    /// partial derivatives when `partials` (else they are 0).
    pub fn log_value(&self, mean: [f64; 2], variance: [f64; 2], partials: bool) -> LogEhvi {
        let var = variance.map(|v| v + VARIANCE_FLOOR);
        let sigma = var.map(f64::sqrt);
        let first = at_edges(&self.edges, mean[0], sigma[0], partials);
        let second = at_edges(&self.tops, mean[1], sigma[1], partials);
        // Per strip: ln of its term, and that log's partials.
        let mut terms: Vec<(f64, [f64; 2], [f64; 2])> = Vec::with_capacity(first.len());
        for (i, (hi, top)) in first.iter().zip(&second).enumerate() {
            let share = |log_num: f64, log_of: f64| (log_num - log_of).exp();
            let (log_width, dm0, dv0) = match i.checked_sub(1).map(|k| &first[k]) {
                None => (
                    hi[0],
                    -share(hi[2], hi[0]),
                    share(hi[3], hi[0]) / (2.0 * sigma[0]),
                ),
                Some(lo) if lo[0] >= hi[0] => continue,
                Some(lo) => {
                    let w = hi[0] + (-(lo[0] - hi[0]).exp_m1()).ln();
                    (
                        w,
                        share(lo[2], w) - share(hi[2], w),
                        (share(hi[3], w) - share(lo[3], w)) / (2.0 * sigma[0]),
                    )
                }
            };
            let value = log_width + top[0];
            if value.is_finite() {
                let dm1 = -share(top[2], top[0]);
                let dv1 = share(top[3], top[0]) / (2.0 * sigma[1]);
                terms.push((value, [dm0, dm1], [dv0, dv1]));
            }
        }
        let top = terms.iter().map(|t| t.0).fold(f64::NEG_INFINITY, f64::max);
        if top == f64::NEG_INFINITY {
            return LogEhvi {
                value: f64::NEG_INFINITY,
                dmean: [0.0; 2],
                dvariance: [0.0; 2],
            };
        }
        let total: f64 = terms.iter().map(|t| (t.0 - top).exp()).sum();
        let mut out = LogEhvi {
            value: top + total.ln(),
            dmean: [0.0; 2],
            dvariance: [0.0; 2],
        };
        if partials {
            for (value, dm, dv) in &terms {
                let weight = (value - top).exp() / total;
                for j in 0..2 {
                    out.dmean[j] += weight * dm[j];
                    out.dvariance[j] += weight * dv[j];
                }
            }
        }
        out
    }

    /// Log-EHVI at a batch of row-major points.
    pub fn evaluate(&self, points: &[f64]) -> Vec<f64> {
        let [a, b] = self.objectives.each_ref().map(|gp| gp.predict(points));
        (0..a.mean.len())
            .map(|i| {
                self.log_value(
                    [a.mean[i], b.mean[i]],
                    [a.variance[i], b.variance[i]],
                    false,
                )
                .value
            })
            .collect()
    }

    /// [`HypervolumeImprovement::evaluate`] with the gradient written row-major into `grad`.
    pub fn evaluate_with_gradient(&self, points: &[f64], grad: &mut [f64]) -> Vec<f64> {
        let second = self.objectives[1].predict(points);
        // The second objective's partials, stashed while the first objective's pass
        // computes every value.
        let mut stash: Vec<(f64, f64)> = Vec::with_capacity(second.mean.len());
        let mut i = 0;
        let values = self.objectives[0].value_with_gradient(
            points,
            self.objectives[0].alpha(),
            |means, variance, dmeans| {
                let v = self.log_value(
                    [means[0], second.mean[i]],
                    [variance, second.variance[i]],
                    true,
                );
                stash.push((v.dmean[1], v.dvariance[1]));
                i += 1;
                dmeans[0] = v.dmean[0];
                (v.value, v.dvariance[0])
            },
            grad,
        );
        let mut other = vec![0.0; grad.len()];
        let mut i = 0;
        self.objectives[1].value_with_gradient(
            points,
            self.objectives[1].alpha(),
            |_, _, dmeans| {
                let (dm, dv) = stash[i];
                i += 1;
                dmeans[0] = dm;
                (0.0, dv)
            },
            &mut other,
        );
        grad.iter_mut().zip(&other).for_each(|(g, o)| *g += o);
        values
    }
}

#[cfg(test)]
mod tests;
