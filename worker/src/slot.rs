//! One slot: lease a trial, run it, stream its epochs, report how it ended, repeat until the
//! study is finished.

use std::sync::Arc;

use std::collections::VecDeque;

use hypersearch_proto::{
    Assignment, Completion, Epoch, FailureKind, LeaseGrant, LeaseRequest, Outcome, Report,
    StudyInfo,
};
use tokio::sync::watch;

use crate::checkpoints::{self, Outgoing};
use crate::client::{CallError, Client};
use crate::held::{Held, StopCause};
use crate::identity::Identity;
use crate::model_upload::{self, Sent};
use crate::objective::{self, DatasetCache, Event, limits};
use crate::{Call, Error};

/// How long a lease request may wait at the coordinator for a trial.
const LEASE_WAIT_MS: u32 = 10_000;

/// What a slot shares with the rest of its worker.
#[derive(Clone)]
pub(crate) struct SlotContext {
    pub client: Client,
    pub identity: Identity,
    pub study: Arc<StudyInfo>,
    pub held: Held,
    pub datasets: DatasetCache,
    /// Becomes true when the worker is asked to stop: no new trials.
    pub stopping: watch::Receiver<bool>,
    /// Where a `command` objective runs, if not in the worker's working directory.
    pub workdir: Option<Arc<std::path::Path>>,
}

/// Most epochs sent in one report (the protocol accepts up to [`hypersearch_proto::MAX_EPOCHS`]).
const MAX_EPOCHS_PER_REPORT: usize = 256;
/// Most estimated encoded bytes sent in one report: well under the 4 MiB message limit,
/// which 256 epochs of the widest legal metrics (256 names of 256 bytes each) would pass.
const MAX_REPORT_BYTES: usize = 1024 * 1024;

/// An upper estimate of `epoch`'s encoded size: each metric's name plus 16 bytes for its
/// value and framing, plus 16 bytes for the epoch's own number and framing.
fn estimated_bytes(epoch: &Epoch) -> usize {
    16 + epoch
        .metrics
        .keys()
        .map(|name| name.len() + 16)
        .sum::<usize>()
}

/// How many of `epochs`' first epochs go in the next report: at most
/// [`MAX_EPOCHS_PER_REPORT`] and [`MAX_REPORT_BYTES`], but always at least one (a single
/// epoch within the protocol's limits is far smaller than a message may be).
fn next_batch_len(epochs: &[Epoch]) -> usize {
    let mut bytes = 0;
    let mut count = 0;
    for epoch in epochs.iter().take(MAX_EPOCHS_PER_REPORT) {
        bytes += estimated_bytes(epoch);
        if count > 0 && bytes > MAX_REPORT_BYTES {
            break;
        }
        count += 1;
    }
    count
}

/// Runs trials until the study is finished or the worker stops; returns how many attempts
/// it ran.
pub(crate) async fn run(mut ctx: SlotContext) -> Result<u64, Error> {
    let mut attempts = 0;
    let mut pending: VecDeque<Assignment> = VecDeque::new();
    loop {
        if *ctx.stopping.borrow() {
            // Trials leased with the last completion but not started go back at once, so
            // that they do not wait for their leases to expire.
            for assignment in pending.drain(..) {
                let outcome = Outcome::Failed {
                    error: "the worker was shut down before it started the trial".into(),
                    kind: FailureKind::Preempted,
                };
                complete(&ctx, assignment.lease, outcome, 0).await?;
            }
            return Ok(attempts);
        }
        let Some(assignment) = pending.pop_front() else {
            let joined = ctx.identity.current();
            let request = LeaseRequest {
                worker_id: joined.id,
                max_trials: 1,
                wait_ms: LEASE_WAIT_MS,
            };
            let grant = tokio::select! {
                grant = ctx.client.lease(request) => grant,
                _ = ctx.stopping.changed() => return Ok(attempts),
            };
            match grant {
                Ok(LeaseGrant::StudyFinished) => return Ok(attempts),
                Ok(LeaseGrant::Trials(trials)) => pending.extend(trials),
                Err(CallError::Fatal(err)) => return Err(err),
                Err(CallError::Unregistered(_)) => {
                    ctx.identity.rejoin(joined).await?;
                }
                Err(CallError::LeaseLost(detail) | CallError::TrialRefused(detail)) => {
                    return Err(Error::Rejected {
                        url: ctx.client.url().to_string(),
                        call: Call::Lease,
                        detail,
                    });
                }
            }
            continue;
        };
        attempts += 1;
        // Ask for the next trial with this one's completion: one round trip instead of two.
        let want_next = pending.is_empty() && !*ctx.stopping.borrow();
        match run_trial(&ctx, assignment, want_next).await? {
            Some(LeaseGrant::StudyFinished) => return Ok(attempts),
            Some(LeaseGrant::Trials(trials)) => pending.extend(trials),
            None => {}
        }
    }
}

