//! Checkpoints through the real coordinator and workers (`[study] checkpoints`): a training
//! whose worker is killed after epoch 7 finishes on another worker from epoch 8, with each
//! epoch stored once and the same result, epoch values and kept network, bit for bit, as an
//! uninterrupted run; the same across a coordinator restart; and a checkpoint that does not
//! decode restarts the trial from scratch with the reason recorded.
//!
//! The kill is at a known epoch: the first worker runs with the `test-hooks` build's
//! `HYPERSEARCH_TEST_HOLD_AFTER_CHECKPOINT=7`, which stops its training once the checkpoint
//! after epoch 7 is handed over, and the test polls the database until that checkpoint is
//! stored.

use std::path::Path;
use std::time::Duration;

use hypersearch_proto::model_transfer::checkpoint_pieces;
use hypersearch_proto::pb;
use sqlx::Row;

use crate::faults::support::{assert_exits_ok, kill_9, serve_on, wait_for, worker};
use crate::harness::{
    Proc, Scratch, assert_integrity, assert_ok, heavy, on_both_stores, path, sql, sql_count, stdout,
};
use crate::hostile_workers::{Hand, TOKEN, runtime};

/// One digits training of 20 epochs (batch norm, dropout, a cosine schedule), keeping its
/// network; wide enough that its checkpoint (about 2 MB) travels in several pieces each way.
const STUDY: &str = r#"
[study]
name = "resumed"
metric = "val_accuracy"
keep_models = 1

[data]
source = "digits"

[network]
hidden = [512, 256]
batch_norm = true
dropout = 0.1

[training]
epochs = 20
batch_size = 32
lr_schedule = { cosine = true }
seed = 5

[search]
algorithm = "random"
trials = 1
seed = 2

[search.space]
"training.learning_rate" = { float = [1e-3, 1e-2], log = true }
"#;

const LEASE: &str = "1";
const HOLD: (&str, &str) = ("HYPERSEARCH_TEST_HOLD_AFTER_CHECKPOINT", "7");

/// Metrics that are wall time, not results.
const TIMING: [&str; 2] = ["seconds", "inference_ms"];

/// The trial's final metrics without the timing ones.
fn final_metrics(db: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = sql(db, "SELECT metrics FROM trials", |r| r.get::<String, _>(0)).remove(0);
    let mut metrics: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("a JSON object");
    metrics.retain(|name, _| !TIMING.contains(&name.as_str()));
    metrics
}

/// Every epoch value but the timing ones: (epoch, name, value bits).
fn epoch_values(db: &Path) -> Vec<(i64, String, u64)> {
    let mut rows = sql(
        db,
        "SELECT epoch, name, value FROM epoch_metrics ORDER BY epoch, name",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<String, _>(1),
                r.get::<f64, _>(2).to_bits(),
            )
        },
    );
    rows.retain(|(_, name, _)| !TIMING.contains(&name.as_str()));
    rows
}

/// The study metric's epochs with the attempt that ran each.
fn epochs_by_attempt(db: &Path) -> Vec<(i64, i64)> {
    sql(
        db,
        "SELECT epoch, attempt FROM epoch_metrics WHERE name = 'val_accuracy' ORDER BY epoch, attempt",
        |r| (r.get(0), r.get(1)),
    )
}

/// (attempt, state, resumed_from, checkpoint_note) of every attempt.
fn attempts(db: &Path) -> Vec<(i64, String, Option<i64>, Option<String>)> {
    sql(
        db,
        "SELECT attempt, state, resumed_from, checkpoint_note FROM attempts ORDER BY attempt",
        |r| (r.get(0), r.get(1), r.get(2), r.get(3)),
    )
}

fn kept_model(db: &Path) -> Vec<u8> {
    sql(db, "SELECT model FROM kept_models", |r| {
        r.get::<Vec<u8>, _>(0)
    })
    .remove(0)
}

/// The study run without interruption into its own database.
fn uninterrupted(dir: &Scratch, config: &Path) -> std::path::PathBuf {
    let db = dir.path("reference.db");
    assert_ok(&dir.hs(
        &["run", path(config), "--db", path(&db), "--workers", "1"],
        Duration::from_secs(120),
    ));
    db
}

