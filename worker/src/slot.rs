//! One slot: lease a trial, run it, stream its epochs, report how it ended, repeat until the
//! study is finished.

use std::sync::Arc;

use hypersearch_proto::{
    Assignment, Completion, FailureKind, LeaseGrant, LeaseRequest, Outcome, Report, StudyInfo,
};
use tokio::sync::watch;

use crate::Error;
use crate::client::{CallError, Client};
use crate::held::{Held, StopCause};
use crate::objective::{self, DatasetCache, Event};

/// How long a lease request may wait at the coordinator for a trial.
const LEASE_WAIT_MS: u32 = 10_000;

/// What a slot shares with the rest of its worker.
#[derive(Clone)]
pub(crate) struct SlotContext {
    pub client: Client,
    pub worker_id: u64,
    pub study: Arc<StudyInfo>,
    pub held: Held,
    pub datasets: DatasetCache,
    /// Becomes true when the worker is asked to stop: no new trials.
    pub stopping: watch::Receiver<bool>,
}

/// Runs trials until the study is finished or the worker stops; returns how many attempts
/// it ran.
pub(crate) async fn run(mut ctx: SlotContext) -> Result<u64, Error> {
    let mut attempts = 0;
    loop {
        if *ctx.stopping.borrow() {
            return Ok(attempts);
        }
        let request = LeaseRequest {
            worker_id: ctx.worker_id,
            max_trials: 1,
            wait_ms: LEASE_WAIT_MS,
        };
        let grant = tokio::select! {
            grant = ctx.client.lease(request) => grant,
            _ = ctx.stopping.changed() => return Ok(attempts),
        };
        let trials = match grant {
            Ok(LeaseGrant::StudyFinished) => return Ok(attempts),
            Ok(LeaseGrant::Trials(trials)) => trials,
            Err(CallError::Fatal(err)) => return Err(err),
            Err(CallError::LeaseLost(detail)) => {
                // The coordinator no longer knows this worker (it restarted on another
                // database): nothing here can go on.
                return Err(Error::Rejected {
                    url: ctx.client.url().to_string(),
                    call: "lease",
                    detail,
                });
            }
        };
        for assignment in trials {
            attempts += 1;
            run_trial(&ctx, assignment).await?;
        }
    }
}

async fn run_trial(ctx: &SlotContext, assignment: Assignment) -> Result<(), Error> {
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
    while let Some(event) = received.recv().await {
        match event {
            Event::Epoch { epoch, metrics } => {
                if cancel.cause().is_some() {
                    continue;
                }
                let report = Report {
                    worker_id: ctx.worker_id,
                    lease,
                    epoch,
                    metrics,
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
                    Err(CallError::Fatal(err)) => {
                        cancel.stop(StopCause::ShuttingDown);
                        ctx.held.remove(lease);
                        return Err(err);
                    }
                }
            }
            Event::Done(done) => {
                outcome = Some(done);
                break;
            }
        }
    }
    ctx.held.remove(lease);
    let outcome = match (cancel.cause(), outcome) {
        (Some(StopCause::LeaseLost), _) => return Ok(()),
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
    let completion = Completion {
        worker_id: ctx.worker_id,
        lease,
        outcome,
    };
    match ctx.client.complete(completion).await {
        Ok(()) => Ok(()),
        Err(CallError::LeaseLost(detail)) => {
            tracing::warn!(trial = lease.trial, %detail, "completion refused: the lease was lost");
            Ok(())
        }
        Err(CallError::Fatal(err)) => Err(err),
    }
}
