//! The store's conformance suite, run against a real SQLite file and a real (throwaway)
//! PostgreSQL cluster alike: grouped commits, fencing, reloading, the queries.
#![allow(clippy::unwrap_used)]

use hypersearch_testpg::Cluster;

use super::*;
use crate::store::{
    Location, StoredWorker, StudyDefinition, TrialState, create_or_resume, open_for_writing,
    open_read_only, query,
};
use hypersearch_proto::{Direction, Epoch, LeaseId};

fn definition() -> StudyDefinition {
    StudyDefinition {
        name: "s".into(),
        metric: "loss".into(),
        direction: Direction::Minimize,
        algorithm: "random".into(),
        budget: 3,
        config: "[study]\nname = \"s\"\n".into(),
        objective_metrics: Vec::new(),
    }
}

/// Runs `check` on a fresh SQLite file and on a fresh PostgreSQL database.
macro_rules! on_both_stores {
    ($sqlite:ident, $postgres:ident, $check:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let dir = tempfile::tempdir().unwrap();
            $check(&Location::from(dir.path().join("t.db"))).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let cluster = Cluster::start();
            $check(&Location::parse(&cluster.database()).unwrap()).await;
        }
    };
}

/// What the database says of its own health: SQLite's integrity check, or PostgreSQL's
/// answer to a query over every table.
async fn assert_healthy(reader: &mut sqlx::AnyConnection, db: &Location) {
    match db {
        Location::Sqlite(_) => {
            let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(reader)
                .await
                .unwrap();
            assert_eq!(ok, "ok");
        }
        Location::Postgres(_) => {
            let rows: i64 = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM studies) + (SELECT count(*) FROM trials) \
                 + (SELECT count(*) FROM attempts) + (SELECT count(*) FROM epoch_metrics)",
            )
            .fetch_one(reader)
            .await
            .unwrap();
            assert!(rows > 0);
        }
    }
}

/// A new study in `db`, its writer, and a worker of `slots` slots registered with it.
async fn start(db: &Location, slots: u32) -> (Writer, u64) {
    let mut conn = open_for_writing(db).await.unwrap();
    let study = create_or_resume(&mut conn, &definition(), &db.to_string())
        .await
        .unwrap();
    assert!(!study.resumed);
    drop(conn);
    let writer = Writer::open_at(db, study.id, HashMap::new()).await.unwrap();
    let worker = writer
        .submit(WriteOp::RegisterWorker {
            name: "w".into(),
            hostname: "h".into(),
            slots,
            version: "0".into(),
            credential_sha256: "c0ffee".into(),
        })
        .await
        .unwrap() as u64;
    (writer, worker)
}

on_both_stores!(
    sqlite_writes_are_fenced_on_the_lease_and_survive_a_reopen,
    postgres_writes_are_fenced_on_the_lease_and_survive_a_reopen,
    writes_are_fenced_on_the_lease_and_survive_a_reopen
);

