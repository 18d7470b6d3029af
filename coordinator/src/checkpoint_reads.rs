//! The stored checkpoint a resumed attempt goes on from, served to its worker in pieces of
//! at most [`CHUNK_BYTES`]. The first piece asked for reads the checkpoint from the
//! database (a read-only connection of its own, so the writer never waits on it) and checks
//! it against the digest the attempt was granted with; the bytes stay in memory for the next
//! pieces, within [`BUDGET`] for all attempts, until the last piece is served or nobody asked
//! for [`IDLE`] (a piece asked for again later reads the row again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hypersearch_proto::LeaseId;
use hypersearch_proto::model_transfer::{
    CHUNK_BYTES, Checksum, DataChunk, MAX_CHECKPOINT_BYTES, Resume,
};
use sqlx::AnyConnection;
use tokio::time::Instant;

use crate::Error;
use crate::store::cells::{Cells, Place};
use crate::store::{self, Location, db_err};

/// The bytes of checkpoints held for resuming workers, together: four of the largest.
const BUDGET: usize = 4 * MAX_CHECKPOINT_BYTES as usize;

/// How long a checkpoint is held without a request for a piece of it.
const IDLE: Duration = Duration::from_secs(120);

/// Checkpoints read back for resumed attempts.
pub(crate) struct CheckpointReads {
    db: Location,
    study_id: i64,
    conn: tokio::sync::Mutex<Option<AnyConnection>>,
    held: Mutex<HashMap<LeaseId, Held>>,
}

/// A checkpoint read back, and when a piece of it was last asked for.
type Held = (Arc<[u8]>, Instant);

impl CheckpointReads {
    /// Reads from `db`, the study with row id `study_id` (the connection opens on first use).
    pub fn new(db: Location, study_id: i64) -> CheckpointReads {
        CheckpointReads {
            db,
            study_id,
            conn: tokio::sync::Mutex::new(None),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The piece from `offset` of the checkpoint `lease`'s attempt resumes from (`resume`,
    /// as it was granted).
    ///
    /// # Errors
    /// [`Error::BadDataRequest`] for an offset past its end; [`Error::CheckpointRefused`]
    /// when the stored checkpoint is gone or no longer the one granted; a database error.
    pub async fn piece(
        &self,
        lease: LeaseId,
        resume: Resume,
        offset: u64,
        now: Instant,
    ) -> Result<DataChunk, Error> {
        let bytes = match self.cached(lease, now) {
            Some(bytes) => bytes,
            None => {
                let bytes = self.load(lease, resume).await?;
                self.keep(lease, bytes.clone(), now);
                bytes
            }
        };
        let start = usize::try_from(offset)
            .ok()
            .filter(|&start| start <= bytes.len())
            .ok_or_else(|| {
                Error::BadDataRequest(format!(
                    "offset {offset} is past the checkpoint's {} bytes",
                    bytes.len()
                ))
            })?;
        let end = (start + CHUNK_BYTES).min(bytes.len());
        if end == bytes.len() {
            self.held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&lease);
        }
        Ok(DataChunk::new(offset, bytes[start..end].to_vec()))
    }

    fn cached(&self, lease: LeaseId, now: Instant) -> Option<Arc<[u8]>> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|_, (_, touched)| now.duration_since(*touched) <= IDLE);
        let (bytes, touched) = held.get_mut(&lease)?;
        *touched = now;
        Some(bytes.clone())
    }

    /// Holds `bytes` for `lease`'s next pieces, forgetting the least recently asked for
    /// checkpoints as the budget needs.
    fn keep(&self, lease: LeaseId, bytes: Arc<[u8]>, now: Instant) {
        if bytes.len() > BUDGET {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total: usize = held.values().map(|(b, _)| b.len()).sum();
        while total + bytes.len() > BUDGET {
            let Some(oldest) = held
                .iter()
                .min_by_key(|(_, (_, touched))| *touched)
                .map(|(lease, _)| *lease)
            else {
                break;
            };
            if let Some((gone, _)) = held.remove(&oldest) {
                total -= gone.len();
            }
        }
        held.insert(lease, (bytes, now));
    }

    async fn load(&self, lease: LeaseId, resume: Resume) -> Result<Arc<[u8]>, Error> {
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            *conn = Some(store::open_read_only(&self.db).await?);
        }
        let Some(reader) = conn.as_mut() else {
            return Err(Error::ShuttingDown);
        };
        let row = sqlx::query(
            "SELECT c.epoch, c.checkpoint FROM checkpoints c JOIN trials t ON t.id = c.trial_id \
             WHERE t.study_id = $1 AND t.number = $2",
        )
        .bind(self.study_id)
        .bind(i64::try_from(lease.trial).unwrap_or(i64::MAX))
        .fetch_optional(&mut *reader)
        .await;
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                // A broken connection is opened again on the next request.
                *conn = None;
                return Err(db_err("read a checkpoint")(err));
            }
        };
        let Some(row) = row else {
            return Err(Error::CheckpointRefused(format!(
                "trial {} has no stored checkpoint any more",
                lease.trial
            )));
        };
        let cells = Cells::new(&row, "checkpoints", Place::Other("a stored checkpoint"));
        let epoch = cells.count("epoch")?;
        let bytes: Vec<u8> = cells.get("checkpoint")?;
        if epoch != resume.epoch || Checksum::of(&bytes) != resume.sha256 {
            return Err(Error::CheckpointRefused(format!(
                "the stored checkpoint of trial {} (after epoch {epoch}) is not the one {lease} \
                 was granted (after epoch {})",
                lease.trial, resume.epoch
            )));
        }
        Ok(bytes.into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LEASE: LeaseId = LeaseId {
        trial: 0,
        attempt: 2,
        token: 9,
    };

    #[test]
    fn held_checkpoints_stay_within_the_budget_least_recently_asked_for_first() {
        let reads = CheckpointReads::new(Location::from(std::path::PathBuf::from("unused.db")), 1);
        let now = Instant::now();
        let big: Arc<[u8]> = vec![0u8; BUDGET / 2].into();
        let other = |trial| LeaseId { trial, ..LEASE };
        reads.keep(other(1), big.clone(), now);
        reads.keep(other(2), big.clone(), now + Duration::from_secs(1));
        assert!(
            reads
                .cached(other(1), now + Duration::from_secs(2))
                .is_some()
        );
        // A third pushes out the one asked for longest ago (trial 2: trial 1 was just read).
        reads.keep(other(3), big, now + Duration::from_secs(3));
        assert!(
            reads
                .cached(other(2), now + Duration::from_secs(4))
                .is_none()
        );
        assert!(
            reads
                .cached(other(1), now + Duration::from_secs(4))
                .is_some()
        );
        // Idle ones are forgotten.
        let later = now + Duration::from_secs(4) + IDLE + Duration::from_secs(1);
        assert!(reads.cached(other(3), later).is_none());
        // Too large to hold at all.
        reads.keep(LEASE, vec![0u8; BUDGET + 1].into(), later);
        assert!(reads.cached(LEASE, later).is_none());
    }
}
