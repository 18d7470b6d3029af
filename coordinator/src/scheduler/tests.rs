//! The scheduler with its real writer, sampler thread and pruner calls, on a database file:
//! retried and late messages reach neither the sampler nor the early-stopping rule twice.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hypersearch_proto::{
    Completion, Epoch, FailureKind, LeaseGrant, LeaseId, LeaseRequest, Metrics, Objective, Outcome,
    Report, WorkerHello,
};
use hypersearch_search::{
    Decision, Direction, Pruner, SampleContext, Sampler, SearchError, StudyConfig, Suggestion,
    TrialRecord, TrialState, make_sampler,
};

use super::*;
use crate::store::{Location, StudyDefinition, create_or_resume, open_for_writing};

const STUDY: &str = "[study]\nname = \"once\"\nmetric = \"value\"\n[objective]\nfunction = \"branin\"\n\
    [search]\nalgorithm = \"random\"\ntrials = 4\nparallel = 2\nseed = 5\n\
    [search.space]\nx1 = { float = [-5, 10] }\nx2 = { float = [0, 15] }\n";

/// Each call's trial number with what the sampler or the rule was shown.
type Calls<T> = Arc<Mutex<Vec<(u64, T)>>>;

/// The random sampler, recording what it is asked and what it sees.
struct Recording {
    inner: Box<dyn Sampler>,
    seen: Calls<Vec<TrialRecord>>,
}

impl Sampler for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError> {
        self.seen
            .lock()
            .unwrap()
            .push((ctx.trial_number, ctx.trials.to_vec()));
        self.inner.suggest(ctx)
    }
}

/// Never stops; records the curve it was shown at every call.
struct Counting(Calls<Vec<(u32, f64)>>);

impl Pruner for Counting {
    fn observe(&mut self, _trial: &TrialRecord) {}

    fn restart(&mut self, _number: u64) {}

    fn decide(&mut self, trial: &TrialRecord) -> Decision {
        self.0
            .lock()
            .unwrap()
            .push((trial.number, trial.intermediate.clone()));
        Decision::Continue
    }
}

fn report(worker: u64, lease: LeaseId, epoch: u32, value: f64) -> Report {
    Report {
        worker_id: worker,
        lease,
        epochs: vec![Epoch {
            epoch,
            metrics: Metrics::from([("value".to_string(), value)]),
        }],
    }
}

fn completion(worker: u64, lease: LeaseId, outcome: Outcome) -> Completion {
    Completion {
        worker_id: worker,
        lease,
        outcome,
        next_max_trials: 0,
    }
}

async fn lease_one(scheduler: &Scheduler, worker: u64) -> LeaseId {
    let request = LeaseRequest {
        worker_id: worker,
        max_trials: 1,
        wait_ms: 5_000,
    };
    match scheduler.lease(request).await.unwrap() {
        LeaseGrant::Trials(trials) => trials[0].lease,
        LeaseGrant::StudyFinished => panic!("the study is not finished"),
    }
}

/// The scheduler with its real writer on the database at `path`, with the calls its
/// sampler and pruner saw.
async fn start(
    path: &std::path::Path,
) -> (
    Arc<Scheduler>,
    Calls<Vec<TrialRecord>>,
    Calls<Vec<(u32, f64)>>,
) {
    start_with(path, 0).await
}

