//! Trained networks arriving from workers: the pieces of each attempt's model held in
//! memory, in order, until the whole has come and matches its SHA-256. A piece that starts
//! elsewhere than where the held bytes end (a retry of one already taken, or one after a
//! gap), or whose bytes do not match its own digest, changes nothing: the answer names the
//! offset wanted, and the worker goes on from there. All uploads together hold at most
//! [`ModelUploads::new`]'s byte budget; past it a piece is refused as `RESOURCE_EXHAUSTED`
//! (the worker retries later). An upload nobody added to for [`IDLE`] is forgotten.
//! Checkpoints of running trainings arrive the same way (their pieces name the epoch); the
//! caller decides where a whole one goes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hypersearch_proto::LeaseId;
use hypersearch_proto::model_transfer::{Checksum, ModelPiece};
use tokio::time::Instant;

use crate::Error;

/// The bytes all unfinished uploads may hold together: four of the largest models.
pub(crate) const BUFFER_BUDGET: usize =
    4 * hypersearch_proto::model_transfer::MAX_MODEL_BYTES as usize;

/// How long an unfinished upload is kept without a new piece.
pub(crate) const IDLE: Duration = Duration::from_secs(120);

/// What a piece leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// More is wanted, from this offset.
    Wants(u64),
    /// The whole model, matching its digest: to be stored.
    Whole(Vec<u8>),
    /// This model of this attempt was stored already (a retry of its last piece).
    Stored,
}

/// One attempt's model, arriving.
struct Partial {
    size: u64,
    sha256: Checksum,
    bytes: Vec<u8>,
    touched: Instant,
}

#[derive(Default)]
struct Uploads {
    partial: HashMap<LeaseId, Partial>,
    /// Models stored, by attempt, so a retried last piece is answered `stored`.
    stored: HashMap<LeaseId, (Checksum, Instant)>,
    buffered: usize,
}

/// The models being received.
pub struct ModelUploads {
    budget: usize,
    uploads: Mutex<Uploads>,
}

impl ModelUploads {
    /// No upload yet; all of them together may hold `budget` bytes.
    pub fn new(budget: usize) -> ModelUploads {
        ModelUploads {
            budget,
            uploads: Mutex::new(Uploads::default()),
        }
    }

    /// Takes `piece` (whose lease the caller checked).
    ///
    /// # Errors
    /// [`Error::TransfersBusy`] when the budget is spent; [`Error::ModelRefused`] when the
    /// whole model does not match its digest (the upload starts over).
    pub fn receive(&self, piece: ModelPiece, now: Instant) -> Result<Received, Error> {
        let mut uploads = self.uploads.lock().unwrap_or_else(PoisonError::into_inner);
        uploads.forget_idle(now);
        let lease = piece.lease;
        if uploads
            .stored
            .get(&lease)
            .is_some_and(|(sha, _)| *sha == piece.sha256)
        {
            return Ok(Received::Stored);
        }
        let same_model = uploads
            .partial
            .get(&lease)
            .is_some_and(|p| p.size == piece.size && p.sha256 == piece.sha256);
        if !same_model {
            if piece.chunk.offset != 0 {
                return Ok(Received::Wants(0));
            }
            // A new model of this attempt (or its first piece): it replaces what was held.
            uploads.remove(&lease);
            uploads.partial.insert(
                lease,
                Partial {
                    size: piece.size,
                    sha256: piece.sha256,
                    bytes: Vec::new(),
                    touched: now,
                },
            );
        }
        let held = uploads.partial.get(&lease).map_or(0, |p| p.bytes.len()) as u64;
        if piece.chunk.offset != held || !piece.chunk.is_intact() {
            return Ok(Received::Wants(held));
        }
        let added = piece.chunk.data.len();
        if uploads.buffered + added > self.budget {
            return Err(Error::TransfersBusy(format!(
                "the coordinator holds {} bytes of models being received, its budget is {}: \
                 try again shortly",
                uploads.buffered, self.budget
            )));
        }
        uploads.buffered += added;
        let Some(partial) = uploads.partial.get_mut(&lease) else {
            return Ok(Received::Wants(0));
        };
        partial.bytes.extend_from_slice(&piece.chunk.data);
        partial.touched = now;
        if (partial.bytes.len() as u64) < partial.size {
            return Ok(Received::Wants(partial.bytes.len() as u64));
        }
        let whole = uploads.remove(&lease).map(|p| p.bytes).unwrap_or_default();
        if Checksum::of(&whole) != piece.sha256 {
            let what = if piece.checkpoint_epoch.is_some() {
                "checkpoint"
            } else {
                "model"
            };
            return Err(Error::ModelRefused(format!(
                "the {} bytes of {lease}'s {what} do not match the SHA-256 they were announced \
                 with; send it again from offset 0",
                whole.len()
            )));
        }
        Ok(Received::Whole(whole))
    }

