//! The engine: from encoded history to the next point(s). Observations go through output
//! warping, the GP hyperparameters are refitted (warm-started from the previous call),
//! pending points join the posterior as constant lies, and the acquisition maximizer's best
//! point that repeats nothing already observed or pending is returned. Before enough
//! observations exist, points come from a scrambled Sobol design.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Error;
use crate::acquisition::Acquisition;
use crate::column::{Column, Columns};
use crate::gp::{FitSettings, Gp, fit};
use crate::kernel::Inputs;
use crate::optimize::{Region, maximize};
use crate::sobol::Sobol;
use crate::transform::{OutputTransform, Warp};

mod settings;
mod trust_region;

pub use settings::{AcquisitionChoice, Liar, OutputWarping, Settings, TrustRegion};
use trust_region::trust_region_side;

/// What the engine knows: observed points with their values (to be minimized) and pending
/// points (suggested, not yet observed), all row-major in the unit-cube encoding.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    /// Observed points, `n×d` row-major.
    pub points: &'a [f64],
    /// Observed values, one per point; NaN marks a failed evaluation (dropped), ±inf is
    /// clipped to the finite range.
    pub values: &'a [f64],
    /// Pending points, `p×d` row-major.
    pub pending: &'a [f64],
}

/// Gaussian-process Bayesian optimization over a fixed list of columns. Keeps the last
/// hyperparameter fit as the next call's warm start.
#[derive(Debug, Clone)]
pub struct Engine {
    columns: Columns,
    settings: Settings,
    design: Sobol,
    /// Warm starts of the hyperparameter fit: on standardized and on warped values.
    warm: [Option<Vec<f64>>; 2],
    /// Index into `warm` of the model used last.
    last: usize,
    /// Warm start of the local model's fit.
    warm_local: Option<Vec<f64>>,
    /// Number of observations at the last hyperparameter optimization.
    fitted_at: usize,
}

/// From this many observations on, hyperparameters are re-optimized only when the
/// observations have grown by [`REFIT_GROWTH`] since the last optimization; in between, the
/// last hyperparameters are reused and only the Cholesky factor is recomputed.
const REFIT_FROM: usize = 150;
/// See [`REFIT_FROM`].
const REFIT_GROWTH: f64 = 1.1;

/// The fitted surrogate of one call, extended by lies as suggestions are made.
struct Model {
    gp: Gp,
    /// The posterior given the observations only (the fantasies' source).
    base: Gp,
    /// Pending points in the order `gp` was extended by them, row-major.
    pending: Vec<f64>,
    best: f64,
    /// Number of observations (for the LCB's κ schedule).
    observations: usize,
    incumbent: Vec<f64>,
    lie: f64,
    /// Side length of the trust region (in units of the weighted cube).
    region_side: f64,
}

/// Coordinates closer than this count as the same point.
const SAME_POINT: f64 = 1e-9;

/// The global model is fitted on at most this many observations (a Cholesky factor costs
/// n³): past it, the best quarter and an even spread of the rest over the history.
const GLOBAL_POINTS: usize = 1024;
/// Past [`GLOBAL_POINTS`] observations, the local model is fitted on at most this many, the
/// nearest (below it, the neighbourhood is at most half the observations anyway, so studies
/// of up to [`GLOBAL_POINTS`] observations are modelled exactly as without the caps).
const LOCAL_POINTS: usize = GLOBAL_POINTS / 2;

/// The observations the global model is fitted on: all of them up to [`GLOBAL_POINTS`];
/// past that the best quarter, and the rest spread evenly over the history (in order), so
/// a suggestion costs the same at 10,000 observations as at 1,000.
fn global_subset(rows: &[Vec<f64>], values: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = values.len();
    if n <= GLOBAL_POINTS {
        return (rows.to_vec(), values.to_vec());
    }
    let mut by_value: Vec<usize> = (0..n).collect();
    by_value.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    let best = GLOBAL_POINTS / 4;
    let mut taken = vec![false; n];
    by_value[..best].iter().for_each(|&i| taken[i] = true);
    let rest: Vec<usize> = (0..n).filter(|&i| !taken[i]).collect();
    let spread = GLOBAL_POINTS - best;
    for k in 0..spread {
        taken[rest[k * rest.len() / spread]] = true;
    }
    let chosen: Vec<usize> = (0..n).filter(|&i| taken[i]).collect();
    (
        chosen.iter().map(|&i| rows[i].clone()).collect(),
        chosen.iter().map(|&i| values[i]).collect(),
    )
}

