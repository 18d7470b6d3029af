//! The trust region: its side length (a function of the history), its shape (scaled by
//! the GP's length scales, as in TuRBO), and the local model fitted within it.

use rand_chacha::ChaCha8Rng;

use super::observations::min_max;
use super::{Engine, GLOBAL_POINTS, LOCAL_POINTS, Model};
use crate::column::Column;
use crate::gp::{FitSettings, Gp, fit};
use crate::kernel::Inputs;
use crate::optimize::{EXHAUSTIVE_LIMIT, Region};
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
        // With q points in flight, a suggestion's outcome is known q - 1 results late: the
        // region shrinks only after most of a round of failures. Where the global steps
        // already add failures from outside the region, only after a whole round.
        let fraction = if self.takes_global_steps() {
            1.0
        } else {
            self.settings.region_failures_in_flight
        };
        let in_flight = (fraction * (pending + 1) as f64).ceil();
        let failure_limit = self.columns.len().max(in_flight as usize);
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
        let confined = self.region_columns();
        let weights = self.region_weights(global, &confined);
        let near: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                confined
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
            let distance = |i: usize| {
                confined
                    .iter()
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
        let scales = if self.settings.local_model_scaled {
            neighbourhood_scales(&inputs)
        } else {
            vec![1.0; d]
        };
        let scaled = Inputs::new(
            inputs
                .rows()
                .chunks(d)
                .flat_map(|row| row.iter().zip(&scales).map(|(x, s)| x / s))
                .collect(),
            self.columns.categorical_mask().to_vec(),
        );
        let warm = self
            .warm
            .get(self.last)
            .map(|raw| rescaled_raw(raw, &scales, 1.0));
        let fitted = fit(&scaled, &y, warm.as_deref(), &settings, rng);
        if !fitted.objective.is_finite() {
            return None;
        }
        let raw = rescaled_raw(&fitted.raw, &scales, -1.0);
        let params = crate::gp::fit::params_from_raw(&raw, self.settings.fit.noise_floor);
        self.warm_local = Some(raw);
        Some((Gp::new(inputs, y.clone(), params)?, y))
    }

    /// The columns the trust region confines: the continuous ones, and the grid ones with
    /// more values than are searched exhaustively (integer ranges) when
    /// [`Settings::trust_region_integers`](super::Settings::trust_region_integers) is on.
    pub(super) fn region_columns(&self) -> Vec<usize> {
        if self.settings.trust_region_integers {
            (0..self.columns.len())
                .filter(|&j| match self.columns.get(j) {
                    Column::Continuous => true,
                    Column::Grid(values) => values.len() > EXHAUSTIVE_LIMIT,
                    Column::Categorical(_) => false,
                })
                .collect()
        } else {
            self.columns.continuous().to_vec()
        }
    }

    /// Per column of `confined` (the region's columns), its length scale over the geometric
    /// mean of them (TuRBO's trust-region shape).
    fn region_weights(&self, gp: &Gp, confined: &[usize]) -> Vec<f64> {
        let lam = &gp.params().inverse_squared_lengthscales;
        let log_ls: Vec<f64> = confined.iter().map(|&j| -0.5 * lam[j].ln()).collect();
        let mean = log_ls.iter().sum::<f64>() / log_ls.len().max(1) as f64;
        log_ls.iter().map(|l| (l - mean).exp()).collect()
    }

    /// The trust region around the incumbent: side `L` scaled per continuous column by its
    /// length scale over their geometric mean (TuRBO).
    pub(super) fn region(&self, model: &Model) -> Region {
        let d = self.columns.len();
        let confined = self.region_columns();
        let mut region = Region::cube(d);
        if confined.is_empty() {
            return region;
        }
        let weights = self.region_weights(&model.gp, &confined);
        for (&j, w) in confined.iter().zip(&weights) {
            let half = 0.5 * model.region_side * w;
            region.lower[j] = (model.incumbent[j] - half).max(0.0);
            region.upper[j] = (model.incumbent[j] + half).min(1.0);
        }
        region
    }
}

/// Per column, the extent of the local model's neighbourhood `inputs` (1 for categorical
/// columns and for columns the neighbourhood does not vary in): the local fit measures its
/// inputs in these units, so the length-scale prior, made for the unit cube, speaks of the
/// neighbourhood's size instead. In cube units it would call any length scale below the
/// cube's side unlikely, and a fit on points within a small region would explain them as
/// noise around a flat function.
fn neighbourhood_scales(inputs: &Inputs) -> Vec<f64> {
    (0..inputs.dims())
        .map(|j| {
            let (lo, hi) = min_max(inputs.column(j).iter().copied());
            let extent = hi - lo;
            if inputs.categorical()[j] || extent.is_nan() || extent <= 1e-12 {
                1.0
            } else {
                extent
            }
        })
        .collect()
}

