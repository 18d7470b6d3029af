//! Sending a finished trial's trained network to the coordinator, before its completion and
//! under its lease: in pieces (`hypersearch_proto::model_transfer`), going on from the offset
//! each answer names, so a retried or damaged piece costs one piece. The trial's result does
//! not depend on it: a model the coordinator refuses is logged and the trial completes.
//! A running training's checkpoint travels the same way (its pieces name the epoch).

use hypersearch_proto::LeaseId;
use hypersearch_proto::model_transfer::{CHUNK_BYTES, MAX_CHECKPOINT_BYTES, checkpoint_pieces};

use crate::Error;
use crate::client::CallError;
use crate::slot::SlotContext;

/// Times the coordinator may ask for a piece already sent before the worker gives up on
/// the model (a piece damaged on every try).
const MAX_RESENDS: u32 = 8;

/// How sending a model went.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The coordinator stored it.
    Stored,
    /// It was not kept, for this reason; the trial goes on to complete.
    NotKept(String),
    /// The lease is no longer this worker's: abandon the trial.
    LeaseLost,
}

/// Sends `model`, the trained network of `lease`'s attempt; with `checkpoint_epoch`, the
/// bytes are instead a checkpoint of the running training after that epoch.
///
/// # Errors
/// Only what ends the worker (the coordinator unreachable past the worker's patience, a
/// refused credential).
pub(crate) async fn send(
    ctx: &SlotContext,
    lease: LeaseId,
    model: &[u8],
    checkpoint_epoch: Option<u32>,
) -> Result<Sent, Error> {
    if checkpoint_epoch.is_some() && model.len() as u64 > MAX_CHECKPOINT_BYTES {
        return Ok(Sent::NotKept(format!(
            "the checkpoint has {} bytes, the coordinator takes at most {MAX_CHECKPOINT_BYTES}",
            model.len()
        )));
    }
    let pieces = checkpoint_pieces(model, 0, lease, checkpoint_epoch);
    let mut at = 0usize;
    let mut resends = 0;
    loop {
        let Some(piece) = pieces.get(at) else {
            return Ok(Sent::NotKept(format!(
                "the coordinator asked for a piece past the model's {} bytes",
                model.len()
            )));
        };
        let joined = ctx.identity.current();
        let mut piece = piece.clone();
        piece.worker_id = joined.id;
        match ctx.client.put_model(piece).await {
            Ok(receipt) if receipt.stored => return Ok(Sent::Stored),
            Ok(receipt) => {
                let chunk = CHUNK_BYTES as u64;
                if receipt.next_offset % chunk != 0 {
                    return Ok(Sent::NotKept(format!(
                        "the coordinator asked for offset {}, which no piece starts at",
                        receipt.next_offset
                    )));
                }
                let next = usize::try_from(receipt.next_offset / chunk).unwrap_or(usize::MAX);
                if next <= at {
                    resends += 1;
                    if resends > MAX_RESENDS {
                        return Ok(Sent::NotKept(format!(
                            "the coordinator asked {MAX_RESENDS} times for pieces already sent"
                        )));
                    }
                }
                at = next;
            }
            Err(CallError::LeaseLost(_)) => return Ok(Sent::LeaseLost),
            Err(CallError::Unregistered(_)) => {
                ctx.identity.rejoin(joined).await?;
                return Ok(Sent::LeaseLost);
            }
            Err(CallError::TrialRefused(reason)) => return Ok(Sent::NotKept(reason)),
            Err(CallError::Fatal(err)) => return Err(err),
        }
    }
}
