//! One parameter's values on a grid and their Parzen-estimated distribution, as PED-ANOVA
//! compares them: numbers are counted in at most [`N_STEPS`] evenly spaced bins (of the log
//! when the parameter is on a log scale), then smoothed by a discrete truncated Gaussian
//! kernel per occupied bin with Scott's bandwidth; choices are counted with a uniform prior.
//! The same estimator as Optuna 5's `PedAnovaImportanceEvaluator`, so the numbers agree.

use std::f64::consts::FRAC_1_SQRT_2;

/// Bins of a numeric parameter without fewer distinct values.
pub const N_STEPS: usize = 50;
/// Weight of the prior kernel (a wide Gaussian over the whole range, or uniform choices).
const PRIOR_WEIGHT: f64 = 1.0;
/// Narrowest kernel, in bins: 1.64 σ (90 %) of a kernel fits in one bin's width.
const SIGMA_MIN: f64 = 0.5 / 1.64;
/// Added to every probability so that the ratio of two is finite.
const EPSILON: f64 = 1e-12;

/// How a parameter's values become bins.
#[derive(Debug, Clone, PartialEq)]
pub enum Scale {
    /// A number in `[low, high]` (both already logs when `log`), cut into `bins` bins.
    Numeric {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
        /// Whether values are binned by their logarithm.
        log: bool,
        /// How many bins (at least 2).
        bins: usize,
    },
    /// One of `choices` unordered values; a value's bin is its index.
    Categorical {
        /// How many choices.
        choices: usize,
    },
}

impl Scale {
    /// A numeric scale for values in `[low, high]` with at most `distinct` distinct values
    /// (`None`: continuous); `None` when the range holds a single value.
    pub fn numeric(low: f64, high: f64, log: bool, distinct: Option<f64>) -> Option<Scale> {
        let (low, high) = if log {
            (low.ln(), high.ln())
        } else {
            (low, high)
        };
        let bins = distinct.map_or(N_STEPS as f64, |n| n.min(N_STEPS as f64));
        let usable = low.is_finite() && high.is_finite() && high > low && bins >= 2.0;
        usable.then_some(Scale::Numeric {
            low,
            high,
            log,
            bins: bins as usize,
        })
    }

    /// How many bins.
    pub fn bins(&self) -> usize {
        match self {
            Scale::Numeric { bins, .. } => *bins,
            Scale::Categorical { choices } => *choices,
        }
    }

    /// The bin of the number `value` (clipped into range); on a categorical scale, `value`
    /// is the choice's index.
    pub fn bin_of(&self, value: f64) -> usize {
        match self {
            Scale::Numeric {
                low,
                high,
                log,
                bins,
            } => {
                let value = if *log { value.ln() } else { value };
                let width = (high - low) / (*bins - 1) as f64;
                // A value half-way between two bin centres goes to the lower one.
                let at = ((value - low) / width - 0.5).ceil();
                if at.is_nan() {
                    0
                } else {
                    at.clamp(0.0, (*bins - 1) as f64) as usize
                }
            }
            Scale::Categorical { choices } => (value as usize).min(choices.saturating_sub(1)),
        }
    }
}

/// The Pearson divergence `Σ local·(top/local − 1)²` of the distribution of the bins `top`
/// from that of the bins `local` (both non-empty), each Parzen-estimated on `scale`.
pub fn pearson_divergence(scale: &Scale, top: &[usize], local: &[usize]) -> f64 {
    let top = density(scale, &counts(scale, top));
    let local = density(scale, &counts(scale, local));
    top.iter()
        .zip(&local)
        .map(|(t, l)| {
            let (t, l) = (t + EPSILON, l + EPSILON);
            l * (t / l - 1.0).powi(2)
        })
        .sum()
}

fn counts(scale: &Scale, bins: &[usize]) -> Vec<f64> {
    let mut counts = vec![0.0; scale.bins()];
    for &bin in bins {
        if let Some(count) = counts.get_mut(bin) {
            *count += 1.0;
        }
    }
    counts
}

