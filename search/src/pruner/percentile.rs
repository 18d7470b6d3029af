//! Median and percentile stopping rules, with Optuna's `PercentilePruner` semantics: stop a
//! trial whose best value so far is strictly worse than the given percentile of the
//! completed trials' values at the same epoch. The completed trials' values are kept per
//! epoch in order statistics, so a decision costs the same at the millionth trial as at the
//! first.

use std::collections::{BTreeMap, HashMap};

use crate::config::PercentileRule;
use crate::order::{OrderStats, Total};
use crate::pruner::{Decision, Pruner, StopReason};
use crate::trial::{Direction, TrialRecord, TrialState};

/// The median (percentile 50) or percentile rule.
#[derive(Debug, Clone)]
pub struct PercentilePruner {
    rule: PercentileRule,
    direction: Direction,
    /// Trials observed complete.
    completed: usize,
    /// Per epoch, the values (NaN left out) the completed trials reported at it.
    by_epoch: BTreeMap<u32, OrderStats<Total>>,
    /// Per running trial, the best value of its first `n` reports (NaN when all are NaN):
    /// a decision folds in only the reports since the last one.
    running_best: HashMap<u64, (usize, f64)>,
}

impl PercentilePruner {
    /// The rule for a study optimizing in `direction`.
    pub fn new(rule: PercentileRule, direction: Direction) -> Self {
        PercentilePruner {
            rule,
            direction,
            completed: 0,
            by_epoch: BTreeMap::new(),
            running_best: HashMap::new(),
        }
    }

    fn name(&self) -> &'static str {
        if self.rule.percentile == 50.0 {
            "median"
        } else {
            "percentile"
        }
    }

    /// Whether `epoch` is the first report in its interval after the warm-up.
    fn first_in_interval(&self, trial: &TrialRecord, epoch: u32) -> bool {
        let previous = trial
            .intermediate
            .iter()
            .rev()
            .map(|&(e, _)| e)
            .find(|&e| e != epoch);
        first_in_interval(&self.rule, epoch, previous)
    }
}

/// Whether a report at `epoch` (past the warm-up), following one at `previous`, is the
/// first in its interval of `rule.interval_epochs` epochs: the rule judges only those.
pub(super) fn first_in_interval(rule: &PercentileRule, epoch: u32, previous: Option<u32>) -> bool {
    let warmup = rule.warmup_epochs;
    let interval = rule.interval_epochs.max(1);
    let since = epoch - warmup - 1;
    let lower_check = warmup + 1 + since / interval * interval;
    previous.is_none_or(|p| p < lower_check)
}

impl Pruner for PercentilePruner {
    fn observe(&mut self, trial: &TrialRecord) {
        if trial.state != TrialState::Running {
            self.running_best.remove(&trial.number);
        }
        if trial.state != TrialState::Complete {
            return;
        }
        self.completed += 1;
        for &(epoch, value) in &trial.intermediate {
            if !value.is_nan() {
                self.by_epoch.entry(epoch).or_default().insert(Total(value));
            }
        }
    }

    fn restart(&mut self, number: u64) {
        // Only completed trials are taken in, and those never start over; a running one's
        // curve starts afresh.
        self.running_best.remove(&number);
    }

    fn decide(&mut self, trial: &TrialRecord) -> Decision {
        let Some(epoch) = trial.last_epoch() else {
            return Decision::Continue;
        };
        if epoch <= self.rule.warmup_epochs || !self.first_in_interval(trial, epoch) {
            return Decision::Continue;
        }
        let n_completed = self.completed;
        if n_completed == 0 || n_completed < self.rule.startup_trials as usize {
            return Decision::Continue;
        }
        let best = self.best_so_far(trial);
        let stop = |value: f64, threshold: f64, detail: String| {
            Decision::Stop(StopReason {
                rule: self.name().to_string(),
                epoch,
                value,
                threshold,
                detail,
            })
        };
        let Some(best) = best else {
            return stop(
                f64::NAN,
                f64::NAN,
                "every reported value is NaN".to_string(),
            );
        };
        let Some(values) = self.by_epoch.get(&epoch) else {
            return Decision::Continue;
        };
        if values.len() < self.rule.min_trials as usize || values.is_empty() {
            return Decision::Continue;
        }
        let p = match self.direction {
            Direction::Minimize => self.rule.percentile,
            Direction::Maximize => 100.0 - self.rule.percentile,
        };
        let Some(threshold) = values.percentile(p) else {
            return Decision::Continue;
        };
        let worse = match self.direction {
            Direction::Minimize => best > threshold,
            Direction::Maximize => best < threshold,
        };
        if !worse {
            return Decision::Continue;
        }
        let what = if self.rule.percentile == 50.0 {
            "median".to_string()
        } else {
            format!("{}th percentile", self.rule.percentile)
        };
        let relation = if self.direction == Direction::Minimize {
            "above"
        } else {
            "below"
        };
        stop(
            best,
            threshold,
            format!(
                "best value {} is {relation} the {what} {} of {} completed trials at this epoch",
                super::figure(best),
                super::figure(threshold),
                values.len()
            ),
        )
    }
}

