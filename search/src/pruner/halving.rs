//! Asynchronous successive halving (ASHA) with Optuna's `SuccessiveHalvingPruner`
//! semantics. Rung k sits at `r · η^(s+k)` epochs; a trial reaching a rung goes on only if
//! its value there ranks within the top ⌊m/η⌋ of the m values recorded at that rung (itself
//! included; the very best when ⌊m/η⌋ = 0). A trial's value at a rung is its first report at
//! or after the rung's epoch. Each rung keeps its values in order statistics, recorded as
//! trials reach it, so a decision does not scan the study.

use std::collections::HashMap;

use crate::config::{HalvingRule, Resource};
use crate::order::{OrderStats, Total};
use crate::pruner::{Decision, Pruner, StopReason};
use crate::trial::{Direction, TrialRecord, TrialState};

/// ASHA.
#[derive(Debug, Clone)]
pub struct SuccessiveHalving {
    rule: HalvingRule,
    direction: Direction,
    /// Epochs before the first rung, once known.
    min_resource: Option<u32>,
    ladder: Ladder,
}

impl SuccessiveHalving {
    /// The rule for a study optimizing in `direction`; `max_epochs` (the configured training
    /// length, if known) sets an `auto` minimum resource.
    pub fn new(rule: HalvingRule, direction: Direction, max_epochs: Option<u32>) -> Self {
        // Epochs before the first rung: the configured amount, or max(1, max epochs / 100)
        // with max epochs from the config, else from the first completed trial (Optuna).
        let min_resource = match rule.min_resource {
            Resource::Epochs(r) => Some(r),
            Resource::Auto => max_epochs.map(|longest| (longest / 100).max(1)),
        };
        SuccessiveHalving {
            rule,
            direction,
            min_resource,
            ladder: Ladder::default(),
        }
    }

    fn rungs(&self, min_resource: u32) -> Rungs {
        Rungs {
            min_resource,
            reduction_factor: self.rule.reduction_factor,
            min_early_stopping_rate: self.rule.min_early_stopping_rate,
            bootstrap_count: self.rule.bootstrap_count,
            direction: self.direction,
            rule: "asha",
        }
    }
}

impl Pruner for SuccessiveHalving {
    fn observe(&mut self, trial: &TrialRecord) {
        if self.min_resource.is_none()
            && trial.state == TrialState::Complete
            && let Some(longest) = trial.last_epoch()
        {
            self.min_resource = Some((longest / 100).max(1));
        }
        if let Some(r) = self.min_resource {
            let rungs = self.rungs(r);
            self.ladder.observe(&rungs, trial);
        }
    }

    fn restart(&mut self, number: u64) {
        self.ladder.forget(number);
    }

    fn decide(&mut self, trial: &TrialRecord) -> Decision {
        let Some(r) = self.min_resource else {
            return Decision::Continue;
        };
        let rungs = self.rungs(r);
        self.ladder.decide(&rungs, trial)
    }
}

/// The shape of one successive-halving ladder (shared by ASHA and each Hyperband bracket).
pub(crate) struct Rungs {
    pub min_resource: u32,
    pub reduction_factor: u32,
    pub min_early_stopping_rate: u32,
    pub bootstrap_count: u32,
    pub direction: Direction,
    pub rule: &'static str,
}

impl Rungs {
    /// The epoch of rung `k`, `None` past `u32`.
    fn rung_epoch(&self, k: u32) -> Option<u32> {
        let factor =
            u64::from(self.reduction_factor).checked_pow(self.min_early_stopping_rate + k)?;
        u32::try_from(u64::from(self.min_resource).checked_mul(factor)?).ok()
    }
}

/// What one ladder has recorded: the values at each rung, and which of them belong to trials
/// that may still start over.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ladder {
    /// Per rung, every value recorded there (NaN left out).
    rungs: Vec<OrderStats<Total>>,
    /// Per trial not yet terminal, the rungs it has a value at (and the value, to take back).
    open: HashMap<u64, Vec<(usize, Option<Total>)>>,
}

