//! Workers that misbehave, played by a hand-written client (the generated one from
//! `hypersearch-proto`) against a real `serve` process: reports and completions on another
//! worker's trial, more trials than its slots, NaN and infinite metrics, epochs going
//! backwards, a 5 MiB message, a flood of reports. Each is refused with its status code, the
//! trial it aimed at is unaffected, the coordinator stays up, and a real worker process then
//! finishes the study.

use std::time::Duration;

use hypersearch_proto::auth::{AUTHORIZATION, WORKER_CREDENTIAL, bearer};
use hypersearch_proto::pb;
use hypersearch_proto::pb::coordinator_client::CoordinatorClient;
use sqlx::Row;
use tonic::Code;
use tonic::transport::Channel;

use crate::harness::{Proc, Scratch, assert_integrity, assert_ok, branin_study, sql, sql_count};

pub const TOKEN: &str = "hostile-secret";

/// A worker speaking the protocol by hand.
#[derive(Clone)]
pub struct Hand {
    pub client: CoordinatorClient<Channel>,
    pub id: u64,
    /// The credential `Register` handed it.
    pub credential: String,
}

/// `message` with the shared token.
pub fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        AUTHORIZATION,
        bearer(TOKEN).parse().expect("an ASCII token"),
    );
    request
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

impl Hand {
    /// `message` with the shared token and this worker's credential.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = request(message);
        request.metadata_mut().insert(
            WORKER_CREDENTIAL,
            self.credential.parse().expect("an ASCII credential"),
        );
        request
    }

    pub async fn join(address: &str, slots: u32) -> Hand {
        let mut client = CoordinatorClient::connect(address.to_string())
            .await
            .expect("connect to the coordinator");
        let hello = pb::RegisterRequest {
            name: format!("hand-{slots}"),
            hostname: "test".into(),
            slots,
            version: "test".into(),
        };
        let welcome = client
            .register(request(hello))
            .await
            .expect("register")
            .into_inner();
        Hand {
            client,
            id: welcome.worker_id,
            credential: welcome.credential,
        }
    }

    pub async fn lease(&mut self, max_trials: u32, wait_ms: u32) -> Vec<pb::LeaseRef> {
        let reply = self
            .client
            .lease(self.request(pb::LeaseRequest {
                worker_id: self.id,
                max_trials,
                wait_ms,
            }))
            .await
            .expect("lease")
            .into_inner();
        reply.trials.into_iter().filter_map(|t| t.lease).collect()
    }

    pub async fn report_as(
        &mut self,
        worker_id: u64,
        lease: pb::LeaseRef,
        epochs: &[(u32, &str, f64)],
    ) -> Result<(), tonic::Status> {
        let epochs = epochs
            .iter()
            .map(|&(epoch, name, value)| pb::EpochMetrics {
                epoch,
                metrics: vec![pb::Metric {
                    name: name.into(),
                    value,
                }],
            })
            .collect();
        let message = self.request(pb::ReportRequest {
            worker_id,
            lease: Some(lease),
            epochs,
        });
        self.client.report(message).await.map(|_| ())
    }

    pub async fn report(
        &mut self,
        lease: pb::LeaseRef,
        epoch: u32,
        value: f64,
    ) -> Result<(), tonic::Status> {
        self.report_as(self.id, lease, &[(epoch, "value", value)])
            .await
    }

    pub async fn complete_as(
        &mut self,
        worker_id: u64,
        lease: pb::LeaseRef,
        value: f64,
    ) -> Result<(), tonic::Status> {
        let outcome = pb::complete_request::Outcome::Finished(pb::Finished {
            metrics: vec![pb::Metric {
                name: "value".into(),
                value,
            }],
        });
        let message = self.request(pb::CompleteRequest {
            worker_id,
            lease: Some(lease),
            outcome: Some(outcome),
            next_max_trials: 0,
        });
        self.client.complete(message).await.map(|_| ())
    }
}

pub fn expect_code(result: Result<(), tonic::Status>, code: Code, words: &str) {
    let status = result.expect_err("the coordinator accepted it");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(words), "{status:?}");
}

