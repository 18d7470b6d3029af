//! Tests of the state machine: fencing, idempotent retries, expiry, budgets, stop decisions.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::store::{AttemptEnd, TrialUpdate};
use hypersearch_proto::{Completion, Epoch, Heartbeat, Report};
use hypersearch_search::pruner::NoPruner;
use hypersearch_search::{Decision, Pruner};
use hypersearch_search::{ParamValue, StopReason};

const WORKER: u64 = 1;
const OTHER: u64 = 2;

fn rules() -> Rules {
    Rules {
        metric: "loss".into(),
        direction: Direction::Minimize,
        budget: 3,
        parallel: 2,
        prefetch: 0,
        lease: Duration::from_secs(10),
        max_attempts: 2,
        failure_retries: 0,
        max_epochs: 10_000,
        max_stored_values: u64::MAX,
        value_range: None,
        trial_timeout: None,
        quarantine_after: None,
        keep_models: None,
        checkpoints: false,
        objectives: None,
    }
}

fn empty() -> StoredStudy {
    StoredStudy {
        id: 1,
        resumed: false,
        trials: Vec::new(),
        workers: Vec::new(),
        stored_values: 0,
    }
}

/// A state whose first `parallel` trials are sampled, with two 1-slot workers.
fn started(rules: Rules) -> (State, Instant) {
    started_with(rules, Box::new(NoPruner))
}

/// [`started`], with `pruner` deciding on the reports.
fn started_with(rules: Rules, pruner: Box<dyn Pruner>) -> (State, Instant) {
    let now = Instant::now();
    let mut state = State::new(rules, &empty(), now, pruner).unwrap();
    state.add_worker(WORKER, 1);
    state.add_worker(OTHER, 1);
    for number in state.samples_wanted() {
        sample(&mut state, number);
    }
    (state, now)
}

fn sample(state: &mut State, number: u64) {
    let params = Params::from([("x".to_string(), ParamValue::Float(number as f64))]);
    let json: JsonObject = params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    assert!(state.add_sampled(number, json.clone(), json));
}

fn tokens() -> impl FnMut() -> u64 {
    let mut next = 1000;
    move || {
        next += 1;
        next
    }
}

fn lease_one(
    state: &mut State,
    worker: u64,
    now: Instant,
    tokens: &mut dyn FnMut() -> u64,
) -> Assignment {
    match state.take_trials(worker, 1, now, tokens).unwrap() {
        Taken::Trials(mut granted) => granted.remove(0).0,
        _ => panic!("expected a trial"),
    }
}

fn report(worker: u64, lease: LeaseId, epoch: u32, loss: f64) -> Report {
    Report {
        worker_id: worker,
        lease,
        epochs: vec![Epoch {
            epoch,
            metrics: Metrics::from([("loss".to_string(), loss)]),
        }],
    }
}

fn finished(worker: u64, lease: LeaseId, loss: f64) -> Completion {
    Completion {
        worker_id: worker,
        lease,
        outcome: Outcome::Finished(Metrics::from([("loss".to_string(), loss)])),
        next_max_trials: 0,
    }
}

#[test]
fn sampling_keeps_parallel_trials_in_flight_within_the_budget() {
    let now = Instant::now();
    let mut state = State::new(rules(), &empty(), now, Box::new(NoPruner)).unwrap();
    assert_eq!(state.samples_wanted(), vec![0, 1]);
    assert!(
        state.samples_wanted().is_empty(),
        "two are in flight already"
    );
    sample(&mut state, 0);
    sample(&mut state, 1);
    assert!(state.samples_wanted().is_empty());
    assert!(!state.check_finished());
}

