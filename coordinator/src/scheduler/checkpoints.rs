//! The scheduler's side of checkpoints: a piece or a whole one arriving (fenced on the
//! lease, stored through the writer), the one a resumed attempt asks for, and a worker's
//! refusal of it. The rules are the state machine's (`state::checkpoint`).

use hypersearch_proto::LeaseId;
use hypersearch_proto::model_transfer::{CheckpointRefusal, Checksum, Resume};
use tokio::time::Instant;

use super::Scheduler;
use crate::Error;
use crate::store::{ModelBytes, WriteOp};

impl Scheduler {
    /// A piece of the checkpoint after `epoch` of `lease`'s attempt from `worker`: accepted
    /// while the worker holds the lease (renewed), the study takes checkpoints and the
    /// attempt reported that epoch.
    pub fn checkpoint_piece(&self, worker: u64, lease: LeaseId, epoch: u32) -> Result<(), Error> {
        self.lock()
            .checkpoint_piece(worker, lease, epoch, Instant::now())
    }

    /// Stores `checkpoint` (its SHA-256 `sha256`), taken after `epoch` of `lease`'s attempt,
    /// as its trial's checkpoint; returns once committed. Refused once the attempt is over,
    /// here and (fenced on the lease) in the database.
    pub async fn store_checkpoint(
        &self,
        worker: u64,
        lease: LeaseId,
        epoch: u32,
        sha256: Checksum,
        checkpoint: Vec<u8>,
    ) -> Result<(), Error> {
        let size = checkpoint.len() as u64;
        let ack = {
            let mut state = self.lock();
            state.store_checkpoint(worker, lease, epoch, (size, sha256), Instant::now())?;
            self.writer.enqueue(WriteOp::StoreCheckpoint {
                number: lease.trial,
                lease,
                epoch,
                sha256: sha256.hex(),
                checkpoint: ModelBytes(checkpoint.into()),
            })
        };
        ack.wait().await.map_err(|err| self.fail(err))?;
        tracing::debug!(
            trial = lease.trial,
            attempt = lease.attempt,
            epoch,
            bytes = size,
            "checkpoint stored"
        );
        Ok(())
    }

    /// The checkpoint `worker`'s resumed attempt `lease` goes on from.
    pub fn checkpoint_to_send(&self, worker: u64, lease: LeaseId) -> Result<Resume, Error> {
        self.lock()
            .checkpoint_to_send(worker, lease, Instant::now())
    }

    /// A worker cannot use the checkpoint its resumed attempt was granted: the attempt starts
    /// from scratch; returns once the reason is recorded.
    pub async fn refuse_checkpoint(&self, refusal: CheckpointRefusal) -> Result<(), Error> {
        let ack = {
            let mut state = self.lock();
            let op = state.refuse_checkpoint(&refusal, Instant::now())?;
            self.writer.enqueue(op)
        };
        ack.wait().await.map_err(|err| self.fail(err))?;
        tracing::warn!(
            trial = refusal.lease.trial,
            attempt = refusal.lease.attempt,
            worker = refusal.worker_id,
            reason = %hypersearch_proto::visible::Visible(&refusal.reason),
            "checkpoint refused by the worker; the attempt starts from scratch"
        );
        Ok(())
    }
}
