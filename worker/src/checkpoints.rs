//! Checkpoints on the worker's side.
//!
//! Out: the slot sends a training's checkpoints after their epoch's report ([`Outgoing`]),
//! one at a time, paced so that sending takes at most a [`PACE`]-th of the trial's time. The
//! training takes one (a copy of the network and optimizer, then its encoding) only after an
//! epoch whose checkpoint would go out ([`Pace::claim`]): when epochs are far shorter than an
//! upload (a few milliseconds on the digits set), the epochs during an upload and its
//! cool-down take none; with epochs of a second or more, every one is taken and sent.
//!
//! In: fetching the checkpoint a resumed attempt goes on from (its assignment's
//! [`Resume`]): piece by piece from the offset the worker holds, each piece and the whole
//! checked against their SHA-256, under the attempt's lease; and telling the coordinator
//! when the checkpoint cannot be used, so the attempt starts from scratch with the reason
//! recorded.

use hypersearch_proto::model_transfer::{
    CheckpointRefusal, CheckpointRequest, Checksum, MAX_REFUSAL_BYTES, Resume,
};
use hypersearch_proto::{LeaseId, Objective};

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use crate::Error;
use crate::client::CallError;
use crate::held::{Cancel, StopCause};
use crate::model_upload::{self, Sent};
use crate::objective::ResumeFrom;
use crate::slot::SlotContext;

/// Sending checkpoints takes at most one part in this many of a trial's time: after an
/// upload that took `d`, the next starts `(PACE - 1) * d` later at the earliest.
pub(crate) const PACE: u32 = 20;

/// When the training of one attempt may take its next checkpoint, and whether the slot may
/// send it: shared by the training thread, which claims a turn after an epoch, and the slot,
/// which gives the next turn when an upload ends.
#[derive(Debug, Default)]
pub(crate) struct Pace(Mutex<Turn>);

/// Where the turns stand.
#[derive(Debug, Default)]
struct Turn {
    /// When the next checkpoint may be taken and sent (none: at once).
    next_at: Option<Instant>,
    /// One was taken and has not been sent yet.
    claimed: bool,
    /// The coordinator refused one: no more for this attempt.
    refused: bool,
    /// Every epoch's is taken, whatever the uploads do.
    unpaced: bool,
}

impl Pace {
    /// Turns for every epoch (a test reading every checkpoint a training takes).
    #[cfg(test)]
    pub fn unpaced() -> Arc<Pace> {
        Arc::new(Pace(Mutex::new(Turn {
            unpaced: true,
            ..Turn::default()
        })))
    }

    fn turn(&self) -> std::sync::MutexGuard<'_, Turn> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the training takes a checkpoint now: at most one waits or travels at a time,
    /// and none before the cool-down of the last upload ends.
    pub fn claim(&self) -> bool {
        let mut turn = self.turn();
        if turn.unpaced {
            return !turn.refused;
        }
        let due = turn.next_at.is_none_or(|at| Instant::now() >= at);
        if turn.refused || turn.claimed || !due {
            return false;
        }
        turn.claimed = true;
        true
    }

    /// The checkpoint taken went (or was dropped); the next may be taken from `next_at`
    /// (none: the cool-down stays as it was).
    fn release(&self, next_at: Option<Instant>) {
        let mut turn = self.turn();
        turn.claimed = false;
        if next_at.is_some() {
            turn.next_at = next_at;
        }
    }

    /// The coordinator refused one: the training takes no more.
    fn refuse(&self) {
        self.turn().refused = true;
    }

    /// Whether the coordinator refused one.
    fn refused(&self) -> bool {
        self.turn().refused
    }

    /// When the cool-down of the last upload ends.
    fn next_at(&self) -> Option<Instant> {
        self.turn().next_at
    }
}

/// A running training's checkpoints on their way to the coordinator.
#[derive(Default)]
pub(crate) struct Outgoing {
    /// The latest not sent yet.
    latest: Option<(u32, Vec<u8>)>,
    /// The turns, shared with the training: when the next upload may start, and whether
    /// the coordinator refused one.
    pace: Arc<Pace>,
}

impl Outgoing {
    /// The turns the training claims its checkpoints by.
    pub fn pace(&self) -> Arc<Pace> {
        self.pace.clone()
    }

    /// Holds the checkpoint after `epoch`, replacing one not sent yet.
    pub fn hold(&mut self, epoch: u32, bytes: Vec<u8>) {
        self.latest = Some((epoch, bytes));
    }

    /// When the held checkpoint may go, if one waits for its turn.
    pub fn waiting_until(&self) -> Option<Instant> {
        if self.latest.is_none() || self.pace.refused() {
            return None;
        }
        Some(self.pace.next_at().unwrap_or_else(Instant::now))
    }

    /// Sends the held checkpoint if its turn came (after its epoch's report went out). One
    /// the coordinator does not take is logged, and no more are sent for the attempt.
    ///
    /// # Errors
    /// Only what ends the worker.
    pub async fn send_if_due(
        &mut self,
        ctx: &SlotContext,
        lease: LeaseId,
        cancel: &Cancel,
    ) -> Result<(), Error> {
        if self.pace.refused() || cancel.cause().is_some() {
            self.latest = None;
            self.pace.release(None);
            return Ok(());
        }
        let started = Instant::now();
        if self.pace.next_at().is_some_and(|at| started < at) {
            return Ok(());
        }
        let Some((epoch, bytes)) = self.latest.take() else {
            return Ok(());
        };
        match model_upload::send(ctx, lease, &bytes, Some(epoch)).await? {
            Sent::Stored => {
                tracing::debug!(
                    trial = lease.trial,
                    epoch,
                    bytes = bytes.len(),
                    "checkpoint sent"
                );
            }
            Sent::NotKept(reason) => {
                tracing::warn!(trial = lease.trial, epoch, %reason,
                    "the coordinator did not take the checkpoint; the attempt goes on without");
                self.pace.refuse();
            }
            Sent::LeaseLost => cancel.stop(StopCause::LeaseLost),
        }
        let ended = Instant::now();
        self.pace
            .release(Some(ended + (ended - started) * (PACE - 1)));
        Ok(())
    }
}

