//! Early-stopping rules across trials: given a running trial's per-epoch values and the
//! other trials' histories, continue or stop — with the reason, for the record.
//!
//! Pure: a decision depends only on its arguments. Layout: `percentile` (median and
//! percentile rules), `halving` (ASHA), `hyperband`.

mod halving;
mod hyperband;
mod percentile;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use halving::SuccessiveHalving;
pub use hyperband::Hyperband;
pub use percentile::PercentilePruner;

use crate::config::{EarlyStopping, StudyConfig};
use crate::trial::TrialRecord;

/// Why a trial was stopped: what the coordinator records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopReason {
    /// The rule: `median`, `percentile`, `asha` or `hyperband`.
    pub rule: String,
    /// The epoch the decision was taken at.
    pub epoch: u32,
    /// The trial's value that was compared (NaN when the trial reported NaN).
    pub value: f64,
    /// What it was compared with (the percentile, or the rung's promotion cut-off).
    pub threshold: f64,
    /// The comparison in words.
    pub detail: String,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rule at epoch {}: {}",
            self.rule, self.epoch, self.detail
        )
    }
}

/// A pruner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    /// Let the trial go on.
    Continue,
    /// Stop it, for this reason.
    Stop(StopReason),
}

impl Decision {
    /// Whether the trial is to stop.
    pub fn is_stop(&self) -> bool {
        matches!(self, Decision::Stop(_))
    }
}

/// Decides whether a running trial stops, after each of its epoch reports.
pub trait Pruner: Send + Sync {
    /// The decision for `trial` (its `intermediate` ends with the newest report), given
    /// every trial of the study (`trials` may include `trial` itself; it is skipped).
    fn decide(&self, trial: &TrialRecord, trials: &[TrialRecord]) -> Decision;
}

/// Never stops anything (`rule = "none"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPruner;

impl Pruner for NoPruner {
    fn decide(&self, _trial: &TrialRecord, _trials: &[TrialRecord]) -> Decision {
        Decision::Continue
    }
}

/// The rule the study asks for.
pub fn make_pruner(config: &StudyConfig) -> Box<dyn Pruner> {
    match &config.early_stopping {
        EarlyStopping::None => Box::new(NoPruner),
        EarlyStopping::Percentile(rule) => {
            Box::new(PercentilePruner::new(rule.clone(), config.direction))
        }
        EarlyStopping::Asha(rule) => Box::new(SuccessiveHalving::new(
            rule.clone(),
            config.direction,
            config.max_epochs,
        )),
        EarlyStopping::Hyperband(rule) => Box::new(Hyperband::new(
            rule.clone(),
            config.direction,
            config.name.clone(),
            config.max_epochs,
        )),
    }
}
