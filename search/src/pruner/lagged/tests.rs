use super::*;
use crate::config::PercentileRule;
use crate::pruner::{PercentilePruner, StopReason, curve_trial as trial};
use crate::trial::Direction;

fn median() -> PercentilePruner {
    PercentilePruner::new(
        PercentileRule {
            percentile: 50.0,
            startup_trials: 3,
            warmup_epochs: 0,
            interval_epochs: 1,
            min_trials: 1,
        },
        Direction::Minimize,
    )
}

fn lagged(lag: u64) -> Lagged {
    Lagged::new(lag, Box::new(|| Box::new(median())))
}

/// Trials 0–5 completed: at epoch 2, 0–3 put the median at 2.5; trial 4 and 5 pull it
/// down to 1.5.
fn history() -> Vec<TrialRecord> {
    [
        [4.0, 4.0],
        [3.0, 3.0],
        [2.0, 2.0],
        [1.0, 1.0],
        [0.5, 0.5],
        [0.4, 0.4],
    ]
    .iter()
    .enumerate()
    .map(|(n, c)| trial(n as u64, TrialState::Complete, c))
    .collect()
}

fn reason(d: Decision) -> Option<StopReason> {
    match d {
        Decision::Stop(r) => Some(r),
        Decision::Continue => None,
    }
}

/// The plain rule's decision on `t` after `seen`.
fn plain(seen: &[TrialRecord], t: &TrialRecord) -> Option<StopReason> {
    let mut rule = median();
    seen.iter().for_each(|s| rule.observe(s));
    reason(rule.decide(t))
}

#[test]
fn a_trial_is_judged_by_the_trials_lag_below_it_whatever_else_has_ended() {
    let history = history();
    // Trial 6 with lag 2 sees trials 0–4: median 2.0 at epoch 2, so 2.2 stops.
    let six = trial(6, TrialState::Running, &[2.2, 2.2]);
    let expected = plain(&history[..5], &six).expect("stops against 0–4");
    assert_eq!(expected.threshold, 2.0);
    // Seen with trial 5 too, the median would be 1.5: the lag is what the test checks.
    assert_eq!(plain(&history, &six).expect("stops").threshold, 1.5);
    // Trial 5 ended before trial 6 reports, or has not: the same decision.
    let mut early = lagged(2);
    history.iter().for_each(|t| early.observe(t));
    let mut late = lagged(2);
    history[..5].iter().for_each(|t| late.observe(t));
    assert_eq!(reason(early.decide(&six)), Some(expected.clone()));
    assert_eq!(reason(late.decide(&six)), Some(expected));
}

#[test]
fn chains_interleave_and_a_lower_trial_after_a_higher_one_sees_only_its_own_past() {
    let history = history();
    let mut rule = lagged(2);
    history.iter().for_each(|t| rule.observe(t));
    // Trial 7 (chain 1) sees 0–5; then trial 3 again (a retry, chain 1) sees 0–1 only:
    // fewer than the 3 completed trials the rule waits for.
    let seven = trial(7, TrialState::Running, &[2.2, 2.2]);
    assert_eq!(reason(rule.decide(&seven)), plain(&history, &seven));
    let retry = trial(3, TrialState::Running, &[9.0, 9.0]);
    rule.restart(3);
    assert_eq!(reason(rule.decide(&retry)), None);
    assert!(plain(&history, &retry).is_some(), "all six would stop it");
    // Trial 6 (chain 0) then trial 7 again: each as if alone.
    let six = trial(6, TrialState::Running, &[2.2, 2.2]);
    assert_eq!(reason(rule.decide(&six)), plain(&history[..5], &six));
    assert_eq!(reason(rule.decide(&seven)), plain(&history, &seven));
}

#[test]
fn the_first_lag_trials_see_nothing() {
    let mut rule = lagged(4);
    history().iter().for_each(|t| rule.observe(t));
    let three = trial(3, TrialState::Running, &[100.0, 100.0]);
    assert_eq!(reason(rule.decide(&three)), None);
}