/// Starts a worker that holds after its checkpoint of epoch 7, and waits until that
/// checkpoint is stored.
fn worker_held_after_epoch_7(dir: &Scratch, address: &str, db: &Path) -> Proc {
    let args = [
        "worker",
        "--coordinator",
        address,
        "--slots",
        "1",
        "--name",
        "held",
    ];
    let held = dir.spawn_logged_with_env(&args, "worker-held.log", &[HOLD]);
    let (epoch, size) = wait_for(
        "the checkpoint after epoch 7",
        Duration::from_secs(60),
        || {
            sql(db, "SELECT epoch, size FROM checkpoints", |r| {
                (r.get::<i64, _>(0), r.get::<i64, _>(1))
            })
            .first()
            .copied()
            .filter(|&(epoch, _)| epoch >= 7)
        },
    );
    assert_eq!(epoch, 7, "the held worker went past its checkpoint");
    // It travels in several pieces each way.
    let piece = hypersearch_proto::model_transfer::CHUNK_BYTES as i64;
    assert!(size > piece, "the checkpoint is {size} bytes");
    held
}

/// What a resumed run must show: attempt 1 lost after epoch 7, attempt 2 resumed from it
/// and ran epochs 8 to 20, each epoch once; the result, every epoch value and the kept
/// network as in the uninterrupted run; no checkpoint left.
fn assert_resumed_as_uninterrupted(db: &Path, reference: &Path) {
    let attempts = attempts(db);
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!((attempts[0].0, attempts[0].1.as_str()), (1, "lost"));
    assert_eq!(
        (attempts[1].0, attempts[1].1.as_str(), attempts[1].2),
        (2, "complete", Some(7)),
        "{attempts:?}"
    );
    let expected: Vec<(i64, i64)> = (1..=20).map(|e| (e, if e <= 7 { 1 } else { 2 })).collect();
    assert_eq!(epochs_by_attempt(db), expected);
    assert_eq!(
        sql(db, "SELECT curve_from FROM trials", |r| r
            .get::<Option<i64>, _>(0)),
        vec![Some(1)]
    );
    assert_eq!(final_metrics(db), final_metrics(reference));
    assert_eq!(epoch_values(db), epoch_values(reference));
    assert_eq!(kept_model(db), kept_model(reference));
    assert_eq!(sql_count(db, "SELECT count(*) FROM checkpoints"), 0);
}

on_both_stores!(
    sqlite_a_training_whose_worker_is_killed_after_epoch_7_finishes_on_another_from_epoch_8_bit_for_bit,
    postgres_a_training_whose_worker_is_killed_after_epoch_7_finishes_on_another_from_epoch_8_bit_for_bit,
    a_training_whose_worker_is_killed_after_epoch_7_finishes_on_another_from_epoch_8_bit_for_bit
);

fn a_training_whose_worker_is_killed_after_epoch_7_finishes_on_another_from_epoch_8_bit_for_bit(
    dir: &Scratch,
    db: &Path,
) {
    let config = dir.write("study.toml", STUDY);
    let reference = uninterrupted(dir, &config);
    let (mut serve, address) = serve_on(
        dir,
        &config,
        db,
        "127.0.0.1:0",
        "serve.log",
        &["--lease-seconds", LEASE],
    );
    let mut held = worker_held_after_epoch_7(dir, &address, db);
    kill_9(&mut held);
    let mut second = worker(dir, &address, "second", 1);
    assert_exits_ok(&mut second, Duration::from_secs(120));
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert!(
        second.log_text().contains("resuming from a checkpoint"),
        "{}",
        second.log_text()
    );
    assert_resumed_as_uninterrupted(db, &reference);
    // `show` tells the resumption as it happened.
    let show = dir.hs(
        &["show", "0", "--db", db.to_str().expect("utf-8")],
        Duration::from_secs(30),
    );
    assert_ok(&show);
    for words in [
        "completed after 20 epochs (attempt 2 went on from the checkpoint of epoch 7)",
        "attempt 2 resumed from the checkpoint of epoch 7",
    ] {
        assert!(stdout(&show).contains(words), "{}", stdout(&show));
    }
    if !crate::harness::is_postgres(db) {
        assert_integrity(db);
    }
}

