//! Conversions of the model transfer. A missing lease or piece, a digest that is not 32
//! bytes, a model over [`MAX_MODEL_BYTES`], a piece over [`CHUNK_BYTES`] or ending past the
//! model: a [`ConvertError`] naming the field.

use super::ConvertError;
use super::data_transfer::checksum;
use crate::LeaseId;
use crate::data_transfer::{CHUNK_BYTES, DataChunk};
use crate::model_transfer::{MAX_CHECKPOINT_BYTES, MAX_MODEL_BYTES, ModelPiece, ModelReceipt};
use crate::pb;

impl From<ModelPiece> for pb::PutModelRequest {
    fn from(piece: ModelPiece) -> Self {
        pb::PutModelRequest {
            worker_id: piece.worker_id,
            lease: Some(piece.lease.into()),
            size: piece.size,
            sha256: piece.sha256.0.to_vec(),
            chunk: Some(piece.chunk.into()),
            checkpoint_epoch: piece.checkpoint_epoch.unwrap_or(0),
        }
    }
}

impl TryFrom<pb::PutModelRequest> for ModelPiece {
    type Error = ConvertError;
    /// Checks the piece's shape; whether its bytes match their digest is the coordinator's
    /// call (a damaged piece is asked for again).
    fn try_from(request: pb::PutModelRequest) -> Result<Self, ConvertError> {
        let lease = LeaseId::try_from(request.lease)?;
        let checkpoint_epoch = (request.checkpoint_epoch > 0).then_some(request.checkpoint_epoch);
        let (what, limit) = match checkpoint_epoch {
            None => ("model", MAX_MODEL_BYTES),
            Some(_) => ("checkpoint", MAX_CHECKPOINT_BYTES),
        };
        if request.size > limit {
            return Err(ConvertError::new(
                "size",
                format!(
                    "a {what} of {} bytes; the coordinator takes {what}s of at most \
                     {limit} bytes ({} MiB)",
                    request.size,
                    limit / (1024 * 1024)
                ),
            ));
        }
        let sha256 = checksum("sha256", &request.sha256)?;
        let chunk = request
            .chunk
            .ok_or_else(|| ConvertError::new("chunk", "missing"))?;
        if chunk.data.len() > CHUNK_BYTES {
            return Err(ConvertError::new(
                "chunk.data",
                format!("{} bytes, at most {CHUNK_BYTES} allowed", chunk.data.len()),
            ));
        }
        let chunk = DataChunk::try_from(chunk).map_err(|err| ConvertError {
            field: format!("chunk.{}", err.field),
            problem: err.problem,
        })?;
        let end = chunk.offset.checked_add(chunk.data.len() as u64);
        if end.is_none_or(|end| end > request.size) {
            return Err(ConvertError::new(
                "chunk.offset",
                format!(
                    "a piece of {} bytes at {} ends past the model's {} bytes",
                    chunk.data.len(),
                    chunk.offset,
                    request.size
                ),
            ));
        }
        Ok(ModelPiece {
            worker_id: request.worker_id,
            lease,
            size: request.size,
            sha256,
            chunk,
            checkpoint_epoch,
        })
    }
}

impl From<ModelReceipt> for pb::PutModelReply {
    fn from(receipt: ModelReceipt) -> Self {
        pb::PutModelReply {
            next_offset: receipt.next_offset,
            stored: receipt.stored,
        }
    }
}

impl From<pb::PutModelReply> for ModelReceipt {
    fn from(reply: pb::PutModelReply) -> Self {
        ModelReceipt {
            next_offset: reply.next_offset,
            stored: reply.stored,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::data_transfer::Checksum;
    use crate::model_transfer::pieces;

    fn wire(model: &[u8]) -> pb::PutModelRequest {
        let lease = LeaseId {
            trial: 4,
            attempt: 1,
            token: 9,
        };
        pieces(model, 2, lease).remove(0).into()
    }

    #[test]
    fn a_piece_round_trips() {
        let piece = ModelPiece::try_from(wire(b"weights")).unwrap();
        assert_eq!(piece.size, 7);
        assert_eq!(piece.sha256, Checksum::of(b"weights"));
        assert!(piece.chunk.is_intact());
    }

    #[test]
    fn oversized_models_and_pieces_past_the_end_are_refused_by_field() {
        let mut big = wire(b"weights");
        big.size = MAX_MODEL_BYTES + 1;
        let err = ModelPiece::try_from(big).unwrap_err();
        assert_eq!(err.field, "size");
        assert!(err.problem.contains("64 MiB"), "{err}");
        let mut past = wire(b"weights");
        past.size = 3;
        assert_eq!(
            ModelPiece::try_from(past).unwrap_err().field,
            "chunk.offset"
        );
        let mut overflow = wire(b"weights");
        if let Some(chunk) = overflow.chunk.as_mut() {
            chunk.offset = u64::MAX;
        }
        assert_eq!(
            ModelPiece::try_from(overflow).unwrap_err().field,
            "chunk.offset"
        );
        let mut short = wire(b"weights");
        short.sha256.pop();
        assert_eq!(ModelPiece::try_from(short).unwrap_err().field, "sha256");
        let mut no_lease = wire(b"weights");
        no_lease.lease = None;
        assert_eq!(ModelPiece::try_from(no_lease).unwrap_err().field, "lease");
    }
}
