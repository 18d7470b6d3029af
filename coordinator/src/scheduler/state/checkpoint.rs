//! Checkpoints of running trainings (`[study] checkpoints`): which one each trial holds,
//! which attempt may send one and after which epoch, and how a retry goes on from it.
//!
//! A checkpoint is taken after an epoch the attempt already reported, and replaces the
//! trial's earlier one. A retry after a lost or handed-back attempt is granted with it (the
//! [`Resume`] in its assignment) and reports from the next epoch; the epochs the lost
//! attempt ran past it are deleted, so the trial's curve has each epoch once. A worker
//! that cannot use it refuses it: the reason is recorded and the attempt starts from
//! scratch. The checkpoint is dropped when the trial ends or an attempt fails by the
//! objective's fault.

use hypersearch_proto::LeaseId;
use hypersearch_proto::model_transfer::{CheckpointRefusal, Checksum, Resume};
use tokio::time::Instant;

use super::{State, Trial};
use crate::Error;
use crate::store::{StoredCheckpoint, WriteOp};

/// The checkpoint a trial holds (its bytes stay in the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    /// The attempt that sent it.
    attempt: u32,
    epoch: u32,
    size: u64,
    sha256: Checksum,
}

impl Held {
    /// The stored checkpoint, unless its digest is not 64 hexadecimal digits (then no retry
    /// resumes from it).
    pub fn from_stored(stored: &StoredCheckpoint) -> Option<Held> {
        Some(Held {
            attempt: stored.attempt,
            epoch: stored.epoch,
            size: stored.size,
            sha256: parse_hex(&stored.sha256)?,
        })
    }

    /// What a retry's assignment says of it.
    pub fn resume(&self) -> Resume {
        Resume {
            epoch: self.epoch,
            size: self.size,
            sha256: self.sha256,
        }
    }
}

fn parse_hex(hex: &str) -> Option<Checksum> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Checksum(out))
}

/// A retry of `trial` starts under `lease`, going on from `held` if given: where its curve
/// starts now, and the write recording it (none for a retry from scratch of a trial whose
/// curve was its latest attempt's already).
pub(super) fn continue_curve(
    trial: &mut Trial,
    lease: LeaseId,
    held: Option<Held>,
) -> Option<WriteOp> {
    let before = trial.curve_from;
    trial.curve_from = held.map(|h| trial.curve_from.unwrap_or(h.attempt));
    if held.is_none() && before.is_none() {
        return None;
    }
    Some(WriteOp::ContinueCurve {
        number: lease.trial,
        lease,
        resumed_from: held.map(|h| h.epoch),
        curve_from: trial.curve_from,
    })
}

impl State {
    /// A piece of `lease`'s checkpoint after `epoch`: accepted while `worker` holds the lease
    /// (which it renews), the study takes checkpoints, and the attempt reported that epoch.
    pub fn checkpoint_piece(
        &mut self,
        worker: u64,
        lease: LeaseId,
        epoch: u32,
        now: Instant,
    ) -> Result<(), Error> {
        let index = self.check_held(worker, lease)?;
        if !self.rules.checkpoints {
            return Err(Error::CheckpointRefused(
                "this study takes no checkpoints ([study] checkpoints = false, or its \
                 objective is not a training)"
                    .into(),
            ));
        }
        let lease_period = self.rules.lease;
        let Some(attempt) = self.trials[index].running.as_mut() else {
            return Err(Error::CheckpointRefused(
                "the attempt is not running".into(),
            ));
        };
        let reported = attempt.last_epoch.as_ref().map_or(0, |(e, _)| *e);
        if epoch > reported || attempt.resumed_from.is_some_and(|r| epoch <= r) {
            return Err(Error::CheckpointRefused(format!(
                "a checkpoint after epoch {epoch}, but {lease} reported epochs {} to {reported}",
                attempt.resumed_from.map_or(1, |r| r + 1)
            )));
        }
        attempt.deadline = now + lease_period;
        Ok(())
    }

    /// `lease`'s whole checkpoint after `epoch` arrived (`size` bytes, digest `sha256`):
    /// checked as its pieces were, it becomes the trial's checkpoint, and the write that
    /// stores it follows.
    pub fn store_checkpoint(
        &mut self,
        worker: u64,
        lease: LeaseId,
        epoch: u32,
        (size, sha256): (u64, Checksum),
        now: Instant,
    ) -> Result<(), Error> {
        self.checkpoint_piece(worker, lease, epoch, now)?;
        let index = self.check_held(worker, lease)?;
        self.trials[index].checkpoint = Some(Held {
            attempt: lease.attempt,
            epoch,
            size,
            sha256,
        });
        Ok(())
    }

    /// The checkpoint `worker`'s resumed attempt `lease` goes on from (renewing the lease).
    pub fn checkpoint_to_send(
        &mut self,
        worker: u64,
        lease: LeaseId,
        now: Instant,
    ) -> Result<Resume, Error> {
        let index = self.check_held(worker, lease)?;
        let lease_period = self.rules.lease;
        let trial = &mut self.trials[index];
        let resumed = trial.running.as_ref().and_then(|a| a.resumed_from);
        let held = trial.checkpoint.filter(|h| Some(h.epoch) == resumed);
        let (Some(held), Some(attempt)) = (held, trial.running.as_mut()) else {
            return Err(Error::CheckpointRefused(format!(
                "{lease} was not granted a checkpoint to resume from"
            )));
        };
        attempt.deadline = now + lease_period;
        Ok(held.resume())
    }

    /// The worker of a resumed attempt cannot use its checkpoint: the attempt starts from
    /// scratch (its curve its own), the checkpoint goes, and the write records why.
    pub fn refuse_checkpoint(
        &mut self,
        refusal: &CheckpointRefusal,
        now: Instant,
    ) -> Result<WriteOp, Error> {
        let lease = refusal.lease;
        let index = self.check_held(refusal.worker_id, lease)?;
        let lease_period = self.rules.lease;
        let trial = &mut self.trials[index];
        let Some(attempt) = trial.running.as_mut() else {
            return Err(Error::CheckpointRefused(
                "the attempt is not running".into(),
            ));
        };
        if attempt.resumed_from.is_none() || attempt.last_epoch.is_some() {
            return Err(Error::CheckpointRefused(format!(
                "{lease} did not resume from a checkpoint, or reported epochs after it already"
            )));
        }
        attempt.resumed_from = None;
        attempt.deadline = now + lease_period;
        trial.checkpoint = None;
        trial.curve_from = None;
        if let Some(record) = self.records.get_mut(index) {
            record.intermediate.clear();
            record.intermediate_objectives.clear();
            self.pruner.restart(lease.trial);
        }
        Ok(WriteOp::RefuseCheckpoint {
            number: lease.trial,
            lease,
            reason: format!(
                "checkpoint refused, the attempt started from scratch: {}",
                refusal.reason
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_digest_is_read_back_from_its_hex_and_a_bad_one_is_none() {
        let sha = Checksum::of(b"checkpoint");
        assert_eq!(parse_hex(&sha.hex()), Some(sha));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(&"é".repeat(32)), None);
        assert_eq!(parse_hex(&"g".repeat(64)), None);
    }
}