/// Starts the coordinator of `branin_study("hostile", 8, 4, 3)` with `extra` arguments.
pub fn serve(dir: &Scratch, extra: &[&str]) -> (Proc, String, std::path::PathBuf) {
    let config = dir.write("hostile.toml", &branin_study("hostile", 8, 4, 3));
    let token = dir.write("token", TOKEN);
    let db = dir.path("trials.db");
    let mut args = vec!["--token-file", token.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    let (serve, address) = dir.serve(&config, &db, &args);
    (serve, address, db)
}

/// A real worker finishes the study; the coordinator ends it with every trial over.
pub fn finish_with_a_real_worker(
    dir: &Scratch,
    serve: &mut Proc,
    address: &str,
    db: &std::path::Path,
) {
    let token = dir.path("token");
    let output = dir.hs(
        &[
            "worker",
            "--coordinator",
            address,
            "--token-file",
            token.to_str().expect("utf-8"),
            "--slots",
            "2",
        ],
        Duration::from_secs(60),
    );
    assert_ok(&output);
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert_eq!(
        sql_count(
            db,
            "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned', 'failed')"
        ),
        8
    );
    assert_eq!(
        sql_count(db, "SELECT count(*) FROM trials WHERE state = 'failed'"),
        0
    );
    assert_integrity(db);
}

#[test]
fn a_worker_cannot_touch_another_workers_trial_nor_lease_beyond_its_slots() {
    let dir = Scratch::new();
    let (mut serve, address, db) = serve(&dir, &[]);
    let (owner_id, number) = runtime().block_on(async {
        let mut owner = Hand::join(&address, 1).await;
        let mut intruder = Hand::join(&address, 2).await;

        let leases = owner.lease(5, 5_000).await;
        assert_eq!(leases.len(), 1, "a one-slot worker holds one lease");
        assert!(owner.lease(5, 0).await.is_empty(), "no second lease");
        let lease = leases[0];

        // The intruder knows the whole lease, token included.
        expect_code(
            intruder
                .report_as(intruder.id, lease, &[(1, "value", 0.0)])
                .await,
            Code::FailedPrecondition,
            "another worker",
        );
        expect_code(
            intruder.complete_as(intruder.id, lease, -1.0).await,
            Code::FailedPrecondition,
            "another worker",
        );
        // Posing as the owner, whole lease known, does not work either: the call lacks
        // the owner's credential.
        expect_code(
            intruder
                .report_as(owner.id, lease, &[(1, "value", 0.0)])
                .await,
            Code::Unauthenticated,
            "not this worker's",
        );
        expect_code(
            intruder.complete_as(owner.id, lease, -1.7e308).await,
            Code::Unauthenticated,
            "not this worker's",
        );

        // The owner's trial is unaffected.
        owner
            .report(lease, 1, 5.0)
            .await
            .expect("the owner reports");
        owner
            .complete_as(owner.id, lease, 5.0)
            .await
            .expect("the owner completes");

        let theirs = intruder.lease(5, 5_000).await;
        assert!(
            !theirs.is_empty() && theirs.len() <= 2,
            "a two-slot worker holds at most two leases, got {}",
            theirs.len()
        );
        for lease in theirs {
            intruder
                .complete_as(intruder.id, lease, 1.0)
                .await
                .expect("complete its own trial");
        }
        (owner.id, lease.trial)
    });
    finish_with_a_real_worker(&dir, &mut serve, &address, &db);

    let rows = sql(
        &db,
        "SELECT t.number, t.state, t.value, t.attempts, a.worker_id, a.state FROM trials t \
         JOIN attempts a ON a.trial_id = t.id ORDER BY t.number, a.attempt",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<String, _>(1),
                r.get::<Option<f64>, _>(2),
                r.get::<i64, _>(3),
                r.get::<i64, _>(4),
                r.get::<String, _>(5),
            )
        },
    );
    let owned: Vec<_> = rows.iter().filter(|r| r.0 == number as i64).collect();
    assert_eq!(
        owned,
        vec![&(
            number as i64,
            "complete".to_string(),
            Some(5.0),
            1,
            owner_id as i64,
            "complete".to_string()
        )],
        "{rows:?}"
    );
}

