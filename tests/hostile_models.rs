//! Trained networks sent by hand-played workers that lie: under another worker's id, under
//! a forged lease, too large, out of order, not matching their digest, or not a network at
//! all. Each is refused with a status naming what is wrong, or answered with the offset the
//! coordinator wants; bytes that are stored but are not a network make `hypersearch model`
//! say so; a trial that fails drops the model it sent. Checkpoints of running trainings
//! are refused the same way, and also before their epoch was reported.

use std::time::Duration;

use hypersearch_proto::LeaseId;
use hypersearch_proto::model_transfer::{
    MAX_CHECKPOINT_BYTES, MAX_MODEL_BYTES, ModelPiece, checkpoint_pieces, pieces,
};
use hypersearch_proto::pb;
use tonic::Code;

use crate::harness::{Scratch, assert_integrity, assert_one_clear_error, heavy, path, sql_count};
use crate::hostile_workers::{Hand, TOKEN, runtime};

const KEEPING: &str = r#"
[study]
name = "keeping"
metric = "val_accuracy"
keep_models = 1

[data]
source = "digits"

[training]
epochs = 2

[search]
algorithm = "random"
trials = 2
parallel = 2
seed = 3

[search.space]
"training.learning_rate" = { float = [1e-3, 1e-2] }
"#;

/// One piece of `model` as `hand` sends it for `lease`.
async fn put(hand: &mut Hand, piece: ModelPiece) -> Result<pb::PutModelReply, tonic::Status> {
    let message = hand.request(pb::PutModelRequest::from(piece));
    hand.client.put_model(message).await.map(|r| r.into_inner())
}

fn lease_id(lease: pb::LeaseRef) -> LeaseId {
    LeaseId {
        trial: lease.trial,
        attempt: lease.attempt,
        token: lease.token,
    }
}

async fn end(hand: &mut Hand, lease: pb::LeaseRef, outcome: pb::complete_request::Outcome) {
    let message = hand.request(pb::CompleteRequest {
        worker_id: hand.id,
        lease: Some(lease),
        outcome: Some(outcome),
        next_max_trials: 0,
    });
    hand.client.complete(message).await.expect("complete");
}