/// Raw fit parameters (log inverse squared length scales first) for inputs divided by
/// `scales` (`direction` 1) or back in the original units (`direction` −1).
fn rescaled_raw(raw: &[f64], scales: &[f64], direction: f64) -> Vec<f64> {
    let mut out = raw.to_vec();
    for (r, s) in out.iter_mut().zip(scales) {
        *r += direction * 2.0 * s.ln();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::Column;
    use crate::engine::Settings;
    use rand::{RngExt, SeedableRng};

    /// A cone around `CENTRE` in every coordinate (ackley's minimum at a small scale).
    const CENTRE: f64 = 0.503;
    fn cone(x: &[f64]) -> f64 {
        x.iter().map(|v| (v - CENTRE).powi(2)).sum::<f64>().sqrt()
    }

    /// The correlation between the local model's posterior mean and the cone at points
    /// of a box of side 0.02 that the model was not fitted on, and the model's mean length
    /// scale, with the local fit in the neighbourhood's units (`scaled`) or in cube units.
    fn local_fit_quality(scaled: bool) -> (f64, f64) {
        let d = 4;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let box_point = |rng: &mut ChaCha8Rng| -> Vec<f64> {
            (0..d).map(|_| 0.49 + 0.02 * rng.random::<f64>()).collect()
        };
        let rows: Vec<Vec<f64>> = (0..40).map(|_| box_point(&mut rng)).collect();
        let values: Vec<f64> = rows.iter().map(|r| cone(r)).collect();
        // Far points that make the neighbourhood a part of the history, as in a search.
        let mut all_rows = rows.clone();
        all_rows.extend((0..40).map(|_| (0..d).map(|_| rng.random::<f64>()).collect()));
        let mut all_values = values.clone();
        all_values.extend(all_rows[40..].iter().map(|r| 10.0 * cone(r)));
        let settings = Settings {
            local_model_scaled: scaled,
            ..Settings::default()
        };
        let mut engine = Engine::new(vec![Column::Continuous; d], settings).expect("valid");
        let inputs = Inputs::new(all_rows.concat(), vec![false; d]);
        let (_, y) = OutputTransform::with_warp(&all_values, Warp::Identity);
        let global = Gp::new(inputs, y, engine.default_fit().params).expect("factors");
        let (local, _) = engine
            .local_model(
                &global,
                &all_rows,
                &all_values,
                &all_values,
                Warp::Identity,
                0.02,
                false,
                &mut rng,
            )
            .expect("a local model");
        let held_out: Vec<Vec<f64>> = (0..200).map(|_| box_point(&mut rng)).collect();
        let truth: Vec<f64> = held_out.iter().map(|r| cone(r)).collect();
        let mean = local.predict(&held_out.concat()).mean;
        let lam = &local.params().inverse_squared_lengthscales;
        let length = lam.iter().map(|l| 1.0 / l.sqrt()).sum::<f64>() / d as f64;
        (correlation(&mean, &truth), length)
    }

    fn correlation(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn the_local_fit_models_a_small_neighbourhood_in_its_own_units() {
        let (scaled, scaled_length) = local_fit_quality(true);
        let (cube, cube_length) = local_fit_quality(false);
        assert!(
            scaled > 0.9,
            "scaled fit: correlation {scaled}, length {scaled_length}"
        );
        // In cube units the prior keeps the length scales near the cube's side: the fit
        // explains the neighbourhood as noise around a flat function.
        assert!(
            cube < 0.8 && cube_length > 10.0 * scaled_length,
            "cube-unit fit: correlation {cube}, length {cube_length} (scaled: {scaled}, {scaled_length})"
        );
    }

    #[test]
    fn with_points_in_flight_the_region_waits_for_most_of_a_round_of_failures() {
        let engine = |fraction: f64| {
            let settings = Settings {
                initial_design: Some(4),
                region_failures_in_flight: fraction,
                ..Settings::default()
            };
            Engine::new(vec![Column::Continuous; 5], settings).expect("valid")
        };
        let values = |failures: usize| -> Vec<f64> {
            std::iter::repeat_n(5.0, 4)
                .chain(std::iter::repeat_n(6.0, failures))
                .collect()
        };
        let default = engine(Settings::default().region_failures_in_flight);
        // Sequentially, d = 5 failures halve the region.
        assert_eq!(default.region_side(&values(5), 0), 0.4);
        // With 8 in flight (7 pending and the one being suggested): ⌈¾·8⌉ = 6.
        assert_eq!(default.region_side(&values(5), 7), 0.8);
        assert_eq!(default.region_side(&values(6), 7), 0.4);
        // A whole round (TuRBO's batch rule) waits for 8; none waits for d alone.
        assert_eq!(engine(1.0).region_side(&values(7), 7), 0.8);
        assert_eq!(engine(1.0).region_side(&values(8), 7), 0.4);
        assert_eq!(engine(0.0).region_side(&values(5), 7), 0.4);
        // With a categorical column, whose global steps fall outside the region, a whole round.
        let mut columns = vec![Column::Continuous; 4];
        columns.push(Column::Categorical(3));
        let settings = Settings {
            initial_design: Some(4),
            ..Settings::default()
        };
        let mixed = Engine::new(columns, settings).expect("valid");
        assert_eq!(mixed.region_side(&values(7), 7), 0.8);
        assert_eq!(mixed.region_side(&values(8), 7), 0.4);
    }

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
