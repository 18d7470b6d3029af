//! Identical retries (what a worker sends again when an answer was lost) are idempotent:
//! the same answer, nothing recorded twice; a different message about an attempt that is
//! over is refused with FAILED_PRECONDITION.

use std::path::Path;
use std::time::Duration;

use hypersearch_proto::pb;
use sqlx::Row;
use tonic::Code;

use super::hand::{Hand, runtime};
use super::support::{assert_all_over, assert_exits_ok, serve_on, worker};
use crate::harness::{Scratch, branin_study, on_both_stores, sql};

on_both_stores!(
    identical_retries_change_nothing_and_other_late_messages_are_refused,
    identical_retries_change_nothing_and_other_late_messages_are_refused_on_postgres,
    identical_retries_change_nothing_and_other_late_messages_are_refused_on
);

fn identical_retries_change_nothing_and_other_late_messages_are_refused_on(
    dir: &Scratch,
    db: &Path,
) {
    let config = dir.write("retries.toml", &branin_study("retries", 3, 1, 41));
    let (mut serve, address) = serve_on(dir, &config, db, "127.0.0.1:0", "serve.log", &[]);
    let lease = runtime().block_on(async {
        let mut hand = Hand::join(&address, 1).await;
        let lease = hand.lease(1, 5_000).await.remove(0);
        for epoch in [(1, 3.0), (1, 3.0), (2, 2.0), (2, 2.0)] {
            let stop = hand
                .report(lease, "value", &[epoch])
                .await
                .expect("a report and its identical retry are acknowledged");
            assert!(stop.is_none());
        }
        for _ in 0..2 {
            hand.finish(lease, "value", 2.0)
                .await
                .expect("a completion and its identical retry are acknowledged");
        }
        let failed = pb::complete_request::Outcome::Failed(pb::Failed {
            error: "late".into(),
            kind: pb::FailureKind::User.into(),
        });
        let status = hand
            .complete(lease, failed)
            .await
            .expect_err("another outcome for an attempt that is over");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        let status = hand
            .report(lease, "value", &[(3, 1.0)])
            .await
            .expect_err("a report on an attempt that is over");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert_eq!(hand.heartbeat(&[lease]).await, vec![lease]);
        lease
    });
    let mut finisher = worker(dir, &address, "finisher", 1);
    assert_exits_ok(&mut finisher, Duration::from_secs(60));
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());

    assert_all_over(db, 3);
    let trial = sql(
        db,
        "SELECT t.number, t.state, t.value, t.attempts, \
           (SELECT count(*) FROM epoch_metrics m WHERE m.trial_id = t.id), \
           (SELECT string_agg(state, ',') FROM attempts a WHERE a.trial_id = t.id) \
         FROM trials t ORDER BY t.number LIMIT 1",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<String, _>(1),
                r.get::<f64, _>(2),
                r.get::<i64, _>(3),
                r.get::<i64, _>(4),
                r.get::<String, _>(5),
            )
        },
    );
    assert_eq!(lease.trial, 0);
    assert_eq!(
        trial,
        vec![(0, "complete".to_string(), 2.0, 1, 2, "complete".to_string())]
    );
}
