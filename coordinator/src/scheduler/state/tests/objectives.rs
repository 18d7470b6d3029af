//! A study with several objectives in the state machine: a trial missing one fails and a
//! complete one is judged; the kept models are the Pareto front; in early stopping every
//! objective's value per epoch reaches the pruner, a metric reported once is carried, and
//! the decision records every objective's name.

use super::*;
use hypersearch_search::config::PercentileRule;
use hypersearch_search::pruner::DominancePruner;
use hypersearch_search::{Goal, Objectives};

/// `loss` and `size`, both minimized, under `constraints`.
fn loss_and_size(constraints: Vec<hypersearch_search::Constraint>) -> Objectives {
    let goals = ["loss", "size"].map(|metric| Goal {
        metric: metric.into(),
        direction: Direction::Minimize,
    });
    Objectives {
        goals: goals.to_vec(),
        constraints,
    }
}

fn two_objectives() -> (Rules, Box<dyn Pruner>) {
    let rules = Rules {
        budget: 2,
        objectives: Some(loss_and_size(Vec::new())),
        ..rules()
    };
    let rule = PercentileRule {
        percentile: 50.0,
        startup_trials: 1,
        warmup_epochs: 0,
        interval_epochs: 1,
        min_trials: 1,
    };
    let pruner = DominancePruner::new(
        rule,
        vec!["loss".into(), "size".into()],
        vec![Direction::Minimize; 2],
    );
    (rules, Box::new(pruner))
}

fn epoch(worker: u64, lease: LeaseId, epoch: u32, metrics: &[(&str, f64)]) -> Report {
    Report {
        worker_id: worker,
        lease,
        epochs: vec![Epoch {
            epoch,
            metrics: metrics.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
        }],
    }
}

#[test]
fn a_trial_dominated_at_an_epoch_by_the_completed_ones_is_stopped_with_every_objective_named() {
    let (rules, pruner) = two_objectives();
    let (mut state, now) = started_with(rules, pruner);
    let mut tokens = tokens();
    let first = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    let second = lease_one(&mut state, OTHER, now, &mut tokens).lease;
    // The size comes with epoch 1 only.
    let reports = [
        epoch(WORKER, first, 1, &[("loss", 0.5), ("size", 1.0)]),
        epoch(WORKER, first, 2, &[("loss", 0.25)]),
    ];
    for report in &reports {
        assert_eq!(state.report(report, now).unwrap().1, None);
    }
    let done = Completion {
        worker_id: WORKER,
        lease: first,
        outcome: Outcome::Finished(Metrics::from([
            ("loss".to_string(), 0.25),
            ("size".to_string(), 1.0),
        ])),
        next_max_trials: 0,
    };
    state.complete(&done).unwrap();

    // Epoch 1 of the second: larger, but better in loss than the first was: on the front.
    let (_, stop) = state
        .report(
            &epoch(OTHER, second, 1, &[("loss", 0.4), ("size", 2.0)]),
            now,
        )
        .unwrap();
    assert_eq!(stop, None);
    // Epoch 2: worse in loss too, with its size carried from epoch 1.
    let (op, stop) = state
        .report(&epoch(OTHER, second, 2, &[("loss", 0.3)]), now)
        .unwrap();
    let stop = stop.expect("dominated by the one completed trial");
    assert_eq!((stop.rule.as_str(), stop.epoch), ("median", 2));
    assert_eq!((stop.value, stop.threshold), (1.0, 1.0));
    assert_eq!(
        stop.explanation,
        "dominated at epoch 2 by 1 of 1 completed trials, 1 needed (loss 0.3000, size 2.000)"
    );
    let Some(WriteOp::RecordEpochs {
        stop: Some((metric, _)),
        ..
    }) = op
    else {
        panic!("the stop is recorded: {op:?}")
    };
    assert_eq!(metric, "loss,size");
    let curve: Vec<(u32, Vec<Option<f64>>)> = state.records()[1]
        .intermediate_objectives
        .iter()
        .map(|r| (r.epoch, r.values.clone()))
        .collect();
    assert_eq!(
        curve,
        [(1, vec![Some(0.4), Some(2.0)]), (2, vec![Some(0.3), None])]
    );
}

#[test]
fn a_trial_missing_a_metric_of_the_objectives_fails_and_a_complete_one_is_judged() {
    use hypersearch_search::{Constraint, Operator};
    let objectives = loss_and_size(vec![Constraint {
        metric: "latency".into(),
        operator: Operator::AtMost,
        bound: 1.0,
    }]);
    let (mut state, now) = started(Rules {
        budget: 2,
        objectives: Some(objectives),
        ..rules()
    });
    let op = run_one(&mut state, now, 0.5);
    assert!(
        failure(&op).is_some_and(|e| e.contains("without reporting `size`")),
        "{op:?}"
    );
    for number in state.samples_wanted() {
        sample(&mut state, number);
    }
    let held = lease_one(&mut state, WORKER, now, &mut tokens()).lease;
    let metrics = Metrics::from([
        ("loss".to_string(), 0.5),
        ("size".to_string(), 3.0),
        ("latency".to_string(), 2.0),
    ]);
    let completion = Completion {
        worker_id: WORKER,
        lease: held,
        outcome: Outcome::Finished(metrics),
        next_max_trials: 0,
    };
    let (op, _) = state.complete(&completion).unwrap().unwrap();
    assert!(failure(&op).is_none(), "{op:?}");
    let judged = state.records[held.trial as usize].judged.clone().unwrap();
    assert_eq!(judged.values, [0.5, 3.0]);
    assert!(!judged.feasible(), "latency 2 breaks latency <= 1");
}

#[test]
fn with_two_objectives_the_kept_models_are_the_front_not_the_best_first_objective() {
    let objectives = loss_and_size(Vec::new());
    let (mut state, now) = started(Rules {
        budget: 4,
        keep_models: Some(2),
        objectives: Some(objectives),
        ..rules()
    });
    let mut tokens = tokens();
    let mut run = |state: &mut State, loss: f64, size: f64| {
        let lease = lease_one(state, WORKER, now, &mut tokens).lease;
        state.model_piece(WORKER, lease, now).unwrap();
        let completion = Completion {
            worker_id: WORKER,
            lease,
            outcome: Outcome::Finished(Metrics::from([
                ("loss".to_string(), loss),
                ("size".to_string(), size),
            ])),
            next_max_trials: 0,
        };
        state.complete(&completion).unwrap();
        for number in state.samples_wanted() {
            sample(state, number);
        }
        state.take_model_drops()
    };
    assert_eq!(run(&mut state, 0.5, 10.0), Vec::<u64>::new());
    assert_eq!(run(&mut state, 0.3, 50.0), Vec::<u64>::new());
    // The worst loss but the smallest: the three are one front, and its middle (trial 0)
    // has the least crowding distance, so it goes.
    assert_eq!(run(&mut state, 0.9, 1.0), vec![0]);
    // Dominated by trial 1 (worse loss, larger): its own goes, although its loss beats
    // trial 2's.
    assert_eq!(run(&mut state, 0.4, 60.0), vec![3]);
    assert_eq!(state.kept.as_ref().unwrap().trials(), vec![1, 2]);
}
