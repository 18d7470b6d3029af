//! The Parzen estimator of TPE: a weighted mixture with one product kernel per observation
//! plus a prior component, with Optuna's bandwidths, magic clip and truncation.

use rand::{Rng, RngExt};

use super::normal;
pub(super) use crate::config::TpeBandwidth as Bandwidth;

/// One parameter as the estimator sees it: numbers on their original scale, categoricals
/// as the index of the choice.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ParamKind {
    /// A float or int range (`high` reachable; `step` for ints and stepped floats).
    Numeric {
        low: f64,
        high: f64,
        log: bool,
        step: Option<f64>,
    },
    /// `n` unordered choices.
    Categorical { n: usize },
}

/// Estimator options (Optuna's `_ParzenEstimatorParameters`, magic clip always on).
#[derive(Debug, Clone, Copy)]
pub(super) struct Options {
    pub prior_weight: f64,
    pub bandwidth: Bandwidth,
    pub consider_endpoints: bool,
    /// Widths are at least range / (floor · min(100, kernels + 1)); 1.0 is Optuna's clip.
    pub bandwidth_floor: f64,
}

#[derive(Debug, Clone)]
enum Kernels {
    Numeric {
        kind_low: f64,
        kind_high: f64,
        log: bool,
        step: Option<f64>,
        /// Truncation bounds on the transformed scale (widened by half a step).
        lo: f64,
        hi: f64,
        mus: Vec<f64>,
        sigmas: Vec<f64>,
        /// ln of each kernel's mass inside [lo, hi].
        log_norm: Vec<f64>,
        /// 1/σ per kernel.
        inv_sigmas: Vec<f64>,
        /// ln φ's constant − ln σ − ln mass per kernel (the continuous density's offset).
        log_offsets: Vec<f64>,
    },
    Categorical {
        /// Per component, the log probability of each choice.
        log_probs: Vec<Vec<f64>>,
    },
}

/// A fitted mixture over a group of parameters.
#[derive(Debug, Clone)]
pub(super) struct Parzen {
    log_weights: Vec<f64>,
    weights: Vec<f64>,
    dims: Vec<Kernels>,
}