impl Ladder {
    /// Records the values of `trial`'s curve at the rungs it reached and has no value at yet.
    fn record(&mut self, rungs: &Rungs, trial: &TrialRecord) {
        let Some(last) = trial.last_epoch() else {
            return;
        };
        let recorded = self.open.entry(trial.number).or_default();
        for k in 0.. {
            let Some(rung) = rungs.rung_epoch(k) else {
                break;
            };
            if rung > last {
                break;
            }
            let k = k as usize;
            if recorded.iter().any(|&(r, _)| r == k) {
                continue;
            }
            let value = trial
                .first_at_or_after(rung)
                .map(|(_, v)| Total(v))
                .filter(|v| !v.0.is_nan());
            if let Some(v) = value {
                if self.rungs.len() <= k {
                    self.rungs.resize_with(k + 1, OrderStats::new);
                }
                self.rungs[k].insert(v);
            }
            recorded.push((k, value));
        }
    }

    /// Takes in a trial as it stands (known at start, or now terminal).
    pub fn observe(&mut self, rungs: &Rungs, trial: &TrialRecord) {
        self.record(rungs, trial);
        if trial.state != TrialState::Running {
            self.open.remove(&trial.number);
        }
    }

    /// Forgets what trial `number` recorded (it starts over).
    pub fn forget(&mut self, number: u64) {
        for (k, value) in self.open.remove(&number).unwrap_or_default() {
            if let (Some(v), Some(rung)) = (value, self.rungs.get_mut(k)) {
                rung.remove(&v);
            }
        }
    }