#[test]
fn lying_models_are_refused_and_bytes_that_are_no_network_are_named_as_such() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("keeping.toml", KEEPING);
    let token = dir.write("token", TOKEN);
    let db = dir.path("trials.db");
    let (mut serve, address) = dir.serve(&config, &db, &["--token-file", path(&token)]);
    runtime().block_on(async {
        let mut hand = Hand::join(&address, 2).await;
        let mut other = Hand::join(&address, 1).await;
        let leases = hand.lease(2, 5_000).await;
        let (first, second) = (leases[0], leases[1]);
        let model = b"not a network at all".to_vec();
        let id = hand.id;
        let piece = |lease, bytes: &[u8]| pieces(bytes, id, lease_id(lease)).remove(0);

        // Under another worker's id with its own credential: not its call.
        let forged = pb::PutModelRequest::from(piece(first, &model));
        let status = other
            .client
            .put_model(other.request(forged))
            .await
            .expect_err("speaking as another worker");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        // A forged lease token.
        let mut forged = piece(first, &model);
        forged.lease.token ^= 1;
        let status = put(&mut hand, forged).await.expect_err("a forged lease");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        // Too large.
        let mut huge = piece(first, &model);
        huge.size = MAX_MODEL_BYTES + 1;
        let status = put(&mut hand, huge).await.expect_err("a 64 MiB + 1 model");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("64 MiB"), "{status:?}");
        // A piece after a gap: the coordinator wants the start.
        let mut late = piece(first, &model);
        late.chunk = hypersearch_proto::model_transfer::DataChunk::new(4, model[4..].to_vec());
        let reply = put(&mut hand, late).await.expect("an answer");
        assert_eq!((reply.next_offset, reply.stored), (0, false));
        // A whole that does not match its digest.
        let mut lying = piece(first, &model);
        lying.sha256 = hypersearch_proto::model_transfer::Checksum::of(b"other bytes");
        let status = put(&mut hand, lying).await.expect_err("a wrong digest");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("do not match"), "{status:?}");

        // Consistent bytes that are no network: stored (the coordinator does not read
        // them), and a retry of the last piece is answered `stored`.
        for _ in 0..2 {
            let reply = put(&mut hand, piece(first, &model)).await.expect("stored");
            assert!(reply.stored, "{reply:?}");
        }
        let finished = pb::complete_request::Outcome::Finished(pb::Finished {
            metrics: vec![pb::Metric {
                name: "val_accuracy".into(),
                value: 0.5,
            }],
        });
        end(&mut hand, first, finished).await;
        // The other trial sends one and then fails: its model goes.
        assert!(
            put(&mut hand, piece(second, &model))
                .await
                .expect("stored")
                .stored
        );
        let failed = pb::complete_request::Outcome::Failed(pb::Failed {
            error: "diverged".into(),
            kind: pb::FailureKind::User.into(),
        });
        end(&mut hand, second, failed).await;
    });
    // Every write was acknowledged after its commit: stop the coordinator as it is.
    serve.kill();
    assert_eq!(sql_count(&db, "SELECT count(*) FROM kept_models"), 1);
    let out = dir.hs(
        &[
            "model",
            "--db",
            path(&db),
            "0",
            "--out",
            path(&dir.path("m.onnx")),
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(
        &out,
        &[
            "trial 0 of study `keeping` cannot be read",
            "not a kept model",
        ],
    );
    assert!(!dir.path("m.onnx").exists());
    assert_integrity(&db);
}

/// One piece of a checkpoint after `epoch` as `hand` sends it for `lease`.
fn checkpoint_piece(hand: &Hand, lease: pb::LeaseRef, bytes: &[u8], epoch: u32) -> ModelPiece {
    checkpoint_pieces(bytes, hand.id, lease_id(lease), Some(epoch)).remove(0)
}

#[test]
fn lying_checkpoints_are_refused_by_name_and_a_trial_that_ends_drops_its_checkpoint() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("keeping.toml", KEEPING);
    let token = dir.write("token", TOKEN);
    let db = dir.path("trials.db");
    let (mut serve, address) = dir.serve(&config, &db, &["--token-file", path(&token)]);
    runtime().block_on(async {
        let mut hand = Hand::join(&address, 2).await;
        let lease = hand.lease(1, 5_000).await.remove(0);
        let bytes = b"checkpoint bytes".to_vec();
        // Taken after an epoch the attempt never reported.
        let early = checkpoint_piece(&hand, lease, &bytes, 1);
        let status = put(&mut hand, early).await.expect_err("before its epoch");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("checkpoint after epoch 1"),
            "{status:?}"
        );
        let id = hand.id;
        hand.report_as(
            id,
            lease,
            &[(1, "val_accuracy", 0.3), (2, "val_accuracy", 0.4)],
        )
        .await
        .expect("reported");
        // A forged lease token.
        let mut forged = checkpoint_piece(&hand, lease, &bytes, 2);
        forged.lease.token ^= 1;
        let status = put(&mut hand, forged).await.expect_err("a forged lease");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        // Too large.
        let mut huge = checkpoint_piece(&hand, lease, &bytes, 2);
        huge.size = MAX_CHECKPOINT_BYTES + 1;
        let status = put(&mut hand, huge)
            .await
            .expect_err("a 64 MiB + 1 checkpoint");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("checkpoint") && status.message().contains("64 MiB"),
            "{status:?}"
        );
        // A whole that does not match its digest.
        let mut lying = checkpoint_piece(&hand, lease, &bytes, 2);
        lying.sha256 = hypersearch_proto::model_transfer::Checksum::of(b"other bytes");
        let status = put(&mut hand, lying).await.expect_err("a wrong digest");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("checkpoint do not match"),
            "{status:?}"
        );
        // Asking for, or refusing, a checkpoint the attempt was not granted.
        let ask = pb::GetCheckpointRequest {
            worker_id: id,
            lease: Some(lease),
            offset: 0,
        };
        let status = hand
            .client
            .get_checkpoint(hand.request(ask))
            .await
            .expect_err("not resumed");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("not granted a checkpoint"),
            "{status:?}"
        );
        let refuse = pb::RefuseCheckpointRequest {
            worker_id: id,
            lease: Some(lease),
            reason: "x".repeat(5000),
        };
        let status = hand
            .client
            .refuse_checkpoint(hand.request(refuse))
            .await
            .expect_err("too long a reason");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("reason"), "{status:?}");
        // An honest one is stored, the latest replacing the earlier.
        let honest = checkpoint_piece(&hand, lease, &bytes, 1);
        let stored = put(&mut hand, honest).await.expect("stored");
        assert!(stored.stored);
        let later = checkpoint_piece(&hand, lease, b"later", 2);
        let stored = put(&mut hand, later).await.expect("stored");
        assert!(stored.stored);
        let finished = pb::complete_request::Outcome::Finished(pb::Finished {
            metrics: vec![pb::Metric {
                name: "val_accuracy".into(),
                value: 0.4,
            }],
        });
        end(&mut hand, lease, finished).await;
        // Once the attempt is over, its lease no longer takes one.
        let late = checkpoint_piece(&hand, lease, &bytes, 2);
        let status = put(&mut hand, late).await.expect_err("after the end");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    });
    serve.kill();
    assert_eq!(sql_count(&db, "SELECT count(*) FROM checkpoints"), 0);
    assert_integrity(&db);
}