async fn writes_are_fenced_on_the_lease_and_survive_a_reopen(db: &Location) {
    let (writer, worker) = start(db, 1).await;
    // Many concurrent inserts land in a few grouped transactions, each acknowledged.
    let inserts = (0..200u64).map(|number| {
        let writer = writer.clone();
        async move {
            writer
                .submit(WriteOp::InsertTrial {
                    number,
                    params: format!("{{\"x\": {number}}}"),
                    overrides: "{}".into(),
                })
                .await
        }
    });
    let ids: Vec<i64> = futures_join(inserts).await;
    assert_eq!(ids.len(), 200);
    assert!(ids.iter().all(|&id| id > 0));
    let number = 0;
    let lease = LeaseId {
        trial: 0,
        attempt: 1,
        token: u64::MAX - 5,
    };
    writer
        .submit(WriteOp::StartAttempt {
            number,
            lease,
            worker_id: worker,
        })
        .await
        .unwrap();
    let forged = LeaseId { token: 7, ..lease };
    let epoch = |lease, epoch| WriteOp::RecordEpochs {
        number,
        lease,
        epochs: vec![Epoch {
            epoch,
            // A second objective, `cost`, comes with epoch 1 only.
            metrics: hypersearch_proto::Metrics::from_iter(
                [("loss".to_string(), 1.0 / f64::from(epoch))]
                    .into_iter()
                    .chain((epoch == 1).then(|| ("cost".to_string(), 9.0))),
            ),
        }],
        stop: None,
    };
    assert!(matches!(
        writer.submit(epoch(forged, 1)).await,
        Err(Error::LeaseNotHeld { .. })
    ));
    writer.submit(epoch(lease, 1)).await.unwrap();
    writer.submit(epoch(lease, 2)).await.unwrap();
    // The same epoch twice is refused by the primary key, and refused alone.
    assert!(writer.submit(epoch(lease, 2)).await.is_err());
    let finish = |lease| WriteOp::FinishAttempt {
        number,
        lease,
        end: AttemptEnd {
            state: "complete",
            failure: None,
            error: None,
        },
        trial: TrialUpdate::Terminal {
            state: TrialState::Complete,
            value: Some(0.5),
            metrics: Some("{\"loss\": 0.5}".into()),
            error: None,
            infra_failures: 0,
            user_failures: 0,
        },
    };
    assert!(writer.submit(finish(forged)).await.is_err());
    writer.submit(finish(lease)).await.unwrap();
    // A duplicate completion finds no running attempt.
    assert!(matches!(
        writer.submit(finish(lease)).await,
        Err(Error::LeaseNotHeld { .. })
    ));
    drop(writer);

    let mut conn = open_for_writing(db).await.unwrap();
    let again = create_or_resume(&mut conn, &definition(), &db.to_string())
        .await
        .unwrap();
    assert!(again.resumed);
    assert_eq!(again.trials.len(), 200);
    let first = &again.trials[0];
    assert_eq!(first.state, TrialState::Complete);
    assert_eq!(first.value, Some(0.5));
    assert_eq!(first.intermediate, vec![(1, 1.0), (2, 0.5)]);
    assert_eq!(first.latest.as_ref().unwrap().token, lease.token);
    assert!(first.objective_curves.is_empty(), "one objective");
    // A study with several objectives gets each one's curve back.
    let several = StudyDefinition {
        objective_metrics: vec!["loss".into(), "cost".into()],
        ..definition()
    };
    let again = create_or_resume(&mut conn, &several, &db.to_string())
        .await
        .unwrap();
    assert_eq!(
        again.trials[0].objective_curves,
        [vec![(1, 1.0), (2, 0.5)], vec![(1, 9.0)]]
    );
    assert_eq!(
        again.workers,
        vec![StoredWorker {
            id: worker,
            slots: 1,
            credential_sha256: Some("c0ffee".into()),
            quarantined: None,
        }]
    );

    let changed = StudyDefinition {
        config: "[study]\nname = \"other\"\n".into(),
        ..definition()
    };
    assert!(matches!(
        create_or_resume(&mut conn, &changed, &db.to_string()).await,
        Err(Error::StudyChanged { .. })
    ));

    let mut reader = open_read_only(db).await.unwrap();
    let study = query::resolve_study(&mut reader, None, &db.to_string())
        .await
        .unwrap();
    let best = query::best(&mut reader, &study, 5).await.unwrap();
    assert_eq!(best.len(), 1);
    assert_eq!(best[0].trial, 0);
    assert_eq!(best[0].worker.as_deref(), Some("w"));
    let detail = query::trial(&mut reader, &study, 0).await.unwrap();
    assert_eq!(detail.history.len(), 2);
    assert_eq!(detail.attempt_history[0].state, "complete");
    let queued = query::trials(
        &mut reader,
        &study,
        Some(TrialState::Queued),
        query::TrialOrder::Number,
    )
    .await
    .unwrap();
    assert_eq!(queued.len(), 199);
    let summary = query::studies(&mut reader).await.unwrap();
    assert_eq!(summary[0].complete, 1);
    assert_eq!(summary[0].best_value, Some(0.5));
    assert_healthy(&mut reader, db).await;
}

on_both_stores!(
    sqlite_a_write_that_breaks_halfway_fails_alone_and_many_epochs_keep_their_bits,
    postgres_a_write_that_breaks_halfway_fails_alone_and_many_epochs_keep_their_bits,
    a_write_that_breaks_halfway_fails_alone_and_many_epochs_keep_their_bits
);