#[test]
fn reports_and_completions_are_fenced_on_the_lease_and_retries_are_idempotent() {
    let (mut state, now) = started(rules());
    let mut tokens = tokens();
    let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    let forged = LeaseId { token: 7, ..lease };
    assert!(matches!(
        state.report(&report(WORKER, forged, 1, 1.0), now),
        Err(Error::LeaseNotHeld { .. })
    ));
    assert!(matches!(
        state.report(&report(OTHER, lease, 1, 1.0), now),
        Err(Error::LeaseNotHeld { .. })
    ));
    assert!(matches!(
        state.report(&report(99, lease, 1, 1.0), now),
        Err(Error::UnknownWorker(99))
    ));
    let (op, stop) = state.report(&report(WORKER, lease, 1, 1.0), now).unwrap();
    assert!(op.is_some() && stop.is_none());
    // The same report again (a retry after a lost reply) writes nothing.
    let (op, _) = state.report(&report(WORKER, lease, 1, 1.0), now).unwrap();
    assert!(op.is_none());
    assert_eq!(
        state.records()[0].intermediate,
        vec![(1, 1.0)],
        "the pruner saw it once"
    );
    // Going backwards, or the same epoch with other values, is refused.
    assert!(matches!(
        state.report(&report(WORKER, lease, 1, 0.5), now),
        Err(Error::Protocol { .. })
    ));
    state.report(&report(WORKER, lease, 2, 0.5), now).unwrap();
    assert!(matches!(
        state.report(&report(WORKER, lease, 1, 0.9), now),
        Err(Error::Protocol { .. })
    ));

    let (op, ended) = state
        .complete(&finished(WORKER, lease, 0.4))
        .unwrap()
        .unwrap();
    assert!(
        matches!(op, WriteOp::FinishAttempt { trial: TrialUpdate::Terminal { state: TrialState::Complete, value: Some(v), .. }, .. } if v == 0.4)
    );
    assert_eq!(ended.unwrap().record.value, Some(0.4));
    // An identical retry is acknowledged without a second write; a different one is not.
    assert!(
        state
            .complete(&finished(WORKER, lease, 0.4))
            .unwrap()
            .is_none()
    );
    let failed = Completion {
        outcome: Outcome::Failed {
            error: "x".into(),
            kind: FailureKind::User,
        },
        ..finished(WORKER, lease, 0.4)
    };
    assert!(matches!(
        state.complete(&failed),
        Err(Error::LeaseNotHeld { .. })
    ));
    assert!(state.report(&report(WORKER, lease, 3, 0.3), now).is_err());
    assert_eq!(state.progress().complete, 1);
    assert_eq!(state.progress().best, Some((0, 0.4)));
}

#[test]
fn an_expired_lease_is_retried_elsewhere_and_its_late_messages_are_refused() {
    let (mut state, now) = started(rules());
    let mut tokens = tokens();
    let first = lease_one(&mut state, WORKER, now, &mut tokens);
    let lease = first.lease;
    // Renewed by a heartbeat at +6 s, it survives the reaper at +12 s ...
    let later = now + Duration::from_secs(6);
    let lost = state
        .heartbeat(
            &Heartbeat {
                worker_id: WORKER,
                leases: vec![lease],
            },
            later,
        )
        .unwrap();
    assert!(lost.is_empty());
    assert!(state.reap(now + Duration::from_secs(12)).is_empty());
    // ... and expires without one by +17 s.
    let reaped = state.reap(now + Duration::from_secs(17));
    assert_eq!(reaped.len(), 1);
    assert!(matches!(
        &reaped[0].0,
        WriteOp::FinishAttempt {
            end: AttemptEnd {
                state: "lost",
                failure: Some(FailureKind::Infrastructure),
                ..
            },
            trial: TrialUpdate::Requeue {
                infra_failures: 1,
                user_failures: 0
            },
            ..
        }
    ));
    // The retry goes to the next free worker first, with the same parameters.
    let retry = lease_one(&mut state, OTHER, now, &mut tokens);
    assert_eq!(retry.lease.trial, lease.trial);
    assert_eq!(retry.lease.attempt, 2);
    assert_eq!(retry.params, first.params);
    // The first worker wakes up: its report, completion and heartbeat are refused.
    assert!(matches!(
        state.report(&report(WORKER, lease, 1, 1.0), now),
        Err(Error::LeaseNotHeld { .. })
    ));
    assert!(matches!(
        state.complete(&finished(WORKER, lease, 0.1)),
        Err(Error::LeaseNotHeld { .. })
    ));
    let lost = state
        .heartbeat(
            &Heartbeat {
                worker_id: WORKER,
                leases: vec![lease],
            },
            now,
        )
        .unwrap();
    assert_eq!(lost, vec![lease]);
    // A second loss exhausts max_attempts = 2: the trial fails with the reason.
    let reaped = state.reap(now + Duration::from_secs(60));
    assert!(matches!(
        &reaped[0].0,
        WriteOp::FinishAttempt { trial: TrialUpdate::Terminal { state: TrialState::Failed, error: Some(e), infra_failures: 2, .. }, .. }
            if e.contains("gave up after 2 attempts lost to infrastructure")
    ));
    assert_eq!(state.progress().failed, 1);
}

