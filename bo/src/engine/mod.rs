//! The engine: from encoded history to the next point(s). Observations go through output
//! warping, the GP hyperparameters are refitted (warm-started from the previous call),
//! pending points join the posterior as lies (each its posterior mean; the one expected to
//! improve most becomes the incumbent, see [`Liar::Believed`]; the lower confidence bound
//! replaces log-EI: the lies remove the uncertainty at the pending points, so the next one
//! goes elsewhere; one at a time too, see [`Settings::sequential_lcb`]), and the acquisition
//! maximizer's best
//! point that repeats nothing already observed or pending is returned. Before enough
//! observations exist, points come from a scrambled Sobol design.
//!
//! Layout: `settings` (what a caller may tune), `observations` (what a model is fitted on),
//! `surrogate` (the global fit on each output scale and the choice among them),
//! `trust_region` (the region's side and shape, and the local model fitted within it),
//! `constraints` (the constraint models and the feasible incumbent), `pareto` (two
//! objectives: one GP each and the expected hypervolume improvement), `axis` (the steps along
//! the axes through the incumbent, and when they stop).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Error;
use crate::acquisition::Acquisition;
use crate::column::{Column, Columns};
use crate::gp::Gp;
use crate::kernel::Inputs;
use crate::optimize::{Ranked, Region, maximize};
use crate::sobol::Sobol;

mod axis;
mod constraints;
mod observations;
mod pareto;
mod settings;
mod surrogate;
mod trust_region;

pub use constraints::Margins;
use constraints::Standing;
use observations::{global_subset, usable};
pub use pareto::ParetoHistory;
pub use settings::{AcquisitionChoice, Liar, OutputWarping, Settings, TrustRegion};
use surrogate::{Scale, Surrogate, WarmStarts};

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
    /// Warm starts of the hyperparameter fit, one per output scale.
    warm: WarmStarts,
    /// The output scale of the model used last.
    last: Scale,
    /// Warm start of the local model's fit.
    warm_local: Option<Vec<f64>>,
    /// Number of observations at the last hyperparameter optimization.
    fitted_at: usize,
    /// Warm starts of the constraint models' fits, one per constraint.
    constraint_warm: Vec<Option<Vec<f64>>>,
    /// Warm starts of the objective models' fits of a two-objective study.
    objective_warm: Vec<Option<Vec<f64>>>,
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
    /// The incumbent's value: the best observation's, or a believed lie's (see
    /// [`Liar::Believed`]).
    best: f64,
    /// Number of observations (for the LCB's κ schedule).
    observations: usize,
    /// The trust region's centre: the best observation, or the pending point believed best.
    incumbent: Vec<f64>,
    /// The best observed value (what clipped lies are clipped at).
    lie: f64,
    /// Side length of the trust region (in units of the weighted cube).
    region_side: f64,
    /// The global GP extended by the same lies, and its best value, when this call takes a
    /// global step (a space with a categorical column) or an axis step: fitted on the
    /// unwarped values (see [`Settings::unwarped_global_steps`]).
    global: Option<(Gp, f64)>,
    /// Whether this call's axis steps are due (see [`Settings::axis_every`]).
    axis_steps: bool,
    /// The constraint models and the observations' ranking, under constraints.
    standing: Option<Standing>,
}

