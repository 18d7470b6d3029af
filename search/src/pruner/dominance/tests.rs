use super::*;
use crate::params::Params;
use crate::pruner::decide_after;

/// A trial whose report at epoch `i + 1` carries `curve[i]` (one entry per objective,
/// `None` where the report leaves the metric out).
fn trial(number: u64, state: TrialState, curve: &[&[Option<f64>]]) -> TrialRecord {
    let intermediate_objectives: Vec<EpochObjectives> = curve
        .iter()
        .enumerate()
        .map(|(i, values)| EpochObjectives {
            epoch: i as u32 + 1,
            values: values.to_vec(),
        })
        .collect();
    TrialRecord {
        judged: None,
        number,
        params: Params::new(),
        state,
        value: None,
        intermediate: intermediate_objectives
            .iter()
            .filter_map(|r| Some((r.epoch, r.values[0]?)))
            .collect(),
        intermediate_objectives,
    }
}

/// A two-objective trial reporting both at every epoch.
fn both(number: u64, state: TrialState, curve: &[(f64, f64)]) -> TrialRecord {
    let rows: Vec<[Option<f64>; 2]> = curve.iter().map(|&(a, b)| [Some(a), Some(b)]).collect();
    let refs: Vec<&[Option<f64>]> = rows.iter().map(|r| r.as_slice()).collect();
    trial(number, state, &refs)
}

fn rule(percentile: f64) -> PercentileRule {
    PercentileRule {
        percentile,
        startup_trials: 1,
        warmup_epochs: 0,
        interval_epochs: 1,
        min_trials: 1,
    }
}

fn minimize_both(percentile: f64) -> DominancePruner {
    DominancePruner::new(
        rule(percentile),
        vec!["loss".into(), "cost".into()],
        vec![Direction::Minimize, Direction::Minimize],
    )
}

/// Four completed trials on a front at epoch 1: (1, 4), (2, 3), (3, 2), (4, 1).
fn front() -> Vec<TrialRecord> {
    [(1.0, 4.0), (2.0, 3.0), (3.0, 2.0), (4.0, 1.0)]
        .iter()
        .enumerate()
        .map(|(i, &p)| both(i as u64, TrialState::Complete, &[p]))
        .collect()
}

#[test]
fn a_trial_dominated_by_half_the_completed_trials_is_stopped_and_told_why() {
    let running = both(9, TrialState::Running, &[(3.5, 3.5)]);
    let Decision::Stop(reason) = decide_after(&minimize_both(50.0), &running, &front()) else {
        panic!("(3.5, 3.5) is dominated by (2, 3) and (3, 2): two of four")
    };
    assert_eq!(
        (
            reason.rule.as_str(),
            reason.epoch,
            reason.value,
            reason.threshold
        ),
        ("median", 1, 2.0, 2.0)
    );
    assert_eq!(
        reason.detail,
        "dominated at epoch 1 by 2 of 4 completed trials, 2 needed (loss 3.500, cost 3.500)"
    );
}

#[test]
fn a_trial_on_the_front_is_never_stopped_however_bad_in_one_objective() {
    for point in [(0.5, 1000.0), (1000.0, 0.5), (1.5, 3.5)] {
        let running = both(9, TrialState::Running, &[point]);
        assert_eq!(
            decide_after(&minimize_both(50.0), &running, &front()),
            Decision::Continue,
            "{point:?} is dominated by no completed trial"
        );
        // Even the most aggressive percentile needs one dominator.
        assert_eq!(
            decide_after(&minimize_both(99.0), &running, &front()),
            Decision::Continue
        );
    }
    // Equal to a completed trial is not dominated by it.
    let tie = both(9, TrialState::Running, &[(2.0, 3.0)]);
    assert_eq!(
        decide_after(&minimize_both(99.0), &tie, &front()),
        Decision::Continue
    );
}