#[test]
fn user_errors_have_their_own_budget() {
    let mut rules = rules();
    rules.failure_retries = 1;
    let (mut state, now) = started(rules);
    let mut tokens = tokens();
    let failure = |worker, lease| Completion {
        worker_id: worker,
        lease,
        outcome: Outcome::Failed {
            error: "exit status 2".into(),
            kind: FailureKind::User,
        },
        next_max_trials: 0,
    };
    let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    let (op, ended) = state.complete(&failure(WORKER, lease)).unwrap().unwrap();
    assert!(ended.is_none());
    assert!(matches!(
        op,
        WriteOp::FinishAttempt {
            trial: TrialUpdate::Requeue {
                user_failures: 1,
                infra_failures: 0
            },
            ..
        }
    ));
    // The retry goes to the other worker (the first one failed it).
    let lease = lease_one(&mut state, OTHER, now, &mut tokens).lease;
    assert_eq!(lease.attempt, 2);
    let (op, ended) = state.complete(&failure(OTHER, lease)).unwrap().unwrap();
    assert!(ended.is_some());
    assert!(
        matches!(op, WriteOp::FinishAttempt { trial: TrialUpdate::Terminal { state: TrialState::Failed, error: Some(e), .. }, .. }
        if e == "failed 2 times; last error: exit status 2")
    );
}

struct StopAtEpoch2;

impl Pruner for StopAtEpoch2 {
    fn observe(&mut self, _trial: &TrialRecord) {}

    fn restart(&mut self, _number: u64) {}

    fn decide(&mut self, trial: &TrialRecord) -> Decision {
        match trial.intermediate.last() {
            Some(&(epoch, value)) if epoch >= 2 => Decision::Stop(StopReason {
                rule: "test".into(),
                epoch,
                value,
                threshold: 0.0,
                detail: "epoch 2 is enough".into(),
            }),
            _ => Decision::Continue,
        }
    }
}

#[test]
fn a_stop_decision_is_recorded_once_and_the_trial_ends_pruned() {
    let (mut state, now) = started_with(rules(), Box::new(StopAtEpoch2));
    let mut tokens = tokens();
    let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    state.report(&report(WORKER, lease, 1, 0.9), now).unwrap();
    let (op, stop) = state.report(&report(WORKER, lease, 2, 0.8), now).unwrap();
    let stop = stop.unwrap();
    assert_eq!((stop.rule.as_str(), stop.epoch), ("test", 2));
    assert!(matches!(
        op,
        Some(WriteOp::RecordEpochs { stop: Some(_), .. })
    ));
    // An epoch that was already under way when the decision came is not recorded.
    let (op, again) = state.report(&report(WORKER, lease, 3, 0.7), now).unwrap();
    assert!(op.is_none());
    assert_eq!(again, Some(stop));
    let pruned = Completion {
        worker_id: WORKER,
        lease,
        outcome: Outcome::Pruned,
        next_max_trials: 0,
    };
    let (op, _) = state.complete(&pruned).unwrap().unwrap();
    assert!(
        matches!(op, WriteOp::FinishAttempt { trial: TrialUpdate::Terminal { state: TrialState::Pruned, value: Some(v), .. }, .. } if v == 0.8)
    );
    assert_eq!(state.progress().pruned, 1);
}

