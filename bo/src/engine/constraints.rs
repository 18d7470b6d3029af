//! Constraints learned from the observations: one GP per constraint margin (on the
//! observations that reported it, same inputs as the objective), and what the engine needs
//! from them in one call: the probability of feasibility that multiplies the acquisition,
//! and a ranking of the observations (feasible ones by value, then the infeasible ones by
//! violation) that decides the incumbent and the trust region's successes.
//!
//! Pending points carry no constraint values: the constraint models are not extended by
//! lies (only the objective's posterior is), so a round of parallel suggestions shares the
//! same probability of feasibility and is spread out by the objective's lies alone.

use std::collections::HashMap;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use super::Engine;
use crate::Error;
use crate::acquisition::Acquisition;
use crate::feasibility::{ConstraintModel, Feasibility};
use crate::gp::FitSettings;
use crate::kernel::Inputs;

/// The constraint margins of the observed points (≤ 0 when a constraint holds), row-major:
/// `count` per observed point, in the order of [`super::History::points`]; NaN when a point
/// did not report that constraint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Margins<'a> {
    /// `n × count` margins, row-major.
    pub values: &'a [f64],
    /// Number of constraints.
    pub count: usize,
}

impl Margins<'_> {
    /// The margins of observed point `row`.
    pub(super) fn row(&self, row: usize) -> &[f64] {
        &self.values[row * self.count..(row + 1) * self.count]
    }

    /// Checks there are `count` margins per observed point.
    pub(super) fn check(&self, points: usize) -> Result<(), Error> {
        if self.values.len() == points * self.count {
            Ok(())
        } else {
            Err(Error::MarginCount {
                points,
                constraints: self.count,
                margins: self.values.len(),
            })
        }
    }
}

/// What one call knows about the constraints.
#[derive(Debug, Clone)]
pub(super) struct Standing {
    /// The constraint models.
    pub feasibility: Arc<Feasibility>,
    /// Whether any usable observation satisfies every constraint.
    pub any_feasible: bool,
    /// Per usable observation (in the order the engine keeps them), its rank key: its value
    /// when feasible; otherwise worse than every feasible value, by its total violation.
    pub ranking: Vec<f64>,
    /// Rank keys by the bits of an observation's coordinates, for models fitted on a
    /// subset of the observations.
    by_point: HashMap<Vec<u64>, f64>,
}

impl Standing {
    /// The rank key of an observed point (`+inf` when it is not an observation).
    pub fn rank_of(&self, point: &[f64]) -> f64 {
        self.by_point
            .get(&bits(point))
            .copied()
            .unwrap_or(f64::INFINITY)
    }

    /// `objective` multiplied by the probability of feasibility; the probability alone
    /// while nothing is feasible; `objective` as it is when no constraint model could be
    /// fitted.
    pub fn constrain(&self, objective: Acquisition) -> Acquisition {
        if self.feasibility.is_empty() {
            objective
        } else if self.any_feasible {
            Acquisition::Constrained {
                objective: Box::new(objective),
                feasibility: Arc::clone(&self.feasibility),
            }
        } else {
            Acquisition::Feasibility(Arc::clone(&self.feasibility))
        }
    }
}

/// `objective` under the constraints of `standing` ([`Standing::constrain`]), as it is
/// without them.
pub(super) fn constrain(standing: Option<&Standing>, objective: Acquisition) -> Acquisition {
    match standing {
        Some(standing) => standing.constrain(objective),
        None => objective,
    }
}

/// The index of the incumbent among a model's `rows` (with values `y`): the lowest value,
/// or under constraints the best by rank (the best feasible, the least violating while
/// none is). `None` without rows.
pub(super) fn incumbent(
    rows: &[Vec<f64>],
    y: &[f64],
    standing: Option<&Standing>,
) -> Option<usize> {
    match standing {
        Some(s) => {
            (0..y.len()).min_by(|&a, &b| s.rank_of(&rows[a]).total_cmp(&s.rank_of(&rows[b])))
        }
        None => (0..y.len()).min_by(|&a, &b| y[a].total_cmp(&y[b])),
    }
}

fn bits(point: &[f64]) -> Vec<u64> {
    point.iter().map(|v| v.to_bits()).collect()
}

