//! The history samplers and pruners read: one [`TrialRecord`] per trial of the study.

use serde::{Deserialize, Serialize};

use crate::multi::Judged;
use crate::params::Params;

/// Whether the study minimizes or maximizes its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller is better.
    Minimize,
    /// Larger is better.
    Maximize,
}

impl Direction {
    /// Whether `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Minimize => a < b,
            Direction::Maximize => a > b,
        }
    }

    /// `value` turned into a loss (smaller is better).
    pub fn as_loss(self, value: f64) -> f64 {
        match self {
            Direction::Minimize => value,
            Direction::Maximize => -value,
        }
    }
}

/// Where a trial stands, as far as samplers and pruners care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Params are assigned and the trial has not finished (queued or running, any attempt).
    Running,
    /// Finished with a final value.
    Complete,
    /// Stopped early by a pruner; its intermediate values are what is known.
    Pruned,
    /// Failed for good (after its retries).
    Failed,
}

/// One trial as the samplers and pruners see it. The coordinator builds these from its
/// store: every trial of the study, running ones included, ordered by `number`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// The trial's number within the study (unique).
    pub number: u64,
    /// The params it runs with.
    pub params: Params,
    /// Where it stands.
    pub state: TrialState,
    /// The final metric value (for `Complete` trials).
    pub value: Option<f64>,
    /// Per-epoch metric values `(epoch, value)`, epochs strictly increasing.
    pub intermediate: Vec<(u32, f64)>,
    /// For a complete trial of a study with several objectives or constraints: every
    /// objective's value and every constraint's margin. `None` otherwise.
    #[serde(default)]
    pub judged: Option<Judged>,
    /// For a study with several objectives: every objective's value per epoch, epochs
    /// strictly increasing (one entry per report carrying any of them). Empty otherwise.
    #[serde(default)]
    pub intermediate_objectives: Vec<EpochObjectives>,
}

/// One epoch's report read against the study's objectives (several objectives only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochObjectives {
    /// The epoch.
    pub epoch: u32,
    /// Each objective's value at it, in the order of the goals; `None` where the report did
    /// not carry the objective's metric.
    pub values: Vec<Option<f64>>,
}

impl EpochObjectives {
    /// Per-objective curves `(epoch, value)` (each with strictly increasing epochs, as
    /// stored) merged into one entry per epoch that any of them reports.
    pub fn merge(curves: &[Vec<(u32, f64)>]) -> Vec<EpochObjectives> {
        let mut epochs: Vec<u32> = curves.iter().flatten().map(|&(e, _)| e).collect();
        epochs.sort_unstable();
        epochs.dedup();
        let mut next = vec![0usize; curves.len()];
        epochs
            .into_iter()
            .map(|epoch| {
                let values = curves
                    .iter()
                    .zip(next.iter_mut())
                    .map(|(curve, at)| match curve.get(*at) {
                        Some(&(e, v)) if e == epoch => {
                            *at += 1;
                            Some(v)
                        }
                        _ => None,
                    })
                    .collect();
                EpochObjectives { epoch, values }
            })
            .collect()
    }
}

impl TrialRecord {
    /// The final value of a complete trial, if it is a number.
    pub fn complete_value(&self) -> Option<f64> {
        match (self.state, self.value) {
            (TrialState::Complete, Some(v)) if !v.is_nan() => Some(v),
            _ => None,
        }
    }

    /// The last reported epoch.
    pub fn last_epoch(&self) -> Option<u32> {
        self.intermediate.last().map(|&(e, _)| e)
    }

    /// The value reported at exactly `epoch`.
    pub fn value_at(&self, epoch: u32) -> Option<f64> {
        self.first_at_or_after(epoch)
            .filter(|&(e, _)| e == epoch)
            .map(|(_, v)| v)
    }

    /// The first report at or after `epoch`.
    pub fn first_at_or_after(&self, epoch: u32) -> Option<(u32, f64)> {
        // Epochs usually run 1, 2, 3…: try the direct slot before searching.
        let guess = (epoch as usize).wrapping_sub(1);
        if let Some(&(e, v)) = self.intermediate.get(guess)
            && e == epoch
        {
            return Some((e, v));
        }
        let i = self.intermediate.partition_point(|&(e, _)| e < epoch);
        self.intermediate.get(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_epochs_with_or_without_gaps() {
        let t = TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number: 0,
            params: Params::new(),
            state: TrialState::Running,
            value: None,
            intermediate: vec![(1, 0.5), (3, 0.4), (4, 0.3)],
        };
        assert_eq!(t.value_at(3), Some(0.4));
        assert_eq!(t.value_at(2), None);
        assert_eq!(t.first_at_or_after(2), Some((3, 0.4)));
        assert_eq!(t.first_at_or_after(5), None);
        assert_eq!(t.last_epoch(), Some(4));
    }

    #[test]
    fn per_objective_curves_merge_into_one_entry_per_epoch() {
        let merged = EpochObjectives::merge(&[vec![(1, 0.5), (2, 0.4)], vec![(1, 7.0), (3, 7.0)]]);
        let rows: Vec<(u32, Vec<Option<f64>>)> =
            merged.into_iter().map(|e| (e.epoch, e.values)).collect();
        assert_eq!(
            rows,
            [
                (1, vec![Some(0.5), Some(7.0)]),
                (2, vec![Some(0.4), None]),
                (3, vec![None, Some(7.0)]),
            ]
        );
    }
}