#[test]
fn a_batch_of_epochs_stops_at_the_first_stop_decision() {
    let (mut state, now) = started_with(rules(), Box::new(StopAtEpoch2));
    let mut tokens = tokens();
    let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    let epochs = (1..=4)
        .map(|epoch| Epoch {
            epoch,
            metrics: Metrics::from([("loss".to_string(), 1.0 / f64::from(epoch))]),
        })
        .collect();
    let batch = Report {
        worker_id: WORKER,
        lease,
        epochs,
    };
    let (op, stop) = state.report(&batch, now).unwrap();
    assert_eq!(stop.as_ref().map(|s| s.epoch), Some(2));
    let Some(WriteOp::RecordEpochs { epochs, .. }) = op else {
        panic!("expected a write");
    };
    assert_eq!(
        epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(state.records()[0].intermediate, vec![(1, 1.0), (2, 0.5)]);
    // The retry of the whole batch gets the same decision and writes nothing.
    let (op, again) = state.report(&batch, now).unwrap();
    assert!(op.is_none());
    assert_eq!(again, stop);
}

#[test]
fn a_worker_holds_no_more_leases_than_its_slots_and_the_study_finishes() {
    let (mut state, now) = started(rules());
    let mut tokens = tokens();
    let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    assert!(matches!(
        state.take_trials(WORKER, 5, now, &mut tokens).unwrap(),
        Taken::Nothing
    ));
    assert!(matches!(
        state.take_trials(99, 1, now, &mut tokens),
        Err(Error::UnknownWorker(99))
    ));
    state.complete(&finished(WORKER, lease, 1.0)).unwrap();
    for number in state.samples_wanted() {
        sample(&mut state, number);
    }
    for _ in 0..2 {
        let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
        state.complete(&finished(WORKER, lease, 2.0)).unwrap();
        for number in state.samples_wanted() {
            sample(&mut state, number);
        }
    }
    assert!(state.check_finished());
    assert!(matches!(
        state.take_trials(WORKER, 1, now, &mut tokens).unwrap(),
        Taken::StudyFinished
    ));
    let progress = state.progress();
    assert_eq!(
        (progress.complete, progress.created, progress.budget),
        (3, 3, 3)
    );
}

#[test]
fn epochs_past_the_cap_and_values_past_the_storage_budget_are_refused() {
    let (mut state, now) = started(Rules {
        max_epochs: 3,
        max_stored_values: 4,
        ..rules()
    });
    let mut tokens = tokens();
    let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    let refused = state
        .report(&report(WORKER, lease, 4, 1.0), now)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("past the study's limit of 3 epochs"),
        "{refused}"
    );
    for epoch in 1..=3 {
        state
            .report(&report(WORKER, lease, epoch, 1.0), now)
            .unwrap();
    }
    let other = lease_one(&mut state, OTHER, now, &mut tokens).lease;
    state.report(&report(OTHER, other, 1, 1.0), now).unwrap();
    // Four values stored: the budget is spent for every trial.
    assert!(matches!(
        state.report(&report(OTHER, other, 2, 1.0), now),
        Err(Error::StorageFull { budget: 4, .. })
    ));
    // A retry of a report already stored costs nothing and is still answered.
    let (op, _) = state.report(&report(OTHER, other, 1, 1.0), now).unwrap();
    assert!(op.is_none());
}

#[test]
fn a_worker_abandoning_its_leases_is_held_to_one_then_quarantined_and_fails_no_trial() {
    const HOARDER: u64 = 3;
    let (mut state, start) = started(Rules {
        budget: 2,
        max_attempts: 2,
        ..rules()
    });
    state.add_worker(HOARDER, 2);
    let mut next_token = tokens();
    let lease = rules().lease;
    let mut now = start;
    let mut take =
        |state: &mut State, now| match state.take_trials(HOARDER, 2, now, &mut next_token) {
            Ok(Taken::Trials(granted)) => granted.len(),
            Ok(_) => 0,
            Err(err) => panic!("{err}"),
        };
    assert_eq!(take(&mut state, now), 2, "both slots at first");
    for round in 0..STRIKES {
        now += lease + Duration::from_secs(1);
        let lost = state.reap(now);
        assert!(!lost.is_empty());
        assert_eq!(state.progress().failed, 0, "round {round}: no trial failed");
        assert_eq!(
            take(&mut state, now),
            1,
            "held to one trial after an expiry"
        );
    }
    now += lease + Duration::from_secs(1);
    state.reap(now);
    let mut tokens = tokens();
    let refused = state
        .take_trials(HOARDER, 2, now, &mut tokens)
        .err()
        .expect("quarantined");
    assert!(
        matches!(
            refused,
            Error::Quarantined {
                worker: HOARDER,
                ..
            }
        ),
        "{refused}"
    );
    // Each trial was lost by the hoarder several times but burned one attempt: honest
    // workers finish both.
    for worker in [WORKER, OTHER] {
        let held = lease_one(&mut state, worker, now, &mut tokens).lease;
        state.complete(&finished(worker, held, 1.0)).unwrap();
    }
    assert_eq!(state.progress().complete, 2);
    assert_eq!(state.progress().failed, 0);
}

