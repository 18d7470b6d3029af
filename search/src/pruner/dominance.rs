//! The median and percentile rules for a study with several objectives: a trial is stopped
//! at an epoch when enough completed trials *dominate* it at that epoch (no worse in every
//! objective, each in its own direction, and better in one).
//!
//! With percentile `p` (50 for the median rule), a trial is stopped at epoch `e` when at
//! least `⌈(100 − p)% · n⌉` of the `n` completed trials that reached `e` dominate it there.
//! With one objective this is close to Optuna's `PercentilePruner` (a value worse than the
//! `p`-th percentile has about `(100 − p)%` of the values better than it); with several, a
//! trial on the front of the completed trials at `e` is never stopped, however bad it is in
//! one objective. Unlike the single-objective rule, the trial's values *at* the epoch are
//! judged, not its best so far (there is no single best vector).
//!
//! A trial's value of an objective at epoch `e` is the one its report at `e` carries, else
//! the last one an earlier report carried: a metric reported once (an architecture's
//! `parameters`, sent with the first epoch) counts as constant from then on. An objective
//! no report up to `e` carried leaves the trial out of the comparison at `e`: a running
//! trial is not judged, a completed one is not a reference there. A NaN value counts as the
//! worst in its objective for the trial judged, and keeps a completed trial out of the
//! references at that epoch. Constraints (`[study] constraints`) are not looked at.
//!
//! Cost: the completed trials' values are kept per epoch as loss vectors; a decision counts
//! the dominators among the `n` vectors of its epoch, `O(m·n)` for `m` objectives (about a
//! microsecond per thousand trials), never looking at curves or at running trials.

use std::collections::{BTreeMap, HashMap};

use crate::config::PercentileRule;
use crate::multi::pareto::dominates;
use crate::pruner::percentile::first_in_interval;
use crate::pruner::{Decision, Pruner, StopReason, figure};
use crate::trial::{Direction, EpochObjectives, TrialRecord, TrialState};

/// The median or percentile rule by Pareto dominance, for several objectives.
#[derive(Debug, Clone)]
pub struct DominancePruner {
    rule: PercentileRule,
    /// The objectives' metrics, for the explanations.
    metrics: Vec<String>,
    directions: Vec<Direction>,
    /// Trials observed complete.
    completed: usize,
    /// Per epoch, the loss vectors of the completed trials whose every objective is known
    /// (and not NaN) at it.
    by_epoch: BTreeMap<u32, Vec<Vec<f64>>>,
    /// Per running trial, what its reports so far make known: a decision folds in only the
    /// reports since the last one.
    running: HashMap<u64, Known>,
}

/// The values a trial's first `seen` reports make known: each objective's last one.
#[derive(Debug, Clone, Default)]
struct Known {
    seen: usize,
    last: Vec<Option<f64>>,
}

impl Known {
    fn new(objectives: usize) -> Known {
        Known {
            seen: 0,
            last: vec![None; objectives],
        }
    }

    /// Takes in one report: what it carries replaces what was known.
    fn take(&mut self, report: &EpochObjectives) {
        for (known, value) in self.last.iter_mut().zip(&report.values) {
            if value.is_some() {
                *known = *value;
            }
        }
        self.seen += 1;
    }

    /// Every objective's value, if each is known.
    fn values(&self) -> Option<Vec<f64>> {
        self.last.iter().copied().collect()
    }
}

impl DominancePruner {
    /// The rule for objectives `metrics`, each optimized in the direction at its index.
    pub fn new(rule: PercentileRule, metrics: Vec<String>, directions: Vec<Direction>) -> Self {
        DominancePruner {
            rule,
            metrics,
            directions,
            completed: 0,
            by_epoch: BTreeMap::new(),
            running: HashMap::new(),
        }
    }

    fn name(&self) -> &'static str {
        if self.rule.percentile == 50.0 {
            "median"
        } else {
            "percentile"
        }
    }

    /// How many of `n` reference trials must dominate a trial to stop it: `⌈(100 − p)% · n⌉`,
    /// at least 1.
    pub fn needed(&self, n: usize) -> usize {
        let share = (100.0 - self.rule.percentile) / 100.0;
        // The small margin keeps an exact product (0.5 · 12) from rounding up.
        ((share * n as f64 - 1e-9).ceil() as usize).max(1)
    }

    /// `values` as losses; a NaN becomes the worst loss.
    fn losses(&self, values: &[f64]) -> Vec<f64> {
        values
            .iter()
            .zip(&self.directions)
            .map(|(&v, d)| {
                if v.is_nan() {
                    f64::INFINITY
                } else {
                    d.as_loss(v)
                }
            })
            .collect()
    }

    /// What the reports of running `trial` make known at its newest epoch.
    fn known_now(&mut self, trial: &TrialRecord) -> Option<Vec<f64>> {
        let curve = &trial.intermediate_objectives;
        let objectives = self.directions.len();
        let known = self
            .running
            .entry(trial.number)
            .or_insert_with(|| Known::new(objectives));
        if known.seen > curve.len() {
            *known = Known::new(objectives);
        }
        for report in &curve[known.seen..] {
            known.take(report);
        }
        known.values()
    }
}

impl Pruner for DominancePruner {
    fn observe(&mut self, trial: &TrialRecord) {
        if trial.state != TrialState::Running {
            self.running.remove(&trial.number);
        }
        if trial.state != TrialState::Complete {
            return;
        }
        self.completed += 1;
        let mut known = Known::new(self.directions.len());
        for report in &trial.intermediate_objectives {
            known.take(report);
            if let Some(values) = known.values().filter(|v| v.iter().all(|x| !x.is_nan())) {
                let losses = self.losses(&values);
                self.by_epoch.entry(report.epoch).or_default().push(losses);
            }
        }
    }

    fn restart(&mut self, number: u64) {
        // Completed trials never start over; a running one's reports are taken in afresh.
        self.running.remove(&number);
    }

    fn decide(&mut self, trial: &TrialRecord) -> Decision {
        let curve = &trial.intermediate_objectives;
        let Some(epoch) = curve.last().map(|r| r.epoch) else {
            return Decision::Continue;
        };
        let values = self.known_now(trial);
        if epoch <= self.rule.warmup_epochs {
            return Decision::Continue;
        }
        let previous = curve.iter().rev().map(|r| r.epoch).find(|&e| e != epoch);
        if !first_in_interval(&self.rule, epoch, previous) {
            return Decision::Continue;
        }
        if self.completed == 0 || self.completed < self.rule.startup_trials as usize {
            return Decision::Continue;
        }
        let Some(values) = values else {
            return Decision::Continue;
        };
        let Some(references) = self.by_epoch.get(&epoch) else {
            return Decision::Continue;
        };
        let n = references.len();
        if n == 0 || n < self.rule.min_trials as usize {
            return Decision::Continue;
        }
        let losses = self.losses(&values);
        let dominators = references.iter().filter(|r| dominates(r, &losses)).count();
        let needed = self.needed(n);
        if dominators < needed {
            return Decision::Continue;
        }
        let shown: Vec<String> = self
            .metrics
            .iter()
            .zip(&values)
            .map(|(metric, &v)| format!("{metric} {}", figure(v)))
            .collect();
        Decision::Stop(StopReason {
            rule: self.name().to_string(),
            epoch,
            value: dominators as f64,
            threshold: needed as f64,
            detail: format!(
                "dominated at epoch {epoch} by {dominators} of {n} completed trials, \
                 {needed} needed ({})",
                shown.join(", ")
            ),
        })
    }
}

#[cfg(test)]
mod tests;