    /// The decision for `trial` after its newest report: it records the rungs it reached,
    /// then is judged at those reached by this report.
    pub fn decide(&mut self, rungs: &Rungs, trial: &TrialRecord) -> Decision {
        let Some(&(epoch, value)) = trial.intermediate.last() else {
            return Decision::Continue;
        };
        let previous = trial
            .intermediate
            .len()
            .checked_sub(2)
            .map_or(0, |i| trial.intermediate[i].0);
        self.record(rungs, trial);
        for k in 0.. {
            let Some(rung) = rungs.rung_epoch(k) else {
                return Decision::Continue;
            };
            if rung > epoch {
                return Decision::Continue;
            }
            if rung <= previous {
                // Judged at an earlier report, and promoted since the trial still runs.
                continue;
            }
            let stop = |threshold: f64, detail: String| {
                Decision::Stop(StopReason {
                    rule: rungs.rule.to_string(),
                    epoch,
                    value,
                    threshold,
                    detail,
                })
            };
            if value.is_nan() {
                return stop(f64::NAN, format!("NaN at rung {k} (epoch {rung})"));
            }
            let Some(competing) = self.rungs.get(k as usize) else {
                return Decision::Continue;
            };
            let m = competing.len();
            if m <= rungs.bootstrap_count as usize {
                return stop(
                    f64::NAN,
                    format!(
                        "only {m} values at rung {k} (epoch {rung}), bootstrap needs more than {}",
                        rungs.bootstrap_count
                    ),
                );
            }
            let keep = (m / rungs.reduction_factor as usize).max(1);
            let cut = match rungs.direction {
                Direction::Minimize => keep - 1,
                Direction::Maximize => m - keep,
            };
            let Some(Total(threshold)) = competing.kth(cut) else {
                return Decision::Continue;
            };
            let promoted = match rungs.direction {
                Direction::Minimize => value <= threshold,
                Direction::Maximize => value >= threshold,
            };
            if !promoted {
                let side = if rungs.direction == Direction::Minimize {
                    "above"
                } else {
                    "below"
                };
                return stop(
                    threshold,
                    format!(
                        "value {} is {side} the cut-off {} of the best {keep} of {m} at rung {k} (epoch {rung})",
                        super::figure(value),
                        super::figure(threshold)
                    ),
                );
            }
        }
        Decision::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pruner::{curve_trial as trial, decide_after};

    fn asha(direction: Direction) -> SuccessiveHalving {
        let rule = HalvingRule {
            reduction_factor: 2,
            min_resource: Resource::Epochs(1),
            min_early_stopping_rate: 0,
            bootstrap_count: 0,
        };
        SuccessiveHalving::new(rule, direction, Some(8))
    }

    #[test]
    fn first_trial_is_promoted_only_if_best() {
        let p = asha(Direction::Minimize);
        // Alone at rung 0 (epoch 1): it is the best of one.
        assert_eq!(
            decide_after(&p, &trial(0, TrialState::Running, &[0.5]), &[]),
            Decision::Continue
        );
        let history = vec![trial(0, TrialState::Running, &[0.5, 0.4])];
        // Two values at rung 0, keep ⌊2/2⌋ = 1: 0.6 loses to 0.5.
        let Decision::Stop(r) = decide_after(&p, &trial(1, TrialState::Running, &[0.6]), &history)
        else {
            panic!("expected a stop")
        };
        assert_eq!((r.epoch, r.value, r.threshold), (1, 0.6, 0.5));
        assert_eq!(
            decide_after(&p, &trial(1, TrialState::Running, &[0.3]), &history),
            Decision::Continue
        );
    }

    #[test]
    fn rungs_are_judged_once_at_their_epochs() {
        let p = asha(Direction::Minimize);
        let history = vec![
            trial(0, TrialState::Complete, &[0.9, 0.8, 0.7, 0.1]),
            trial(1, TrialState::Complete, &[0.8, 0.7, 0.6, 0.2]),
            trial(2, TrialState::Pruned, &[0.95]),
        ];
        // Epoch 1: values 0.9, 0.8, 0.95, 0.5 → keep 2: cut-off 0.8, promoted.
        assert_eq!(
            decide_after(&p, &trial(3, TrialState::Running, &[0.5]), &history),
            Decision::Continue
        );
        // Epoch 3 is not a rung (rungs at 1, 2, 4).
        assert_eq!(
            decide_after(
                &p,
                &trial(3, TrialState::Running, &[0.5, 0.6, 9.0]),
                &history
            ),
            Decision::Continue
        );
        // Epoch 4: rung 2 values 0.1, 0.2 and ours 0.3 → keep 1: stop.
        let Decision::Stop(r) = decide_after(
            &p,
            &trial(3, TrialState::Running, &[0.5, 0.6, 9.0, 0.3]),
            &history,
        ) else {
            panic!("expected a stop")
        };
        assert_eq!((r.epoch, r.threshold), (4, 0.1));
    }

    #[test]
    fn maximize_keeps_the_largest() {
        let p = asha(Direction::Maximize);
        let history = vec![
            trial(0, TrialState::Running, &[0.5]),
            trial(1, TrialState::Running, &[0.7]),
        ];
        // Three values 0.5, 0.7, ours → keep 1.
        assert!(decide_after(&p, &trial(2, TrialState::Running, &[0.6]), &history).is_stop());
        assert_eq!(
            decide_after(&p, &trial(2, TrialState::Running, &[0.8]), &history),
            Decision::Continue
        );
    }

    #[test]
    fn auto_min_resource_waits_for_knowledge() {
        let rule = HalvingRule {
            reduction_factor: 4,
            min_resource: Resource::Auto,
            min_early_stopping_rate: 0,
            bootstrap_count: 0,
        };
        let p = SuccessiveHalving::new(rule, Direction::Minimize, None);
        let history = vec![trial(0, TrialState::Running, &[0.1])];
        assert_eq!(
            decide_after(&p, &trial(1, TrialState::Running, &[0.9]), &history),
            Decision::Continue
        );
        let history = vec![trial(0, TrialState::Complete, &[0.1])];
        assert!(decide_after(&p, &trial(1, TrialState::Running, &[0.9]), &history).is_stop());
    }
}
