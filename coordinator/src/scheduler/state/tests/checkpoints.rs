//! Checkpoints in the state machine: taken after reported epochs, handed to the retry of a
//! lost attempt, refused by its worker, dropped as trials end.

use super::*;
use hypersearch_proto::model_transfer::{CheckpointRefusal, Checksum};

fn with_checkpoints() -> Rules {
    Rules {
        checkpoints: true,
        max_attempts: 3,
        ..rules()
    }
}

fn reported(
    state: &mut State,
    worker: u64,
    lease: LeaseId,
    epochs: std::ops::RangeInclusive<u32>,
    now: Instant,
) {
    for epoch in epochs {
        state
            .report(&report(worker, lease, epoch, 1.0 / f64::from(epoch)), now)
            .unwrap();
    }
}

fn store(
    state: &mut State,
    worker: u64,
    lease: LeaseId,
    epoch: u32,
    now: Instant,
) -> Result<(), Error> {
    let sha = Checksum::of(&epoch.to_le_bytes());
    state.store_checkpoint(worker, lease, epoch, (4, sha), now)
}

#[test]
fn the_retry_of_a_lost_attempt_resumes_after_its_checkpoints_epoch() {
    let (mut state, now) = started(with_checkpoints());
    let mut tokens = tokens();
    let first = lease_one(&mut state, WORKER, now, &mut tokens);
    assert_eq!(first.resume, None);
    let lease = first.lease;
    reported(&mut state, WORKER, lease, 1..=3, now);
    let early = store(&mut state, WORKER, lease, 4, now)
        .unwrap_err()
        .to_string();
    assert!(early.contains("epochs 1 to 3"), "{early}");
    assert!(matches!(
        store(&mut state, OTHER, lease, 2, now),
        Err(Error::LeaseNotHeld { .. })
    ));
    store(&mut state, WORKER, lease, 2, now).unwrap();

    let later = now + Duration::from_secs(11);
    assert_eq!(state.reap(later).len(), 1);
    assert!(
        state.take_checkpoint_writes().is_empty(),
        "a lost attempt's checkpoint stays"
    );
    let retry = lease_one(&mut state, OTHER, later, &mut tokens);
    let resume = retry.resume.unwrap();
    assert_eq!((resume.epoch, resume.size), (2, 4));
    assert_eq!(
        state.take_checkpoint_writes(),
        vec![WriteOp::ContinueCurve {
            number: lease.trial,
            lease: retry.lease,
            resumed_from: Some(2),
            curve_from: Some(1),
        }]
    );
    let curve: Vec<u32> = state.records()[0]
        .intermediate
        .iter()
        .map(|&(e, _)| e)
        .collect();
    assert_eq!(
        curve,
        vec![1, 2],
        "the epochs past the checkpoint run again"
    );
    assert_eq!(
        state.checkpoint_to_send(OTHER, retry.lease, later).unwrap(),
        resume
    );
    let again = state
        .report(&report(OTHER, retry.lease, 2, 0.5), later)
        .unwrap_err()
        .to_string();
    assert!(again.contains("resumed after epoch 2"), "{again}");
    reported(&mut state, OTHER, retry.lease, 3..=4, later);
    state.complete(&finished(OTHER, retry.lease, 0.25)).unwrap();
    assert_eq!(
        state.take_checkpoint_writes(),
        vec![WriteOp::DropCheckpoints { numbers: vec![0] }]
    );
}

#[test]
fn a_refused_checkpoint_restarts_the_attempt_from_scratch_with_the_reason() {
    let (mut state, now) = started(with_checkpoints());
    let mut tokens = tokens();
    let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    reported(&mut state, WORKER, lease, 1..=3, now);
    store(&mut state, WORKER, lease, 3, now).unwrap();
    let later = now + Duration::from_secs(11);
    state.reap(later);
    let retry = lease_one(&mut state, OTHER, later, &mut tokens).lease;
    state.take_checkpoint_writes();
    let refusal = CheckpointRefusal {
        worker_id: OTHER,
        lease: retry,
        reason: "checksum mismatch".into(),
    };
    let WriteOp::RefuseCheckpoint { reason, .. } =
        state.refuse_checkpoint(&refusal, later).unwrap()
    else {
        panic!("expected the refusal's write");
    };
    assert!(
        reason.contains("from scratch: checksum mismatch"),
        "{reason}"
    );
    assert!(state.records()[0].intermediate.is_empty());
    reported(&mut state, OTHER, retry, 1..=2, later);
    // Once epochs came, there is nothing to refuse.
    assert!(state.refuse_checkpoint(&refusal, later).is_err());
    assert!(matches!(
        state.checkpoint_to_send(OTHER, retry, later),
        Err(Error::CheckpointRefused(_))
    ));
}

#[test]
fn a_user_failure_drops_the_checkpoint_and_a_study_without_checkpoints_takes_none() {
    let (mut state, now) = started(Rules {
        failure_retries: 1,
        ..with_checkpoints()
    });
    let mut tokens = tokens();
    let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
    reported(&mut state, WORKER, lease, 1..=2, now);
    store(&mut state, WORKER, lease, 2, now).unwrap();
    state.complete(&failed_by_user(WORKER, lease)).unwrap();
    assert_eq!(
        state.take_checkpoint_writes(),
        vec![WriteOp::DropCheckpoints { numbers: vec![0] }]
    );
    let retry = lease_one(&mut state, OTHER, now, &mut tokens);
    assert_eq!(retry.resume, None);
    assert!(state.take_checkpoint_writes().is_empty());

    let (mut none, now) = started(rules());
    let lease = lease_one(&mut none, WORKER, now, &mut tokens).lease;
    reported(&mut none, WORKER, lease, 1..=1, now);
    let err = store(&mut none, WORKER, lease, 1, now)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[study] checkpoints"), "{err}");
}