async fn a_write_that_breaks_halfway_fails_alone_and_many_epochs_keep_their_bits(db: &Location) {
    let (writer, worker) = start(db, 2).await;
    let leases: Vec<LeaseId> = (0..2)
        .map(|trial| LeaseId {
            trial,
            attempt: 1,
            token: 40 + trial,
        })
        .collect();
    for lease in &leases {
        writer
            .submit(WriteOp::InsertTrial {
                number: lease.trial,
                params: "{}".into(),
                overrides: "{}".into(),
            })
            .await
            .unwrap();
        writer
            .submit(WriteOp::StartAttempt {
                number: lease.trial,
                lease: *lease,
                worker_id: worker,
            })
            .await
            .unwrap();
    }
    // 150 epochs of two metrics: several multi-row inserts; values with every bit set.
    let value =
        |epoch: u32, k: u64| f64::from_bits(0x3fd5_5555_5555_5555 ^ (u64::from(epoch) << 7) ^ k);
    let epochs = |from: u32, to: u32| -> Vec<Epoch> {
        (from..=to)
            .map(|epoch| Epoch {
                epoch,
                metrics: hypersearch_proto::Metrics::from([
                    ("loss".into(), value(epoch, 1)),
                    ("acc".into(), value(epoch, 2)),
                ]),
            })
            .collect()
    };
    let record = |lease: LeaseId, epochs| WriteOp::RecordEpochs {
        number: lease.trial,
        lease,
        epochs,
        stop: None,
    };
    writer
        .submit(record(leases[1], epochs(1, 3)))
        .await
        .unwrap();
    // One round: a good write; one that repeats an epoch after 80 new rows (its first
    // multi-row insert goes in, its second is refused by the primary key); another good one
    // that rewrites some of those 80 rows' keys. Only the bad one fails, leaving nothing.
    let good = writer.enqueue(record(leases[0], epochs(1, 150)));
    let bad = writer.enqueue(record(
        leases[1],
        epochs(4, 43).into_iter().chain(epochs(3, 3)).collect(),
    ));
    let after = writer.enqueue(record(leases[1], epochs(6, 7)));
    good.wait().await.unwrap();
    assert!(bad.wait().await.is_err());
    after.wait().await.unwrap();
    drop(writer);

    let mut reader = open_read_only(db).await.unwrap();
    let rows: Vec<(i64, i64, String, f64)> = sqlx::query_as(
        "SELECT t.number, m.epoch, m.name, m.value FROM epoch_metrics m \
         JOIN trials t ON t.id = m.trial_id ORDER BY t.number, m.epoch, m.name",
    )
    .fetch_all(&mut reader)
    .await
    .unwrap();
    let of = |trial: i64| rows.iter().filter(|r| r.0 == trial).collect::<Vec<_>>();
    assert_eq!(of(0).len(), 300);
    for (_, epoch, name, stored) in of(0) {
        let k = if name == "loss" { 1 } else { 2 };
        assert_eq!(stored.to_bits(), value(*epoch as u32, k).to_bits());
    }
    let epochs_of_1: Vec<i64> = of(1).iter().map(|r| r.1).step_by(2).collect();
    assert_eq!(epochs_of_1, vec![1, 2, 3, 6, 7]);
}

async fn futures_join(
    futures: impl Iterator<Item = impl Future<Output = Result<i64, Error>> + Send + 'static>,
) -> Vec<i64> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap().unwrap());
    }
    out
}

on_both_stores!(
    sqlite_a_round_of_mixed_writes_keeps_each_trials_order_and_refuses_forgeries_alone,
    postgres_a_round_of_mixed_writes_keeps_each_trials_order_and_refuses_forgeries_alone,
    a_round_of_mixed_writes_keeps_each_trials_order_and_refuses_forgeries_alone
);

