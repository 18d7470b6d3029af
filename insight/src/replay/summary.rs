//! What a replay's stops add up to: epochs and seconds saved, the best trials it would have
//! killed, and how its stops compare with the recorded ones.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::{AttemptLog, RecordedStop, ReplayedStop};
use crate::trials::StudyTrials;

/// Epochs and seconds, as recorded and as the replayed rule would have run them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Trials with at least one report of the study metric.
    pub trials: usize,
    /// Trials the replayed rule stops.
    pub stopped: usize,
    /// Epochs recorded (every attempt).
    pub epochs_run: u64,
    /// Epochs that would have run under the replayed rule.
    pub epochs_replayed: u64,
    /// `epochs_run - epochs_replayed`.
    pub epochs_saved: u64,
    /// Epochs saved, in percent of those run (0 when none ran).
    pub saved_percent: f64,
    /// Seconds the recorded epochs took: each epoch's `seconds` metric, else its attempt's
    /// time over its epochs.
    pub seconds_run: f64,
    /// Seconds of the epochs saved, counted the same way.
    pub seconds_saved: f64,
    /// Epochs whose seconds are their attempt's average (no `seconds` metric).
    pub seconds_averaged_epochs: u64,
    /// Epochs whose seconds are unknown (no `seconds` metric, attempt still running),
    /// counted as 0.
    pub seconds_unknown_epochs: u64,
}

/// The best complete trials, and those the rule would have stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Killed {
    /// How many of the best were checked (`--top`, or fewer if fewer completed).
    pub checked: usize,
    /// Those the rule would have stopped, best first (none, we hope).
    pub trials: Vec<KilledTrial>,
}

/// One of the best trials, stopped by the replayed rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KilledTrial {
    /// Its rank among the complete trials, from 1.
    pub rank: usize,
    /// The trial.
    pub trial: u64,
    /// Its final value.
    pub value: f64,
    /// The epoch the rule would have stopped it at.
    pub epoch: u32,
}

/// The replay's stops against the recorded ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Trials stopped by both.
    pub both: Vec<BothStopped>,
    /// Trials only the replay stops.
    pub only_replay: Vec<u64>,
    /// Trials only the study stopped.
    pub only_recorded: Vec<u64>,
    /// Whether the replay's stops are the recorded ones: the same trials, attempts and
    /// epochs.
    pub identical: bool,
}

/// A trial both stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BothStopped {
    /// The trial.
    pub trial: u64,
    /// The epoch the study stopped it at.
    pub recorded_epoch: u32,
    /// The epoch the replayed rule stops it at.
    pub replayed_epoch: u32,
}

/// The seconds of each report of `log`, `None` when unknown.
fn report_seconds(log: &AttemptLog) -> impl Iterator<Item = (Option<f64>, bool)> + '_ {
    let average = match (log.started, log.finished) {
        (Some(start), Some(end)) if !log.reports.is_empty() => {
            Some((end - start).max(0.0) / log.reports.len() as f64)
        }
        _ => None,
    };
    log.reports.iter().map(move |r| match r.seconds {
        Some(s) if s.is_finite() => (Some(s), false),
        _ => (average, true),
    })
}

/// Adds up `logs` of which the replay fed `fed[i]` reports of attempt `i`, and fills in
/// each stop's savings.
pub(super) fn totals(logs: &[AttemptLog], fed: &[usize], stops: &mut [ReplayedStop]) -> Totals {
    let mut totals = Totals {
        trials: 0,
        stopped: stops.len(),
        epochs_run: 0,
        epochs_replayed: 0,
        epochs_saved: 0,
        saved_percent: 0.0,
        seconds_run: 0.0,
        seconds_saved: 0.0,
        seconds_averaged_epochs: 0,
        seconds_unknown_epochs: 0,
    };
    let mut saved: HashMap<u64, (u64, f64)> = HashMap::new();
    let mut reported: HashSet<u64> = HashSet::new();
    for (log, &fed) in logs.iter().zip(fed) {
        if !log.reports.is_empty() {
            reported.insert(log.trial);
        }
        for (i, (seconds, averaged)) in report_seconds(log).enumerate() {
            let s = seconds.unwrap_or(0.0);
            totals.epochs_run += 1;
            totals.seconds_run += s;
            match (seconds, averaged) {
                (None, _) => totals.seconds_unknown_epochs += 1,
                (Some(_), true) => totals.seconds_averaged_epochs += 1,
                (Some(_), false) => {}
            }
            if i < fed {
                totals.epochs_replayed += 1;
            } else {
                totals.seconds_saved += s;
                let trial = saved.entry(log.trial).or_insert((0, 0.0));
                trial.0 += 1;
                trial.1 += s;
            }
        }
    }
    totals.trials = reported.len();
    totals.epochs_saved = totals.epochs_run - totals.epochs_replayed;
    if totals.epochs_run > 0 {
        totals.saved_percent = 100.0 * totals.epochs_saved as f64 / totals.epochs_run as f64;
    }
    for stop in stops {
        if let Some(&(epochs, seconds)) = saved.get(&stop.trial) {
            stop.epochs_saved = epochs;
            stop.seconds_saved = seconds;
        }
    }
    totals
}

/// Which of the `top` best complete trials of `study` the `stops` include.
pub(super) fn killed(study: &StudyTrials, stops: &[ReplayedStop], top: usize) -> Killed {
    let mut best: Vec<(u64, f64)> = study
        .complete()
        .filter_map(|row| row.value.map(|v| (row.number, v)))
        .collect();
    best.sort_by(|a, b| {
        let order = a.1.total_cmp(&b.1);
        let order = if study.maximize {
            order.reverse()
        } else {
            order
        };
        order.then(a.0.cmp(&b.0))
    });
    best.truncate(top);
    let stopped: HashMap<u64, u32> = stops.iter().map(|s| (s.trial, s.reason.epoch)).collect();
    let trials = best
        .iter()
        .enumerate()
        .filter_map(|(rank, &(trial, value))| {
            stopped.get(&trial).map(|&epoch| KilledTrial {
                rank: rank + 1,
                trial,
                value,
                epoch,
            })
        })
        .collect();
    Killed {
        checked: best.len(),
        trials,
    }
}

/// The replay's `stops` against the `recorded` ones.
pub(super) fn compare(stops: &[ReplayedStop], recorded: &[RecordedStop]) -> Comparison {
    let replayed: BTreeMap<u64, &ReplayedStop> = stops.iter().map(|s| (s.trial, s)).collect();
    // A trial's last recorded stop is the one that ended it.
    let recorded: BTreeMap<u64, &RecordedStop> = recorded.iter().map(|s| (s.trial, s)).collect();
    let mut comparison = Comparison {
        both: Vec::new(),
        only_replay: Vec::new(),
        only_recorded: Vec::new(),
        identical: true,
    };
    for (&trial, stop) in &replayed {
        match recorded.get(&trial) {
            Some(was) => {
                if (was.attempt, was.epoch) != (stop.attempt, stop.reason.epoch) {
                    comparison.identical = false;
                }
                comparison.both.push(BothStopped {
                    trial,
                    recorded_epoch: was.epoch,
                    replayed_epoch: stop.reason.epoch,
                });
            }
            None => {
                comparison.identical = false;
                comparison.only_replay.push(trial);
            }
        }
    }
    for &trial in recorded.keys() {
        if !replayed.contains_key(&trial) {
            comparison.identical = false;
            comparison.only_recorded.push(trial);
        }
    }
    comparison
}