    /// Notes that `lease`'s model with digest `sha256` is stored.
    pub fn stored(&self, lease: LeaseId, sha256: Checksum, now: Instant) {
        let mut uploads = self.uploads.lock().unwrap_or_else(PoisonError::into_inner);
        uploads.stored.insert(lease, (sha256, now));
    }
}

impl Uploads {
    fn remove(&mut self, lease: &LeaseId) -> Option<Partial> {
        let partial = self.partial.remove(lease)?;
        self.buffered -= partial.bytes.len();
        Some(partial)
    }

    fn forget_idle(&mut self, now: Instant) {
        let idle: Vec<LeaseId> = self
            .partial
            .iter()
            .filter(|(_, p)| now.duration_since(p.touched) > IDLE)
            .map(|(lease, _)| *lease)
            .collect();
        for lease in idle {
            self.remove(&lease);
        }
        self.stored
            .retain(|_, (_, at)| now.duration_since(*at) <= IDLE);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hypersearch_proto::model_transfer::{CHUNK_BYTES, pieces};

    const LEASE: LeaseId = LeaseId {
        trial: 2,
        attempt: 1,
        token: 77,
    };

    fn model(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7) as u8).collect()
    }

    #[test]
    fn pieces_in_order_make_the_whole_and_retries_change_nothing() {
        let uploads = ModelUploads::new(10 * CHUNK_BYTES);
        let now = Instant::now();
        let bytes = model(2 * CHUNK_BYTES + 10);
        let parts = pieces(&bytes, 1, LEASE);
        // Out of order: the coordinator wants the start.
        assert_eq!(
            uploads.receive(parts[1].clone(), now).unwrap(),
            Received::Wants(0)
        );
        let first = CHUNK_BYTES as u64;
        assert_eq!(
            uploads.receive(parts[0].clone(), now).unwrap(),
            Received::Wants(first)
        );
        // The first piece again (its answer was lost): nothing changes.
        assert_eq!(
            uploads.receive(parts[0].clone(), now).unwrap(),
            Received::Wants(first)
        );
        // A damaged piece is asked for again.
        let mut damaged = parts[1].clone();
        damaged.chunk.data[0] ^= 1;
        assert_eq!(
            uploads.receive(damaged, now).unwrap(),
            Received::Wants(first)
        );
        uploads.receive(parts[1].clone(), now).unwrap();
        assert_eq!(
            uploads.receive(parts[2].clone(), now).unwrap(),
            Received::Whole(bytes.clone())
        );
        uploads.stored(LEASE, parts[2].sha256, now);
        assert_eq!(
            uploads.receive(parts[2].clone(), now).unwrap(),
            Received::Stored
        );
    }

    #[test]
    fn a_whole_that_does_not_match_its_digest_is_refused_and_the_budget_holds() {
        let uploads = ModelUploads::new(CHUNK_BYTES + 5);
        let now = Instant::now();
        let mut lying = pieces(&model(100), 1, LEASE).remove(0);
        lying.sha256 = Checksum::of(b"something else");
        let err = uploads.receive(lying, now).unwrap_err().to_string();
        assert!(err.contains("do not match"), "{err}");

        let big = model(2 * CHUNK_BYTES);
        let parts = pieces(&big, 1, LEASE);
        uploads.receive(parts[0].clone(), now).unwrap();
        let other = LeaseId { trial: 3, ..LEASE };
        let refused = uploads
            .receive(pieces(&model(10), 1, other).remove(0), now)
            .unwrap_err();
        assert!(matches!(refused, Error::TransfersBusy(_)), "{refused}");
        // An idle upload is forgotten and its bytes given back.
        let later = now + IDLE + Duration::from_secs(1);
        assert_eq!(
            uploads
                .receive(pieces(&model(10), 1, other).remove(0), later)
                .unwrap(),
            Received::Whole(model(10))
        );
    }
}
