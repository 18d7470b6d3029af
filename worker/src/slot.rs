//! One slot: lease a trial, run it, stream its epochs, report how it ended, repeat until the
//! study is finished.

use std::sync::Arc;

use std::collections::VecDeque;

use hypersearch_proto::{
    Assignment, Completion, Epoch, FailureKind, LeaseGrant, LeaseRequest, Outcome, Report,
    StudyInfo,
};
use tokio::sync::watch;

use crate::Error;
use crate::client::{CallError, Client};
use crate::held::{Held, StopCause};
use crate::identity::Identity;
use crate::objective::{self, DatasetCache, Event};

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
}

/// Most epochs sent in one report.
const MAX_EPOCHS_PER_REPORT: usize = 256;

/// Runs trials until the study is finished or the worker stops; returns how many attempts
/// it ran.
pub(crate) async fn run(mut ctx: SlotContext) -> Result<u64, Error> {
    let mut attempts = 0;
    let mut pending: VecDeque<Assignment> = VecDeque::new();
    loop {
        if *ctx.stopping.borrow() {
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
                Err(CallError::LeaseLost(detail)) => {
                    return Err(Error::Rejected {
                        url: ctx.client.url().to_string(),
                        call: "lease",
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

/// Sends `epochs` (in chunks); stops the trial when told to.
async fn send_epochs(
    ctx: &SlotContext,
    assignment_lease: hypersearch_proto::LeaseId,
    cancel: &crate::held::Cancel,
    epochs: &mut Vec<Epoch>,
) -> Result<(), Error> {
    let lease = assignment_lease;
    while !epochs.is_empty() && cancel.cause().is_none() {
        let chunk: Vec<Epoch> = epochs
            .drain(..epochs.len().min(MAX_EPOCHS_PER_REPORT))
            .collect();
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
            Err(CallError::Fatal(err)) => {
                cancel.stop(StopCause::ShuttingDown);
                return Err(err);
            }
        }
    }
    epochs.clear();
    Ok(())
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
    let cancel = ctx.held.insert(lease);
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    objective::start(
        &ctx.study,
        &ctx.datasets,
        assignment,
        cancel.clone(),
        events,
    );
    let mut outcome = None;
    let mut epochs = Vec::new();
    while outcome.is_none() {
        let Some(first) = received.recv().await else {
            break;
        };
        // Everything the objective produced while the last report travelled goes in one.
        let mut event = Some(first);
        while let Some(current) = event.take() {
            match current {
                Event::Epoch { epoch, metrics } => epochs.push(Epoch { epoch, metrics }),
                Event::Done(done) => {
                    outcome = Some(done);
                    break;
                }
            }
            event = received.try_recv().ok();
        }
        if let Err(err) = send_epochs(ctx, lease, &cancel, &mut epochs).await {
            ctx.held.remove(lease);
            return Err(err);
        }
    }
    ctx.held.remove(lease);
    let outcome = match (cancel.cause(), outcome) {
        (Some(StopCause::LeaseLost), _) => return Ok(None),
        (Some(StopCause::Pruned), _) => Outcome::Pruned,
        (Some(StopCause::ShuttingDown), _) => Outcome::Failed {
            error: "the worker was shut down".into(),
            kind: FailureKind::Infrastructure,
        },
        (None, Some(outcome)) => outcome,
        (None, None) => Outcome::Failed {
            error: "the objective ended without a result".into(),
            kind: FailureKind::Infrastructure,
        },
    };
    if let Outcome::Failed { error, .. } = &outcome {
        tracing::warn!(trial = lease.trial, attempt = lease.attempt, %error, "trial failed");
    }
    let joined = ctx.identity.current();
    let completion = Completion {
        worker_id: joined.id,
        lease,
        outcome,
        next_max_trials: u32::from(want_next && cancel.cause() != Some(StopCause::ShuttingDown)),
    };
    match ctx.client.complete(completion).await {
        Ok(next) => Ok(Some(next)),
        Err(CallError::LeaseLost(detail)) => {
            tracing::warn!(trial = lease.trial, %detail, "completion refused: the lease was lost");
            Ok(None)
        }
        Err(CallError::Unregistered(_)) => {
            ctx.identity.rejoin(joined).await?;
            Ok(None)
        }
        Err(CallError::Fatal(err)) => Err(err),
    }
}
