//! Conversions of the checkpoint transfer back to a resuming worker: a resume whose digest
//! is not 32 bytes, whose epoch is 0 or whose size is over [`MAX_CHECKPOINT_BYTES`]; a
//! request or refusal without a lease; a refusal's reason over [`MAX_REFUSAL_BYTES`]: a
//! [`ConvertError`] naming the field.

use super::ConvertError;
use super::data_transfer::checksum;
use crate::LeaseId;
use crate::model_transfer::{
    CheckpointRefusal, CheckpointRequest, MAX_CHECKPOINT_BYTES, MAX_REFUSAL_BYTES, Resume,
};
use crate::pb;

impl From<Resume> for pb::Resume {
    fn from(resume: Resume) -> Self {
        pb::Resume {
            epoch: resume.epoch,
            size: resume.size,
            sha256: resume.sha256.0.to_vec(),
        }
    }
}

impl TryFrom<pb::Resume> for Resume {
    type Error = ConvertError;
    fn try_from(resume: pb::Resume) -> Result<Self, ConvertError> {
        if resume.epoch == 0 {
            return Err(ConvertError::new(
                "resume.epoch",
                "0; a checkpoint is taken after an epoch (1 or more)",
            ));
        }
        if resume.size > MAX_CHECKPOINT_BYTES {
            return Err(ConvertError::new(
                "resume.size",
                format!(
                    "{} bytes, at most {MAX_CHECKPOINT_BYTES} allowed",
                    resume.size
                ),
            ));
        }
        let sha256 = checksum("resume.sha256", &resume.sha256)?;
        Ok(Resume {
            epoch: resume.epoch,
            size: resume.size,
            sha256,
        })
    }
}

impl From<CheckpointRequest> for pb::GetCheckpointRequest {
    fn from(request: CheckpointRequest) -> Self {
        pb::GetCheckpointRequest {
            worker_id: request.worker_id,
            lease: Some(request.lease.into()),
            offset: request.offset,
        }
    }
}

impl TryFrom<pb::GetCheckpointRequest> for CheckpointRequest {
    type Error = ConvertError;
    fn try_from(request: pb::GetCheckpointRequest) -> Result<Self, ConvertError> {
        Ok(CheckpointRequest {
            worker_id: request.worker_id,
            lease: LeaseId::try_from(request.lease)?,
            offset: request.offset,
        })
    }
}

impl From<CheckpointRefusal> for pb::RefuseCheckpointRequest {
    fn from(refusal: CheckpointRefusal) -> Self {
        pb::RefuseCheckpointRequest {
            worker_id: refusal.worker_id,
            lease: Some(refusal.lease.into()),
            reason: refusal.reason,
        }
    }
}

impl TryFrom<pb::RefuseCheckpointRequest> for CheckpointRefusal {
    type Error = ConvertError;
    fn try_from(refusal: pb::RefuseCheckpointRequest) -> Result<Self, ConvertError> {
        let lease = LeaseId::try_from(refusal.lease)?;
        if refusal.reason.len() > MAX_REFUSAL_BYTES {
            return Err(ConvertError::new(
                "reason",
                format!(
                    "{} bytes, at most {MAX_REFUSAL_BYTES} allowed",
                    refusal.reason.len()
                ),
            ));
        }
        Ok(CheckpointRefusal {
            worker_id: refusal.worker_id,
            lease,
            reason: refusal.reason,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::data_transfer::Checksum;

    fn resume() -> Resume {
        Resume {
            epoch: 7,
            size: 10,
            sha256: Checksum::of(b"checkpoint"),
        }
    }

    #[test]
    fn a_resume_round_trips_and_a_bad_one_is_refused_by_field() {
        assert_eq!(
            Resume::try_from(pb::Resume::from(resume())).unwrap(),
            resume()
        );
        let mut zero = pb::Resume::from(resume());
        zero.epoch = 0;
        assert_eq!(Resume::try_from(zero).unwrap_err().field, "resume.epoch");
        let mut big = pb::Resume::from(resume());
        big.size = MAX_CHECKPOINT_BYTES + 1;
        assert_eq!(Resume::try_from(big).unwrap_err().field, "resume.size");
        let mut short = pb::Resume::from(resume());
        short.sha256.pop();
        assert_eq!(Resume::try_from(short).unwrap_err().field, "resume.sha256");
    }

    #[test]
    fn a_refusal_needs_a_lease_and_a_short_reason() {
        let lease = LeaseId {
            trial: 1,
            attempt: 2,
            token: 3,
        };
        let refusal = CheckpointRefusal {
            worker_id: 4,
            lease,
            reason: "damaged".into(),
        };
        let wire = pb::RefuseCheckpointRequest::from(refusal.clone());
        assert_eq!(CheckpointRefusal::try_from(wire.clone()).unwrap(), refusal);
        let mut long = wire.clone();
        long.reason = "x".repeat(MAX_REFUSAL_BYTES + 1);
        assert_eq!(
            CheckpointRefusal::try_from(long).unwrap_err().field,
            "reason"
        );
        let mut no_lease = wire;
        no_lease.lease = None;
        assert_eq!(
            CheckpointRefusal::try_from(no_lease).unwrap_err().field,
            "lease"
        );
    }
}