/// Sends `epochs` (in chunks); stops the trial when told to. Returns the coordinator's
/// reason if it refused a report (the trial is then stopped, to be failed as a user error).
async fn send_epochs(
    ctx: &SlotContext,
    assignment_lease: hypersearch_proto::LeaseId,
    cancel: &crate::held::Cancel,
    epochs: &mut Vec<Epoch>,
) -> Result<Option<String>, Error> {
    let lease = assignment_lease;
    while !epochs.is_empty() && cancel.cause().is_none() {
        let chunk: Vec<Epoch> = epochs.drain(..next_batch_len(epochs)).collect();
        let joined = ctx.identity.current();
        let report = Report {
            worker_id: joined.id,
            lease,
            epochs: chunk,
        };
        match ctx.client.report(report).await {
            Ok(Some(stop)) => {
                tracing::info!(trial = lease.trial, epoch = stop.epoch, rule = %stop.rule,
                    "stopped early: {}", stop.explanation);
                cancel.stop(StopCause::Pruned);
            }
            Ok(None) => {}
            Err(CallError::LeaseLost(detail)) => {
                tracing::warn!(trial = lease.trial, %detail, "lease lost; abandoning the trial");
                cancel.stop(StopCause::LeaseLost);
            }
            Err(CallError::Unregistered(_)) => {
                cancel.stop(StopCause::LeaseLost);
                ctx.identity.rejoin(joined).await?;
            }
            Err(CallError::TrialRefused(detail)) => {
                tracing::warn!(trial = lease.trial, attempt = lease.attempt, %detail,
                    "the coordinator refused a report; failing the trial, the worker goes on");
                cancel.stop(StopCause::Refused);
                epochs.clear();
                return Ok(Some(detail));
            }
            Err(CallError::Fatal(err)) => {
                cancel.stop(StopCause::ShuttingDown);
                return Err(err);
            }
        }
    }
    epochs.clear();
    Ok(None)
}

