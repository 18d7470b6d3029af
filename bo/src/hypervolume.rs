//! Expected hypervolume improvement (EHVI) of two or more minimized objectives, each with
//! its own GP, computed exactly and in log space.
//!
//! The region a new point `y` can add to the front's hypervolume is the part of the box
//! below the reference point that no front member dominates, split into disjoint boxes
//! (the private `boxes` module). Since `HVI(y) = ∫ 1[y ≤ z] dz` over that region and the posteriors are
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
use crate::special::{h_cdf_pdf, log_h, log_h_and_log_norm_cdf};

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

/// Below this, a point's sum of box terms in linear space (in units of `Π σ_j`) is redone
/// in log space: far enough above the smallest normal number that no term made of a
/// subnormal factor can matter.
const LINEAR_FLOOR: f64 = 1e-250;

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

    /// Appends to `out`, per span, the differences across it of `h`, `Φ` and `φ` at the
    /// standardized edges: `ψ(hi) − ψ(lo) = σ·Δh`, whose partial in `μ` is `−ΔΦ` and in
    /// `σ²` is `Δφ/(2σ)`. `at` is working memory.
    fn linear_factors(
        &self,
        mean: f64,
        sigma: f64,
        at: &mut Vec<[f64; 3]>,
        out: &mut Vec<[f64; 3]>,
    ) {
        at.clear();
        at.extend(self.at.iter().map(|&z| h_cdf_pdf((z - mean) / sigma)));
        out.extend(self.spans.iter().map(|&(lo, hi)| {
            let hi = at[hi];
            match lo.map(|k| at[k]) {
                None => hi,
                Some(lo) => [(hi[0] - lo[0]).max(0.0), hi[1] - lo[1], hi[2] - lo[2]],
            }
        }));
    }

    /// Appends to `out`, per span, `ln(ψ(hi) − ψ(lo))` and that log's partials in `μ` and
    /// `σ²` (when `partials`; `−∞` and zeros for a span empty at this precision). `edges`
    /// is working memory.
    fn log_factors(
        &self,
        mean: f64,
        sigma: f64,
        partials: bool,
        edges: &mut Vec<[f64; 4]>,
        out: &mut Vec<[f64; 3]>,
    ) {
        let ln_sigma = sigma.ln();
        edges.clear();
        edges.extend(self.at.iter().map(|&z| {
            let u = (z - mean) / sigma;
            if partials {
                let (log_h, log_cdf) = log_h_and_log_norm_cdf(u);
                [ln_sigma + log_h, u, log_cdf, log_pdf(u)]
            } else {
                [ln_sigma + log_h(u), u, 0.0, 0.0]
            }
        }));
        let share = |log_num: f64, log_of: f64| (log_num - log_of).exp();
        out.extend(self.spans.iter().map(|&(lo, hi)| {
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
        }));
    }
}

/// Working memory of an evaluation, reused from point to point.
#[derive(Debug, Default)]
struct Scratch {
    /// One objective's edges.
    edges: Vec<[f64; 3]>,
    /// Every objective's span factors, objective after objective.
    factors: Vec<[f64; 3]>,
    /// One objective's edges in log space, for the log-space sum.
    log_edges: Vec<[f64; 4]>,
    /// One term per box.
    terms: Vec<f64>,
}

/// One point's posterior in each objective and, when wanted, where its partials go.
struct Query<'a> {
    mean: &'a [f64],
    variance: &'a [f64],
    /// `∂/∂μ_j` for every objective, then `∂/∂σ²_j`.
    partials: Option<&'a mut [f64]>,
}

impl Query<'_> {
    /// Objective `j`'s posterior standard deviation.
    fn sigma(&self, j: usize) -> f64 {
        (self.variance[j] + VARIANCE_FLOOR).sqrt()
    }

    /// The partials in the means and in the variances of `m` objectives, zeroed; `None`
    /// when they are not wanted.
    fn partials(&mut self, m: usize) -> Option<(&mut [f64], &mut [f64])> {
        let both = self.partials.as_deref_mut()?;
        both.fill(0.0);
        Some(both.split_at_mut(m))
    }
}

