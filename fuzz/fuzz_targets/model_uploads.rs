//! Models and checkpoints arriving at the coordinator in pieces (`PutModel`): length-delimited
//! `PutModelRequest` messages, each converted as the service converts it and handed to the
//! reassembly, in order. Whatever the pieces, the coordinator asks for offsets within the
//! announced size, hands on a whole upload only when it has exactly that size and digest, and
//! never holds more than its budget.
#![no_main]

use hypersearch_coordinator::fuzzing::{ModelUploads, Received};
use hypersearch_proto::model_transfer::{Checksum, ModelPiece};
use hypersearch_proto::pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// The bytes all unfinished uploads may hold together here: small, so the budget is reached.
const BUDGET: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let uploads = ModelUploads::new(BUDGET);
    let now = tokio::time::Instant::now();
    let mut rest = data;
    while let Ok(message) = pb::PutModelRequest::decode_length_delimited(&mut rest) {
        if let Ok(piece) = ModelPiece::try_from(message) {
            let (size, sha256) = (piece.size, piece.sha256);
            let lease = piece.lease;
            match uploads.receive(piece, now) {
                Ok(Received::Wants(offset)) => assert!(offset <= size, "{offset} of {size}"),
                Ok(Received::Whole(bytes)) => {
                    assert_eq!(bytes.len() as u64, size, "a whole of the wrong size");
                    assert!(Checksum::of(&bytes) == sha256, "a whole of the wrong digest");
                    // As `PutModel` does once the whole is stored.
                    uploads.stored(lease, sha256, now);
                }
                Ok(Received::Stored) | Err(_) => {}
            }
        }
        if rest.is_empty() {
            break;
        }
    }
});
