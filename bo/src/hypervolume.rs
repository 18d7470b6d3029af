//! Expected hypervolume improvement (EHVI) of two or more minimized objectives, each with
//! its own GP, computed exactly and in log space.
//!
//! The region a new point `y` can add to the front's hypervolume is the part of the box
//! below the reference point that no front member dominates, split into disjoint boxes
//! ([`boxes`]). Since `HVI(y) = ∫ 1[y ≤ z] dz` over that region and the posteriors are
//! independent,
//!
//! `EHVI = Σ_boxes Π_j (ψ_j(u_j) − ψ_j(l_j))`,  `ψ(z) = ∫_{−∞}^{z} Φ((t − μ)/σ) dt = σ·h((z − μ)/σ)`
//!
//! for a box `[l, u]` (`ψ(−∞) = 0`), with `h(u) = u·Φ(u) + φ(u)`, the same function as
//! log-EI's, whose logarithm stays finite far into the tail. `ψ_j` is needed only at the
//! boxes' distinct edges and each factor only once per distinct pair of edges, so a point
//! costs one term per box. `∂ψ/∂μ = −Φ(u)` and `∂ψ/∂σ² = φ(u)/(2σ)` give the gradient.

use std::collections::HashMap;

use crate::gp::Gp;
use crate::special::{log_h, log_h_and_log_norm_cdf};

mod boxes;

/// Added to the posterior variance before taking its square root (as the other
/// acquisitions do).
const VARIANCE_FLOOR: f64 = 1e-12;

/// `ln √(2π)`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// At most this many boxes: past it, the front is thinned (an even spread of its members
/// in lexicographic order) until its boxes fit. A box costs one term per evaluated point;
/// three objectives reach the limit near a thousand front members, four near three hundred.
const MAX_BOXES: usize = 2048;

/// `ln φ(u)`.
fn log_pdf(u: f64) -> f64 {
    -0.5 * u * u - LN_SQRT_2PI
}

/// The log-EHVI of a point, with its partial derivatives in each objective's posterior
/// mean and variance.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEhvi {
    /// `ln EHVI` (`−∞` only when every box is empty).
    pub value: f64,
    /// `∂/∂μ_j`, one per objective.
    pub dmean: Vec<f64>,
    /// `∂/∂σ²_j`, one per objective.
    pub dvariance: Vec<f64>,
}

/// A span's key while the edges are collected: the lower edge's index (`None`: −∞) and the
/// upper edge's.
type SpanKey = (Option<usize>, usize);

/// One objective's share of the boxes: the distinct edges and the distinct pairs of them.
#[derive(Debug, Clone, Default)]
struct Edges {
    /// The distinct finite edges.
    at: Vec<f64>,
    /// The boxes' distinct spans in this objective, as indices into `at`.
    spans: Vec<SpanKey>,
    /// Where each edge (by its bits) and each span sits, while collecting.
    edge_index: HashMap<u64, usize>,
    span_index: HashMap<SpanKey, usize>,
}

impl Edges {
    fn index(&mut self, z: f64) -> usize {
        let next = self.at.len();
        let i = *self.edge_index.entry(z.to_bits()).or_insert(next);
        if i == next {
            self.at.push(z);
        }
        i
    }

    /// The index of the span from `lo` (−∞ allowed) to `hi`, added when new.
    fn span(&mut self, (lo, hi): (f64, f64)) -> usize {
        let key = (
            (lo > f64::NEG_INFINITY).then(|| self.index(lo)),
            self.index(hi),
        );
        let next = self.spans.len();
        let i = *self.span_index.entry(key).or_insert(next);
        if i == next {
            self.spans.push(key);
        }
        i
    }

    /// Per span: `ln(ψ(hi) − ψ(lo))` and that log's partials in `μ` and `σ²` (when
    /// `partials`; `−∞` and zeros for a span empty at this precision).
    fn log_factors(&self, mean: f64, sigma: f64, partials: bool) -> Vec<[f64; 3]> {
        let ln_sigma = sigma.ln();
        let edges: Vec<[f64; 4]> = self
            .at
            .iter()
            .map(|&z| {
                let u = (z - mean) / sigma;
                if partials {
                    let (log_h, log_cdf) = log_h_and_log_norm_cdf(u);
                    [ln_sigma + log_h, u, log_cdf, log_pdf(u)]
                } else {
                    [ln_sigma + log_h(u), u, 0.0, 0.0]
                }
            })
            .collect();
        let share = |log_num: f64, log_of: f64| (log_num - log_of).exp();
        self.spans
            .iter()
            .map(|&(lo, hi)| {
                let hi = &edges[hi];
                match lo.map(|k| &edges[k]) {
                    None if partials => [
                        hi[0],
                        -share(hi[2], hi[0]),
                        share(hi[3], hi[0]) / (2.0 * sigma),
                    ],
                    None => [hi[0], 0.0, 0.0],
                    Some(lo) if lo[0] >= hi[0] => [f64::NEG_INFINITY, 0.0, 0.0],
                    Some(lo) => {
                        let w = hi[0] + (-(lo[0] - hi[0]).exp_m1()).ln();
                        if partials {
                            [
                                w,
                                share(lo[2], w) - share(hi[2], w),
                                (share(hi[3], w) - share(lo[3], w)) / (2.0 * sigma),
                            ]
                        } else {
                            [w, 0.0, 0.0]
                        }
                    }
                }
            })
            .collect()
    }
}

/// The expected improvement of a front's hypervolume at new points, read from one GP per
/// objective (each on the scale the front is given in).
#[derive(Debug, Clone)]
pub struct HypervolumeImprovement {
    objectives: Vec<Gp>,
    /// Per objective, the boxes' edges.
    edges: Vec<Edges>,
    /// Per box, its span's index in each objective's `edges`, box-major.
    boxes: Vec<usize>,
}