/// Runs one attempt, streaming its epochs; returns the next trials if the completion asked
/// for them and the coordinator had some.
async fn run_trial(
    ctx: &SlotContext,
    assignment: Assignment,
    want_next: bool,
) -> Result<Option<LeaseGrant>, Error> {
    let lease = assignment.lease;
    tracing::debug!(
        trial = lease.trial,
        attempt = lease.attempt,
        "trial started"
    );
    let holding = ctx.held.hold(lease);
    let cancel = holding.cancel.clone();
    // Fetched while holding the lease: heartbeats renew it meanwhile.
    let Some(resume) = checkpoints::resume(ctx, lease, assignment.resume).await? else {
        return Ok(None);
    };
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let mut outgoing = Outgoing::default();
    objective::start(
        &ctx.study,
        &ctx.datasets,
        ctx.workdir.clone(),
        assignment,
        objective::Checkpointing {
            resume,
            pace: outgoing.pace(),
        },
        cancel.clone(),
        events,
    );
    let mut outcome = None;
    let mut refusal = None;
    let mut model = None;
    let mut epochs = Vec::new();
    while outcome.is_none() {
        // A checkpoint held back by the pacing goes out when its turn comes, even if the
        // training sends nothing more meanwhile.
        let first = match outgoing.waiting_until() {
            Some(at) => tokio::select! {
                event = received.recv() => event,
                () = tokio::time::sleep_until(at) => {
                    outgoing.send_if_due(ctx, lease, &cancel).await?;
                    continue;
                }
            },
            None => received.recv().await,
        };
        let Some(first) = first else {
            break;
        };
        // Everything the objective produced while the last report travelled goes in one.
        let mut event = Some(first);
        while let Some(current) = event.take() {
            match current {
                Event::Epoch { epoch, metrics } => epochs.push(Epoch { epoch, metrics }),
                Event::Model(bytes) => model = Some(bytes),
                // Only the latest matters: it replaces the earlier one anyway.
                Event::Checkpoint { epoch, bytes } => outgoing.hold(epoch, bytes),
                Event::CheckpointRefused(reason) => {
                    // Before any epoch of the attempt goes out.
                    if !checkpoints::refuse(ctx, lease, &reason).await? {
                        cancel.stop(StopCause::LeaseLost);
                    }
                }
                Event::Done(done) => {
                    outcome = Some(done);
                    break;
                }
            }
            event = received.try_recv().ok();
        }
        match send_epochs(ctx, lease, &cancel, &mut epochs).await {
            Ok(None) => {}
            Ok(Some(detail)) => refusal = Some(detail),
            Err(err) => return Err(err),
        }
        if outcome.is_none() {
            outgoing.send_if_due(ctx, lease, &cancel).await?;
        }
    }
    if let (Some(model), None, Some(Outcome::Finished(_))) = (&model, cancel.cause(), &outcome) {
        // Still holding the lease (heartbeats renew it while the model travels).
        match model_upload::send(ctx, lease, model, None).await? {
            Sent::Stored => {
                tracing::debug!(trial = lease.trial, bytes = model.len(), "model sent");
            }
            Sent::NotKept(reason) => tracing::warn!(trial = lease.trial, %reason,
                "the coordinator did not keep the trained network; the trial completes without it"),
            Sent::LeaseLost => {
                tracing::warn!(trial = lease.trial, "lease lost while sending the model");
                return Ok(None);
            }
        }
    }
    drop(holding);
    let outcome = match (cancel.cause(), outcome) {
        (Some(StopCause::LeaseLost), _) => return Ok(None),
        (Some(StopCause::Pruned), _) => Outcome::Pruned,
        (Some(StopCause::Refused), _) => refused(
            "a report of this trial",
            refusal.as_deref().unwrap_or("no reason given"),
        ),
        (Some(StopCause::ShuttingDown), _) => Outcome::Failed {
            error: "the worker was shut down and handed the trial back".into(),
            kind: FailureKind::Preempted,
        },
        (None, Some(outcome)) => outcome,
        (None, None) => Outcome::Failed {
            error: "the objective ended without a result".into(),
            kind: FailureKind::Infrastructure,
        },
    };
    match &outcome {
        Outcome::Failed {
            kind: FailureKind::Preempted,
            ..
        } => tracing::info!(
            trial = lease.trial,
            attempt = lease.attempt,
            "handing the trial back, to be run again elsewhere"
        ),
        Outcome::Failed { error, .. } => {
            tracing::warn!(trial = lease.trial, attempt = lease.attempt, %error, "trial failed");
        }
        _ => {}
    }
    let next_max_trials = u32::from(want_next && cancel.cause() != Some(StopCause::ShuttingDown));
    complete(ctx, lease, outcome, next_max_trials).await
}