#[test]
fn bad_metrics_backward_epochs_and_oversized_messages_are_rejected_and_the_study_goes_on() {
    let dir = Scratch::new();
    let (mut serve, address, db) = serve(&dir, &[]);
    let number = runtime().block_on(async {
        let mut hand = Hand::join(&address, 1).await;
        let lease = hand.lease(1, 5_000).await[0];

        expect_code(
            hand.report(lease, 1, f64::NAN).await,
            Code::InvalidArgument,
            "not a finite number",
        );
        expect_code(
            hand.report(lease, 1, f64::INFINITY).await,
            Code::InvalidArgument,
            "not a finite number",
        );
        hand.report(lease, 2, 3.0).await.expect("a good report");
        expect_code(
            hand.report(lease, 1, 2.0).await,
            Code::InvalidArgument,
            "epoch 1 reported after epoch 2",
        );
        expect_code(
            hand.report_as(hand.id, lease, &[(4, "value", 1.0), (3, "value", 1.0)])
                .await,
            Code::InvalidArgument,
            "epochs must increase",
        );
        let huge = "m".repeat(5 * 1024 * 1024);
        expect_code(
            hand.report_as(hand.id, lease, &[(3, &huge, 1.0)]).await,
            Code::OutOfRange,
            "too large",
        );
        let mut failed = pb::CompleteRequest {
            worker_id: hand.id,
            lease: Some(lease),
            outcome: Some(pb::complete_request::Outcome::Failed(pb::Failed {
                error: "e".repeat(5 * 1024 * 1024),
                kind: pb::FailureKind::User.into(),
            })),
            next_max_trials: 0,
        };
        let message = hand.request(failed.clone());
        let status = hand
            .client
            .complete(message)
            .await
            .expect_err("a 5 MiB completion");
        assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
        // Under the message limit but over the error-text limit: still refused.
        failed.outcome = Some(pb::complete_request::Outcome::Failed(pb::Failed {
            error: "e".repeat(64 * 1024),
            kind: pb::FailureKind::User.into(),
        }));
        let message = hand.request(failed);
        let status = hand
            .client
            .complete(message)
            .await
            .expect_err("a 64 KiB error text");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

        // The trial goes on from where the good reports left it.
        hand.report(lease, 3, 1.5).await.expect("a good report");
        hand.complete_as(hand.id, lease, 1.5)
            .await
            .expect("complete");
        lease.trial
    });
    finish_with_a_real_worker(&dir, &mut serve, &address, &db);

    let epochs = sql(
        &db,
        "SELECT t.number, m.epoch, m.value FROM epoch_metrics m JOIN trials t \
         ON t.id = m.trial_id ORDER BY t.number, m.epoch",
        |r| (r.get::<i64, _>(0), r.get::<i64, _>(1), r.get::<f64, _>(2)),
    );
    let recorded: Vec<(i64, f64)> = epochs
        .iter()
        .filter(|e| e.0 == number as i64)
        .map(|e| (e.1, e.2))
        .collect();
    assert_eq!(recorded, vec![(2, 3.0), (3, 1.5)]);
}

#[test]
fn a_flood_of_reports_is_answered_resource_exhausted_and_the_worker_carries_on() {
    let dir = Scratch::new();
    let (mut serve, address, db) = serve(&dir, &["--report-rate", "5"]);
    runtime().block_on(async {
        let mut hand = Hand::join(&address, 1).await;
        let lease = hand.lease(1, 5_000).await[0];
        // Report as fast as the answers come until 25 reports were refused (a machine
        // slow enough to never see a refusal in 4,000 reports fails the test).
        let (mut accepted, mut refused, mut epoch) = (0u32, 0u32, 1);
        let started = std::time::Instant::now();
        for _ in 0..4_000 {
            if refused >= 25 {
                break;
            }
            match hand.report(lease, epoch, 1.0).await {
                Ok(()) => {
                    accepted += 1;
                    epoch += 1;
                }
                Err(status) => {
                    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                    assert!(
                        status.message().contains("faster than 5 a second"),
                        "{status:?}"
                    );
                    refused += 1;
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        assert!(
            refused >= 25,
            "{refused} refused, {accepted} accepted in {elapsed:.2} s"
        );
        // A burst of one second's worth (5), then at most 5 a second for as long as the
        // flood lasted (+1 of slack).
        let most = 5.0 + 5.0 * elapsed + 1.0;
        assert!(
            accepted >= 5 && f64::from(accepted) <= most,
            "{accepted} accepted in {elapsed:.2} s, at most {most:.1} allowed"
        );
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        hand.report(lease, epoch, 1.0)
            .await
            .expect("accepted again after a pause");
        hand.complete_as(hand.id, lease, 1.0)
            .await
            .expect("complete");
    });
    finish_with_a_real_worker(&dir, &mut serve, &address, &db);
}