impl Engine {
    /// An engine for points described by `columns`.
    ///
    /// # Errors
    /// [`Error::NoColumns`] or [`Error::InvalidColumn`].
    pub fn new(columns: Vec<Column>, settings: Settings) -> Result<Self, Error> {
        let columns = Columns::new(columns)?;
        let design = Sobol::new(columns.len(), settings.design_seed);
        Ok(Self {
            columns,
            settings,
            design,
            warm: [None, None],
            last: 0,
            warm_local: None,
            fitted_at: 0,
        })
    }

    /// The columns.
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// The kernel hyperparameters of the last fit (`None` before the first).
    pub fn hyperparameters(&self) -> Option<crate::kernel::KernelParams> {
        self.warm[self.last]
            .as_deref()
            .map(|raw| crate::gp::fit::params_from_raw(raw, self.settings.fit.noise_floor))
    }

    /// Number of finite observations before the GP takes over.
    pub fn initial_design_size(&self) -> usize {
        self.settings
            .initial_design
            .unwrap_or((self.columns.len() + 1).clamp(5, 10))
    }

    /// The next `count` points to evaluate, each distinct from every observed and pending
    /// point and from each other (unless the space has nothing else left). Every random
    /// choice flows from `seed`; the same seed and history give the same points from a
    /// fresh engine.
    ///
    /// # Errors
    /// [`Error::ZeroCount`], [`Error::Shape`], [`Error::ValueCount`] or
    /// [`Error::OutsideCube`] naming the offending input.
    pub fn suggest(
        &mut self,
        history: &History<'_>,
        count: usize,
        seed: u64,
    ) -> Result<Vec<Vec<f64>>, Error> {
        if count == 0 {
            return Err(Error::ZeroCount);
        }
        let observed = self.checked_rows(history.points, "observed points")?;
        if observed.len() != history.values.len() {
            return Err(Error::ValueCount {
                points: observed.len(),
                values: history.values.len(),
            });
        }
        let pending = self.checked_rows(history.pending, "pending points")?;
        let (rows, values) = usable(&observed, history.values);
        let mut known: Vec<Vec<f64>> = observed.iter().chain(&pending).cloned().collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut model = None;
        if self.model_takes_over(values.len(), pending.len()) {
            model = self.build_model(&rows, &values, &pending, &mut rng);
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let point = match model.as_mut() {
                Some(m) => self.next_from_model(m, &known, &mut rng),
                None => self.design_point(&known),
            };
            known.push(point.clone());
            out.push(point);
        }
        Ok(out)
    }

    /// Whether the model (not the initial design) proposes the next points, given the
    /// numbers of finite observations and of pending points.
    fn model_takes_over(&self, observed: usize, pending: usize) -> bool {
        let design = self.initial_design_size().max(1);
        observed >= design
            || (self.settings.design_counts_pending
                && observed >= (design / 2).max(2)
                && observed + pending >= design)
    }

    /// Splits a flat buffer into snapped rows, checking shape and range.
    fn checked_rows(&self, flat: &[f64], what: &'static str) -> Result<Vec<Vec<f64>>, Error> {
        let d = self.columns.len();
        if !flat.len().is_multiple_of(d) {
            return Err(Error::Shape {
                what,
                len: flat.len(),
                dims: d,
            });
        }
        let mut rows = Vec::with_capacity(flat.len() / d);
        for (row, chunk) in flat.chunks(d).enumerate() {
            if let Some((column, &value)) = chunk
                .iter()
                .enumerate()
                .find(|(_, v)| !(0.0..=1.0).contains(*v))
            {
                return Err(Error::OutsideCube {
                    what,
                    row,
                    column,
                    value,
                });
            }
            let mut p = chunk.to_vec();
            self.columns.snap(&mut p);
            rows.push(p);
        }
        Ok(rows)
    }