/// Runs one trial on `WORKER` to completion with `loss`; returns what was written.
fn run_one(state: &mut State, now: Instant, loss: f64) -> WriteOp {
    for number in state.samples_wanted() {
        sample(state, number);
    }
    let held = lease_one(state, WORKER, now, &mut tokens()).lease;
    let (op, _) = state
        .complete(&finished(WORKER, held, loss))
        .unwrap()
        .unwrap();
    op
}

fn failure(op: &WriteOp) -> Option<&str> {
    match op {
        WriteOp::FinishAttempt {
            trial:
                TrialUpdate::Terminal {
                    state: TrialState::Failed,
                    error,
                    ..
                },
            ..
        } => error.as_deref(),
        _ => None,
    }
}

#[test]
fn results_outside_the_value_range_or_absurdly_far_off_never_become_the_best() {
    let ranged = Rules {
        budget: 3,
        value_range: Some((0.0, 10.0)),
        ..rules()
    };
    let (mut state, now) = started(ranged);
    let op = run_one(&mut state, now, -1.7e308);
    assert!(failure(&op).is_some_and(|e| e.contains("outside [study] value_range [0, 10]")));
    assert!(failure(&run_one(&mut state, now, 3.0)).is_none());
    assert_eq!(state.progress().best.map(|(_, v)| v), Some(3.0));

    // Without a range: a forged best a world away from ten real results is refused, a
    // real improvement is taken.
    let (mut state, now) = started(Rules {
        budget: 14,
        ..rules()
    });
    for i in 0..10 {
        assert!(failure(&run_one(&mut state, now, 1.0 + f64::from(i) * 0.1)).is_none());
    }
    let op = run_one(&mut state, now, -1.7e308);
    assert!(
        failure(&op).is_some_and(|e| e.contains("implausible")),
        "{op:?}"
    );
    assert!(failure(&run_one(&mut state, now, 0.2)).is_none());
    assert!(
        failure(&run_one(&mut state, now, 1e9)).is_none(),
        "a worse value is no threat"
    );
    assert_eq!(state.progress().best.map(|(_, v)| v), Some(0.2));
}

fn failed_by_user(worker: u64, lease: LeaseId) -> Completion {
    Completion {
        outcome: Outcome::Failed {
            error: "ModuleNotFoundError: No module named 'torch'".into(),
            kind: FailureKind::User,
        },
        ..finished(worker, lease, 0.0)
    }
}

#[test]
fn a_worker_whose_failures_others_refute_is_quarantined_and_its_retries_go_elsewhere() {
    let (mut state, now) = started(Rules {
        budget: 4,
        failure_retries: 1,
        quarantine_after: Some(2),
        ..rules()
    });
    let mut tokens = tokens();
    for round in 0..2u64 {
        let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
        state.complete(&failed_by_user(WORKER, lease)).unwrap();
        // The retry is not handed back to the worker that failed it while another can run it.
        assert!(
            matches!(
                state.take_trials(WORKER, 1, now, &mut tokens).unwrap(),
                Taken::Trials(ref t) if t[0].0.lease.trial != lease.trial
            ) || state.workers[&WORKER].held.is_empty(),
            "round {round}: the failed trial went back to its worker"
        );
        for held in state.workers[&WORKER].held.clone() {
            let lease = state.trials[held as usize].running.as_ref().unwrap().lease;
            state.complete(&failed_by_user(WORKER, lease)).unwrap();
        }
        // The other worker runs the retried trial(s) successfully.
        while let Taken::Trials(granted) = state.take_trials(OTHER, 1, now, &mut tokens).unwrap() {
            let lease = granted[0].0.lease;
            state.complete(&finished(OTHER, lease, 0.5)).unwrap();
            if state.workers[&WORKER].quarantined.is_some() {
                break;
            }
        }
        if state.workers[&WORKER].quarantined.is_some() {
            break;
        }
    }
    let reason = state.workers[&WORKER]
        .quarantined
        .clone()
        .expect("the worker is quarantined");
    assert!(
        reason.contains("ran successfully on other workers"),
        "{reason}"
    );
    assert!(matches!(
        state.take_trials(WORKER, 1, now, &mut tokens),
        Err(Error::Quarantined { .. })
    ));
    assert_eq!(
        state.take_quarantine_changes(),
        vec![(WORKER, Some(reason))],
        "the quarantine is recorded once"
    );
    assert!(state.workers[&OTHER].quarantined.is_none());
}