/// The observed and pending points of a call, one row each, checked and snapped.
struct Rows {
    observed: Vec<Vec<f64>>,
    pending: Vec<Vec<f64>>,
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
            warm: WarmStarts::default(),
            last: Scale::Standardized,
            warm_local: None,
            fitted_at: 0,
            constraint_warm: Vec::new(),
            objective_warm: Vec::new(),
        })
    }

    /// The columns.
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// The kernel hyperparameters of the last fit (`None` before the first).
    pub fn hyperparameters(&self) -> Option<crate::kernel::KernelParams> {
        self.warm
            .get(self.last)
            .map(|raw| crate::gp::fit::params_from_raw(raw, self.settings.fit.noise_floor))
    }

    /// Whether this space takes the global steps (see [`Settings::categorical_global_every`]):
    /// it has a categorical column and they are on. Such a space's trust region waits for a
    /// whole round of failures, and it takes neither the axis steps nor, one at a time, the
    /// lower confidence bound; the others do.
    fn takes_global_steps(&self) -> bool {
        self.columns.has_categorical() && self.settings.categorical_global_every > 0
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
        self.suggest_constrained(history, &Margins::default(), count, seed)
    }

    /// [`Engine::suggest`] under constraints: one GP per constraint is fitted to its
    /// `margins`, the acquisition is multiplied by the probability that every constraint
    /// holds, and the incumbent is the best feasible observation (while none is feasible,
    /// the probability of feasibility alone is maximized).
    ///
    /// # Errors
    /// As [`Engine::suggest`], and [`Error::MarginCount`].
    pub fn suggest_constrained(
        &mut self,
        history: &History<'_>,
        margins: &Margins<'_>,
        count: usize,
        seed: u64,
    ) -> Result<Vec<Vec<f64>>, Error> {
        let Rows { observed, pending } =
            self.checked_input(history.points, history.pending, margins, count, |points| {
                (points != history.values.len()).then_some(Error::ValueCount {
                    points,
                    values: history.values.len(),
                })
            })?;
        let usable = usable(&observed, history.values);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut model = None;
        if self.model_takes_over(usable.values.len(), pending.len()) {
            let standing = self.constraint_standing(
                &observed,
                margins,
                &usable.kept,
                &usable.values,
                &mut rng,
            );
            let slots = observed.len() + pending.len()..observed.len() + pending.len() + count;
            model = self.build_model(
                &usable.rows,
                &usable.values,
                &pending,
                slots,
                standing,
                &mut rng,
            );
        }
        Ok(self.propose(
            model,
            &observed,
            &pending,
            count,
            &mut rng,
            Self::next_from_model,
        ))
    }

    /// The observed and pending rows of a call, snapped, after checking `count`, their
    /// shapes and ranges, the margins, and (`mismatch`, given the number of observed points)
    /// the observed values.
    fn checked_input(
        &self,
        points: &[f64],
        pending: &[f64],
        margins: &Margins<'_>,
        count: usize,
        mismatch: impl FnOnce(usize) -> Option<Error>,
    ) -> Result<Rows, Error> {
        if count == 0 {
            return Err(Error::ZeroCount);
        }
        let observed = self.checked_rows(points, "observed points")?;
        if let Some(err) = mismatch(observed.len()) {
            return Err(err);
        }
        margins.check(observed.len())?;
        let pending = self.checked_rows(pending, "pending points")?;
        Ok(Rows { observed, pending })
    }

    /// `count` points, each from `model` by `next` (given the points known so far, the
    /// earlier ones of this call included), or from the design without a model.
    fn propose<M>(
        &self,
        mut model: Option<M>,
        observed: &[Vec<f64>],
        pending: &[Vec<f64>],
        count: usize,
        rng: &mut ChaCha8Rng,
        next: impl Fn(&Self, &mut M, &[Vec<f64>], &mut ChaCha8Rng) -> Vec<f64>,
    ) -> Vec<Vec<f64>> {
        let mut known: Vec<Vec<f64>> = observed.iter().chain(pending).cloned().collect();
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let point = match model.as_mut() {
                Some(m) => next(self, m, &known, rng),
                None => self.design_point(&known),
            };
            known.push(point.clone());
            out.push(point);
        }
        out
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

    /// The best of the maximizer's `ranked` points that is not known yet, or the next design
    /// point when all are.
    fn first_new(&self, ranked: Ranked, known: &[Vec<f64>]) -> Vec<f64> {
        ranked
            .into_iter()
            .map(|(x, _)| x)
            .find(|x| !Self::is_known(known, x))
            .unwrap_or_else(|| self.design_point(known))
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

    /// The surrogate of this call: the global GP on (a subset of) the usable observations,
    /// possibly replaced by a local one inside the trust region, extended by lies at the
    /// pending points. `None` when no GP can be built.
    fn build_model(
        &mut self,
        rows: &[Vec<f64>],
        values: &[f64],
        pending: &[Vec<f64>],
        slots: std::ops::Range<usize>,
        standing: Option<Standing>,
        rng: &mut ChaCha8Rng,
    ) -> Option<Model> {
        let n = values.len();
        let reuse = self.reuses_fit(n);
        if !reuse {
            self.fitted_at = n;
        }
        // Under constraints, the ranking (feasible first) decides successes and the centre.
        let ranking = standing.as_ref().map_or(values, |s| s.ranking.as_slice());
        let side = self.region_side(ranking, pending.len());
        let due = |every: usize| slots.clone().any(|slot| due_at(every, slot));
        let global_steps = self.takes_global_steps();
        let axis_steps = !global_steps
            && due(self.settings.axis_every)
            && side < self.settings.axis_below
            && self.axis_steps_pay(rows, ranking);
        let wants_global =
            (global_steps && due(self.settings.categorical_global_every)) || axis_steps;
        let (global_rows, global_values) = global_subset(rows, values);
        let inputs = Inputs::new(
            global_rows.concat(),
            self.columns.categorical_mask().to_vec(),
        );
        let surrogate = self.fit_surrogate(&inputs, &global_values, reuse, rng);
        let unwarped = (wants_global && self.settings.unwarped_global_steps)
            .then(|| self.standardized_gp(&inputs, &global_values, &surrogate))
            .flatten();
        let gp = self.global_gp(inputs, &surrogate)?;
        let global =
            wants_global.then(|| unwarped.unwrap_or_else(|| (gp.clone(), surrogate.y.clone())));
        let (gp, y) = if self.settings.local_model && side < 0.8 - 1e-12 {
            self.local_model(&gp, rows, values, ranking, surrogate.warp, side, reuse, rng)
                .unwrap_or((gp, surrogate.y))
        } else {
            (gp, surrogate.y)
        };
        let mut model = self.with_lies(gp, &y, pending, side, standing.as_ref())?;
        model.global = global.and_then(|(gp, y)| {
            let global = self.with_lies(gp, &y, pending, side, standing.as_ref())?;
            Some((global.gp, global.best))
        });
        model.axis_steps = axis_steps;
        model.standing = standing;
        Some(model)
    }

    /// The GP on `inputs` with the surrogate's hyperparameters, or with the defaults when
    /// those give no Cholesky factor.
    fn global_gp(&self, inputs: Inputs, surrogate: &Surrogate) -> Option<Gp> {
        Gp::new(
            inputs.clone(),
            surrogate.y.clone(),
            surrogate.fitted.params.clone(),
        )
        .or_else(|| Gp::new(inputs, surrogate.y.clone(), self.default_fit().params))
    }

    /// The model of `gp` (fitted on `y`) extended by a lie at each pending point. The
    /// incumbent is the best observation, under constraints the best feasible one (the
    /// least violating while none is).
    fn with_lies(
        &self,
        gp: Gp,
        y: &[f64],
        pending: &[Vec<f64>],
        side: f64,
        standing: Option<&Standing>,
    ) -> Option<Model> {
        let rows: Vec<Vec<f64>> = (0..gp.len()).map(|i| gp.inputs().row(i).to_vec()).collect();
        let best_index = constraints::incumbent(&rows, y, standing)?;
        let best = y[best_index];
        let lies: Vec<f64> = if pending.is_empty() {
            Vec::new()
        } else {
            gp.predict(&pending.concat())
                .mean
                .into_iter()
                .map(|mean| self.lie(mean, best, standing))
                .collect()
        };
        let extended = gp.extended(&pending.concat(), &lies)?;
        let (mut believed_best, mut incumbent) = (best, &rows[best_index]);
        if self.believes(standing) {
            for (point, &lie) in pending.iter().zip(&lies) {
                if lie < believed_best {
                    (believed_best, incumbent) = (lie, point);
                }
            }
        }
        Some(Model {
            gp: extended,
            base: gp,
            pending: pending.concat(),
            best: believed_best,
            observations: y.len(),
            incumbent: incumbent.clone(),
            region_side: side,
            lie: best,
            global: None,
            axis_steps: false,
            standing: None,
        })
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
        let every = self
            .settings
            .exploit_every
            .max(in_flight.min(self.settings.exploit_in_flight_cap));
        let lcb_kappa = self.settings.lcb_kappa.filter(|_| {
            in_flight > 1
                || (self.settings.sequential_lcb
                    && !self.takes_global_steps()
                    && model.standing.is_none())
        });
        let acquisition = if self.settings.exploit_every > 0 && known.len().is_multiple_of(every) {
            Acquisition::Lcb { kappa: 0.0 }
        } else if let Some(kappa) = lcb_kappa {
            Acquisition::Lcb { kappa }
        } else {
            self.acquisition(model, rng)
        };
        let global = model.global.as_ref().filter(|_| {
            self.takes_global_steps() && due_at(self.settings.categorical_global_every, known.len())
        });
        let confined = match self.settings.trust_region {
            TrustRegion::Off => false,
            TrustRegion::Always => true,
            TrustRegion::Alternate => known.len() % 2 == 1,
        };
        let region = if confined && global.is_none() {
            self.region(model)
        } else {
            Region::cube(self.columns.len())
        };
        if model.axis_steps
            && due_at(self.settings.axis_every, known.len())
            && let Some((gp, best)) = model.global.as_ref()
            && let Some(point) = self.axis_step(
                gp,
                &constraints::constrain(
                    model.standing.as_ref(),
                    Acquisition::LogEi { best: *best },
                ),
                &model.incumbent,
                known,
                rng,
            )
        {
            return self.believe(model, point);
        }
        let (gp, acquisition) = match global {
            Some((gp, best)) => (gp, Acquisition::LogEi { best: *best }),
            None => (&model.gp, acquisition),
        };
        let acquisition = constraints::constrain(model.standing.as_ref(), acquisition);
        let ranked = maximize(
            gp,
            &acquisition,
            &self.columns,
            Some(&model.incumbent),
            &region,
            &self.settings.search,
            rng,
        );
        let point = self.first_new(ranked, known);
        self.believe(model, point)
    }

    /// Extends the model by a lie at `point` (it is pending from now on) and returns it.
    fn believe(&self, model: &mut Model, point: Vec<f64>) -> Vec<f64> {
        let standing = model.standing.as_ref();
        let lie = self.lie(model.gp.predict(&point).mean[0], model.lie, standing);
        if let Some(extended) = model.gp.extended(&point, &[lie]) {
            model.gp = extended;
            model.pending.extend_from_slice(&point);
            if self.believes(standing) && lie < model.best {
                model.best = lie;
                model.incumbent = point.clone();
            }
        }
        if let Some((gp, best)) = model.global.as_mut() {
            let lie = self.lie(gp.predict(&point).mean[0], *best, standing);
            if let Some(extended) = gp.extended(&point, &[lie]) {
                *gp = extended;
            }
        }
        point
    }

    /// The lie at a pending point whose posterior mean is `mean`, given the best observed
    /// value `best` (see [`Liar`]).
    fn lie(&self, mean: f64, best: f64, standing: Option<&Standing>) -> f64 {
        match self.settings.liar {
            Liar::Best => best,
            Liar::Mean => mean,
            Liar::Believed if self.believes(standing) => mean,
            Liar::KrigingBeliever | Liar::Believed | Liar::Fantasies(_) => mean.max(best),
        }
    }

    /// Whether the pending points' lies are believed (see [`Liar::Believed`]): not under
    /// constraints, where the incumbent is the best feasible observation.
    fn believes(&self, standing: Option<&Standing>) -> bool {
        self.settings.liar == Liar::Believed && standing.is_none()
    }
}

/// Whether a step taken every `every`-th suggestion (0: never) is due at suggestion `slot`
/// (counted from 0 over the observed and pending points): the last of each `every`.
fn due_at(every: usize, slot: usize) -> bool {
    every > 0 && slot % every == every - 1
}

#[cfg(test)]
mod tests;