/// [`start`] with `prefetch` trials sampled ahead.
async fn start_with(
    path: &std::path::Path,
    prefetch: u32,
) -> (
    Arc<Scheduler>,
    Calls<Vec<TrialRecord>>,
    Calls<Vec<(u32, f64)>>,
) {
    let config = StudyConfig::from_toml_str(STUDY, "once.toml").unwrap();
    let mut conn = open_for_writing(&Location::from(path)).await.unwrap();
    let definition = StudyDefinition {
        name: "once".into(),
        metric: "value".into(),
        direction: hypersearch_proto::Direction::Minimize,
        algorithm: "random".into(),
        budget: 4,
        config: STUDY.into(),
        objective_metrics: Vec::new(),
    };
    let stored = create_or_resume(&mut conn, &definition, &path.display().to_string())
        .await
        .unwrap();
    drop(conn);
    let writer = Writer::open(path, stored.id, HashMap::new()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let curves = Arc::new(Mutex::new(Vec::new()));
    let scheduler = Scheduler::start(Parts {
        rules: Rules {
            metric: "value".into(),
            direction: Direction::Minimize,
            budget: 4,
            parallel: 2,
            prefetch,
            lease: Duration::from_secs(10),
            max_attempts: 3,
            failure_retries: 0,
            max_epochs: 10_000,
            max_stored_values: u64::MAX,
            value_range: None,
            trial_timeout: None,
            quarantine_after: None,
            keep_models: None,
            checkpoints: false,
            objectives: None,
        },
        study: StudyInfo {
            name: "once".into(),
            metric: "value".into(),
            direction: hypersearch_proto::Direction::Minimize,
            objective: Objective::Function("branin".into()),
            base_config_toml: String::new(),
            data_files: Vec::new(),
            keep_models: false,
            checkpoints: false,
        },
        stored,
        sampler: Box::new(Recording {
            inner: make_sampler(&config).unwrap(),
            seen: seen.clone(),
        }),
        pruner: Box::new(Counting(curves.clone())),
        space: config.space.clone(),
        writer: writer.clone(),
        deterministic: false,
    })
    .unwrap();
    (scheduler, seen, curves)
}

/// Registers a worker; returns its id.
async fn join(scheduler: &Scheduler) -> u64 {
    scheduler
        .register(
            WorkerHello {
                name: "w".into(),
                hostname: "h".into(),
                slots: 2,
                version: "0".into(),
            },
            "digest".into(),
        )
        .await
        .unwrap()
        .worker_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_and_late_messages_reach_the_sampler_and_the_pruner_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (scheduler, seen, curves) = start(&path).await;
    let worker = join(&scheduler).await;

    // Trial 0: every message sent twice, as a worker whose answers were lost would.
    let first = lease_one(&scheduler, worker).await;
    for (epoch, value) in [(1, 3.0), (1, 3.0), (2, 2.0), (2, 2.0)] {
        assert!(
            scheduler
                .report(report(worker, first, epoch, value))
                .await
                .unwrap()
                .is_none()
        );
    }
    let done = Outcome::Finished(Metrics::from([("value".to_string(), 2.0)]));
    for _ in 0..2 {
        scheduler
            .complete(completion(worker, first, done.clone()))
            .await
            .unwrap();
    }
    assert!(
        scheduler
            .report(report(worker, first, 3, 1.0))
            .await
            .is_err()
    );
    // Trial 1: fails (user error, no retries left), twice; then a late report.
    let second = lease_one(&scheduler, worker).await;
    scheduler
        .report(report(worker, second, 1, 9.0))
        .await
        .unwrap();
    let failed = Outcome::Failed {
        error: "diverged".into(),
        kind: FailureKind::User,
    };
    for _ in 0..2 {
        scheduler
            .complete(completion(worker, second, failed.clone()))
            .await
            .unwrap();
    }
    assert!(
        scheduler
            .report(report(worker, second, 2, 8.0))
            .await
            .is_err()
    );
    // Trials 2 and 3 complete once.
    for value in [5.0, 6.0] {
        let lease = lease_one(&scheduler, worker).await;
        let done = Outcome::Finished(Metrics::from([("value".to_string(), value)]));
        scheduler
            .complete(completion(worker, lease, done))
            .await
            .unwrap();
    }
    scheduler.finished().await;
    assert_eq!(scheduler.progress().borrow().done(), 4);

    // The pruner judged each new epoch once, on a curve without repeats.
    let curves = curves.lock().unwrap().clone();
    assert_eq!(
        curves,
        vec![
            (0, vec![(1, 3.0)]),
            (0, vec![(1, 3.0), (2, 2.0)]),
            (1, vec![(1, 9.0)]),
        ]
    );
    // The sampler was asked for each trial once, and saw every earlier trial once, with
    // the outcome it ended with.
    let seen = seen.lock().unwrap().clone();
    let asked: Vec<u64> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(asked, vec![0, 1, 2, 3]);
    for (number, trials) in &seen {
        let numbers: Vec<u64> = trials.iter().map(|t| t.number).collect();
        assert_eq!(numbers, (0..*number).collect::<Vec<_>>());
    }
    let last = &seen[3].1;
    assert_eq!(
        (last[0].state, last[0].value),
        (TrialState::Complete, Some(2.0))
    );
    assert_eq!((last[1].state, last[1].value), (TrialState::Failed, None));
    // Of a finished trial's curve the sampler keeps its last report (how deep it got).
    assert_eq!(last[0].intermediate, vec![(2, 2.0)]);
}

/// With the sampling-ahead the coordinator gives a model-based sampler, each proposal after
/// the first `parallel` is made once a slot is free: it sees every result in by then and
/// `parallel − 1` trials running, as the sampler benchmarks assume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_based_sampler_proposes_knowing_every_result_with_parallel_minus_one_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let ahead = crate::server::prefetch(hypersearch_search::Algorithm::Bayes, 2);
    let (scheduler, seen, _) = start_with(&path, ahead).await;
    let worker = join(&scheduler).await;
    // Two trials run; each of the first two to end frees the slot for the next one.
    let mut running = std::collections::VecDeque::new();
    for _ in 0..2 {
        running.push_back(lease_one(&scheduler, worker).await);
    }
    for (number, value) in [4.0, 3.0, 2.0, 1.0].into_iter().enumerate() {
        let oldest = running.pop_front().unwrap();
        let done = Outcome::Finished(Metrics::from([("value".to_string(), value)]));
        scheduler
            .complete(completion(worker, oldest, done))
            .await
            .unwrap();
        if number < 2 {
            running.push_back(lease_one(&scheduler, worker).await);
        }
    }
    scheduler.finished().await;
    let seen = seen.lock().unwrap().clone();
    let states =
        |number: usize| -> Vec<TrialState> { seen[number].1.iter().map(|t| t.state).collect() };
    let asked: Vec<u64> = seen.iter().map(|(number, _)| *number).collect();
    assert_eq!(asked, vec![0, 1, 2, 3]);
    assert_eq!(states(2), vec![TrialState::Complete, TrialState::Running]);
    assert_eq!(
        states(3),
        vec![
            TrialState::Complete,
            TrialState::Complete,
            TrialState::Running
        ]
    );
}

