use hypersearch_search::config::PercentileRule;
use hypersearch_search::pruner::PercentilePruner;
use hypersearch_search::{Direction, Params};

use super::*;
use crate::trials::TrialRow;

/// A study minimizing `loss` whose trials ran one after another in number order (each
/// attempt's start, epochs and end numbered in turn), every epoch taking 2 seconds.
struct Study {
    rows: Vec<TrialRow>,
    logs: Vec<AttemptLog>,
    next: i64,
}

impl Study {
    fn new() -> Study {
        Study {
            rows: Vec::new(),
            logs: Vec::new(),
            next: 1,
        }
    }

    fn seq(&mut self) -> i64 {
        self.next += 1;
        self.next - 1
    }

    /// Trial `trial` runs `curve` as attempt `attempt`, after which it is `outcome`.
    fn attempt(&mut self, trial: u64, attempt: u32, curve: &[f64], outcome: Outcome) {
        let started_seq = Some(self.seq());
        let reports = curve
            .iter()
            .enumerate()
            .map(|(i, &value)| Report {
                epoch: i as u32 + 1,
                value,
                seconds: Some(2.0),
                seq: Some(self.seq()),
                objectives: Vec::new(),
            })
            .collect();
        let finished_seq = Some(self.seq());
        self.logs.push(AttemptLog {
            trial,
            attempt,
            started_seq,
            finished_seq,
            started: Some(0.0),
            finished: Some(2.0 * curve.len() as f64),
            reports,
        });
        self.rows.retain(|row| row.number != trial);
        self.rows.push(TrialRow {
            number: trial,
            outcome,
            value: (outcome == Outcome::Complete).then(|| curve.last().copied().unwrap_or(0.0)),
            params: Params::new(),
            worker: None,
            attempts: attempt,
            started: Some(0.0),
            finished: Some(1.0),
            curve: Vec::new(),
        });
    }

    fn trials(&self) -> StudyTrials {
        let mut rows = self.rows.clone();
        rows.sort_by_key(|row| row.number);
        StudyTrials {
            study: "s".into(),
            metric: "loss".into(),
            maximize: false,
            rows,
        }
    }
}

fn median(startup_trials: u32) -> PercentilePruner {
    PercentilePruner::new(
        PercentileRule {
            percentile: 50.0,
            startup_trials,
            warmup_epochs: 1,
            interval_epochs: 1,
            min_trials: 1,
        },
        Direction::Minimize,
    )
}

/// Three good trials complete, then a bad one runs four epochs.
fn three_good_one_bad() -> Study {
    let mut study = Study::new();
    study.attempt(0, 1, &[1.0, 0.8, 0.6, 0.5], Outcome::Complete);
    study.attempt(1, 1, &[1.2, 0.9, 0.7, 0.6], Outcome::Complete);
    study.attempt(2, 1, &[1.1, 1.0, 0.9, 0.8], Outcome::Complete);
    study.attempt(3, 1, &[2.0, 1.9, 1.8, 1.7], Outcome::Complete);
    study
}

#[test]
fn a_bad_trial_is_stopped_after_the_warmup_and_its_later_epochs_are_saved() {
    let study = three_good_one_bad();
    let replay = replay(&study.trials(), &study.logs, &[], &mut median(3), 10);
    assert_eq!(replay.order, EventOrder::Recorded);
    assert_eq!(replay.stops.len(), 1);
    let stop = &replay.stops[0];
    assert_eq!((stop.trial, stop.attempt, stop.reason.epoch), (3, 1, 2));
    assert_eq!((stop.reason.value, stop.reason.threshold), (1.9, 0.9));
    assert_eq!((stop.epochs_saved, stop.seconds_saved), (2, 4.0));
    let t = &replay.totals;
    assert_eq!((t.trials, t.stopped), (4, 1));
    assert_eq!(
        (t.epochs_run, t.epochs_replayed, t.epochs_saved),
        (16, 14, 2)
    );
    assert_eq!((t.seconds_run, t.seconds_saved), (32.0, 4.0));
    assert!((t.saved_percent - 12.5).abs() < 1e-12);
    // Trial 3 was the worst complete trial: among the best 3, nothing is killed.
    assert!(replay_with_top(&study, 3).killed.trials.is_empty());
    let all = &replay.killed;
    assert_eq!(all.checked, 4);
    assert_eq!(all.trials.len(), 1);
    assert_eq!((all.trials[0].rank, all.trials[0].trial), (4, 3));
}