/// Optuna's default weights: 1 for the newest 25 observations, a linear ramp from 1/n to 1
/// for the older ones.
pub(super) fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| {
            if ramp == 1 {
                1.0 / n as f64
            } else {
                1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

fn transform(x: f64, log: bool) -> f64 {
    if log { x.ln() } else { x }
}

impl Parzen {
    /// Fits the mixture to `observations` (one row per trial, oldest first, one column per
    /// parameter of `kinds`).
    pub fn new(observations: &[Vec<f64>], kinds: &[ParamKind], options: Options) -> Self {
        let n = observations.len();
        let mut weights = if n == 0 {
            vec![1.0]
        } else {
            default_weights(n)
        };
        if n > 0 {
            weights.push(options.prior_weight);
        }
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        let dims = kinds
            .iter()
            .enumerate()
            .map(|(j, kind)| {
                let column: Vec<f64> = observations.iter().map(|row| row[j]).collect();
                match kind {
                    ParamKind::Numeric {
                        low,
                        high,
                        log,
                        step,
                    } => numeric_kernels(&column, *low, *high, *log, *step, kinds.len(), options),
                    ParamKind::Categorical { n: choices } => {
                        categorical_kernels(&column, *choices, options.prior_weight)
                    }
                }
            })
            .collect();
        Parzen {
            log_weights: weights.iter().map(|w| w.ln()).collect(),
            weights,
            dims,
        }
    }

    /// `count` points drawn from the mixture.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, count: usize) -> Vec<Vec<f64>> {
        (0..count)
            .map(|_| {
                let u: f64 = rng.random();
                let mut acc = 0.0;
                let k = self
                    .weights
                    .iter()
                    .position(|w| {
                        acc += w;
                        u < acc
                    })
                    .unwrap_or(self.weights.len() - 1);
                self.dims.iter().map(|d| sample_kernel(d, k, rng)).collect()
            })
            .collect()
    }

    /// ln of the mixture density (probability mass for discrete parameters) at each point.
    pub fn log_pdf(&self, points: &[Vec<f64>]) -> Vec<f64> {
        let mut terms = vec![0.0; self.weights.len()];
        points
            .iter()
            .map(|x| {
                terms.copy_from_slice(&self.log_weights);
                for (d, &v) in self.dims.iter().zip(x) {
                    add_log_kernel(d, v, &mut terms);
                }
                log_sum_exp(&terms)
            })
            .collect()
    }
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

fn numeric_kernels(
    obs: &[f64],
    low: f64,
    high: f64,
    log: bool,
    step: Option<f64>,
    dims: usize,
    options: Options,
) -> Kernels {
    let half = step.map_or(0.0, |s| s / 2.0);
    let (lo, hi) = (transform(low - half, log), transform(high + half, log));
    let mus: Vec<f64> = obs.iter().map(|&x| transform(x, log)).collect();
    let n = mus.len();
    let width = hi - lo;
    let mut sigmas: Vec<f64> = if options.bandwidth == Bandwidth::Scott {
        let s = 0.2 * (n.max(1) as f64).powf(-1.0 / (dims as f64 + 4.0)) * width;
        vec![s; n]
    } else {
        neighbour_sigmas(&mus, lo, hi, options.consider_endpoints)
    };
    let n_kernels = n + 1;
    let min_sigma = width / (options.bandwidth_floor * (100.0f64).min(1.0 + n_kernels as f64));
    sigmas
        .iter_mut()
        .for_each(|s| *s = s.clamp(min_sigma, width));
    let mut mus = mus;
    mus.push(0.5 * (lo + hi));
    sigmas.push(width);
    let log_norm = mus
        .iter()
        .zip(&sigmas)
        .map(|(&m, &s)| normal::log_central_mass((lo - m) / s, (hi - m) / s))
        .collect::<Vec<f64>>();
    let inv_sigmas = sigmas.iter().map(|s| 1.0 / s).collect();
    let log_offsets = sigmas
        .iter()
        .zip(&log_norm)
        .map(|(s, n)| normal::log_pdf(0.0) - s.ln() - n)
        .collect();
    Kernels::Numeric {
        kind_low: low,
        kind_high: high,
        log,
        step,
        lo,
        hi,
        mus,
        sigmas,
        log_norm,
        inv_sigmas,
        log_offsets,
    }
}

/// Optuna 5's bandwidth (its default in every mode): per observation, the larger gap to its
/// sorted neighbours among {lo, observations, hi}; the edge observations use their inner gap
/// unless `consider_endpoints`.
fn neighbour_sigmas(mus: &[f64], lo: f64, hi: f64, consider_endpoints: bool) -> Vec<f64> {
    let mut order: Vec<usize> = (0..mus.len()).collect();
    order.sort_by(|&a, &b| mus[a].total_cmp(&mus[b]));
    let m = mus.len();
    let mut ends = Vec::with_capacity(m + 2);
    ends.push(lo);
    ends.extend(order.iter().map(|&i| mus[i]));
    ends.push(hi);
    let mut sorted_sigmas: Vec<f64> = (1..=m)
        .map(|i| (ends[i] - ends[i - 1]).max(ends[i + 1] - ends[i]))
        .collect();
    if !consider_endpoints && ends.len() >= 4 {
        sorted_sigmas[0] = ends[2] - ends[1];
        sorted_sigmas[m - 1] = ends[m] - ends[m - 1];
    }
    let mut out = vec![0.0; m];
    for (k, &i) in order.iter().enumerate() {
        out[i] = sorted_sigmas[k];
    }
    out
}

fn categorical_kernels(obs: &[f64], choices: usize, prior_weight: f64) -> Kernels {
    let n_kernels = obs.len() + 1;
    let base = prior_weight / n_kernels as f64;
    let mut rows: Vec<Vec<f64>> = obs
        .iter()
        .map(|&x| {
            let mut row = vec![base; choices];
            if let Some(slot) = row.get_mut(x as usize) {
                *slot += 1.0;
            }
            row
        })
        .collect();
    rows.push(vec![base; choices]);
    let log_probs = rows
        .into_iter()
        .map(|row| {
            let sum: f64 = row.iter().sum();
            row.into_iter().map(|w| (w / sum).ln()).collect()
        })
        .collect();
    Kernels::Categorical { log_probs }
}

fn sample_kernel<R: Rng + ?Sized>(d: &Kernels, k: usize, rng: &mut R) -> f64 {
    match d {
        Kernels::Numeric {
            kind_low,
            kind_high,
            log,
            step,
            lo,
            hi,
            mus,
            sigmas,
            ..
        } => {
            let (mu, sigma) = (mus[k], sigmas[k]);
            let (a, b) = ((lo - mu) / sigma, (hi - mu) / sigma);
            let (pa, pb) = (normal::cdf(a), normal::cdf(b));
            let u: f64 = rng.random();
            let z = normal::inverse_cdf(pa + u * (pb - pa)).clamp(a, b);
            let t = mu + sigma * z;
            let x = if *log { t.exp() } else { t };
            match step {
                Some(s) => {
                    (kind_low + ((x - kind_low) / s).round() * s).clamp(*kind_low, *kind_high)
                }
                None => x.clamp(*kind_low, *kind_high),
            }
        }
        Kernels::Categorical { log_probs } => {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let row = &log_probs[k];
            row.iter()
                .position(|lp| {
                    acc += lp.exp();
                    u < acc
                })
                .unwrap_or(row.len() - 1) as f64
        }
    }
}

/// Adds each component's ln density of `x` in this dimension to `terms`.
fn add_log_kernel(d: &Kernels, x: f64, terms: &mut [f64]) {
    match d {
        Kernels::Numeric {
            log,
            step,
            mus,
            sigmas,
            log_norm,
            inv_sigmas,
            log_offsets,
            ..
        } => match step {
            None => {
                let t = transform(x, *log);
                for (k, term) in terms.iter_mut().enumerate() {
                    let z = (t - mus[k]) * inv_sigmas[k];
                    *term += log_offsets[k] - 0.5 * z * z;
                }
            }
            Some(s) => {
                let (tl, th) = (transform(x - s / 2.0, *log), transform(x + s / 2.0, *log));
                for (k, term) in terms.iter_mut().enumerate() {
                    let (m, sd) = (mus[k], sigmas[k]);
                    *term += normal::log_mass((tl - m) / sd, (th - m) / sd) - log_norm[k];
                }
            }
        },
        Kernels::Categorical { log_probs } => {
            let i = x as usize;
            for (k, term) in terms.iter_mut().enumerate() {
                *term += log_probs[k].get(i).copied().unwrap_or(f64::NEG_INFINITY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn weights_ramp_like_optuna() {
        assert_eq!(default_weights(3), vec![1.0; 3]);
        let w = default_weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12);
        assert!((w[4] - 1.0).abs() < 1e-12);
        assert!(w[25..].iter().all(|&x| x == 1.0));
    }

    #[test]
    fn bandwidths_follow_neighbour_gaps() {
        // lo 0, hi 10, observations 4, 1, 5: sorted 1, 4, 5.
        let s = neighbour_sigmas(&[4.0, 1.0, 5.0], 0.0, 10.0, false);
        // 1: edge, inner gap 3; 4: max(3, 1) = 3; 5: edge, inner gap 1.
        assert_eq!(s, vec![3.0, 3.0, 1.0]);
        // With the endpoints: 1 → max(1, 3) = 3, 5 → max(1, 5) = 5.
        assert_eq!(
            neighbour_sigmas(&[4.0, 1.0, 5.0], 0.0, 10.0, true),
            vec![3.0, 3.0, 5.0]
        );
        assert_eq!(neighbour_sigmas(&[2.0], 0.0, 10.0, false), vec![8.0]);
    }

    #[test]
    fn density_is_normalized_on_a_discrete_range() {
        let kinds = [ParamKind::Numeric {
            low: 1.0,
            high: 8.0,
            log: false,
            step: Some(1.0),
        }];
        let p = Parzen::new(
            &[vec![2.0], vec![7.0]],
            &kinds,
            Options {
                prior_weight: 1.0,
                bandwidth_floor: 1.0,
                bandwidth: Bandwidth::Scott,
                consider_endpoints: false,
            },
        );
        let points: Vec<Vec<f64>> = (1..=8).map(|v| vec![v as f64]).collect();
        let total: f64 = p.log_pdf(&points).iter().map(|l| l.exp()).sum();
        // The truncation mass uses a Φ accurate to 1.2e-7.
        assert!((total - 1.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn samples_stay_in_bounds_and_concentrate_near_data() {
        let kinds = [
            ParamKind::Numeric {
                low: 1e-4,
                high: 1.0,
                log: true,
                step: None,
            },
            ParamKind::Categorical { n: 3 },
        ];
        let obs: Vec<Vec<f64>> = (0..20).map(|_| vec![1e-3, 2.0]).collect();
        let p = Parzen::new(
            &obs,
            &kinds,
            Options {
                prior_weight: 1.0,
                bandwidth_floor: 1.0,
                bandwidth: Bandwidth::Scott,
                consider_endpoints: false,
            },
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let s = p.sample(&mut rng, 500);
        assert!(
            s.iter()
                .all(|x| (1e-4..=1.0).contains(&x[0]) && [0.0, 1.0, 2.0].contains(&x[1]))
        );
        let near = s.iter().filter(|x| x[0] < 1e-2 && x[1] == 2.0).count();
        assert!(near > 300, "{near}");
        let lp = p.log_pdf(&[vec![1e-3, 2.0], vec![0.5, 0.0]]);
        assert!(lp[0] > lp[1]);
    }
}
