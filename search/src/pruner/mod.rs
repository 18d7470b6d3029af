//! Early-stopping rules across trials: given a running trial's per-epoch values and what the
//! rule has taken in of the other trials, continue or stop — with the reason, for the record.
//!
//! Incremental: a rule is told of each trial once when it becomes terminal (or when it is
//! known at start), keeps the order statistics it compares with (per epoch, per rung), and
//! decides in time that does not grow with the study. Deterministic: the decisions depend
//! only on what it was told, in that order. Layout: `percentile` (median and percentile
//! rules), `dominance` (the same rules by Pareto dominance, for several objectives),
//! `halving` (ASHA), `hyperband`, `lagged` (any rule in a deterministic search).

mod dominance;
mod halving;
mod hyperband;
mod lagged;
mod percentile;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use dominance::DominancePruner;
pub use halving::SuccessiveHalving;
pub use hyperband::Hyperband;
pub use lagged::Lagged;
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
    /// The trial's value that was compared (NaN when the trial reported NaN; JSON `null`).
    /// With several objectives: how many completed trials dominate it.
    #[serde(with = "nan_as_null")]
    pub value: f64,
    /// What it was compared with (the percentile, or the rung's promotion cut-off; NaN when
    /// there was nothing to compare with; JSON `null`). With several objectives: how many
    /// dominators stop it.
    #[serde(with = "nan_as_null")]
    pub threshold: f64,
    /// The comparison in words.
    pub detail: String,
}

/// NaN as JSON `null` and back, so a [`StopReason`] survives a JSON round trip.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_f64(*v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
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
pub trait Pruner: Send {
    /// Takes in a trial as it stands: every trial of a resumed study once at start (any
    /// state), then each trial once, when it becomes terminal.
    fn observe(&mut self, trial: &TrialRecord);

    /// Trial `number` starts over (a new attempt after a lost one): what was taken in of its
    /// earlier curve is forgotten.
    fn restart(&mut self, number: u64);

    /// The decision for running `trial` after its newest report (the last of
    /// `intermediate`, or of `intermediate_objectives` in a study with several objectives).
    fn decide(&mut self, trial: &TrialRecord) -> Decision;
}

/// Never stops anything (`rule = "none"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPruner;

impl Pruner for NoPruner {
    fn observe(&mut self, _trial: &TrialRecord) {}

    fn restart(&mut self, _number: u64) {}

    fn decide(&mut self, _trial: &TrialRecord) -> Decision {
        Decision::Continue
    }
}

/// A metric value in a decision's explanation: four significant figures (the exact value is
/// stored next to the text).
pub(crate) fn figure(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let decimals = 3 - v.abs().log10().floor() as i32;
    if (0..=9).contains(&decimals) {
        format!("{v:.*}", decimals as usize)
    } else {
        format!("{v:.3e}")
    }
}

/// A fresh copy of `pruner` told of `history`, deciding on `trial`: how the tests state a
/// situation.
#[cfg(test)]
pub(crate) fn decide_after<P: Pruner + Clone>(
    pruner: &P,
    trial: &TrialRecord,
    history: &[TrialRecord],
) -> Decision {
    let mut pruner = pruner.clone();
    for t in history {
        pruner.observe(t);
    }
    pruner.decide(trial)
}

/// A trial numbered `number` in `state` that reported `curve` at epochs 1, 2, …: how the
/// tests of the rules write one.
#[cfg(test)]
pub(crate) fn curve_trial(
    number: u64,
    state: crate::trial::TrialState,
    curve: &[f64],
) -> TrialRecord {
    TrialRecord {
        judged: None,
        intermediate_objectives: Vec::new(),
        number,
        params: crate::params::Params::new(),
        state,
        value: curve.last().copied(),
        intermediate: curve
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as u32 + 1, v))
            .collect(),
    }
}

/// The rule the study asks for; in a deterministic search, judging trial t by trials
/// 0 … t − `parallel` only ([`Lagged`]).
pub fn make_pruner(config: &StudyConfig) -> Box<dyn Pruner> {
    if config.search.deterministic && config.early_stopping != EarlyStopping::None {
        let config = config.clone();
        let lag = u64::from(config.search.parallel);
        return Box::new(Lagged::new(lag, Box::new(move || make_rule(&config))));
    }
    make_rule(config)
}

/// The rule the study asks for, told nothing yet.
fn make_rule(config: &StudyConfig) -> Box<dyn Pruner> {
    match &config.early_stopping {
        EarlyStopping::None => Box::new(NoPruner),
        EarlyStopping::Percentile(rule) if config.objectives.is_multi() => {
            Box::new(DominancePruner::new(
                rule.clone(),
                config
                    .objectives
                    .goals
                    .iter()
                    .map(|g| g.metric.clone())
                    .collect(),
                config.objectives.directions(),
            ))
        }
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

#[cfg(test)]
mod tests {
    #[test]
    fn explanations_show_four_significant_figures() {
        assert_eq!(super::figure(0.7075208913649025), "0.7075");
        assert_eq!(super::figure(12.3456), "12.35");
        assert_eq!(super::figure(1234.4), "1234");
        assert_eq!(super::figure(1.5e-7), "1.500e-7");
        assert_eq!(super::figure(0.0), "0");
    }

    use super::*;

    #[test]
    fn stop_reasons_survive_json_with_nan() {
        let reason = StopReason {
            rule: "asha".into(),
            epoch: 3,
            value: f64::NAN,
            threshold: 0.5,
            detail: "NaN at rung 1 (epoch 3)".into(),
        };
        let text = serde_json::to_string(&Decision::Stop(reason)).unwrap();
        assert!(text.contains(r#""value":null"#), "{text}");
        let Decision::Stop(back) = serde_json::from_str::<Decision>(&text).unwrap() else {
            panic!("a stop")
        };
        assert!(back.value.is_nan());
        assert_eq!((back.epoch, back.threshold), (3, 0.5));
        assert_eq!(
            back.to_string(),
            "asha rule at epoch 3: NaN at rung 1 (epoch 3)"
        );
    }
}