    fn is_known(known: &[Vec<f64>], x: &[f64]) -> bool {
        known
            .iter()
            .any(|k| k.iter().zip(x).all(|(a, b)| (a - b).abs() <= SAME_POINT))
    }

    /// The next point of the scrambled Sobol design that is not already known.
    fn design_point(&self, known: &[Vec<f64>]) -> Vec<f64> {
        let d = self.columns.len();
        let start = known.len() as u32;
        let mut first = None;
        for index in start..start.saturating_add(4096) {
            let mut p = vec![0.0; d];
            self.design.point(index, &mut p);
            self.columns.snap(&mut p);
            if !Self::is_known(known, &p) {
                return p;
            }
            first.get_or_insert(p);
        }
        first.unwrap_or_else(|| vec![0.5; d])
    }

    fn build_model(
        &mut self,
        rows: &[Vec<f64>],
        values: &[f64],
        pending: &[Vec<f64>],
        rng: &mut ChaCha8Rng,
    ) -> Option<Model> {
        let n = values.len();
        let (all_rows, all_values) = (rows, values);
        let (rows, values) = global_subset(rows, values);
        let (rows, values) = (rows.as_slice(), values.as_slice());
        let inputs = Inputs::new(rows.concat(), self.columns.categorical_mask().to_vec());
        let warped = OutputTransform::choose_warp(values);
        let reuse = n >= REFIT_FROM
            && (n as f64) < self.fitted_at as f64 * REFIT_GROWTH
            && self.warm[self.last].is_some();
        let mut candidates: Vec<(usize, Warp)> = match self.settings.output_warping {
            OutputWarping::Off => vec![(0, Warp::Identity)],
            OutputWarping::Always => vec![(1, warped)],
            OutputWarping::Select if warped == Warp::Identity => vec![(0, Warp::Identity)],
            OutputWarping::Select => vec![(0, Warp::Identity), (1, warped)],
        };
        if reuse {
            candidates.retain(|(slot, _)| *slot == self.last);
        } else {
            self.fitted_at = n;
        }
        let mut chosen: Option<(f64, usize, Vec<f64>, crate::gp::Fitted)> = None;
        let mut chosen_warp = Warp::Identity;
        for (slot, warp) in candidates {
            let (transform, y) = OutputTransform::with_warp(values, warp);
            let fitted = match (&self.warm[slot], reuse) {
                (Some(raw), true) => crate::gp::Fitted {
                    params: crate::gp::fit::params_from_raw(raw, self.settings.fit.noise_floor),
                    raw: raw.clone(),
                    objective: 0.0,
                },
                _ => fit(
                    &inputs,
                    &y,
                    self.warm[slot].as_deref(),
                    &self.settings.fit,
                    rng,
                ),
            };
            if !fitted.objective.is_finite() {
                continue;
            }
            self.warm[slot] = Some(fitted.raw.clone());
            let score = -fitted.objective + transform.log_jacobian(values);
            if chosen.as_ref().is_none_or(|c| score > c.0) {
                chosen = Some((score, slot, y, fitted));
                chosen_warp = warp;
            }
        }
        let (y, fitted) = match chosen {
            Some((_, slot, y, fitted)) => {
                self.last = slot;
                (y, fitted)
            }
            None => {
                let (_, y) = OutputTransform::with_warp(values, Warp::Identity);
                let raw =
                    crate::gp::fit::default_raw(self.columns.len(), self.settings.fit.noise_floor);
                let params = crate::gp::fit::params_from_raw(&raw, self.settings.fit.noise_floor);
                (
                    y,
                    crate::gp::Fitted {
                        params,
                        raw,
                        objective: f64::INFINITY,
                    },
                )
            }
        };
        let gp = Gp::new(inputs.clone(), y.clone(), fitted.params).or_else(|| {
            let defaults =
                crate::gp::fit::default_raw(self.columns.len(), self.settings.fit.noise_floor);
            Gp::new(
                inputs,
                y.clone(),
                crate::gp::fit::params_from_raw(&defaults, self.settings.fit.noise_floor),
            )
        })?;
        // With q points in flight, a suggestion's outcome is known q - 1 results late: as
        // in TuRBO's batch rule, the region shrinks only after a whole round of failures.
        let failure_limit = self.columns.len().max(pending.len() + 1);
        let side = trust_region_side(
            all_values,
            self.initial_design_size(),
            failure_limit,
            self.settings.trust_region_min_side,
        );
        let (gp, y) = if self.settings.local_model && side < 0.8 - 1e-12 {
            self.local_model(&gp, all_rows, all_values, chosen_warp, side, reuse, rng)
                .unwrap_or((gp, y))
        } else {
            (gp, y)
        };
        let rows: Vec<Vec<f64>> = (0..gp.len()).map(|i| gp.inputs().row(i).to_vec()).collect();
        let best_index = (0..y.len()).min_by(|&a, &b| y[a].total_cmp(&y[b]))?;
        let best = y[best_index];
        let lies: Vec<f64> = match self.settings.liar {
            _ if pending.is_empty() => Vec::new(),
            Liar::Best => vec![best; pending.len()],
            Liar::KrigingBeliever | Liar::Fantasies(_) => gp
                .predict(&pending.concat())
                .mean
                .into_iter()
                .map(|m| m.max(best))
                .collect(),
        };
        let extended = gp.extended(&pending.concat(), &lies)?;

        Some(Model {
            gp: extended,
            base: gp,
            pending: pending.concat(),
            best,
            observations: y.len(),
            incumbent: rows[best_index].clone(),
            region_side: side,
            lie: best,
        })
    }

