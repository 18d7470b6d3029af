//! Learning curves at any study size: per epoch, the 10th, 50th and 90th percentile of the
//! study metric over the trials that reached it; the few best trials' own curves; and where
//! each pruned trial was stopped.

use serde::Serialize;

use crate::sample;
use crate::trials::{Outcome, StudyTrials};

/// Best complete trials whose whole curve is drawn.
pub const HIGHLIGHTED: usize = 5;
/// Stop markers drawn at most (thinned past it, keeping the extremes).
pub const STOP_MARKERS: usize = 4000;

/// The metric's distribution at one epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    /// The epoch.
    pub epoch: u32,
    /// Trials that reported it.
    pub trials: usize,
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
}

/// One trial's whole curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    /// The trial.
    pub number: u64,
    /// Its final value.
    pub value: Option<f64>,
    /// `(epoch, value)`.
    pub points: Vec<(u32, f64)>,
}

/// Where a pruned trial stopped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stop {
    /// The trial.
    pub number: u64,
    /// Its last epoch.
    pub epoch: u32,
    /// Its value there.
    pub value: f64,
}

/// A study's learning curves, bounded in size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curves {
    /// The metric.
    pub metric: String,
    /// Whether higher is better.
    pub maximize: bool,
    /// Per epoch, in epoch order.
    pub bands: Vec<Band>,
    /// The best complete trials' curves, best first.
    pub highlighted: Vec<Curve>,
    /// Pruned trials' stopping points (a thinned sample past [`STOP_MARKERS`]).
    pub stops: Vec<Stop>,
    /// Pruned trials in all.
    pub pruned: usize,
    /// Trials with a curve.
    pub curves: usize,
}

/// The curves of `trials`.
pub fn curves(trials: &StudyTrials) -> Curves {
    let mut by_epoch: Vec<Vec<f64>> = Vec::new();
    let mut stops = Vec::new();
    let mut with_curve = 0;
    for row in &trials.rows {
        if row.curve.is_empty() {
            continue;
        }
        with_curve += 1;
        for &(epoch, value) in &row.curve {
            let at = epoch as usize;
            if at >= by_epoch.len() {
                by_epoch.resize_with(at + 1, Vec::new);
            }
            if value.is_finite() {
                by_epoch[at].push(value);
            }
        }
        if row.outcome == Outcome::Pruned
            && let Some(&(epoch, value)) = row.curve.last()
        {
            stops.push(Stop {
                number: row.number,
                epoch,
                value,
            });
        }
    }
    let bands = by_epoch
        .iter_mut()
        .enumerate()
        .filter_map(|(epoch, values)| {
            Some(Band {
                epoch: epoch as u32,
                trials: values.len(),
                p10: sample::quantile(values, 0.1)?,
                p50: sample::quantile(values, 0.5)?,
                p90: sample::quantile(values, 0.9)?,
            })
        })
        .collect();
    let pruned = stops.len();
    let stop_values: Vec<f64> = stops.iter().map(|stop| stop.value).collect();
    let stops = sample::envelope(&stop_values, STOP_MARKERS, &[])
        .into_iter()
        .map(|at| stops[at])
        .collect();
    Curves {
        metric: trials.metric.clone(),
        maximize: trials.maximize,
        bands,
        highlighted: best_curves(trials, HIGHLIGHTED),
        stops,
        pruned,
        curves: with_curve,
    }
}

/// The curves of the `k` best complete trials, best first (ties: lower number first).
fn best_curves(trials: &StudyTrials, k: usize) -> Vec<Curve> {
    let mut complete: Vec<_> = trials
        .complete()
        .filter(|row| !row.curve.is_empty())
        .collect();
    complete.sort_by(|a, b| {
        let (a_value, b_value) = (a.value.unwrap_or(f64::NAN), b.value.unwrap_or(f64::NAN));
        let order = a_value.total_cmp(&b_value);
        let order = if trials.maximize {
            order.reverse()
        } else {
            order
        };
        order.then(a.number.cmp(&b.number))
    });
    complete
        .into_iter()
        .take(k)
        .map(|row| Curve {
            number: row.number,
            value: row.value,
            points: row.curve.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trials::tests::study;

    #[test]
    fn bands_summarize_each_epoch_and_pruned_trials_mark_where_they_stopped() {
        let mut trials = study(true, &[0.5, 0.9, 0.7, 0.1]);
        for (i, row) in trials.rows.iter_mut().enumerate() {
            row.curve = (1..=3).map(|e| (e, e as f64 * 0.1 + i as f64)).collect();
        }
        trials.rows[3].outcome = Outcome::Pruned;
        trials.rows[3].curve.truncate(1);
        let curves = curves(&trials);
        assert_eq!(curves.bands.len(), 3);
        assert_eq!(curves.bands[0].trials, 4);
        assert_eq!(curves.bands[2].trials, 3);
        assert!((curves.bands[2].p50 - 1.3).abs() < 1e-12);
        assert_eq!(curves.highlighted[0].number, 1);
        assert_eq!(curves.highlighted.len(), 3);
        assert_eq!(
            curves.stops,
            vec![Stop {
                number: 3,
                epoch: 1,
                value: 3.1
            }]
        );
    }
}