/// The best value the trial reported so far (NaN ignored), `None` if all are NaN.
impl PercentilePruner {
    /// The best non-NaN value `trial` reported so far, folding in only what it reported
    /// since the last call (a curve only grows until the trial restarts or ends).
    fn best_so_far(&mut self, trial: &TrialRecord) -> Option<f64> {
        let direction = self.direction;
        let curve = &trial.intermediate;
        let (seen, best) = self
            .running_best
            .entry(trial.number)
            .or_insert((0, f64::NAN));
        if *seen > curve.len() {
            (*seen, *best) = (0, f64::NAN);
        }
        for &(_, value) in &curve[*seen..] {
            if !value.is_nan() && (best.is_nan() || direction.better(value, *best)) {
                *best = value;
            }
        }
        *seen = curve.len();
        (!best.is_nan()).then_some(*best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pruner::{curve_trial as trial, decide_after};

    fn rule() -> PercentileRule {
        PercentileRule {
            percentile: 50.0,
            startup_trials: 3,
            warmup_epochs: 1,
            interval_epochs: 1,
            min_trials: 1,
        }
    }

    fn percentile(values: &[f64], p: f64) -> f64 {
        let mut stats = OrderStats::new();
        values.iter().for_each(|&v| stats.insert(Total(v)));
        stats.percentile(p).expect("values")
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        assert_eq!(percentile(&[3.0, 1.0, 2.0, 4.0], 50.0), 2.5);
        assert_eq!(percentile(&[5.0, 1.0, 3.0], 50.0), 3.0);
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 25.0) - 2.0).abs() < 1e-12);
        assert!((percentile(&[10.0, 20.0], 75.0) - 17.5).abs() < 1e-12);
    }

    #[test]
    fn median_rule_minimize() {
        let history = vec![
            trial(0, TrialState::Complete, &[1.0, 0.8, 0.6]),
            trial(1, TrialState::Complete, &[1.2, 0.9, 0.7]),
            trial(2, TrialState::Complete, &[1.1, 1.0, 0.9]),
        ];
        let p = PercentilePruner::new(rule(), Direction::Minimize);
        // Warm-up: epoch 1 is never judged, however bad.
        assert_eq!(
            decide_after(&p, &trial(3, TrialState::Running, &[9.0]), &history),
            Decision::Continue
        );
        // Epoch 2: median of 0.8, 0.9, 1.0 is 0.9; 0.95 is worse.
        let Decision::Stop(r) =
            decide_after(&p, &trial(3, TrialState::Running, &[9.0, 0.95]), &history)
        else {
            panic!("expected a stop")
        };
        assert_eq!(
            (r.rule.as_str(), r.epoch, r.value, r.threshold),
            ("median", 2, 0.95, 0.9)
        );
        // Equal to the median is not worse.
        assert_eq!(
            decide_after(&p, &trial(3, TrialState::Running, &[9.0, 0.9]), &history),
            Decision::Continue
        );
        // The best so far counts, not the last value.
        assert_eq!(
            decide_after(&p, &trial(3, TrialState::Running, &[0.5, 2.0]), &history),
            Decision::Continue
        );
    }

    #[test]
    fn median_rule_maximize() {
        let history = vec![
            trial(0, TrialState::Complete, &[0.5, 0.7]),
            trial(1, TrialState::Complete, &[0.6, 0.8]),
            trial(2, TrialState::Complete, &[0.4, 0.9]),
        ];
        let p = PercentilePruner::new(rule(), Direction::Maximize);
        assert!(decide_after(&p, &trial(3, TrialState::Running, &[0.1, 0.75]), &history).is_stop());
        assert_eq!(
            decide_after(&p, &trial(3, TrialState::Running, &[0.1, 0.85]), &history),
            Decision::Continue
        );
    }

    #[test]
    fn waits_for_startup_trials_and_min_trials() {
        let two = vec![
            trial(0, TrialState::Complete, &[0.1, 0.1]),
            trial(1, TrialState::Complete, &[0.1, 0.1]),
        ];
        let p = PercentilePruner::new(rule(), Direction::Minimize);
        assert_eq!(
            decide_after(&p, &trial(2, TrialState::Running, &[5.0, 5.0]), &two),
            Decision::Continue
        );
        let mut r = rule();
        r.startup_trials = 1;
        r.min_trials = 3;
        let p = PercentilePruner::new(r, Direction::Minimize);
        assert_eq!(
            decide_after(&p, &trial(2, TrialState::Running, &[5.0, 5.0]), &two),
            Decision::Continue
        );
        // Running and pruned trials never count as the reference.
        let mixed = vec![
            trial(0, TrialState::Running, &[0.1, 0.1]),
            trial(1, TrialState::Pruned, &[0.1, 0.1]),
        ];
        assert_eq!(
            decide_after(
                &PercentilePruner::new(rule(), Direction::Minimize),
                &trial(2, TrialState::Running, &[5.0, 5.0]),
                &mixed
            ),
            Decision::Continue
        );
    }

    #[test]
    fn nan_curve_is_stopped_and_interval_is_obeyed() {
        let history: Vec<_> = (0..3)
            .map(|i| trial(i, TrialState::Complete, &[1.0, 1.0, 1.0, 1.0]))
            .collect();
        let p = PercentilePruner::new(rule(), Direction::Minimize);
        let Decision::Stop(r) = decide_after(
            &p,
            &trial(3, TrialState::Running, &[f64::NAN, f64::NAN]),
            &history,
        ) else {
            panic!("expected a stop")
        };
        assert!(r.value.is_nan());
        let mut every2 = rule();
        every2.interval_epochs = 2;
        let p = PercentilePruner::new(every2, Direction::Minimize);
        // Checks at epochs 2 and 4 only.
        assert!(decide_after(&p, &trial(3, TrialState::Running, &[5.0, 5.0]), &history).is_stop());
        assert_eq!(
            decide_after(
                &p,
                &trial(3, TrialState::Running, &[5.0, 5.0, 5.0]),
                &history
            ),
            Decision::Continue
        );
        assert!(
            decide_after(
                &p,
                &trial(3, TrialState::Running, &[5.0, 5.0, 5.0, 5.0]),
                &history
            )
            .is_stop()
        );
    }
}