/// Reports how the attempt of `lease` ended. If the coordinator refuses the completion as
/// invalid, the attempt is reported once more as failed with the refusal as a user error;
/// if that is refused too, the lease is dropped (it expires at the coordinator).
async fn complete(
    ctx: &SlotContext,
    lease: hypersearch_proto::LeaseId,
    mut outcome: Outcome,
    next_max_trials: u32,
) -> Result<Option<LeaseGrant>, Error> {
    loop {
        let joined = ctx.identity.current();
        let completion = Completion {
            worker_id: joined.id,
            lease,
            outcome: outcome.clone(),
            next_max_trials,
        };
        return match ctx.client.complete(completion).await {
            Ok(next) => Ok(Some(next)),
            Err(CallError::LeaseLost(detail)) => {
                tracing::warn!(trial = lease.trial, %detail, "completion refused: the lease was lost");
                Ok(None)
            }
            Err(CallError::Unregistered(_)) => {
                ctx.identity.rejoin(joined).await?;
                Ok(None)
            }
            Err(CallError::TrialRefused(detail)) => {
                let resent = refused("this trial's result", &detail);
                if outcome == resent {
                    tracing::warn!(trial = lease.trial, attempt = lease.attempt, %detail,
                        "the coordinator refused the trial's failure too; dropping the lease");
                    return Ok(None);
                }
                tracing::warn!(trial = lease.trial, attempt = lease.attempt, %detail,
                    "the coordinator refused the trial's result; reporting it failed instead");
                outcome = resent;
                continue;
            }
            Err(CallError::Fatal(err)) => Err(err),
        };
    }
}

/// A user failure saying the coordinator refused `what` for `reason` (cut to the protocol's
/// limit on failure texts).
fn refused(what: &str, reason: &str) -> Outcome {
    limits::within_limits(Outcome::Failed {
        error: format!("the coordinator refused {what}: {reason}"),
        kind: FailureKind::User,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hypersearch_proto::{LeaseId, MAX_METRICS, MAX_NAME_BYTES, Metrics};

    fn epochs(count: u32, metrics: usize, name_bytes: usize) -> Vec<Epoch> {
        (1..=count)
            .map(|epoch| Epoch {
                epoch,
                metrics: (0..metrics)
                    .map(|i| (format!("{i:0>name_bytes$}"), f64::from(epoch) * 0.5))
                    .collect::<Metrics>(),
            })
            .collect()
    }

    /// The encoded size of a report carrying `epochs`.
    fn encoded_len(epochs: &[Epoch]) -> usize {
        let report = Report {
            worker_id: u64::MAX,
            lease: LeaseId {
                trial: u64::MAX,
                attempt: u32::MAX,
                token: u64::MAX,
            },
            epochs: epochs.to_vec(),
        };
        report.encoded_len()
    }

    #[test]
    fn narrow_epochs_are_batched_by_count() {
        let narrow = epochs(300, 2, 8);
        assert_eq!(next_batch_len(&narrow), MAX_EPOCHS_PER_REPORT);
        assert_eq!(next_batch_len(&narrow[..10]), 10);
        assert_eq!(next_batch_len(&[]), 0);
    }

    /// 256 epochs of the widest legal metrics are ~17 MB; the batches stay within the
    /// estimate's limit, and the estimate is above the real encoded size.
    #[test]
    fn wide_epochs_are_batched_by_size() {
        let mut wide = epochs(300, MAX_METRICS, MAX_NAME_BYTES);
        let mut sent = 0;
        while !wide.is_empty() {
            let count = next_batch_len(&wide);
            assert!(count >= 1);
            let batch: Vec<Epoch> = wide.drain(..count).collect();
            let estimate: usize = batch.iter().map(estimated_bytes).sum();
            assert!(estimate <= MAX_REPORT_BYTES, "{estimate}");
            let real = encoded_len(&batch);
            assert!(real <= estimate, "{real} > {estimate}");
            assert!(real < hypersearch_proto::MAX_MESSAGE_BYTES);
            sent += count;
        }
        assert_eq!(sent, 300);
        let count = next_batch_len(&epochs(300, MAX_METRICS, MAX_NAME_BYTES));
        assert!((10..MAX_EPOCHS_PER_REPORT).contains(&count), "{count}");
    }

    /// One epoch bigger than the limit still goes alone, so a report always makes progress.
    #[test]
    fn one_epoch_always_fits() {
        let huge = epochs(3, 20 * MAX_METRICS, MAX_NAME_BYTES);
        assert_eq!(next_batch_len(&huge), 1);
    }
}
