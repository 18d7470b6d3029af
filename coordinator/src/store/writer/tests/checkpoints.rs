//! Checkpoints in the store: fenced on the lease, reloaded after a restart with the curve a
//! resumed retry continues (the lost attempt's epochs past the checkpoint deleted), refused
//! with the reason recorded, dropped.

use super::*;
use crate::store::ModelBytes;
use hypersearch_proto::FailureKind;

fn epoch(epoch: u32) -> Epoch {
    Epoch {
        epoch,
        metrics: [("loss".to_string(), 1.0 / f64::from(epoch))].into(),
    }
}

on_both_stores!(
    sqlite_a_checkpoint_is_fenced_reloaded_with_the_resumed_curve_refused_and_dropped,
    postgres_a_checkpoint_is_fenced_reloaded_with_the_resumed_curve_refused_and_dropped,
    a_checkpoint_is_fenced_reloaded_with_the_resumed_curve_refused_and_dropped
);

async fn a_checkpoint_is_fenced_reloaded_with_the_resumed_curve_refused_and_dropped(db: &Location) {
    let (writer, worker) = start(db, 1).await;
    writer
        .submit(WriteOp::InsertTrial {
            number: 0,
            params: "{}".into(),
            overrides: "{}".into(),
        })
        .await
        .unwrap();
    let first = LeaseId {
        trial: 0,
        attempt: 1,
        token: 7,
    };
    let second = LeaseId {
        attempt: 2,
        token: 8,
        ..first
    };
    let start_attempt = |lease| WriteOp::StartAttempt {
        number: 0,
        lease,
        worker_id: worker,
    };
    let store = |lease, bytes: &[u8]| WriteOp::StoreCheckpoint {
        number: 0,
        lease,
        epoch: 2,
        sha256: "ab".repeat(32),
        checkpoint: ModelBytes(bytes.into()),
    };
    writer.submit(start_attempt(first)).await.unwrap();
    writer
        .submit(WriteOp::RecordEpochs {
            number: 0,
            lease: first,
            epochs: (1..=3).map(epoch).collect(),
            stop: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        writer.submit(store(second, b"forged")).await,
        Err(Error::LeaseNotHeld { .. })
    ));
    writer.submit(store(first, b"state")).await.unwrap();
    writer
        .submit(WriteOp::FinishAttempt {
            number: 0,
            lease: first,
            end: crate::store::AttemptEnd {
                state: "lost",
                failure: Some(FailureKind::Infrastructure),
                error: Some("lease expired".into()),
            },
            trial: crate::store::TrialUpdate::Requeue {
                infra_failures: 1,
                user_failures: 0,
            },
        })
        .await
        .unwrap();
    writer.submit(start_attempt(second)).await.unwrap();
    writer
        .submit(WriteOp::ContinueCurve {
            number: 0,
            lease: second,
            resumed_from: Some(2),
            curve_from: Some(1),
        })
        .await
        .unwrap();

    let mut conn = open_for_writing(db).await.unwrap();
    let study = create_or_resume(&mut conn, &definition(), &db.to_string())
        .await
        .unwrap();
    let trial = &study.trials[0];
    let checkpoint = trial.checkpoint.as_ref().unwrap();
    assert_eq!(
        (checkpoint.attempt, checkpoint.epoch, checkpoint.size),
        (1, 2, 5)
    );
    assert_eq!(trial.curve_from, Some(1));
    assert_eq!(trial.latest.as_ref().unwrap().resumed_from, Some(2));
    // Epoch 3 of the lost attempt runs again: it is gone.
    let epochs: Vec<u32> = trial.intermediate.iter().map(|&(e, _)| e).collect();
    assert_eq!(epochs, vec![1, 2]);

    let refused = |lease| WriteOp::RefuseCheckpoint {
        number: 0,
        lease,
        reason: "it does not decode".into(),
    };
    assert!(matches!(
        writer.submit(refused(first)).await,
        Err(Error::LeaseNotHeld { .. })
    ));
    writer.submit(refused(second)).await.unwrap();
    let study = create_or_resume(&mut conn, &definition(), &db.to_string())
        .await
        .unwrap();
    let trial = &study.trials[0];
    assert_eq!((trial.checkpoint.as_ref(), trial.curve_from), (None, None));
    assert_eq!(trial.latest.as_ref().unwrap().resumed_from, None);
    let note: Option<String> =
        sqlx::query_scalar("SELECT checkpoint_note FROM attempts WHERE attempt = 2")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(note.as_deref(), Some("it does not decode"));

    writer.submit(store(second, b"again")).await.unwrap();
    writer
        .submit(WriteOp::DropCheckpoints {
            numbers: vec![0, 5],
        })
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM checkpoints")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_healthy(&mut conn, db).await;
}
