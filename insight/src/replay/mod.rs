//! What-if replay of an early-stopping rule on a study's recorded curves: the rule is fed
//! the epoch reports, attempt starts and trial ends in the order the coordinator took them
//! in, exactly as the coordinator's scheduler feeds its pruner (`decide` after each report of
//! the study metric, `restart` when a retry starts, `observe` when a trial is over), so the
//! study's own rule with its own options gives back its recorded decisions.
//!
//! A trial the replayed rule stops is over from that epoch on: its later epochs and attempts
//! are what the rule saves. A trial the study stopped but the replayed rule would not have
//! has no curve beyond its recorded stop: the replay ends it there too, as pruned.

mod order;
pub mod rule;
mod summary;

use std::collections::HashMap;

use hypersearch_search::{
    Decision, EpochObjectives, Params, Pruner, StopReason, TrialRecord, TrialState,
};
use serde::Serialize;

pub use order::EventOrder;
pub use summary::{Comparison, Killed, Totals};

use crate::trials::{Outcome, StudyTrials};

/// One epoch's report of the study metric by one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The epoch, from 1.
    pub epoch: u32,
    /// The study metric's value.
    pub value: f64,
    /// The epoch's wall-clock seconds (its `seconds` metric), when reported.
    pub seconds: Option<f64>,
    /// Its event number (`epoch_metrics.seq`), when recorded.
    pub seq: Option<i64>,
    /// In a study with several objectives, each objective's value at this epoch (in the
    /// study's order; `None` when not reported then); empty otherwise.
    pub objectives: Vec<Option<f64>>,
}

/// One attempt of a trial as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptLog {
    /// The trial's number.
    pub trial: u64,
    /// The attempt, from 1.
    pub attempt: u32,
    /// Event number of its start (`attempts.started_seq`), when recorded.
    pub started_seq: Option<i64>,
    /// Event number of its end (`attempts.finished_seq`), when recorded.
    pub finished_seq: Option<i64>,
    /// When it started, in seconds since the Unix epoch.
    pub started: Option<f64>,
    /// When it ended (`None` while it runs).
    pub finished: Option<f64>,
    /// Its reports of the study metric, epochs increasing.
    pub reports: Vec<Report>,
}

/// An early-stopping decision as the study recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedStop {
    /// The trial stopped.
    pub trial: u64,
    /// Its attempt.
    pub attempt: u32,
    /// The epoch of the decision.
    pub epoch: u32,
    /// The rule.
    pub rule: String,
    /// The value judged.
    pub value: f64,
    /// What it was compared with.
    pub threshold: f64,
}

/// A trial the replayed rule stops.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayedStop {
    /// The trial.
    pub trial: u64,
    /// Its attempt.
    pub attempt: u32,
    /// The rule's reason (epoch, value, threshold, the comparison in words).
    #[serde(flatten)]
    pub reason: StopReason,
    /// Epochs of the trial the stop saves (of every attempt, as recorded).
    pub epochs_saved: u64,
    /// Seconds those epochs took (as recorded or estimated; see [`Totals`]).
    pub seconds_saved: f64,
    /// How the trial ended in the study.
    pub recorded: Outcome,
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    /// The order the events were fed in.
    pub order: EventOrder,
    /// The trials the replayed rule stops, by trial number.
    pub stops: Vec<ReplayedStop>,
    /// Epochs and seconds run and saved.
    pub totals: Totals,
    /// The best complete trials, and which of them the rule would have stopped.
    pub killed: Killed,
    /// The replay's stops against the recorded ones.
    pub comparison: Comparison,
}

impl Replay {
    /// The replay as `replay --format json` and the dashboard give it: the study, the rule
    /// with its options, the order note and everything found.
    pub fn to_json(
        &self,
        study: &str,
        rule: &hypersearch_search::EarlyStopping,
    ) -> serde_json::Value {
        serde_json::json!({
            "study": study,
            "rule": rule,
            "order": self.order,
            "order_note": self.order.note(),
            "stops": self.stops,
            "totals": self.totals,
            "best_killed": self.killed,
            "comparison": self.comparison,
        })
    }
}