/// Holds the writer: another connection takes SQLite's write lock until dropped (the
/// writer waits on its busy timeout meanwhile).
fn hold_writes(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

/// Whether trial 0's attempt 1 is recorded as `state`, and its epochs recorded.
fn recorded(path: &std::path::Path) -> (String, i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT a.state, (SELECT count(*) FROM epoch_metrics e WHERE e.trial_id = t.id) \
         FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.number = 0",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .unwrap()
}

/// An identical retry of a report or completion whose original call went away (its RPC
/// cancelled) before the write committed is acknowledged only after that commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_is_acknowledged_only_after_the_originals_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (scheduler, _, _) = start(&path).await;
    let worker = join(&scheduler).await;
    let lease = lease_one(&scheduler, worker).await;
    let patience = Duration::from_millis(300);

    // A report: the original is cancelled while its write waits, the retry waits for it.
    let held = hold_writes(&path);
    let original = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.report(report(worker, lease, 1, 3.0)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    original.abort();
    let retry = scheduler.report(report(worker, lease, 1, 3.0));
    tokio::pin!(retry);
    assert!(
        tokio::time::timeout(patience, &mut retry).await.is_err(),
        "the retried report was acknowledged before the original was committed"
    );
    drop(held);
    assert!(retry.await.unwrap().is_none());
    assert_eq!(recorded(&path), ("running".to_string(), 1));

    // A completion, the same way.
    let done = Outcome::Finished(Metrics::from([("value".to_string(), 2.0)]));
    let held = hold_writes(&path);
    let original = tokio::spawn({
        let scheduler = scheduler.clone();
        let done = done.clone();
        async move { scheduler.complete(completion(worker, lease, done)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    original.abort();
    let retry = scheduler.complete(completion(worker, lease, done));
    tokio::pin!(retry);
    assert!(
        tokio::time::timeout(patience, &mut retry).await.is_err(),
        "the retried completion was acknowledged before the original was committed"
    );
    drop(held);
    retry.await.unwrap();
    assert_eq!(recorded(&path), ("complete".to_string(), 1));

    // Once committed, a retry is acknowledged at once.
    let again = Outcome::Finished(Metrics::from([("value".to_string(), 2.0)]));
    tokio::time::timeout(
        patience,
        scheduler.complete(completion(worker, lease, again)),
    )
    .await
    .unwrap()
    .unwrap();
}