/// The expected improvement of a front's hypervolume at new points, read from one GP per
/// objective (each on the scale the front is given in).
#[derive(Debug, Clone)]
pub struct HypervolumeImprovement {
    objectives: Vec<Gp>,
    /// Per objective, the boxes' edges.
    edges: Vec<Edges>,
    /// Per box, its span in each objective, box-major, as an index into all objectives'
    /// spans one after another.
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
        let mut local = Vec::with_capacity(boxes.len() * m);
        for b in &boxes {
            for (e, &span) in edges.iter_mut().zip(b) {
                local.push(e.span(span));
            }
        }
        let offsets: Vec<usize> = edges
            .iter()
            .scan(0, |next, e| {
                let first = *next;
                *next += e.spans.len();
                Some(first)
            })
            .collect();
        let boxes = local
            .iter()
            .enumerate()
            .map(|(k, &span)| offsets[k % m] + span)
            .collect();
        Self {
            objectives,
            edges,
            boxes,
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
        let mut both = vec![0.0; 2 * m];
        let mut query = Query {
            mean,
            variance,
            partials: partials.then_some(both.as_mut_slice()),
        };
        let value = self.log_value_into(&mut query, &mut Scratch::default());
        let dvariance = both.split_off(m);
        LogEhvi {
            value,
            dmean: both,
            dvariance,
        }
    }

    /// [`HypervolumeImprovement::log_value`] with working memory `s`: in linear space, and
    /// in log space where the point is so far from the front that the linear terms would
    /// underflow.
    fn log_value_into(&self, query: &mut Query<'_>, s: &mut Scratch) -> f64 {
        if let Some(value) = self.linear_log_value(query, s) {
            return value;
        }
        self.log_space_log_value(query, s)
    }