#[test]
fn the_percentile_sets_how_many_dominators_are_needed() {
    let pruner = minimize_both(50.0);
    assert_eq!([1, 2, 3, 4, 12].map(|n| pruner.needed(n)), [1, 1, 2, 2, 6]);
    let lenient = minimize_both(25.0);
    assert_eq!([1, 4, 10].map(|n| lenient.needed(n)), [1, 3, 8]);
    let aggressive = minimize_both(90.0);
    assert_eq!([1, 10, 11].map(|n| aggressive.needed(n)), [1, 1, 2]);
    // (2.5, 3.5) is dominated by (2, 3) only: enough for percentile 75 (⌈1⌉ of 4), not
    // for the median (2 of 4).
    let running = both(9, TrialState::Running, &[(2.5, 3.5)]);
    assert!(decide_after(&minimize_both(75.0), &running, &front()).is_stop());
    assert_eq!(
        decide_after(&minimize_both(50.0), &running, &front()),
        Decision::Continue
    );
    // (5, 5) is dominated by all four: stopped by percentile 25 too (3 needed).
    let worst = both(9, TrialState::Running, &[(5.0, 5.0)]);
    assert!(decide_after(&minimize_both(25.0), &worst, &front()).is_stop());
}

#[test]
fn a_metric_reported_once_counts_from_then_on_and_a_missing_one_is_not_compared() {
    // Completed trials report `cost` with their first epoch only.
    let history: Vec<TrialRecord> = [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]
        .iter()
        .enumerate()
        .map(|(i, &(loss, cost))| {
            trial(
                i as u64,
                TrialState::Complete,
                &[&[Some(loss), Some(cost)], &[Some(loss / 2.0), None]],
            )
        })
        .collect();
    let pruner = minimize_both(50.0);
    let late = trial(
        9,
        TrialState::Running,
        &[&[Some(9.0), Some(9.0)], &[Some(4.0), None]],
    );
    let Decision::Stop(reason) = decide_after(&pruner, &late, &history) else {
        panic!("(4, 9) at epoch 2 is dominated by all three (0.5..1.5, 1..3)")
    };
    assert_eq!((reason.epoch, reason.value), (2, 3.0));
    // A running trial that never reported `cost` is not judged.
    let no_cost = trial(
        9,
        TrialState::Running,
        &[&[Some(9.0), None], &[Some(9.0), None]],
    );
    assert_eq!(
        decide_after(&pruner, &no_cost, &history),
        Decision::Continue
    );
    // A completed trial without `cost` is no reference.
    let blind: Vec<TrialRecord> = (0..3)
        .map(|i| {
            trial(
                i,
                TrialState::Complete,
                &[&[Some(0.1), None], &[Some(0.1), None]],
            )
        })
        .collect();
    assert_eq!(decide_after(&pruner, &late, &blind), Decision::Continue);
}

#[test]
fn a_nan_is_the_worst_value_for_the_trial_judged_and_no_reference() {
    let running = both(9, TrialState::Running, &[(f64::NAN, 2.5)]);
    // (NaN, 2.5): dominated by (3, 2) and (4, 1), whose loss is finite and cost smaller.
    assert!(decide_after(&minimize_both(50.0), &running, &front()).is_stop());
    let nan_references: Vec<TrialRecord> = (0..3)
        .map(|i| both(i, TrialState::Complete, &[(f64::NAN, 0.0)]))
        .collect();
    let fine = both(9, TrialState::Running, &[(5.0, 5.0)]);
    assert_eq!(
        decide_after(&minimize_both(50.0), &fine, &nan_references),
        Decision::Continue
    );
}

