//! The order a replay feeds a rule the recorded events in: the study's event numbers when
//! every event has one, else an approximation from the attempts' times.

use std::cmp::Ordering;

use serde::Serialize;

use super::AttemptLog;

/// How the events were put in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventOrder {
    /// The order the coordinator took them in (every event carries its event number): a
    /// replay of the study's own rule gives its recorded decisions.
    Recorded,
    /// Recorded before event numbers existed (or partly): each attempt's epochs are spread
    /// evenly between its start and its end, and the events are taken in that time order
    /// (ties: start before epochs before end, then trial number). Decisions may differ from
    /// the recorded ones where reports of several trials arrived close together.
    Approximate,
}

impl EventOrder {
    /// What the order means, for the reader of a replay.
    pub fn note(self) -> &'static str {
        match self {
            EventOrder::Recorded => "events in the order the coordinator took them in",
            EventOrder::Approximate => {
                "approximate order: the study was recorded without event numbers, so each \
                 attempt's epochs are placed evenly between its start and end times"
            }
        }
    }
}

/// What happens at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    /// The attempt starts.
    Start,
    /// The attempt reports `reports[index]`.
    Report(usize),
    /// The attempt ends.
    End,
}

/// One event: attempt `attempt` (an index into the logs) does `kind`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Event {
    pub attempt: usize,
    pub kind: Kind,
    /// Where it falls: an event number, or seconds since the Unix epoch.
    at: f64,
}

/// Every event of `logs` in the order they happened, and which order that is.
pub(super) fn events(logs: &[AttemptLog]) -> (Vec<Event>, EventOrder) {
    let numbered = logs.iter().all(|log| {
        log.started_seq.is_some()
            && (log.finished.is_none() || log.finished_seq.is_some())
            && log.reports.iter().all(|r| r.seq.is_some())
    });
    let order = if numbered {
        EventOrder::Recorded
    } else {
        EventOrder::Approximate
    };
    let mut events = Vec::new();
    for (index, log) in logs.iter().enumerate() {
        let (start, end, epoch_at) = match order {
            EventOrder::Recorded => (
                seq(log.started_seq),
                log.finished_seq.map(|s| s as f64),
                None,
            ),
            EventOrder::Approximate => {
                let start = log.started.unwrap_or(0.0);
                let span = log.finished.map(|end| (end - start).max(0.0));
                (start, log.finished, span)
            }
        };
        events.push(Event {
            attempt: index,
            kind: Kind::Start,
            at: start,
        });
        let n = log.reports.len();
        for (i, report) in log.reports.iter().enumerate() {
            let at = match (order, epoch_at) {
                (EventOrder::Recorded, _) => seq(report.seq),
                (EventOrder::Approximate, Some(span)) => start + span * (i + 1) as f64 / n as f64,
                // Still running: after its start, in epoch order.
                (EventOrder::Approximate, None) => start,
            };
            events.push(Event {
                attempt: index,
                kind: Kind::Report(i),
                at,
            });
        }
        if let Some(at) = end {
            events.push(Event {
                attempt: index,
                kind: Kind::End,
                at,
            });
        }
    }
    events.sort_by(|a, b| compare(a, b, logs));
    (events, order)
}

fn seq(seq: Option<i64>) -> f64 {
    seq.unwrap_or(0) as f64
}

fn compare(a: &Event, b: &Event, logs: &[AttemptLog]) -> Ordering {
    let trial = |e: &Event| logs.get(e.attempt).map_or(0, |log| log.trial);
    a.at.total_cmp(&b.at)
        .then_with(|| trial(a).cmp(&trial(b)))
        .then_with(|| a.attempt.cmp(&b.attempt))
        .then_with(|| a.kind.cmp(&b.kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Report;

    fn log(trial: u64, seqs: Option<(i64, &[i64], i64)>, times: (f64, f64)) -> AttemptLog {
        let (started_seq, reports, finished_seq) = match seqs {
            Some((s, r, f)) => (Some(s), r.iter().map(|&x| Some(x)).collect(), Some(f)),
            None => (None, vec![None, None], None),
        };
        AttemptLog {
            trial,
            attempt: 1,
            started_seq,
            finished_seq,
            started: Some(times.0),
            finished: Some(times.1),
            reports: reports
                .into_iter()
                .enumerate()
                .map(|(i, seq)| Report {
                    epoch: i as u32 + 1,
                    value: 0.0,
                    seconds: None,
                    seq,
                    objectives: Vec::new(),
                })
                .collect(),
        }
    }

    fn trace(logs: &[AttemptLog]) -> (Vec<(u64, Kind)>, EventOrder) {
        let (events, order) = events(logs);
        let trace = events
            .iter()
            .map(|e| (logs[e.attempt].trial, e.kind))
            .collect();
        (trace, order)
    }

    #[test]
    fn event_numbers_decide_the_order_when_every_event_has_one() {
        let logs = [
            log(0, Some((1, &[3, 6], 7)), (0.0, 100.0)),
            log(1, Some((2, &[4, 5], 8)), (50.0, 60.0)),
        ];
        let (trace, order) = trace(&logs);
        assert_eq!(order, EventOrder::Recorded);
        use Kind::*;
        assert_eq!(
            trace,
            vec![
                (0, Start),
                (1, Start),
                (0, Report(0)),
                (1, Report(0)),
                (1, Report(1)),
                (0, Report(1)),
                (0, End),
                (1, End),
            ]
        );
    }

    #[test]
    fn without_event_numbers_epochs_are_spread_over_each_attempts_time() {
        let logs = [
            log(0, None, (0.0, 100.0)),
            log(1, Some((2, &[4, 5], 8)), (10.0, 30.0)),
        ];
        let (trace, order) = trace(&logs);
        assert_eq!(order, EventOrder::Approximate);
        use Kind::*;
        // Trial 0's epochs at 50 and 100; trial 1's at 20 and 30.
        assert_eq!(
            trace,
            vec![
                (0, Start),
                (1, Start),
                (1, Report(0)),
                (1, Report(1)),
                (1, End),
                (0, Report(0)),
                (0, Report(1)),
                (0, End),
            ]
        );
    }
}
