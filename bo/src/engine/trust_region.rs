//! The trust region: its side length (a function of the history), its shape (scaled by
//! the GP's length scales, as in TuRBO), and the local model fitted within it.

use rand_chacha::ChaCha8Rng;

use super::{Engine, GLOBAL_POINTS, LOCAL_POINTS, Model};
use crate::gp::{FitSettings, Gp, fit};
use crate::kernel::Inputs;
use crate::optimize::Region;
use crate::transform::{OutputTransform, Warp};

/// TuRBO's trust-region side length replayed over the observations after the initial
/// design: start at 0.8, double (up to 1.6) after 3 successes in a row, halve after
/// `max(4, failure_limit)` failures in a row, back to 0.8 below `min_side`. A success
/// improves the best value by more than 1e-3 of its magnitude.
fn trust_region_side(values: &[f64], design: usize, failure_limit: usize, min_side: f64) -> f64 {
    let split = design.min(values.len()).max(1);
    let mut best = values[..split]
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let (mut side, mut successes, mut failures) = (0.8f64, 0usize, 0usize);
    let failure_limit = failure_limit.max(4);
    for &v in &values[split..] {
        if v < best - 1e-3 * best.abs() {
            successes += 1;
            failures = 0;
        } else {
            failures += 1;
            successes = 0;
        }
        best = best.min(v);
        if successes >= 3 {
            side = (2.0 * side).min(1.6);
            successes = 0;
        }
        if failures >= failure_limit {
            side /= 2.0;
            failures = 0;
        }
        if side < min_side {
            side = 0.8;
        }
    }
    side
}

impl Engine {
    /// The trust region's side after `values` (in observation order), with `pending`
    /// points in flight.
    pub(super) fn region_side(&self, values: &[f64], pending: usize) -> f64 {
        // With q points in flight, a suggestion's outcome is known q - 1 results late: as
        // in TuRBO's batch rule, the region shrinks only after a whole round of failures.
        let in_flight = if self.settings.region_failures_in_flight {
            pending + 1
        } else {
            1
        };
        let failure_limit = self.columns.len().max(in_flight);
        trust_region_side(
            values,
            self.initial_design_size(),
            failure_limit,
            self.settings.trust_region_min_side,
        )
    }

    /// The GP refitted on the observations within twice the trust region around the
    /// incumbent (the lowest of `ranking`), or the nearest ones up to the neighbourhood size of [`Settings`]
    /// (warm-started from the global fit, no restarts). `None` when too few or all
    /// observations are near, or the fit fails.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn local_model(
        &mut self,
        global: &Gp,
        rows: &[Vec<f64>],
        values: &[f64],
        ranking: &[f64],
        warp: Warp,
        side: f64,
        reuse: bool,
        rng: &mut ChaCha8Rng,
    ) -> Option<(Gp, Vec<f64>)> {
        let best = (0..ranking.len()).min_by(|&a, &b| ranking[a].total_cmp(&ranking[b]))?;
        let weights = self.region_weights(global);
        let near: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                self.columns
                    .continuous()
                    .iter()
                    .zip(&weights)
                    .all(|(&j, w)| (rows[i][j] - rows[best][j]).abs() <= side * w)
            })
            .collect();
        let d = self.columns.len();
        // Too few points near a small region leave the local fit to guesswork: take the
        // nearest ones (in the region's weighted max-norm) up to the neighbourhood size.
        let wanted = (self.settings.local_points_per_dimension * d)
            .max((self.settings.local_fraction * rows.len() as f64) as usize)
            .min(LOCAL_POINTS);
        let mut near = near;
        let crowded = rows.len() > GLOBAL_POINTS && near.len() > LOCAL_POINTS;
        if near.len() < wanted || crowded {
            let cont = self.columns.continuous();
            let distance = |i: usize| {
                cont.iter()
                    .zip(&weights)
                    .map(|(&j, w)| ((rows[i][j] - rows[best][j]) / w).abs())
                    .fold(0.0f64, f64::max)
            };
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.sort_by(|&a, &b| distance(a).total_cmp(&distance(b)).then(a.cmp(&b)));
            near = order.into_iter().take(wanted).collect();
            near.sort_unstable();
        }
        if near.len() < 2 * d + 2 || near.len() == rows.len() {
            return None;
        }
        let local_values: Vec<f64> = near.iter().map(|&i| values[i]).collect();
        let (_, y) = OutputTransform::with_warp(&local_values, warp);
        let inputs = Inputs::new(
            near.iter().flat_map(|&i| rows[i].iter().copied()).collect(),
            self.columns.categorical_mask().to_vec(),
        );
        let settings = FitSettings {
            random_restarts: 0,
            ..self.settings.fit.clone()
        };
        if reuse && let Some(raw) = &self.warm_local {
            let params = crate::gp::fit::params_from_raw(raw, self.settings.fit.noise_floor);
            return Some((Gp::new(inputs, y.clone(), params)?, y));
        }
        let warm = self.warm.get(self.last).cloned();
        let fitted = fit(&inputs, &y, warm.as_deref(), &settings, rng);
        if !fitted.objective.is_finite() {
            return None;
        }
        self.warm_local = Some(fitted.raw.clone());
        Some((Gp::new(inputs, y.clone(), fitted.params)?, y))
    }

    /// Per continuous column, its length scale over the geometric mean of them (TuRBO's
    /// trust-region shape).
    fn region_weights(&self, gp: &Gp) -> Vec<f64> {
        let lam = &gp.params().inverse_squared_lengthscales;
        let log_ls: Vec<f64> = self
            .columns
            .continuous()
            .iter()
            .map(|&j| -0.5 * lam[j].ln())
            .collect();
        let mean = log_ls.iter().sum::<f64>() / log_ls.len().max(1) as f64;
        log_ls.iter().map(|l| (l - mean).exp()).collect()
    }

    /// The trust region around the incumbent: side `L` scaled per continuous column by its
    /// length scale over their geometric mean (TuRBO).
    pub(super) fn region(&self, model: &Model) -> Region {
        let d = self.columns.len();
        let cont = self.columns.continuous();
        let mut region = Region::cube(d);
        if cont.is_empty() {
            return region;
        }
        for (&j, w) in cont.iter().zip(self.region_weights(&model.gp)) {
            let half = 0.5 * model.region_side * w;
            region.lower[j] = (model.incumbent[j] - half).max(0.0);
            region.upper[j] = (model.incumbent[j] + half).min(1.0);
        }
        region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_region_shrinks_on_failures_and_grows_on_successes() {
        let design = [5.0; 4];
        let failing: Vec<f64> = design
            .iter()
            .copied()
            .chain(std::iter::repeat_n(6.0, 8))
            .collect();
        assert_eq!(trust_region_side(&failing, 4, 2, 1.0 / 128.0), 0.2);
        let improving: Vec<f64> = design.iter().copied().chain([4.0, 3.0, 2.0]).collect();
        assert_eq!(trust_region_side(&improving, 4, 2, 1.0 / 128.0), 1.6);
        let collapsed: Vec<f64> = design
            .iter()
            .copied()
            .chain(std::iter::repeat_n(6.0, 28))
            .collect();
        assert_eq!(trust_region_side(&collapsed, 4, 2, 1.0 / 128.0), 0.8);
        // A lower floor keeps the collapsed region: seven halvings of 0.8.
        assert_eq!(
            trust_region_side(&collapsed, 4, 2, 1.0 / 1024.0),
            0.8 / 128.0
        );
    }
}