fn replay_with_top(study: &Study, top: usize) -> Replay {
    replay(&study.trials(), &study.logs, &[], &mut median(3), top)
}

#[test]
fn the_recorded_stops_are_compared_trial_by_trial() {
    let study = three_good_one_bad();
    let same = RecordedStop {
        trial: 3,
        attempt: 1,
        epoch: 2,
        rule: "median".into(),
        value: 1.9,
        threshold: 0.9,
    };
    let replayed = replay(
        &study.trials(),
        &study.logs,
        std::slice::from_ref(&same),
        &mut median(3),
        10,
    );
    assert!(replayed.comparison.identical);
    assert_eq!(replayed.comparison.both.len(), 1);
    let other = RecordedStop {
        trial: 1,
        epoch: 3,
        ..same
    };
    let replayed = replay(&study.trials(), &study.logs, &[other], &mut median(3), 10);
    let c = &replayed.comparison;
    assert!(!c.identical);
    assert_eq!(
        (c.only_replay.clone(), c.only_recorded.clone()),
        (vec![3], vec![1])
    );
}

#[test]
fn only_trials_over_before_a_report_count_against_it() {
    // Trial 3 reports its epochs before the third good trial ends: with three trials needed,
    // nothing is compared yet, so nothing is stopped.
    let mut study = Study::new();
    study.attempt(0, 1, &[1.0, 0.8], Outcome::Complete);
    study.attempt(1, 1, &[1.2, 0.9], Outcome::Complete);
    study.attempt(3, 1, &[2.0, 1.9], Outcome::Complete);
    study.attempt(2, 1, &[1.1, 0.7], Outcome::Complete);
    let replayed = replay(&study.trials(), &study.logs, &[], &mut median(3), 10);
    assert!(replayed.stops.is_empty());
    assert_eq!(replayed.totals.epochs_saved, 0);
    // With two trials needed it is stopped at epoch 2 (median of 0.8 and 0.9 is 0.85).
    let replayed = replay(&study.trials(), &study.logs, &[], &mut median(2), 10);
    assert_eq!(replayed.stops.len(), 1);
    assert!((replayed.stops[0].reason.threshold - 0.85).abs() < 1e-12);
}

#[test]
fn a_retried_trial_is_judged_on_its_new_curve_only() {
    let mut study = three_good_one_bad();
    // Trial 4's first attempt is lost after a good first epoch; its retry is bad.
    study.attempt(4, 1, &[0.1, 0.1], Outcome::Queued);
    study.attempt(4, 2, &[3.0, 5.0, 5.0], Outcome::Complete);
    let replayed = replay(&study.trials(), &study.logs, &[], &mut median(3), 10);
    let stop = replayed
        .stops
        .iter()
        .find(|s| s.trial == 4)
        .expect("a stop");
    assert_eq!((stop.attempt, stop.reason.epoch), (2, 2));
    // The best so far is the retry's: the lost attempt's 0.1 is forgotten.
    assert_eq!(stop.reason.value, 3.0);
    // Its lost attempt ran two epochs, its retry one more than it needed.
    assert_eq!(stop.epochs_saved, 1);
}

#[test]
fn a_study_without_event_numbers_is_replayed_in_approximate_order() {
    let mut study = three_good_one_bad();
    for log in &mut study.logs {
        log.started_seq = None;
    }
    let replayed = replay(&study.trials(), &study.logs, &[], &mut median(3), 10);
    assert_eq!(replayed.order, EventOrder::Approximate);
    assert!(replayed.order.note().contains("approximate"));
}
