//! Fetching the checkpoint a resumed attempt goes on from (its assignment's [`Resume`]):
//! piece by piece from the offset the worker holds, each piece and the whole checked
//! against their SHA-256, under the attempt's lease; and telling the coordinator when the
//! checkpoint cannot be used, so the attempt starts from scratch with the reason recorded.

use hypersearch_proto::LeaseId;
use hypersearch_proto::model_transfer::{
    CheckpointRefusal, CheckpointRequest, Checksum, MAX_REFUSAL_BYTES, Resume,
};

use crate::Error;
use crate::client::CallError;
use crate::slot::SlotContext;

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