/// Everything queued at once (so it lands in one or few rounds): each trial's insert, start,
/// epochs and completion in that order, with forged leases among them; each forgery is
/// refused alone and the rest is recorded.
async fn a_round_of_mixed_writes_keeps_each_trials_order_and_refuses_forgeries_alone(
    db: &Location,
) {
    let (writer, worker) = start(db, 8).await;
    let lease = |trial: u64| LeaseId {
        trial,
        attempt: 1,
        token: 1000 + trial,
    };
    let forged = |trial: u64| LeaseId {
        token: 7,
        ..lease(trial)
    };
    let epochs = |n: u32| -> Vec<Epoch> {
        (1..=n)
            .map(|epoch| Epoch {
                epoch,
                metrics: hypersearch_proto::Metrics::from([("loss".into(), f64::from(epoch))]),
            })
            .collect()
    };
    let finish = |trial: u64, lease: LeaseId| WriteOp::FinishAttempt {
        number: trial,
        lease,
        end: AttemptEnd {
            state: "complete",
            failure: None,
            error: None,
        },
        trial: TrialUpdate::Terminal {
            state: TrialState::Complete,
            value: Some(trial as f64),
            metrics: None,
            error: None,
            infra_failures: 0,
            user_failures: 0,
        },
    };
    let mut acks = Vec::new();
    for trial in 0..6u64 {
        acks.push((
            true,
            writer.enqueue(WriteOp::InsertTrial {
                number: trial,
                params: format!("{{\"x\": {trial}}}"),
                overrides: "{}".into(),
            }),
        ));
        acks.push((
            true,
            writer.enqueue(WriteOp::StartAttempt {
                number: trial,
                lease: lease(trial),
                worker_id: worker,
            }),
        ));
        // A second start of the same attempt: not queued any more.
        acks.push((
            false,
            writer.enqueue(WriteOp::StartAttempt {
                number: trial,
                lease: lease(trial),
                worker_id: worker,
            }),
        ));
        for (ok, l) in [(false, forged(trial)), (true, lease(trial))] {
            acks.push((
                ok,
                writer.enqueue(WriteOp::RecordEpochs {
                    number: trial,
                    lease: l,
                    epochs: epochs(3),
                    stop: None,
                }),
            ));
        }
        if trial % 2 == 0 {
            acks.push((false, writer.enqueue(finish(trial, forged(trial)))));
            acks.push((true, writer.enqueue(finish(trial, lease(trial)))));
        }
    }
    for (n, (ok, ack)) in acks.into_iter().enumerate() {
        let result = ack.wait().await;
        assert_eq!(result.is_ok(), ok, "write {n}: {result:?}");
    }
    drop(writer);
    let mut reader = open_read_only(db).await.unwrap();
    let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT t.number, t.state, t.attempts, \
         (SELECT count(*) FROM epoch_metrics m WHERE m.trial_id = t.id) \
         FROM trials t ORDER BY t.number",
    )
    .fetch_all(&mut reader)
    .await
    .unwrap();
    let expected: Vec<(i64, String, i64, i64)> = (0..6)
        .map(|t| {
            let state = if t % 2 == 0 { "complete" } else { "running" };
            (t, state.to_string(), 1, 3)
        })
        .collect();
    assert_eq!(rows, expected);
    assert_healthy(&mut reader, db).await;
}

on_both_stores!(
    sqlite_a_kept_model_is_fenced_on_its_lease_replaced_by_a_retry_and_dropped,
    postgres_a_kept_model_is_fenced_on_its_lease_replaced_by_a_retry_and_dropped,
    a_kept_model_is_fenced_on_its_lease_replaced_by_a_retry_and_dropped
);

async fn a_kept_model_is_fenced_on_its_lease_replaced_by_a_retry_and_dropped(db: &Location) {
    let (writer, worker) = start(db, 1).await;
    for number in 0..2 {
        writer
            .submit(WriteOp::InsertTrial {
                number,
                params: "{}".into(),
                overrides: "{}".into(),
            })
            .await
            .unwrap();
    }
    let lease = LeaseId {
        trial: 0,
        attempt: 1,
        token: u64::MAX - 1,
    };
    writer
        .submit(WriteOp::StartAttempt {
            number: 0,
            lease,
            worker_id: worker,
        })
        .await
        .unwrap();
    let store = |lease, bytes: &[u8]| WriteOp::StoreModel {
        number: 0,
        lease,
        sha256: format!("{}", bytes.len()),
        model: ModelBytes(bytes.into()),
    };
    let forged = LeaseId { token: 3, ..lease };
    assert!(matches!(
        writer.submit(store(forged, b"forged")).await,
        Err(Error::LeaseNotHeld { .. })
    ));
    writer.submit(store(lease, b"first")).await.unwrap();
    // Sent again (a retry, or another model of the same attempt): it replaces the first.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    writer.submit(store(lease, &bytes)).await.unwrap();

    let mut reader = query::Reader::open(db).await.unwrap();
    let study = reader.study(Some("s")).await.unwrap();
    let kept = reader.kept_model(&study, 0).await.unwrap().unwrap();
    assert_eq!((kept.attempt, kept.model), (1, bytes));
    assert_eq!(reader.kept_model(&study, 1).await.unwrap(), None);
    assert_eq!(reader.kept_model_trials(&study).await.unwrap(), vec![0]);

    writer
        .submit(WriteOp::DropModels {
            numbers: vec![0, 1, 99],
        })
        .await
        .unwrap();
    assert_eq!(reader.kept_model(&study, 0).await.unwrap(), None);
}

mod checkpoints;