/// A trial as the replay's rule sees it.
struct Replayed {
    record: TrialRecord,
    stop: Option<ReplayedStop>,
}

/// Replays `pruner` (fresh: told nothing yet) on the attempts of `study` in `logs`, and
/// compares with the `recorded` decisions; `top` is how many of the best complete trials to
/// check for kills.
pub fn replay(
    study: &StudyTrials,
    logs: &[AttemptLog],
    recorded: &[RecordedStop],
    pruner: &mut dyn Pruner,
    top: usize,
) -> Replay {
    let outcomes: HashMap<u64, (Outcome, Option<f64>, u32)> = study
        .rows
        .iter()
        .map(|row| (row.number, (row.outcome, row.value, row.attempts)))
        .collect();
    let (events, order) = order::events(logs);
    let mut trials: HashMap<u64, Replayed> = HashMap::new();
    // Per attempt (an index into `logs`), the reports the replay fed the rule.
    let mut fed = vec![0usize; logs.len()];
    for event in events {
        let Some(log) = logs.get(event.attempt) else {
            continue;
        };
        let trial = trials.entry(log.trial).or_insert_with(|| Replayed {
            record: TrialRecord {
                judged: None,
                intermediate_objectives: Vec::new(),
                number: log.trial,
                params: Params::new(),
                state: TrialState::Running,
                value: None,
                intermediate: Vec::new(),
            },
            stop: None,
        });
        if trial.stop.is_some() {
            continue;
        }
        match event.kind {
            order::Kind::Start => {
                if log.attempt > 1 {
                    // A retry starts its curve afresh, as in the scheduler.
                    trial.record.intermediate.clear();
                    trial.record.intermediate_objectives.clear();
                    pruner.restart(log.trial);
                }
            }
            order::Kind::Report(index) => {
                let Some(report) = log.reports.get(index) else {
                    continue;
                };
                fed[event.attempt] += 1;
                trial.record.intermediate.push((report.epoch, report.value));
                if !report.objectives.is_empty() {
                    trial.record.intermediate_objectives.push(EpochObjectives {
                        epoch: report.epoch,
                        values: report.objectives.clone(),
                    });
                }
                if let Decision::Stop(reason) = pruner.decide(&trial.record) {
                    let recorded = outcomes.get(&log.trial).map_or(Outcome::Running, |o| o.0);
                    trial.stop = Some(ReplayedStop {
                        trial: log.trial,
                        attempt: log.attempt,
                        reason,
                        epochs_saved: 0,
                        seconds_saved: 0.0,
                        recorded,
                    });
                    // Over: the rule takes it in as pruned. (The scheduler does so when the
                    // worker's answer arrives; a pruned trial's record changes no other
                    // decision, so the moment does not matter.)
                    trial.record.state = TrialState::Pruned;
                    trial.record.value = None;
                    pruner.observe(&trial.record);
                }
            }
            order::Kind::End => {
                let Some(&(outcome, value, attempts)) = outcomes.get(&log.trial) else {
                    continue;
                };
                let state = match outcome {
                    Outcome::Complete => TrialState::Complete,
                    Outcome::Pruned => TrialState::Pruned,
                    Outcome::Failed => TrialState::Failed,
                    Outcome::Queued | Outcome::Running => continue,
                };
                if log.attempt != attempts {
                    // Lost or failed and retried: the trial goes on with its next attempt.
                    continue;
                }
                trial.record.state = state;
                trial.record.value = value.filter(|_| state == TrialState::Complete);
                pruner.observe(&trial.record);
            }
        }
    }
    let mut stops: Vec<ReplayedStop> = trials.into_values().filter_map(|t| t.stop).collect();
    stops.sort_by_key(|s| s.trial);
    let totals = summary::totals(logs, &fed, &mut stops);
    let killed = summary::killed(study, &stops, top);
    let comparison = summary::compare(&stops, recorded);
    Replay {
        order,
        stops,
        totals,
        killed,
        comparison,
    }
}

#[cfg(test)]
mod tests;
