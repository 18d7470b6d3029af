//! A finished trial's trained network on its way to the coordinator: the data-set transfer
//! turned around. The worker sends the model in order, in pieces of at most
//! [`CHUNK_BYTES`], each piece with its SHA-256 and every piece naming the whole model's
//! size and SHA-256; the coordinator answers with the offset it wants next, so a retried or
//! misplaced piece changes nothing and a worker resumes where the coordinator is. Every
//! piece carries the attempt's lease and is refused once the attempt is over.
//!
//! Checkpoints of running trainings travel the same way (a piece names the epoch it was
//! taken after); a retry that resumes from one fetches it back in pieces
//! ([`CheckpointRequest`]), checked against the [`Resume`] its assignment carries.

use crate::LeaseId;
pub use crate::data_transfer::{CHUNK_BYTES, Checksum, DataChunk};

/// The largest model a worker may send (bytes): 64 MiB, about 16 million f32 weights. A
/// larger one is refused with `INVALID_ARGUMENT` and the trial completes without a kept
/// model.
pub const MAX_MODEL_BYTES: u64 = 64 * 1024 * 1024;

/// The largest checkpoint a worker may send (bytes): the bound of a model. A training whose
/// checkpoint is larger (its optimizer state is two or three times its weights) sends none
/// and a retry of it starts from scratch.
pub const MAX_CHECKPOINT_BYTES: u64 = MAX_MODEL_BYTES;

/// The longest reason a worker may give for refusing a checkpoint (bytes).
pub const MAX_REFUSAL_BYTES: usize = 4096;

/// The checkpoint a retry goes on from, as its assignment names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The last epoch the checkpoint includes: the attempt starts with the next.
    pub epoch: u32,
    /// Its size in bytes (at most [`MAX_CHECKPOINT_BYTES`]).
    pub size: u64,
    /// Its digest.
    pub sha256: Checksum,
}

/// A worker asks for a piece of the checkpoint its resumed attempt goes on from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointRequest {
    /// The asking worker.
    pub worker_id: u64,
    /// The resumed attempt.
    pub lease: LeaseId,
    /// The first byte wanted.
    pub offset: u64,
}

/// A worker cannot use the checkpoint its attempt was handed: the attempt starts from
/// scratch, and the coordinator records why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRefusal {
    /// The refusing worker.
    pub worker_id: u64,
    /// The resumed attempt.
    pub lease: LeaseId,
    /// Why (at most [`MAX_REFUSAL_BYTES`]).
    pub reason: String,
}

/// One piece of a trial's model, from the worker holding the attempt's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPiece {
    /// The sending worker.
    pub worker_id: u64,
    /// The attempt whose training produced the model.
    pub lease: LeaseId,
    /// The whole model's size in bytes (at most [`MAX_MODEL_BYTES`]).
    pub size: u64,
    /// The whole model's digest.
    pub sha256: Checksum,
    /// This piece: it ends within `size`.
    pub chunk: DataChunk,
    /// `None`: the finished training's network. `Some(n)`: a checkpoint of the running
    /// training after epoch `n` (at most [`MAX_CHECKPOINT_BYTES`]).
    pub checkpoint_epoch: Option<u32>,
}

/// The coordinator's answer to a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelReceipt {
    /// The offset it wants next.
    pub next_offset: u64,
    /// The whole model is stored.
    pub stored: bool,
}

/// `model` cut into the pieces a worker sends, in order (one empty piece for an empty
/// model, so the whole is still announced and checked).
pub fn pieces(model: &[u8], worker_id: u64, lease: LeaseId) -> Vec<ModelPiece> {
    checkpoint_pieces(model, worker_id, lease, None)
}

/// `bytes` cut into pieces as [`pieces`] does; with `Some(epoch)`, the pieces of a
/// checkpoint taken after that epoch.
pub fn checkpoint_pieces(
    bytes: &[u8],
    worker_id: u64,
    lease: LeaseId,
    checkpoint_epoch: Option<u32>,
) -> Vec<ModelPiece> {
    let model = bytes;
    let sha256 = Checksum::of(model);
    let size = model.len() as u64;
    let mut out: Vec<ModelPiece> = model
        .chunks(CHUNK_BYTES)
        .enumerate()
        .map(|(i, bytes)| ModelPiece {
            worker_id,
            lease,
            size,
            sha256,
            chunk: DataChunk::new((i * CHUNK_BYTES) as u64, bytes.to_vec()),
            checkpoint_epoch,
        })
        .collect();
    if out.is_empty() {
        out.push(ModelPiece {
            worker_id,
            lease,
            size,
            sha256,
            chunk: DataChunk::new(0, Vec::new()),
            checkpoint_epoch,
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_model_in_order() {
        let lease = LeaseId {
            trial: 1,
            attempt: 1,
            token: 2,
        };
        let model: Vec<u8> = (0..CHUNK_BYTES * 2 + 5).map(|i| i as u8).collect();
        let pieces = pieces(&model, 3, lease);
        assert_eq!(pieces.len(), 3);
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.chunk.data.clone()).collect();
        assert_eq!(joined, model);
        assert!(pieces.iter().all(|p| p.chunk.is_intact()));
        assert_eq!(pieces[2].chunk.offset, 2 * CHUNK_BYTES as u64);
        assert_eq!(super::pieces(&[], 3, lease).len(), 1);
    }
}
