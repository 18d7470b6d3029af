//! Trained networks as bytes: a kept model (read back from the database by `hypersearch
//! model`, then quantized and written as ONNX) and a checkpoint (sent by the coordinator to
//! a resumed attempt), decoded from arbitrary bytes: a clear refusal or a value, never a
//! panic or an allocation past what the bytes hold. The first byte picks the format, and
//! whether the rest is taken as it is or as a body the target frames with the format's magic
//! and CRC-32, so that the fuzzer reaches the parser behind the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_core::model::file::{KeptModel, MAGIC as MODEL_MAGIC};
use nn_core::train::Checkpoint;
use nn_core::ndarray::Array2;

/// A checkpoint's first bytes (`nn-core/src/train/checkpoint.rs`).
const CHECKPOINT_MAGIC: &[u8; 8] = b"HSCKPT\0\0";

/// `body` framed as a file: the magic, the body, the CRC-32 of both.
fn framed(magic: &[u8], body: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(body);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let model = which & 1 == 1;
    let magic: &[u8] = if model { MODEL_MAGIC } else { CHECKPOINT_MAGIC };
    let bytes = if which & 2 == 2 {
        framed(magic, rest)
    } else {
        rest.to_vec()
    };
    if model {
        let Ok(kept) = KeptModel::decode(&bytes) else {
            return;
        };
        assert_eq!(
            KeptModel::decode(&kept.encode()).map(|k| k.encode()).ok(),
            Some(kept.encode()),
            "a decoded model does not survive its own encoding"
        );
        // What `hypersearch model` does with it; and a prediction on one blank example.
        let _ = hypersearch_onnx::fp32(&kept.model);
        if let Ok(int8) = kept.int8() {
            let _ = hypersearch_onnx::int8(&int8);
        }
        if kept.model.features() <= 4096 {
            let blank = Array2::<f32>::zeros((1, kept.model.features()));
            let probabilities = kept.model.probabilities(blank.view());
            assert_eq!(probabilities.dim(), (1, kept.model.classes()));
        }
    } else if let Ok(checkpoint) = Checkpoint::decode(&bytes) {
        // Compared as bytes: a fuzzed checkpoint may hold NaNs, which equal nothing.
        let encoded = checkpoint.encode();
        assert_eq!(
            Checkpoint::decode(&encoded).map(|c| c.encode()).ok(),
            Some(encoded),
            "a decoded checkpoint does not survive its own encoding"
        );
    }
});