/// Damaged or misplaced pieces tolerated before the worker gives up on the checkpoint.
const MAX_BAD_PIECES: u32 = 8;

/// What fetching a checkpoint came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// The whole checkpoint, matching its digest.
    Whole(Vec<u8>),
    /// It cannot be had, for this reason: the attempt starts from scratch.
    Unusable(String),
    /// The lease is no longer this worker's: abandon the trial.
    LeaseLost,
}

/// Fetches the checkpoint `resume` names for `lease`'s attempt.
///
/// # Errors
/// Only what ends the worker.
pub(crate) async fn fetch(
    ctx: &SlotContext,
    lease: LeaseId,
    resume: Resume,
) -> Result<Fetched, Error> {
    let Ok(size) = usize::try_from(resume.size) else {
        return Ok(Fetched::Unusable(format!(
            "{} bytes do not fit in memory",
            resume.size
        )));
    };
    let mut bytes = Vec::with_capacity(size);
    let mut bad = 0;
    while bytes.len() < size {
        let joined = ctx.identity.current();
        let request = CheckpointRequest {
            worker_id: joined.id,
            lease,
            offset: bytes.len() as u64,
        };
        match ctx.client.get_checkpoint(request).await {
            Ok(piece) => {
                let fits = bytes.len() + piece.data.len() <= size;
                if piece.offset == bytes.len() as u64
                    && piece.is_intact()
                    && !piece.data.is_empty()
                    && fits
                {
                    bytes.extend_from_slice(&piece.data);
                    continue;
                }
                bad += 1;
                if bad > MAX_BAD_PIECES {
                    return Ok(Fetched::Unusable(format!(
                        "{MAX_BAD_PIECES} pieces of the checkpoint came damaged, misplaced or \
                         past its {size} bytes"
                    )));
                }
            }
            Err(CallError::LeaseLost(_)) => return Ok(Fetched::LeaseLost),
            Err(CallError::Unregistered(_)) => {
                ctx.identity.rejoin(joined).await?;
                return Ok(Fetched::LeaseLost);
            }
            Err(CallError::TrialRefused(reason)) => return Ok(Fetched::Unusable(reason)),
            Err(CallError::Fatal(err)) => return Err(err),
        }
    }
    if Checksum::of(&bytes) != resume.sha256 {
        return Ok(Fetched::Unusable(format!(
            "its {size} bytes do not match the SHA-256 the attempt was granted with"
        )));
    }
    Ok(Fetched::Whole(bytes))
}

/// What `lease`'s attempt starts from: `Some(None)` from scratch (no checkpoint granted,
/// not a training, or one that cannot be had, refused), `Some(Some(_))` from the fetched
/// checkpoint; `None` when the lease is no longer this worker's (abandon the trial).
///
/// # Errors
/// Only what ends the worker.
pub(crate) async fn resume(
    ctx: &SlotContext,
    lease: LeaseId,
    granted: Option<Resume>,
) -> Result<Option<Option<ResumeFrom>>, Error> {
    let Some(granted) = granted.filter(|_| ctx.study.objective == Objective::Training) else {
        return Ok(Some(None));
    };
    match fetch(ctx, lease, granted).await? {
        Fetched::Whole(bytes) => {
            tracing::info!(
                trial = lease.trial,
                attempt = lease.attempt,
                epoch = granted.epoch + 1,
                "resuming from a checkpoint"
            );
            Ok(Some(Some(ResumeFrom {
                epoch: granted.epoch,
                bytes,
            })))
        }
        Fetched::Unusable(reason) => Ok(refuse(ctx, lease, &reason).await?.then_some(None)),
        Fetched::LeaseLost => Ok(None),
    }
}

/// Tells the coordinator `lease`'s attempt cannot use its checkpoint, for `reason`; false
/// when the lease is no longer this worker's (abandon the trial).
///
/// # Errors
/// Only what ends the worker.
pub(crate) async fn refuse(ctx: &SlotContext, lease: LeaseId, reason: &str) -> Result<bool, Error> {
    tracing::warn!(trial = lease.trial, attempt = lease.attempt, %reason,
        "the checkpoint cannot be used; the attempt starts from scratch");
    let mut reason = reason.to_string();
    if reason.len() > MAX_REFUSAL_BYTES {
        let mut end = MAX_REFUSAL_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    let joined = ctx.identity.current();
    let refusal = CheckpointRefusal {
        worker_id: joined.id,
        lease,
        reason,
    };
    match ctx.client.refuse_checkpoint(refusal).await {
        Ok(()) => Ok(true),
        Err(CallError::LeaseLost(_) | CallError::TrialRefused(_)) => Ok(false),
        Err(CallError::Unregistered(_)) => {
            ctx.identity.rejoin(joined).await?;
            Ok(false)
        }
        Err(CallError::Fatal(err)) => Err(err),
    }
}