#[test]
fn a_maximized_objective_counts_larger_as_better() {
    let pruner = DominancePruner::new(
        rule(50.0),
        vec!["accuracy".into(), "parameters".into()],
        vec![Direction::Maximize, Direction::Minimize],
    );
    let history: Vec<TrialRecord> = [(0.9, 100.0), (0.8, 50.0), (0.95, 400.0)]
        .iter()
        .enumerate()
        .map(|(i, &p)| both(i as u64, TrialState::Complete, &[p]))
        .collect();
    // Less accurate and larger than two of them.
    assert!(
        decide_after(
            &pruner,
            &both(9, TrialState::Running, &[(0.7, 120.0)]),
            &history
        )
        .is_stop()
    );
    // The most accurate of all, however large: on the front.
    assert_eq!(
        decide_after(
            &pruner,
            &both(9, TrialState::Running, &[(0.99, 1e6)]),
            &history
        ),
        Decision::Continue
    );
    // Taken as minimized, the same accuracy would be dominated by none.
    assert_eq!(
        decide_after(
            &minimize_both(50.0),
            &both(9, TrialState::Running, &[(0.7, 120.0)]),
            &history
        ),
        Decision::Continue
    );
}

#[test]
fn warm_up_startup_trials_and_min_trials_hold_the_rule_back() {
    let worst = both(9, TrialState::Running, &[(5.0, 5.0)]);
    let mut r = rule(50.0);
    r.warmup_epochs = 1;
    let p = DominancePruner::new(
        r,
        vec!["a".into(), "b".into()],
        vec![Direction::Minimize; 2],
    );
    assert_eq!(decide_after(&p, &worst, &front()), Decision::Continue);
    let mut r = rule(50.0);
    r.startup_trials = 5;
    let p = DominancePruner::new(
        r,
        vec!["a".into(), "b".into()],
        vec![Direction::Minimize; 2],
    );
    assert_eq!(decide_after(&p, &worst, &front()), Decision::Continue);
    let mut r = rule(50.0);
    r.min_trials = 5;
    let p = DominancePruner::new(
        r,
        vec!["a".into(), "b".into()],
        vec![Direction::Minimize; 2],
    );
    assert_eq!(decide_after(&p, &worst, &front()), Decision::Continue);
    // Running and pruned trials are no references.
    let others = vec![
        both(0, TrialState::Running, &[(0.0, 0.0)]),
        both(1, TrialState::Pruned, &[(0.0, 0.0)]),
    ];
    assert_eq!(
        decide_after(&minimize_both(50.0), &worst, &others),
        Decision::Continue
    );
}

#[test]
fn a_restarted_trial_is_judged_on_its_new_reports_only() {
    let mut pruner = minimize_both(50.0);
    for t in front() {
        pruner.observe(&t);
    }
    let first_attempt = both(9, TrialState::Running, &[(0.5, 0.5)]);
    assert_eq!(pruner.decide(&first_attempt), Decision::Continue);
    // The retry reports epoch 1 again (as long a curve as the pruner has seen).
    pruner.restart(9);
    let retry = both(9, TrialState::Running, &[(5.0, 5.0)]);
    assert!(
        pruner.decide(&retry).is_stop(),
        "judged on the retry's report, not the first attempt's"
    );
    // Started over without `cost` so far: the cost of the attempt before is forgotten.
    pruner.restart(9);
    let from_scratch = trial(9, TrialState::Running, &[&[Some(5.0), None]]);
    assert_eq!(pruner.decide(&from_scratch), Decision::Continue);
}

#[test]
fn the_same_reports_in_the_same_order_give_the_same_decisions() {
    let run = || {
        let mut pruner = minimize_both(50.0);
        let mut decisions = Vec::new();
        for k in 0..40u64 {
            let x = (k as f64 * 0.618_034).fract();
            let y = (k as f64 * 0.414_214 + 0.3).fract();
            let curve: Vec<(f64, f64)> = (1..=4).map(|e| (x / e as f64, y)).collect();
            for e in 1..=curve.len() {
                let running = both(k, TrialState::Running, &curve[..e]);
                let decision = pruner.decide(&running);
                let stop = decision.is_stop();
                decisions.push(decision);
                if stop {
                    pruner.observe(&both(k, TrialState::Pruned, &curve[..e]));
                    break;
                }
                if e == curve.len() {
                    pruner.observe(&both(k, TrialState::Complete, &curve));
                }
            }
        }
        decisions
    };
    let first = run();
    assert!(
        first.iter().any(Decision::is_stop),
        "some trials are stopped"
    );
    assert_eq!(first, run());
}