impl HypervolumeImprovement {
    /// The EHVI over `front` (the observed values of every objective, to be minimized,
    /// dominated points allowed) up to `reference`, with `objectives` one GP per objective.
    pub fn new(objectives: Vec<Gp>, front: &[Vec<f64>], reference: &[f64]) -> Self {
        let mut kept: Vec<Vec<f64>> = front.to_vec();
        kept.sort_by(|a, b| {
            a.iter()
                .zip(b)
                .fold(std::cmp::Ordering::Equal, |o, (x, y)| {
                    o.then(x.total_cmp(y))
                })
        });
        let boxes = loop {
            if let Some(boxes) = boxes::nondominated_boxes(&kept, reference, MAX_BOXES) {
                break boxes;
            }
            // Too many boxes: keep an even three quarters of the front and try again (this
            // ends: one member gives at most one box per objective).
            let keep = kept.len() * 3 / 4;
            kept = (0..keep)
                .map(|k| kept[k * kept.len() / keep].clone())
                .collect();
        };
        let m = reference.len();
        let mut edges = vec![Edges::default(); m];
        let mut indices = Vec::with_capacity(boxes.len() * m);
        for b in &boxes {
            for (e, &span) in edges.iter_mut().zip(b) {
                indices.push(e.span(span));
            }
        }
        Self {
            objectives,
            edges,
            boxes: indices,
        }
    }

    /// The number of objectives.
    pub fn objectives(&self) -> usize {
        self.edges.len()
    }

    /// The log-EHVI of a point whose posteriors are `N(mean_j, variance_j)`, with its
    /// partial derivatives when `partials` (else they are 0).
    pub fn log_value(&self, mean: &[f64], variance: &[f64], partials: bool) -> LogEhvi {
        let m = self.edges.len();
        let sigma: Vec<f64> = variance
            .iter()
            .map(|v| (v + VARIANCE_FLOOR).sqrt())
            .collect();
        let factors: Vec<Vec<[f64; 3]>> = (0..m)
            .map(|j| self.edges[j].log_factors(mean[j], sigma[j], partials))
            .collect();
        let terms: Vec<f64> = self
            .boxes
            .chunks(m)
            .map(|spans| spans.iter().zip(&factors).map(|(&s, f)| f[s][0]).sum())
            .collect();
        let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut out = LogEhvi {
            value: f64::NEG_INFINITY,
            dmean: vec![0.0; m],
            dvariance: vec![0.0; m],
        };
        if top == f64::NEG_INFINITY {
            return out;
        }
        let total: f64 = terms.iter().map(|t| (t - top).exp()).sum();
        out.value = top + total.ln();
        if partials {
            for (spans, t) in self.boxes.chunks(m).zip(&terms) {
                let weight = (t - top).exp() / total;
                if weight > 0.0 {
                    for (j, (&s, f)) in spans.iter().zip(&factors).enumerate() {
                        out.dmean[j] += weight * f[s][1];
                        out.dvariance[j] += weight * f[s][2];
                    }
                }
            }
        }
        out
    }

    /// Log-EHVI at a batch of row-major points.
    pub fn evaluate(&self, points: &[f64]) -> Vec<f64> {
        let posteriors: Vec<_> = self
            .objectives
            .iter()
            .map(|gp| gp.predict(points))
            .collect();
        let count = posteriors.first().map_or(0, |p| p.mean.len());
        (0..count)
            .map(|i| {
                let mean: Vec<f64> = posteriors.iter().map(|p| p.mean[i]).collect();
                let variance: Vec<f64> = posteriors.iter().map(|p| p.variance[i]).collect();
                self.log_value(&mean, &variance, false).value
            })
            .collect()
    }

    /// [`HypervolumeImprovement::evaluate`] with the gradient written row-major into `grad`.
    pub fn evaluate_with_gradient(&self, points: &[f64], grad: &mut [f64]) -> Vec<f64> {
        let Some((first, others)) = self.objectives.split_first() else {
            grad.iter_mut().for_each(|g| *g = 0.0);
            return Vec::new();
        };
        let posteriors: Vec<_> = others.iter().map(|gp| gp.predict(points)).collect();
        // The other objectives' partials, stashed per point while the first objective's
        // pass computes every value.
        let mut stash: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
        let values = first.value_with_gradient(
            points,
            first.alpha(),
            |means, variance, dmeans| {
                let i = stash.len();
                let mean: Vec<f64> = std::iter::once(means[0])
                    .chain(posteriors.iter().map(|p| p.mean[i]))
                    .collect();
                let var: Vec<f64> = std::iter::once(variance)
                    .chain(posteriors.iter().map(|p| p.variance[i]))
                    .collect();
                let v = self.log_value(&mean, &var, true);
                dmeans[0] = v.dmean[0];
                let dvariance = v.dvariance[0];
                stash.push((v.dmean, v.dvariance));
                (v.value, dvariance)
            },
            grad,
        );
        let mut other = vec![0.0; grad.len()];
        for (j, gp) in others.iter().enumerate() {
            let mut i = 0;
            gp.value_with_gradient(
                points,
                gp.alpha(),
                |_, _, dmeans| {
                    let (dm, dv) = &stash[i];
                    i += 1;
                    dmeans[0] = dm[j + 1];
                    (0.0, dv[j + 1])
                },
                &mut other,
            );
            grad.iter_mut().zip(&other).for_each(|(g, o)| *g += o);
        }
        values
    }
}

#[cfg(test)]
mod tests;