/// The probability of each bin under a mixture of one kernel per occupied bin (weighted by
/// its count) and a prior kernel.
fn density(scale: &Scale, counts: &[f64]) -> Vec<f64> {
    let occupied: Vec<(f64, f64)> = counts
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0.0)
        .map(|(bin, count)| (bin as f64, *count))
        .collect();
    let total: f64 = occupied.iter().map(|(_, count)| count).sum::<f64>() + PRIOR_WEIGHT;
    let bins = counts.len();
    let mut pdf = vec![0.0; bins];
    match scale {
        Scale::Categorical { choices } => {
            let floor = PRIOR_WEIGHT / (occupied.len() + 1) as f64;
            let row_sum = *choices as f64 * floor + 1.0;
            for (bin, p) in pdf.iter_mut().enumerate() {
                let prior = PRIOR_WEIGHT / total / *choices as f64;
                let kernels: f64 = occupied
                    .iter()
                    .map(|(at, count)| {
                        let own = if *at as usize == bin { 1.0 } else { 0.0 };
                        count / total * (floor + own) / row_sum
                    })
                    .sum();
                *p = prior + kernels;
            }
        }
        Scale::Numeric { .. } => {
            let sigma = scott_bandwidth(&occupied).max(SIGMA_MIN);
            let last = (bins - 1) as f64;
            let mut kernels: Vec<(f64, f64, f64)> = occupied
                .iter()
                .map(|(at, count)| (*at, sigma, count / total))
                .collect();
            kernels.push((last / 2.0, last + 1.0, PRIOR_WEIGHT / total));
            for (mu, sigma, weight) in kernels {
                let whole = gauss_mass((-0.5 - mu) / sigma, (last + 0.5 - mu) / sigma);
                for (bin, p) in pdf.iter_mut().enumerate() {
                    let x = bin as f64;
                    *p +=
                        weight * gauss_mass((x - 0.5 - mu) / sigma, (x + 0.5 - mu) / sigma) / whole;
                }
            }
        }
    }
    pdf
}

/// Scott's rule on weighted bins `(bin, count)`, robust to outliers: 1.059 · min(σ, IQR/1.34)
/// · n^(−1/5), with Optuna's quartile indices (integer quarters of the count).
fn scott_bandwidth(occupied: &[(f64, f64)]) -> f64 {
    let n: f64 = occupied.iter().map(|(_, count)| count).sum();
    let mean = occupied.iter().map(|(x, c)| x * c).sum::<f64>() / n;
    let variance = occupied
        .iter()
        .map(|(x, c)| c * (x - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0).max(1.0);
    let mut cumulative = Vec::with_capacity(occupied.len());
    let mut sum = 0.0;
    for (_, count) in occupied {
        sum += count;
        cumulative.push(sum);
    }
    let quarter = (n / 4.0).floor();
    let three_quarters = (n * 3.0 / 4.0).floor();
    let q1 = cumulative.partition_point(|c| *c < quarter);
    let q3 = cumulative.partition_point(|c| *c <= three_quarters);
    let last = occupied.len() - 1;
    let iqr = occupied[q3.min(last)].0 - occupied[q1.min(last)].0;
    1.059 * (iqr / 1.34).min(variance.sqrt()) * n.powf(-0.2)
}

/// P(a < Z < b) for a standard normal Z, computed in the tail where it is not 1 − 1.
fn gauss_mass(a: f64, b: f64) -> f64 {
    if a >= 0.0 {
        upper_tail(a) - upper_tail(b)
    } else if b <= 0.0 {
        upper_tail(-b) - upper_tail(-a)
    } else {
        1.0 - upper_tail(-a) - upper_tail(b)
    }
}

/// P(Z > z).
fn upper_tail(z: f64) -> f64 {
    0.5 * libm::erfc(z * FRAC_1_SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(bins: usize) -> Scale {
        Scale::numeric(0.0, 1.0, false, Some(bins as f64)).unwrap()
    }

    #[test]
    fn a_density_sums_to_one() {
        for scale in [numeric(50), numeric(7), Scale::Categorical { choices: 4 }] {
            let pdf = density(&scale, &counts(&scale, &[0, 1, 1, 3]));
            assert!((pdf.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{pdf:?}");
        }
    }

    #[test]
    fn the_same_values_diverge_by_nothing() {
        let scale = numeric(50);
        let bins = [3, 9, 9, 20, 41];
        assert!(pearson_divergence(&scale, &bins, &bins).abs() < 1e-12);
    }

    #[test]
    fn values_bunched_at_one_end_diverge_from_values_spread_out() {
        let scale = numeric(50);
        let spread: Vec<usize> = (0..50).collect();
        let bunched = [0, 1, 1, 2, 0];
        assert!(pearson_divergence(&scale, &bunched, &spread) > 1.0);
    }

    #[test]
    fn values_bin_to_the_nearest_grid_point_and_log_scales_bin_logs() {
        let scale = numeric(3);
        assert_eq!(
            [0.0, 0.24, 0.25, 0.26, 1.0, 7.0].map(|v| scale.bin_of(v)),
            [0, 0, 0, 1, 2, 2]
        );
        let log = Scale::numeric(1.0, 100.0, true, Some(3.0)).unwrap();
        assert_eq!([1.0, 2.0, 10.0, 100.0].map(|v| log.bin_of(v)), [0, 0, 1, 2]);
        assert!(Scale::numeric(2.0, 2.0, false, None).is_none());
    }
}
