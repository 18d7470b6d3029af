//! Several objectives: one GP per objective (standardized, hyperparameters warm-started from the
//! previous call) and the next point where the expected hypervolume improvement of the
//! observed front is largest ([`crate::hypervolume`]), times the probability of
//! feasibility under constraints. Pending points are believed: each objective's GP is
//! conditioned on its own posterior mean there, and that mean joins the front, so the
//! improvement a pending point promises is not promised again and the parallel points
//! spread along the front.

use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::constraints::{self, Margins, Standing};
use super::{Engine, GLOBAL_POINTS, REFIT_FROM, REFIT_GROWTH, Rows};
use crate::Error;
use crate::acquisition::Acquisition;
use crate::gp::{Gp, Standardized};
use crate::hypervolume::HypervolumeImprovement;
use crate::kernel::Inputs;
use crate::optimize::{Region, maximize};

/// What the engine knows of a study of several objectives: observed points with every
/// objective's value (to be minimized) and pending points, all row-major in the unit-cube
/// encoding.
#[derive(Debug, Clone, Copy)]
pub struct ParetoHistory<'a> {
    /// Observed points, `n×d` row-major.
    pub points: &'a [f64],
    /// The number of objectives, `m` (at least 2).
    pub count: usize,
    /// Every objective's value per observed point, `n×m` row-major; a point with a NaN or
    /// infinite value (a failed evaluation) is known but not modelled.
    pub objectives: &'a [f64],
    /// Pending points, `p×d` row-major.
    pub pending: &'a [f64],
}

/// The reference point lies this share of the front's range beyond its worst member in
/// each objective (on the GPs' standardized scale, the range at least 1): the front's nadir
/// pushed out a little, as BoTorch's `infer_reference_point` does (0.1 is the multiplier
/// Ishibuchi et al. 2011 found robust). The improvement is then measured where the front
/// is. Measured at 20 seeds (median hypervolume regret, BraninCurrin / DTLZ2): the worst
/// of all observations plus 0.01 of their range, as before, 1.53 / 0.065; the nadir plus
/// 0.1, 0.84 / 0.013; plus 0.05, 1.19 / 0.011 (but a worst BraninCurrin seed at 4.8).
const REFERENCE_MARGIN: f64 = 0.1;

/// The GPs of one call, one per objective, extended by beliefs as suggestions are made.
struct ParetoModel {
    objectives: Vec<Gp>,
    /// The non-dominated feasible observations' values on the GPs' scales, and the beliefs
    /// at pending points.
    front: Vec<Vec<f64>>,
    /// Inputs of the non-dominated feasible observations: where local searches start.
    front_rows: Vec<Vec<f64>>,
    reference: Vec<f64>,
    standing: Option<Standing>,
}

impl ParetoModel {
    /// Conditions every GP on its posterior mean at `point` and adds those to the front.
    fn believe(&mut self, point: &[f64]) {
        let means: Vec<f64> = self
            .objectives
            .iter()
            .map(|gp| gp.predict(point).mean[0])
            .collect();
        for (gp, &mean) in self.objectives.iter_mut().zip(&means) {
            if let Some(extended) = gp.extended(point, &[mean]) {
                *gp = extended;
            }
        }
        self.front.push(means);
    }
}