    /// `ln EHVI = Σ_j ln σ_j + ln Σ_boxes Π_j (h(u_hi) − h(u_lo))`, summed in linear space;
    /// `None` when the sum is below [`LINEAR_FLOOR`] or not finite.
    fn linear_log_value(&self, query: &mut Query<'_>, s: &mut Scratch) -> Option<f64> {
        let m = self.edges.len();
        let Scratch {
            edges,
            factors,
            terms,
            ..
        } = s;
        factors.clear();
        let mut log_scale = 0.0;
        for (j, e) in self.edges.iter().enumerate() {
            let sigma = query.sigma(j);
            log_scale += sigma.ln();
            e.linear_factors(query.mean[j], sigma, edges, factors);
        }
        let total = self.sum_terms(terms, |spans| {
            spans.iter().map(|&k| factors[k][0]).product()
        });
        if !(total > LINEAR_FLOOR && total.is_finite()) {
            return None;
        }
        let variance = query.variance;
        if let Some((dmean, dvariance)) = query.partials(m) {
            for spans in self.boxes.chunks(m) {
                for (j, &k) in spans.iter().enumerate() {
                    let others: f64 = spans
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != j)
                        .map(|(_, &i)| factors[i][0])
                        .product();
                    dmean[j] -= others * factors[k][1];
                    dvariance[j] += others * factors[k][2];
                }
            }
            for j in 0..m {
                let var = variance[j] + VARIANCE_FLOOR;
                dmean[j] /= var.sqrt() * total;
                dvariance[j] /= 2.0 * var * total;
            }
        }
        Some(log_scale + total.ln())
    }

    /// The log-EHVI summed in log space (finite wherever one box is not empty at this
    /// precision).
    fn log_space_log_value(&self, query: &mut Query<'_>, s: &mut Scratch) -> f64 {
        let m = self.edges.len();
        let Scratch {
            factors,
            terms,
            log_edges,
            ..
        } = s;
        factors.clear();
        let wanted = query.partials.is_some();
        for (j, e) in self.edges.iter().enumerate() {
            e.log_factors(query.mean[j], query.sigma(j), wanted, log_edges, factors);
        }
        self.sum_terms(terms, |spans| spans.iter().map(|&k| factors[k][0]).sum());
        let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let partials = query.partials(m);
        if top == f64::NEG_INFINITY {
            return f64::NEG_INFINITY;
        }
        let total: f64 = terms.iter().map(|t| (t - top).exp()).sum();
        if let Some((dmean, dvariance)) = partials {
            for (spans, t) in self.boxes.chunks(m).zip(terms.iter()) {
                let weight = (t - top).exp() / total;
                if weight > 0.0 {
                    for (j, &k) in spans.iter().enumerate() {
                        dmean[j] += weight * factors[k][1];
                        dvariance[j] += weight * factors[k][2];
                    }
                }
            }
        }
        top + total.ln()
    }

    /// Fills `terms` with one term per box, `term(its spans)`, and returns their sum.
    fn sum_terms(&self, terms: &mut Vec<f64>, term: impl Fn(&[usize]) -> f64) -> f64 {
        terms.clear();
        terms.extend(self.boxes.chunks(self.edges.len()).map(term));
        terms.iter().sum()
    }

    /// Log-EHVI at a batch of row-major points.
    pub fn evaluate(&self, points: &[f64]) -> Vec<f64> {
        let posteriors: Vec<_> = self
            .objectives
            .iter()
            .map(|gp| gp.predict(points))
            .collect();
        let count = posteriors.first().map_or(0, |p| p.mean.len());
        let m = posteriors.len();
        let mut s = Scratch::default();
        let (mut mean, mut variance) = (vec![0.0; m], vec![0.0; m]);
        (0..count)
            .map(|i| {
                for (j, p) in posteriors.iter().enumerate() {
                    mean[j] = p.mean[i];
                    variance[j] = p.variance[i];
                }
                let mut query = Query {
                    mean: &mean,
                    variance: &variance,
                    partials: None,
                };
                self.log_value_into(&mut query, &mut s)
            })
            .collect()
    }

    /// [`HypervolumeImprovement::evaluate`] with the gradient written row-major into `grad`.
    pub fn evaluate_with_gradient(&self, points: &[f64], grad: &mut [f64]) -> Vec<f64> {
        let Some((first, others)) = self.objectives.split_first() else {
            grad.iter_mut().for_each(|g| *g = 0.0);
            return Vec::new();
        };
        let m = self.objectives.len();
        let posteriors: Vec<_> = others.iter().map(|gp| gp.predict(points)).collect();
        let mut s = Scratch::default();
        let (mut mean, mut variance) = (vec![0.0; m], vec![0.0; m]);
        // Per point, every objective's partials in its mean and variance, stashed while the
        // first objective's pass computes every value: `2m` numbers a point.
        let mut stash: Vec<f64> = Vec::new();
        let mut point = 0;
        let values = first.value_with_gradient(
            points,
            first.alpha(),
            |means, var, dmeans| {
                mean[0] = means[0];
                variance[0] = var;
                for (j, p) in posteriors.iter().enumerate() {
                    mean[j + 1] = p.mean[point];
                    variance[j + 1] = p.variance[point];
                }
                point += 1;
                let at = stash.len();
                stash.resize(at + 2 * m, 0.0);
                let mut query = Query {
                    mean: &mean,
                    variance: &variance,
                    partials: Some(&mut stash[at..]),
                };
                let value = self.log_value_into(&mut query, &mut s);
                dmeans[0] = stash[at];
                (value, stash[at + m])
            },
            grad,
        );
        let mut other = vec![0.0; grad.len()];
        for j in 1..m {
            let mut at = 0;
            self.objectives[j].value_with_gradient(
                points,
                self.objectives[j].alpha(),
                |_, _, dmeans| {
                    let partials = &stash[at..at + 2 * m];
                    at += 2 * m;
                    dmeans[0] = partials[j];
                    (0.0, partials[m + j])
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
