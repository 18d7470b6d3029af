//! A data-set transfer as the worker reassembles it: the first 4 bytes give the announced
//! file size, then length-delimited `DataChunk` messages follow; each is taken as the next
//! piece only when intact and in place, and the file never grows past its size.
#![no_main]

use hypersearch_proto::data_transfer::{Checksum, DataFile};
use hypersearch_proto::pb;
use hypersearch_worker::fuzzing::check_chunk;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((head, mut rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let file = DataFile {
        name: "data.bin".into(),
        size: u64::from(u32::from_le_bytes(*head) % (1 << 20)),
        sha256: Checksum::of(b""),
    };
    let mut offset = 0u64;
    while let Ok(chunk) = pb::DataChunk::decode_length_delimited(&mut rest) {
        if let Ok(bytes) = check_chunk(chunk, offset, &file) {
            assert!(!bytes.is_empty(), "an empty piece was accepted");
            offset += bytes.len() as u64;
            assert!(offset <= file.size, "the file grew past its size");
        }
        if rest.is_empty() {
            break;
        }
    }
});
