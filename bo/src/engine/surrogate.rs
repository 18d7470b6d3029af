//! The global surrogate of one call: the GP hyperparameters fitted on each candidate output
//! scale (standardized, warped), warm-started from the previous call's fit on the same
//! scale, and the best of them by marginal likelihood corrected for the warp.

use rand_chacha::ChaCha8Rng;

use super::{Engine, OutputWarping, REFIT_FROM, REFIT_GROWTH};
use crate::gp::{Fitted, fit};
use crate::kernel::Inputs;
use crate::transform::{OutputTransform, Warp};

/// The output scale a global fit is made on; each keeps its own warm start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scale {
    /// Standardized values (no power transform).
    Standardized,
    /// Standardized values through the chosen power transform.
    Warped,
}

/// The last raw hyperparameters fitted on each output scale: the next fit's warm starts.
#[derive(Debug, Clone, Default)]
pub(super) struct WarmStarts {
    standardized: Option<Vec<f64>>,
    warped: Option<Vec<f64>>,
}

impl WarmStarts {
    /// The warm start of `scale`, if it was fitted before.
    pub(super) fn get(&self, scale: Scale) -> Option<&Vec<f64>> {
        match scale {
            Scale::Standardized => self.standardized.as_ref(),
            Scale::Warped => self.warped.as_ref(),
        }
    }

    fn set(&mut self, scale: Scale, raw: Vec<f64>) {
        let slot = match scale {
            Scale::Standardized => &mut self.standardized,
            Scale::Warped => &mut self.warped,
        };
        *slot = Some(raw);
    }
}

/// The global model's fit, as chosen among the candidate output scales.
pub(super) struct Surrogate {
    /// The power transform of the observations.
    pub warp: Warp,
    /// The transformed observations the fit was made on.
    pub y: Vec<f64>,
    /// The hyperparameters.
    pub fitted: Fitted,
}

/// One output scale's fit, scored for the choice among the scales.
struct Candidate {
    scale: Scale,
    /// Log marginal likelihood plus the warp's log-Jacobian (higher is better).
    score: f64,
    surrogate: Surrogate,
}

impl Engine {
    /// Whether this call reuses the last hyperparameters instead of re-optimizing them,
    /// given `n` usable observations (see [`REFIT_FROM`]).
    pub(super) fn reuses_fit(&self, n: usize) -> bool {
        n >= REFIT_FROM
            && (n as f64) < self.fitted_at as f64 * REFIT_GROWTH
            && self.warm.get(self.last).is_some()
    }

    /// The output scales to fit, with the power transform of each: `warped` is the one
    /// chosen for these observations.
    fn candidate_scales(&self, warped: Warp) -> Vec<(Scale, Warp)> {
        match self.settings.output_warping {
            OutputWarping::Off => vec![(Scale::Standardized, Warp::Identity)],
            OutputWarping::Always => vec![(Scale::Warped, warped)],
            OutputWarping::Select if warped == Warp::Identity => {
                vec![(Scale::Standardized, Warp::Identity)]
            }
            OutputWarping::Select => vec![
                (Scale::Standardized, Warp::Identity),
                (Scale::Warped, warped),
            ],
        }
    }

    /// Fits the global model on every candidate scale (or, when `reuse`, takes the last
    /// hyperparameters of the scale used last) and keeps the best by marginal likelihood
    /// plus the warp's log-Jacobian; the scale chosen becomes the one used last. Falls back
    /// to the default hyperparameters on standardized values when no fit is finite.
    pub(super) fn fit_surrogate(
        &mut self,
        inputs: &Inputs,
        values: &[f64],
        reuse: bool,
        rng: &mut ChaCha8Rng,
    ) -> Surrogate {
        let mut candidates = self.candidate_scales(OutputTransform::choose_warp(values));
        if reuse {
            candidates.retain(|(scale, _)| *scale == self.last);
        }
        let mut chosen: Option<Candidate> = None;
        for (scale, warp) in candidates {
            let (transform, y) = OutputTransform::with_warp(values, warp);
            let fitted = match self.warm.get(scale) {
                Some(raw) if reuse => self.fitted_from_raw(raw.clone(), 0.0),
                warm => fit(inputs, &y, warm.map(Vec::as_slice), &self.settings.fit, rng),
            };
            if !fitted.objective.is_finite() {
                continue;
            }
            self.warm.set(scale, fitted.raw.clone());
            let score = -fitted.objective + transform.log_jacobian(values);
            if chosen.as_ref().is_none_or(|best| score > best.score) {
                chosen = Some(Candidate {
                    scale,
                    score,
                    surrogate: Surrogate { warp, y, fitted },
                });
            }
        }
        match chosen {
            Some(Candidate {
                scale, surrogate, ..
            }) => {
                self.last = scale;
                surrogate
            }
            None => Surrogate {
                warp: Warp::Identity,
                y: OutputTransform::with_warp(values, Warp::Identity).1,
                fitted: self.default_fit(),
            },
        }
    }

    /// The global GP on the standardized (unwarped) values with the last hyperparameters
    /// fitted on that scale, when the surrogate chose the warped one: the global steps'
    /// model. A power transform stretches the differences near the best value, so a choice
    /// whose few observations are all worse than the incumbent's looks hopeless on the
    /// warped scale; on the standardized scale its unexplored values keep their uncertainty.
    pub(super) fn standardized_gp(
        &self,
        inputs: &Inputs,
        values: &[f64],
        surrogate: &Surrogate,
    ) -> Option<(crate::gp::Gp, Vec<f64>)> {
        if surrogate.warp == Warp::Identity {
            return None;
        }
        let raw = self.warm.get(Scale::Standardized)?;
        let params = crate::gp::fit::params_from_raw(raw, self.settings.fit.noise_floor);
        let (_, y) = OutputTransform::with_warp(values, Warp::Identity);
        Some((crate::gp::Gp::new(inputs.clone(), y.clone(), params)?, y))
    }

    /// `raw` with the hyperparameters it stands for.
    fn fitted_from_raw(&self, raw: Vec<f64>, objective: f64) -> Fitted {
        Fitted {
            params: crate::gp::fit::params_from_raw(&raw, self.settings.fit.noise_floor),
            raw,
            objective,
        }
    }

    /// The default hyperparameters, as a fit that reached nothing.
    pub(super) fn default_fit(&self) -> Fitted {
        let raw = crate::gp::fit::default_raw(self.columns.len(), self.settings.fit.noise_floor);
        self.fitted_from_raw(raw, f64::INFINITY)
    }
}