#[test]
fn a_retry_resumes_from_the_stored_checkpoint_after_a_coordinator_restart() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", STUDY);
    let db = dir.path("trials.db");
    let reference = uninterrupted(&dir, &config);
    let (mut serve, address) = serve_on(
        &dir,
        &config,
        &db,
        "127.0.0.1:0",
        "serve.log",
        &["--lease-seconds", LEASE],
    );
    let mut held = worker_held_after_epoch_7(&dir, &address, &db);
    // The coordinator dies with the trial at epoch 7, and its worker with it.
    kill_9(&mut serve);
    kill_9(&mut held);
    let (mut serve, address) = serve_on(
        &dir,
        &config,
        &db,
        "127.0.0.1:0",
        "serve-again.log",
        &["--lease-seconds", LEASE],
    );
    let mut second = worker(&dir, &address, "second", 1);
    assert_exits_ok(&mut second, Duration::from_secs(120));
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert_resumed_as_uninterrupted(&db, &reference);
    assert_integrity(&db);
}

/// A digits training of 6 epochs, with a token (a hand-played worker takes part).
const SHORT: &str = r#"
[study]
name = "refused"
metric = "val_accuracy"

[data]
source = "digits"

[network]
hidden = [16]

[training]
epochs = 6

[search]
algorithm = "random"
trials = 1
seed = 4

[search.space]
"training.learning_rate" = { float = [1e-3, 1e-2] }
"#;

#[test]
fn a_checkpoint_that_does_not_decode_restarts_the_trial_from_scratch_with_the_reason() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("short.toml", SHORT);
    let token = dir.write("token", TOKEN);
    let db = dir.path("trials.db");
    let (mut serve, address) = dir.serve(
        &config,
        &db,
        &["--token-file", path(&token), "--lease-seconds", LEASE],
    );
    runtime().block_on(async {
        // A worker that reports three epochs, sends bytes that are no checkpoint (whose
        // digest matches: they arrive intact) and goes silent.
        let mut hand = Hand::join(&address, 1).await;
        let lease = hand.lease(1, 5_000).await.remove(0);
        let epochs = [
            (1, "val_accuracy", 0.1),
            (2, "val_accuracy", 0.2),
            (3, "val_accuracy", 0.3),
        ];
        let id = hand.id;
        hand.report_as(id, lease, &epochs).await.expect("reported");
        let lease_id = hypersearch_proto::LeaseId {
            trial: lease.trial,
            attempt: lease.attempt,
            token: lease.token,
        };
        let garbage = b"HSCKPT\0\0 but truncated".to_vec();
        let piece = checkpoint_pieces(&garbage, id, lease_id, Some(3)).remove(0);
        let reply = hand
            .client
            .put_model(hand.request(pb::PutModelRequest::from(piece)))
            .await
            .expect("stored")
            .into_inner();
        assert!(reply.stored, "{reply:?}");
    });
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM checkpoints WHERE epoch = 3"),
        1
    );
    let output = dir.hs(
        &[
            "worker",
            "--coordinator",
            &address,
            "--token-file",
            path(&token),
        ],
        Duration::from_secs(120),
    );
    assert_ok(&output);
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());

    let attempts = attempts(&db);
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let (attempt, state, resumed_from, note) = &attempts[1];
    assert_eq!(
        (*attempt, state.as_str(), *resumed_from),
        (2, "complete", None)
    );
    let note = note.as_deref().expect("the reason is recorded");
    assert!(
        note.contains("started from scratch") && note.contains("does not decode"),
        "{note}"
    );
    // The retry ran every epoch itself; the curve is its own.
    let second: Vec<i64> = epochs_by_attempt(&db)
        .into_iter()
        .filter(|&(_, attempt)| attempt == 2)
        .map(|(epoch, _)| epoch)
        .collect();
    assert_eq!(second, (1..=6).collect::<Vec<_>>());
    let show = dir.hs(&["show", "0", "--db", path(&db)], Duration::from_secs(30));
    assert_ok(&show);
    assert!(
        stdout(&show).contains("attempt 2 started over: its checkpoint was refused")
            && stdout(&show).contains("completed after 6 epochs with"),
        "{}",
        stdout(&show)
    );
    assert_eq!(
        sql(&db, "SELECT curve_from FROM trials", |r| r
            .get::<Option<i64>, _>(0)),
        vec![None]
    );
    assert_eq!(sql_count(&db, "SELECT count(*) FROM checkpoints"), 0);
    assert_integrity(&db);
}
