//! Round trips and the validation of incoming messages.
#![allow(clippy::unwrap_used)]

use super::*;

fn lease() -> LeaseId {
    LeaseId {
        trial: 7,
        attempt: 2,
        token: 0xdead_beef,
    }
}

#[test]
fn report_round_trips() {
    let report = Report {
        worker_id: 3,
        lease: lease(),
        epochs: vec![
            Epoch {
                epoch: 4,
                metrics: Metrics::from([("val_loss".into(), 0.25), ("val_accuracy".into(), 0.9)]),
            },
            Epoch {
                epoch: 5,
                metrics: Metrics::from([("val_loss".into(), 0.2)]),
            },
        ],
    };
    let wire = pb::ReportRequest::from(report.clone());
    assert_eq!(Report::try_from(wire).unwrap(), report);
}

#[test]
fn completion_round_trips_every_outcome() {
    for outcome in [
        Outcome::Finished(Metrics::from([("value".into(), -1.5)])),
        Outcome::Pruned,
        Outcome::Failed {
            error: "exit status 2".into(),
            kind: FailureKind::User,
        },
        Outcome::Failed {
            error: "shutting down".into(),
            kind: FailureKind::Infrastructure,
        },
    ] {
        let completion = Completion {
            worker_id: 1,
            lease: lease(),
            outcome,
            next_max_trials: 2,
        };
        let wire = pb::CompleteRequest::from(completion.clone());
        assert_eq!(Completion::try_from(wire).unwrap(), completion);
    }
}

#[test]
fn non_finite_metrics_are_rejected_with_their_name() {
    let wire = pb::ReportRequest {
        worker_id: 1,
        lease: Some(lease().into()),
        epochs: vec![pb::EpochMetrics {
            epoch: 1,
            metrics: vec![pb::Metric {
                name: "val_loss".into(),
                value: f64::NAN,
            }],
        }],
    };
    let err = Report::try_from(wire).unwrap_err();
    assert_eq!(err.field, "metrics[val_loss]");
}

#[test]
fn missing_lease_and_bad_epochs_are_rejected() {
    let epoch = |epoch| pb::EpochMetrics {
        epoch,
        metrics: vec![],
    };
    let wire = |lease: Option<LeaseId>, epochs| pb::ReportRequest {
        worker_id: 1,
        lease: lease.map(Into::into),
        epochs,
    };
    assert_eq!(
        Report::try_from(wire(None, vec![epoch(1)]))
            .unwrap_err()
            .field,
        "lease"
    );
    for epochs in [
        vec![],
        vec![epoch(0)],
        vec![epoch(2), epoch(2)],
        vec![epoch(3), epoch(1)],
    ] {
        let err = Report::try_from(wire(Some(lease()), epochs)).unwrap_err();
        assert_eq!(err.field, "epochs", "{err}");
    }
}

#[test]
fn assignment_params_must_be_json_objects() {
    let wire = pb::TrialAssignment {
        lease: Some(lease().into()),
        params_json: "[1, 2]".into(),
        overrides_json: "{}".into(),
        resume: None,
    };
    assert_eq!(Assignment::try_from(wire).unwrap_err().field, "params_json");
}

#[test]
fn welcome_round_trips() {
    let welcome = Welcome {
        worker_id: 9,
        study: StudyInfo {
            name: "s".into(),
            metric: "value".into(),
            direction: Direction::Minimize,
            objective: Objective::Command("python3 train.py".into()),
            base_config_toml: "[training]\nepochs = 3\n".into(),
            data_files: vec![crate::data_transfer::DataFile {
                name: "train.csv".into(),
                size: 3,
                sha256: crate::data_transfer::Checksum::of(b"abc"),
            }],
            keep_models: true,
            checkpoints: true,
        },
        heartbeat_interval_ms: 1000,
        credential: "0f".repeat(32),
    };
    let wire = pb::RegisterReply::from(welcome.clone());
    assert_eq!(Welcome::try_from(wire).unwrap(), welcome);
    let forged = pb::RegisterReply {
        credential: "not hex".into(),
        ..pb::RegisterReply::from(welcome)
    };
    assert_eq!(Welcome::try_from(forged).unwrap_err().field, "credential");
}