impl Engine {
    /// The next `count` points of a study of several objectives: where the expected hypervolume
    /// improvement of the feasible observed front is largest (see the module's doc), each
    /// distinct from every observed and pending point. Before enough observations exist,
    /// points come from the Sobol design; while no observation is feasible, the probability
    /// of feasibility alone is maximized. Every random choice flows from `seed`.
    ///
    /// # Errors
    /// [`Error::ZeroCount`], [`Error::Shape`], [`Error::ObjectiveCount`],
    /// [`Error::MarginCount`] or [`Error::OutsideCube`] naming the offending input.
    pub fn suggest_pareto(
        &mut self,
        history: &ParetoHistory<'_>,
        margins: &Margins<'_>,
        count: usize,
        seed: u64,
    ) -> Result<Vec<Vec<f64>>, Error> {
        let Rows { observed, pending } =
            self.checked_input(history.points, history.pending, margins, count, |points| {
                let m = history.count;
                (m < 2 || history.objectives.len() != m * points).then_some(Error::ObjectiveCount {
                    points,
                    objectives: m,
                    values: history.objectives.len(),
                })
            })?;
        let values: Vec<Vec<f64>> = history
            .objectives
            .chunks(history.count)
            .map(<[f64]>::to_vec)
            .collect();
        let kept: Vec<usize> = (0..observed.len())
            .filter(|&i| values[i].iter().all(|v| v.is_finite()))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut model = None;
        if self.model_takes_over(kept.len(), pending.len()) {
            model = self.pareto_model(&observed, &values, &kept, margins, &pending, &mut rng);
        }
        Ok(self.propose(
            model,
            &observed,
            &pending,
            count,
            &mut rng,
            Self::next_on_front,
        ))
    }

    /// The GPs of this call, the feasible front on their scales and the reference point,
    /// with the pending points believed. `None` when a GP cannot be built.
    fn pareto_model(
        &mut self,
        observed: &[Vec<f64>],
        values: &[Vec<f64>],
        kept: &[usize],
        margins: &Margins<'_>,
        pending: &[Vec<f64>],
        rng: &mut ChaCha8Rng,
    ) -> Option<ParetoModel> {
        let first: Vec<f64> = kept.iter().map(|&i| values[i][0]).collect();
        let standing = self.constraint_standing(observed, margins, kept, &first, rng);
        let n = kept.len();
        let reuse = n >= REFIT_FROM
            && (n as f64) < self.fitted_at as f64 * REFIT_GROWTH
            && self.objective_warm.iter().all(Option::is_some);
        if !reuse {
            self.fitted_at = n;
        }
        // Past `GLOBAL_POINTS`, an even spread over the history.
        let fitted: Vec<usize> = if n <= GLOBAL_POINTS {
            kept.to_vec()
        } else {
            (0..GLOBAL_POINTS)
                .map(|k| kept[k * n / GLOBAL_POINTS])
                .collect()
        };
        let inputs = Inputs::new(
            fitted.iter().flat_map(|&i| observed[i].clone()).collect(),
            self.columns.categorical_mask().to_vec(),
        );
        let m = values.first().map_or(2, Vec::len);
        self.objective_warm.resize(m, None);
        let mut models = Vec::with_capacity(m);
        for (j, warm) in self.objective_warm.iter_mut().enumerate() {
            let y: Vec<f64> = fitted.iter().map(|&i| values[i][j]).collect();
            let settings = &self.settings.fit;
            let model =
                Standardized::fit(inputs.clone(), &y, warm.as_deref(), reuse, settings, rng)?;
            *warm = Some(model.raw.clone());
            models.push(model);
        }
        let feasible = |i: usize| margins.row(i).iter().all(|&m| m <= 0.0);
        let on_scale = |i: usize| -> Vec<f64> {
            (0..m)
                .map(|j| models[j].transform.forward(values[i][j]))
                .collect()
        };
        let scored: Vec<usize> = kept.iter().copied().filter(|&i| feasible(i)).collect();
        let basis: Vec<Vec<f64>> = if scored.is_empty() { kept } else { &scored }
            .iter()
            .map(|&i| on_scale(i))
            .collect();
        // The feasible observations no other one dominates (the dominated ones add nothing
        // to the front's hypervolume).
        let (mut front, mut front_rows) = (Vec::new(), Vec::new());
        if !scored.is_empty() {
            for (k, on) in non_dominated(&basis).into_iter().enumerate() {
                if on {
                    front.push(basis[k].clone());
                    front_rows.push(observed[scored[k]].clone());
                }
            }
        }
        let reference = reference_point(if front.is_empty() { &basis } else { &front });
        let mut model = ParetoModel {
            objectives: models.into_iter().map(|model| model.gp).collect(),
            front,
            front_rows,
            reference,
            standing,
        };
        for p in pending {
            model.believe(p);
        }
        Some(model)
    }