    /// The GP refitted on the observations within twice the trust region around the
    /// incumbent, or the nearest ones up to the neighbourhood size of [`Settings`]
    /// (warm-started from the global fit, no restarts). `None` when too few or all
    /// observations are near, or the fit fails.
    #[allow(clippy::too_many_arguments)]
    fn local_model(
        &mut self,
        global: &Gp,
        rows: &[Vec<f64>],
        values: &[f64],
        warp: Warp,
        side: f64,
        reuse: bool,
        rng: &mut ChaCha8Rng,
    ) -> Option<(Gp, Vec<f64>)> {
        let best = (0..values.len()).min_by(|&a, &b| values[a].total_cmp(&values[b]))?;
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
        let warm = self.warm[self.last].clone();
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
    fn region(&self, model: &Model) -> Region {
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

    fn acquisition(&self, model: &Model, rng: &mut ChaCha8Rng) -> Acquisition {
        match self.settings.acquisition {
            AcquisitionChoice::LogEi => match self.settings.liar {
                Liar::Fantasies(samples) => crate::pending::fantasies(
                    &model.base,
                    &model.gp,
                    &model.pending,
                    model.best,
                    samples,
                    rng,
                )
                .map_or(
                    Acquisition::LogEi { best: model.best },
                    Acquisition::PendingLogEi,
                ),
                _ => Acquisition::LogEi { best: model.best },
            },
            AcquisitionChoice::Hedge => match rng.random_range(0..3u32) {
                0 => Acquisition::LogEi { best: model.best },
                1 => Acquisition::LogPi {
                    best: model.best - 1e-4,
                },
                _ => {
                    // HEBO's schedule: κ = √((2 + d/2)·ln t + ln(π²/δ)), δ = 0.01.
                    let t = model.observations.max(1) as f64;
                    let d = self.columns.len() as f64;
                    let kappa = ((2.0 + d / 2.0) * t.ln()
                        + (std::f64::consts::PI.powi(2) / 0.01).ln())
                    .sqrt();
                    Acquisition::Lcb { kappa }
                }
            },
        }
    }

    fn next_from_model(
        &self,
        model: &mut Model,
        known: &[Vec<f64>],
        rng: &mut ChaCha8Rng,
    ) -> Vec<f64> {
        // With q points in flight, one exploiting point per round of q suggestions.
        let in_flight = model.pending.len() / self.columns.len() + 1;
        let every = self.settings.exploit_every.max(in_flight);
        let acquisition = if self.settings.exploit_every > 0 && known.len().is_multiple_of(every) {
            Acquisition::Lcb { kappa: 0.0 }
        } else {
            self.acquisition(model, rng)
        };
        let confined = match self.settings.trust_region {
            TrustRegion::Off => false,
            TrustRegion::Always => true,
            TrustRegion::Alternate => known.len() % 2 == 1,
        };
        let region = if confined {
            self.region(model)
        } else {
            Region::cube(self.columns.len())
        };
        let ranked = maximize(
            &model.gp,
            &acquisition,
            &self.columns,
            Some(&model.incumbent),
            &region,
            &self.settings.search,
            rng,
        );
        let point = ranked
            .into_iter()
            .map(|(x, _)| x)
            .find(|x| !Self::is_known(known, x))
            .unwrap_or_else(|| self.design_point(known));
        let lie = match self.settings.liar {
            Liar::Best => model.lie,
            Liar::KrigingBeliever | Liar::Fantasies(_) => {
                model.gp.predict(&point).mean[0].max(model.lie)
            }
        };
        if let Some(extended) = model.gp.extended(&point, &[lie]) {
            model.gp = extended;
            model.pending.extend_from_slice(&point);
        }
        point
    }
}

/// Rows and values with NaN values dropped and ±inf clipped to the finite range (all
/// non-finite values dropped if none is finite).
fn usable(rows: &[Vec<f64>], values: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let mut out_rows = Vec::new();
    let mut out_values = Vec::new();
    for (row, &v) in rows.iter().zip(values) {
        let v = if v == f64::INFINITY {
            hi
        } else if v == f64::NEG_INFINITY {
            lo
        } else {
            v
        };
        if v.is_finite() {
            out_rows.push(row.clone());
            out_values.push(v);
        }
    }
    (out_rows, out_values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quadratic(x: &[f64]) -> f64 {
        x.iter()
            .enumerate()
            .map(|(j, v)| (v - 0.2 - 0.1 * j as f64).powi(2))
            .sum()
    }

    /// Runs `trials` sequential suggestions on `f`; returns points and values.
    fn run(engine: &mut Engine, trials: usize, f: impl Fn(&[f64]) -> f64) -> (Vec<f64>, Vec<f64>) {
        let (mut points, mut values) = (Vec::new(), Vec::new());
        for t in 0..trials {
            let history = History {
                points: &points,
                values: &values,
                pending: &[],
            };
            let x = engine
                .suggest(&history, 1, t as u64)
                .expect("valid history")
                .remove(0);
            values.push(f(&x));
            points.extend(x);
        }
        (points, values)
    }

    #[test]
    fn finds_a_smooth_minimum() {
        let mut engine =
            Engine::new(vec![Column::Continuous; 2], Settings::default()).expect("valid");
        let (_, values) = run(&mut engine, 25, quadratic);
        let best = values.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(best < 1e-3, "best {best}");
    }

    #[test]
    fn eight_pending_points_give_eight_distinct_points() {
        let mut engine =
            Engine::new(vec![Column::Continuous; 3], Settings::default()).expect("valid");
        let (points, values) = run(&mut engine, 12, quadratic);
        let batch = engine
            .suggest(
                &History {
                    points: &points,
                    values: &values,
                    pending: &[],
                },
                8,
                99,
            )
            .expect("valid");
        assert_eq!(batch.len(), 8);
        for a in 0..8 {
            for b in a + 1..8 {
                let dist: f64 = batch[a]
                    .iter()
                    .zip(&batch[b])
                    .map(|(x, y)| (x - y).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(dist > 1e-3, "points {a} and {b} coincide: {:?}", batch[a]);
            }
        }
        // The same batch, made one at a time with the earlier ones pending.
        let mut pending = Vec::new();
        for t in 0..8u64 {
            let next = engine
                .suggest(
                    &History {
                        points: &points,
                        values: &values,
                        pending: &pending,
                    },
                    1,
                    200 + t,
                )
                .expect("valid")
                .remove(0);
            assert!(!pending.chunks(3).any(|p: &[f64]| p == next.as_slice()));
            pending.extend(next);
        }
    }

    #[test]
    fn pending_points_count_towards_the_design_once_half_of_it_is_observed() {
        let settings = Settings {
            initial_design: Some(10),
            ..Settings::default()
        };
        let engine = Engine::new(vec![Column::Continuous; 2], settings.clone()).expect("valid");
        assert!(engine.model_takes_over(10, 0));
        assert!(engine.model_takes_over(5, 5));
        assert!(!engine.model_takes_over(4, 7));
        assert!(!engine.model_takes_over(9, 0));
        let strict = Engine::new(
            vec![Column::Continuous; 2],
            Settings {
                design_counts_pending: false,
                ..settings
            },
        )
        .expect("valid");
        assert!(!strict.model_takes_over(5, 5));
        assert!(strict.model_takes_over(10, 0));
    }

    #[test]
    fn an_exploiting_suggestion_lands_at_the_fitted_minimum() {
        let settings = Settings {
            exploit_every: 1,
            ..Settings::default()
        };
        let mut engine = Engine::new(vec![Column::Continuous; 2], settings).expect("valid");
        let (mut points, mut values) = (Vec::new(), Vec::new());
        for i in 0..16u32 {
            let mut p = vec![0.0; 2];
            Sobol::new(2, 1).point(i, &mut p);
            values.push(quadratic(&p));
            points.extend(p);
        }
        let history = History {
            points: &points,
            values: &values,
            pending: &[],
        };
        let x = engine.suggest(&history, 1, 3).expect("valid").remove(0);
        let best = values.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(quadratic(&x) < best, "{x:?}: {} vs {best}", quadratic(&x));
    }

    #[test]
    fn same_seed_and_history_give_the_same_point_from_a_fresh_engine() {
        let mut first = Engine::new(
            vec![Column::Continuous, Column::Categorical(3)],
            Settings::default(),
        )
        .expect("valid");
        let (points, values) = run(&mut first, 10, |x| quadratic(&x[..1]) + x[1]);
        let history = History {
            points: &points,
            values: &values,
            pending: &points[..2],
        };
        let mut a = Engine::new(
            vec![Column::Continuous, Column::Categorical(3)],
            Settings::default(),
        )
        .expect("valid");
        let mut b = a.clone();
        assert_eq!(a.suggest(&history, 2, 5), b.suggest(&history, 2, 5));
    }

    #[test]
    fn small_discrete_spaces_are_not_repeated_until_exhausted() {
        let cols = vec![Column::Categorical(2), Column::Grid(vec![0.25, 0.75])];
        let mut engine = Engine::new(
            cols,
            Settings {
                initial_design: Some(2),
                ..Settings::default()
            },
        )
        .expect("valid");
        let (points, _) = run(&mut engine, 4, |x| x[0] + x[1]);
        let mut rows: Vec<&[f64]> = points.chunks(2).collect();
        rows.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
        rows.dedup();
        assert_eq!(rows.len(), 4, "{points:?}");
    }

    #[test]
    fn failed_and_infinite_values_are_tolerated() {
        let mut engine =
            Engine::new(vec![Column::Continuous; 2], Settings::default()).expect("valid");
        let (points, mut values) = run(&mut engine, 8, quadratic);
        values[1] = f64::NAN;
        values[2] = f64::INFINITY;
        values[3] = f64::NEG_INFINITY;
        let x = engine
            .suggest(
                &History {
                    points: &points,
                    values: &values,
                    pending: &[],
                },
                1,
                1,
            )
            .expect("valid");
        assert!(x[0].iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn a_large_history_is_modelled_on_the_best_and_an_even_spread() {
        let n = 10 * GLOBAL_POINTS;
        let rows: Vec<Vec<f64>> = (0..n).map(|i| vec![i as f64 / n as f64]).collect();
        // The best values sit at the end of the history.
        let values: Vec<f64> = (0..n).map(|i| (n - i) as f64).collect();
        let (sub_rows, sub_values) = global_subset(&rows, &values);
        assert_eq!(
            (sub_rows.len(), sub_values.len()),
            (GLOBAL_POINTS, GLOBAL_POINTS)
        );
        assert_eq!(sub_values.last(), Some(&1.0), "the best is kept");
        let best = GLOBAL_POINTS / 4;
        assert!(
            sub_values[GLOBAL_POINTS - best..]
                .iter()
                .all(|&v| v <= best as f64)
        );
        // The rest spans the history from its start.
        assert_eq!(sub_rows[0], vec![0.0]);
        assert!(sub_rows[GLOBAL_POINTS - best - 1][0] > 0.5);
        let small = global_subset(&rows[..10], &values[..10]);
        assert_eq!(small.1, values[..10].to_vec());
    }

    #[test]
    fn bad_input_is_named() {
        let mut engine =
            Engine::new(vec![Column::Continuous; 2], Settings::default()).expect("valid");
        let err = |points: &[f64], values: &[f64], pending: &[f64]| {
            engine
                .clone()
                .suggest(
                    &History {
                        points,
                        values,
                        pending,
                    },
                    1,
                    0,
                )
                .expect_err("invalid")
        };
        assert_eq!(
            err(&[0.5, 0.5, 0.5], &[1.0], &[]),
            Error::Shape {
                what: "observed points",
                len: 3,
                dims: 2
            }
        );
        assert_eq!(
            err(&[0.5, 0.5], &[1.0, 2.0], &[]),
            Error::ValueCount {
                points: 1,
                values: 2
            }
        );
        assert_eq!(
            err(&[], &[], &[0.5, 1.5]),
            Error::OutsideCube {
                what: "pending points",
                row: 0,
                column: 1,
                value: 1.5
            }
        );
        assert!(matches!(
            err(&[f64::NAN, 0.5], &[1.0], &[]),
            Error::OutsideCube { column: 0, .. }
        ));
        assert_eq!(
            engine.suggest(
                &History {
                    points: &[],
                    values: &[],
                    pending: &[]
                },
                0,
                0
            ),
            Err(Error::ZeroCount)
        );
    }

    fn column_strategy() -> impl Strategy<Value = Column> {
        prop_oneof![
            Just(Column::Continuous),
            (1usize..5).prop_map(Column::Categorical),
            (1usize..30)
                .prop_map(|n| Column::Grid((0..n).map(|i| (i as f64 + 0.5) / n as f64).collect())),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn every_suggestion_lies_on_its_columns(
            columns in proptest::collection::vec(column_strategy(), 1..5),
            observations in 0usize..12,
            seed in any::<u64>(),
        ) {
            let settings = Settings { initial_design: Some(4), ..Settings::default() };
            let mut engine = Engine::new(columns.clone(), settings).expect("valid");
            let cols = engine.columns().clone();
            let (points, values) = run(&mut engine, observations, |x| x.iter().map(|v| (v * 7.0).sin()).sum());
            let batch = engine.suggest(&History { points: &points, values: &values, pending: &[] }, 3, seed).expect("valid");
            for x in batch.iter().chain(points.chunks(columns.len()).map(|r| r.to_vec()).collect::<Vec<_>>().iter()) {
                let mut snapped = x.clone();
                cols.snap(&mut snapped);
                prop_assert_eq!(&snapped, x);
                prop_assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
            }
        }
    }
}