#[test]
fn a_lone_worker_gets_its_own_failed_trial_back_and_a_success_clears_its_streak() {
    let now = Instant::now();
    let mut state = State::new(
        Rules {
            failure_retries: 1,
            quarantine_after: Some(1),
            ..rules()
        },
        &empty(),
        now,
        Box::new(NoPruner),
    )
    .unwrap();
    state.add_worker(WORKER, 1);
    for number in state.samples_wanted() {
        sample(&mut state, number);
    }
    let mut tokens = tokens();
    let first = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    state.complete(&failed_by_user(WORKER, first)).unwrap();
    let retry = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    assert_eq!(
        retry.trial, first.trial,
        "no other worker: the retry is its own"
    );
    state.complete(&finished(WORKER, retry, 0.3)).unwrap();
    assert!(state.workers[&WORKER].quarantined.is_none());
    assert!(state.workers[&WORKER].failing.is_empty());
}

#[test]
fn the_models_of_the_best_keep_models_trials_stay_and_the_rest_are_dropped_as_trials_end() {
    let (mut state, now) = started(Rules {
        budget: 4,
        keep_models: Some(2),
        ..rules()
    });
    let mut tokens = tokens();
    let mut run = |state: &mut State, loss: Option<f64>| {
        let lease = lease_one(state, WORKER, now, &mut tokens).lease;
        state.model_piece(WORKER, lease, now).unwrap();
        let completion = match loss {
            Some(loss) => finished(WORKER, lease, loss),
            None => failed_by_user(WORKER, lease),
        };
        state.complete(&completion).unwrap();
        for number in state.samples_wanted() {
            sample(state, number);
        }
        state.take_model_drops()
    };
    // Minimizing, two kept: 0.5 and 0.3 stay; 0.9 is worse than both; 0.1 pushes out 0.5.
    assert_eq!(run(&mut state, Some(0.5)), Vec::<u64>::new());
    assert_eq!(run(&mut state, Some(0.3)), Vec::<u64>::new());
    assert_eq!(run(&mut state, Some(0.9)), vec![2]);
    assert_eq!(run(&mut state, Some(0.1)), vec![0]);
    assert_eq!(state.kept.as_ref().unwrap().trials(), vec![3, 1]);
}

#[test]
fn a_failed_trial_drops_its_model_and_a_study_keeping_none_refuses_model_pieces() {
    let (mut state, now) = started(Rules {
        keep_models: Some(3),
        ..rules()
    });
    let mut tokens = tokens();
    let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    state.model_piece(WORKER, lease, now).unwrap();
    assert!(matches!(
        state.model_piece(OTHER, lease, now),
        Err(Error::LeaseNotHeld { .. })
    ));
    state.complete(&failed_by_user(WORKER, lease)).unwrap();
    assert_eq!(state.take_model_drops(), vec![lease.trial]);
    assert!(matches!(
        state.model_piece(WORKER, lease, now),
        Err(Error::LeaseNotHeld { .. })
    ));

    let (mut none, now) = started(rules());
    let lease = lease_one(&mut none, WORKER, now, &mut tokens).lease;
    let err = none
        .model_piece(WORKER, lease, now)
        .unwrap_err()
        .to_string();
    assert!(err.contains("keep_models"), "{err}");
}

mod checkpoints;
mod objectives;