    /// The point maximizing log-EHVI (under constraints, plus the log probability of
    /// feasibility) that is not known yet; then believed.
    fn next_on_front(
        &self,
        model: &mut ParetoModel,
        known: &[Vec<f64>],
        rng: &mut ChaCha8Rng,
    ) -> Vec<f64> {
        let ehvi =
            HypervolumeImprovement::new(model.objectives.clone(), &model.front, &model.reference);
        let acquisition = Acquisition::Hypervolume(Arc::new(ehvi));
        let acquisition = constraints::constrain(model.standing.as_ref(), acquisition);
        let start = (!model.front_rows.is_empty())
            .then(|| model.front_rows[rng.random_range(0..model.front_rows.len())].clone());
        let ranked = maximize(
            &model.objectives[0],
            &acquisition,
            &self.columns,
            start.as_deref(),
            &Region::cube(self.columns.len()),
            &self.settings.search,
            rng,
        );
        let point = self.first_new(ranked, known);
        model.believe(&point);
        point
    }
}

/// The reference point beyond `points` (the front; every observation while none is
/// feasible): their worst value in each objective plus [`REFERENCE_MARGIN`] of their range
/// there, the range at least 1.
fn reference_point(points: &[Vec<f64>]) -> Vec<f64> {
    let m = points.first().map_or(0, Vec::len);
    (0..m)
        .map(|j| {
            let (lo, hi) = points
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |acc, v| {
                    (acc.0.min(v[j]), acc.1.max(v[j]))
                });
            hi + REFERENCE_MARGIN * (hi - lo).max(1.0)
        })
        .collect()
}

/// Whether each of `points` is dominated by no other (equal points do not dominate each
/// other). In lexicographic order a point can only be dominated by one before it, so each
/// is compared with the non-dominated ones found so far: O(n·F·m) for a front of F.
fn non_dominated(points: &[Vec<f64>]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .iter()
            .zip(&points[b])
            .fold(std::cmp::Ordering::Equal, |o, (x, y)| {
                o.then(x.total_cmp(y))
            })
    });
    let dominates = |p: &[f64], q: &[f64]| p.iter().zip(q).all(|(a, b)| a <= b) && p != q;
    let mut on = vec![false; points.len()];
    let mut front: Vec<usize> = Vec::new();
    for i in order {
        if !front.iter().any(|&f| dominates(&points[f], &points[i])) {
            on[i] = true;
            front.push(i);
        }
    }
    on
}

#[cfg(test)]
mod tests {
    use super::{non_dominated, reference_point};

    #[test]
    fn the_reference_lies_a_tenth_of_the_fronts_range_beyond_its_nadir() {
        let front = vec![vec![0.0, 3.0], vec![1.0, 1.0], vec![2.5, -1.0]];
        let reference = reference_point(&front);
        assert!((reference[0] - 2.75).abs() < 1e-12, "{reference:?}");
        assert!((reference[1] - 3.4).abs() < 1e-12, "{reference:?}");
        // A narrow range counts as 1 (one standard deviation of the observations).
        assert_eq!(reference_point(&[vec![0.5, 0.5]]), vec![0.6, 0.6]);
    }

    #[test]
    fn the_sweep_agrees_with_the_pairwise_definition() {
        for m in [2, 3, 4] {
            let points: Vec<Vec<f64>> = (0..60)
                .map(|k| {
                    [7, 5, 3, 2][..m]
                        .iter()
                        .zip([11, 9, 8, 5])
                        .map(|(a, b)| ((k * a) % b) as f64)
                        .collect()
                })
                .chain([vec![1.0; m], vec![1.0; m], vec![0.0; m], vec![0.0; m]])
                .collect();
            let pairwise: Vec<bool> = points
                .iter()
                .map(|p| {
                    !points
                        .iter()
                        .any(|q| q.iter().zip(p).all(|(a, b)| a <= b) && q != p)
                })
                .collect();
            assert_eq!(non_dominated(&points), pairwise, "{m} objectives");
            assert!(pairwise.iter().any(|&on| on) && pairwise.iter().any(|&on| !on));
        }
    }
}