/// Rank keys: feasible values as they are, infeasible ones beyond the worst value by the
/// spread of the values times `0.1 +` their share of the largest violation.
fn rank_keys(values: &[f64], violations: &[f64]) -> Vec<f64> {
    let (lo, hi) = super::observations::min_max(values.iter().copied());
    let spread = if hi > lo { hi - lo } else { 1.0 };
    let worst = violations.iter().copied().fold(0.0, f64::max);
    values
        .iter()
        .zip(violations)
        .map(|(&v, &violation)| {
            if violation <= 0.0 {
                v
            } else {
                hi + spread * (0.1 + violation / worst)
            }
        })
        .collect()
}

impl Engine {
    /// Fits one GP per constraint on the observed points that reported it (warm-started
    /// from the previous call's fit of that constraint, or reusing it as the objective's
    /// model does) and ranks the usable observations
    /// `kept` (indices into `observed`, with `values`). A constraint whose GP cannot be
    /// fitted (fewer than two reports, or a failed factorization) is left out of the
    /// probability. `None` without constraints.
    pub(super) fn constraint_standing(
        &mut self,
        observed: &[Vec<f64>],
        margins: &Margins<'_>,
        kept: &[usize],
        values: &[f64],
        rng: &mut ChaCha8Rng,
    ) -> Option<Standing> {
        if margins.count == 0 {
            return None;
        }
        self.constraint_warm.resize(margins.count, None);
        // Few restarts: a constraint GP only has to place the boundary, and each is
        // refitted on every call.
        let settings = FitSettings {
            random_restarts: self.settings.fit.random_restarts.min(1),
            ..self.settings.fit.clone()
        };
        // Refitted on the objective's schedule: past `REFIT_FROM` observations, only when
        // they have grown enough since the last optimization.
        let reuse = self.reuses_fit(values.len());
        let mut models = Vec::with_capacity(margins.count);
        for c in 0..margins.count {
            let reported: Vec<usize> = (0..observed.len())
                .filter(|&i| margins.row(i)[c].is_finite())
                .collect();
            if reported.len() < 2 {
                continue;
            }
            let inputs = Inputs::new(
                reported.iter().flat_map(|&i| observed[i].clone()).collect(),
                self.columns.categorical_mask().to_vec(),
            );
            let y: Vec<f64> = reported.iter().map(|&i| margins.row(i)[c]).collect();
            let warm = self.constraint_warm[c].as_deref();
            if let Some(fitted) = ConstraintModel::fit(inputs, &y, warm, reuse, &settings, rng) {
                self.constraint_warm[c] = Some(fitted.raw);
                models.push(fitted.model);
            }
        }
        // A margin that was not reported counts as violated.
        let violations: Vec<f64> = kept
            .iter()
            .map(|&i| {
                margins
                    .row(i)
                    .iter()
                    .map(|&m| {
                        if m.is_nan() {
                            f64::INFINITY
                        } else {
                            m.max(0.0)
                        }
                    })
                    .sum::<f64>()
                    .min(f64::MAX)
            })
            .collect();
        let ranking = rank_keys(values, &violations);
        let by_point = kept
            .iter()
            .zip(&ranking)
            .map(|(&i, &r)| (bits(&observed[i]), r))
            .collect();
        Some(Standing {
            feasibility: Arc::new(Feasibility::new(models)),
            any_feasible: violations.iter().any(|&v| v <= 0.0),
            ranking,
            by_point,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Column, History, Settings};

    /// Minimum at (0.8, 0.8), outside the feasible half `x + y ≤ 1`; the constrained
    /// minimum is at (0.5, 0.5), value 0.18, on the boundary.
    fn corner(x: &[f64]) -> (f64, f64) {
        (
            (x[0] - 0.8).powi(2) + (x[1] - 0.8).powi(2),
            x[0] + x[1] - 1.0,
        )
    }

    /// `trials` sequential suggestions on [`corner`], learning the constraint when
    /// `learn`; returns the points and their margins.
    fn run(trials: usize, learn: bool) -> (Vec<Vec<f64>>, Vec<f64>, Vec<f64>) {
        let mut engine =
            Engine::new(vec![Column::Continuous; 2], Settings::default()).expect("valid");
        let (mut points, mut values, mut margins) = (Vec::new(), Vec::new(), Vec::new());
        let mut rows = Vec::new();
        for t in 0..trials {
            let history = History {
                points: &points,
                values: &values,
                pending: &[],
            };
            let m = Margins {
                values: if learn { &margins } else { &[] },
                count: usize::from(learn),
            };
            let x = engine
                .suggest_constrained(&history, &m, 1, t as u64)
                .expect("valid history")
                .remove(0);
            let (f, margin) = corner(&x);
            values.push(f);
            margins.push(margin);
            points.extend_from_slice(&x);
            rows.push(x);
        }
        if !learn {
            margins.clear();
        }
        let all: Vec<f64> = rows.iter().map(|x| corner(x).1).collect();
        (rows, values, all)
    }

    fn best_feasible(values: &[f64], margins: &[f64]) -> f64 {
        values
            .iter()
            .zip(margins)
            .filter(|&(_, &m)| m <= 0.0)
            .map(|(&v, _)| v)
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn late_suggestions_are_feasible_and_reach_the_optimum_on_the_boundary() {
        let (_, values, margins) = run(30, true);
        let late_feasible = margins[15..].iter().filter(|&&m| m <= 0.0).count();
        assert!(late_feasible >= 10, "{late_feasible} of 15: {margins:?}");
        let best = best_feasible(&values, &margins);
        assert!(best < 0.18 + 2e-3, "best feasible {best}");
        // Ignoring the constraint, the search goes to the unconstrained minimum instead.
        let (_, values, margins) = run(30, false);
        let blind = margins[15..].iter().filter(|&&m| m <= 0.0).count();
        assert!(blind < late_feasible, "{blind} vs {late_feasible}");
        assert!(best <= best_feasible(&values, &margins));
    }

    #[test]
    fn with_nothing_feasible_yet_the_next_point_heads_for_feasibility() {
        // Eight observations with x ≥ 0.4 under the constraint x ≤ 0.15: none feasible.
        let rows: Vec<[f64; 2]> = (0..8)
            .map(|k| {
                [
                    0.4 + 0.6 * ((k * 5 % 8) as f64 / 7.0),
                    (k as f64 + 0.5) / 8.0,
                ]
            })
            .collect();
        let points: Vec<f64> = rows.iter().flatten().copied().collect();
        let values: Vec<f64> = rows.iter().map(|x| -x[0]).collect();
        let margins: Vec<f64> = rows.iter().map(|x| x[0] - 0.15).collect();
        let history = History {
            points: &points,
            values: &values,
            pending: &[],
        };
        let m = Margins {
            values: &margins,
            count: 1,
        };
        let mut engine =
            Engine::new(vec![Column::Continuous; 2], Settings::default()).expect("valid");
        for seed in 0..3 {
            let x = engine
                .suggest_constrained(&history, &m, 1, seed)
                .expect("valid")
                .remove(0);
            // The objective alone would push x up; feasibility pulls it below the data.
            assert!(x[0] < 0.4, "seed {seed}: {x:?}");
        }
    }

    #[test]
    fn fresh_engines_agree_given_the_same_history_margins_and_seed() {
        let (rows, values, margins) = run(14, true);
        let points: Vec<f64> = rows.concat();
        let history = History {
            points: &points,
            values: &values,
            pending: &points[..4],
        };
        let m = Margins {
            values: &margins,
            count: 1,
        };
        let ask = || {
            Engine::new(vec![Column::Continuous; 2], Settings::default())
                .expect("valid")
                .suggest_constrained(&history, &m, 3, 7)
                .expect("valid")
        };
        assert_eq!(ask(), ask());
    }

    #[test]
    fn margins_must_come_one_per_constraint_and_observation() {
        let mut engine = Engine::new(vec![Column::Continuous], Settings::default()).expect("ok");
        let history = History {
            points: &[0.1, 0.5],
            values: &[1.0, 2.0],
            pending: &[],
        };
        let m = Margins {
            values: &[0.3, -0.1, 0.2],
            count: 2,
        };
        assert_eq!(
            engine.suggest_constrained(&history, &m, 1, 0),
            Err(Error::MarginCount {
                points: 2,
                constraints: 2,
                margins: 3
            })
        );
    }

    #[test]
    fn infeasible_observations_rank_behind_every_feasible_one_by_violation() {
        let keys = rank_keys(&[3.0, -1.0, 0.5, 2.0], &[0.0, 2.0, 0.0, 0.5]);
        assert_eq!(keys[0], 3.0);
        assert_eq!(keys[2], 0.5);
        assert!(keys[3] > 3.0 && keys[1] > keys[3], "{keys:?}");
    }
}
