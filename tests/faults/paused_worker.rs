//! A worker paused (SIGSTOP) past its lease, then resumed (SIGCONT): its lease expired and
//! its trial ran again elsewhere; what it sends late about the old attempt is refused with
//! FAILED_PRECONDITION and changes nothing; the re-run is recorded once; the coordinator
//! stays up; the pause counts against the infrastructure budget, not the user-error one.

use std::time::Duration;

use hypersearch_proto::pb;
use sqlx::Row;
use tonic::Code;

use super::hand::{Hand, runtime};
use super::support::{assert_all_over, assert_exits_ok, serve_on, signal, wait_for, worker};
use crate::harness::{Scratch, heavy, sql, sql_count};

const STUDY: &str = r#"
[study]
name = "paused-worker"
metric = "loss"

[objective]
command = "for e in 1 2 3 4 5 6; do echo epoch=$e loss=$((10 - e)); sleep 0.25; done"

[search]
algorithm = "random"
trials = 6
parallel = 2
seed = 23

[search.space]
x = { float = [0, 1] }
"#;

/// The paused worker's running attempt: worker id, trial, attempt, token, epochs recorded.
fn running_attempt(db: &std::path::Path) -> Option<(i64, i64, i64, i64, i64)> {
    sql(
        db,
        "SELECT w.id, t.number, a.attempt, a.lease_token, \
           (SELECT count(*) FROM epoch_metrics m WHERE m.trial_id = a.trial_id AND m.attempt = a.attempt) \
         FROM attempts a JOIN trials t ON t.id = a.trial_id JOIN workers w ON w.id = a.worker_id \
         WHERE a.state = 'running' AND w.name = 'paused'",
        |r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)),
    )
    .into_iter()
    .next()
}

/// Epochs recorded for attempt `attempt` of trial `number`.
fn epochs_of(db: &std::path::Path, number: i64, attempt: i64) -> i64 {
    sql(
        db,
        "SELECT t.number, m.attempt, count(*) FROM epoch_metrics m \
         JOIN trials t ON t.id = m.trial_id GROUP BY t.number, m.attempt",
        |r| (r.get::<i64, _>(0), r.get::<i64, _>(1), r.get::<i64, _>(2)),
    )
    .into_iter()
    .find(|e| (e.0, e.1) == (number, attempt))
    .map_or(0, |e| e.2)
}

#[test]
fn a_worker_paused_past_its_lease_is_refused_when_it_resumes_and_the_rerun_counts_once() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", STUDY);
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(
        &dir,
        &config,
        &db,
        "127.0.0.1:0",
        "serve.log",
        &["--lease-seconds", "1"],
    );
    let mut paused = worker(&dir, &address, "paused", 1);
    // Caught early in a trial (3 of its 6 epochs at most, with 0.75 s of work left), so that
    // the trial cannot be completing as the process stops; epochs of 0.25 s leave a slow
    // poll on a loaded machine time to catch one.
    let (worker_id, number, attempt, token, _) = wait_for(
        "the worker to report an epoch",
        Duration::from_secs(30),
        || running_attempt(&db).filter(|a| (1..=3).contains(&a.4)),
    );
    signal(&paused, "STOP");
    let mut steady = worker(&dir, &address, "steady", 1);
    wait_for(
        "the paused attempt to expire",
        Duration::from_secs(10),
        || {
            let lost = sql(
                &db,
                "SELECT t.number, a.attempt FROM attempts a JOIN trials t ON t.id = a.trial_id \
             WHERE a.state = 'lost'",
                |r| (r.get::<i64, _>(0), r.get::<i64, _>(1)),
            );
            lost.contains(&(number, attempt)).then_some(())
        },
    );
    // What was recorded of the attempt until it was lost (a report already on the wire when
    // the process stopped may have landed); nothing more may be recorded from now on.
    let epochs_at_loss = epochs_of(&db, number, attempt);
    assert!(epochs_at_loss >= 1);

    // What the paused worker would send about its old attempt: refused.
    let lease = pb::LeaseRef {
        trial: number as u64,
        attempt: attempt as u32,
        token: u64::from_ne_bytes(token.to_ne_bytes()),
    };
    runtime().block_on(async {
        // Without the paused worker's credential nobody can speak as it.
        let mut impostor = Hand::connect(&address, worker_id as u64).await;
        let status = impostor
            .report(lease, "loss", &[(99, 1.0)])
            .await
            .expect_err("a call without the worker's credential is refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        // The old attempt's lease is fenced whoever presents it: a registered worker
        // holding the whole lease gets the answer the paused one gets on waking.
        let mut late = Hand::join(&address, 1).await;
        assert_eq!(
            late.heartbeat(&[lease]).await,
            vec![lease],
            "the lease is lost"
        );
        let next = u32::try_from(epochs_at_loss).expect("epochs") + 1;
        let status = late
            .report(lease, "loss", &[(next, 1.0)])
            .await
            .expect_err("a late report is refused");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        let status = late
            .finish(lease, "loss", 0.5)
            .await
            .expect_err("a late completion is refused");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    });
    signal(&paused, "CONT");

    assert_exits_ok(&mut paused, Duration::from_secs(60));
    assert_exits_ok(&mut steady, Duration::from_secs(60));
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert!(
        serve.log_text().contains("finished"),
        "{}",
        serve.log_text()
    );

    assert_all_over(&db, 6);
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'failed'"),
        0
    );
    // The paused trial: the expired attempt lost to infrastructure, then one re-run that
    // ended it; nothing the paused worker sent after its lease expired was recorded.
    let attempts = sql(
        &db,
        "SELECT t.number, a.attempt, a.state, a.failure, \
           (SELECT count(*) FROM epoch_metrics m WHERE m.trial_id = a.trial_id AND m.attempt = a.attempt), \
           t.infra_failures, t.user_failures, t.state, t.value \
         FROM attempts a JOIN trials t ON t.id = a.trial_id ORDER BY t.number, a.attempt",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<i64, _>(1),
                r.get::<String, _>(2),
                r.get::<Option<String>, _>(3),
                r.get::<i64, _>(4),
                (r.get::<i64, _>(5), r.get::<i64, _>(6)),
                (r.get::<String, _>(7), r.get::<Option<f64>, _>(8)),
            )
        },
    );
    let of_trial: Vec<_> = attempts.iter().filter(|a| a.0 == number).collect();
    assert_eq!(of_trial.len(), 2, "{of_trial:?}");
    let (lost, rerun) = (of_trial[0], of_trial[1]);
    assert_eq!(lost.1, attempt);
    assert_eq!(
        (lost.2.as_str(), lost.3.as_deref()),
        ("lost", Some("infrastructure"))
    );
    assert_eq!(lost.4, epochs_at_loss, "late epochs were recorded");
    assert_eq!(
        (rerun.1, rerun.2.as_str(), rerun.4),
        (attempt + 1, "complete", 6)
    );
    assert_eq!(
        lost.5,
        (1, 0),
        "the pause counts as infrastructure, not user error"
    );
    assert_eq!(lost.6, ("complete".to_string(), Some(4.0)));
    // The resumed worker learned it had lost the lease and went on with other trials.
    assert!(
        paused.log_text().contains("lost"),
        "the paused worker's log does not mention the lost lease:{}",
        paused.log_text()
    );
}
