//! Every message a coordinator or worker receives (models and checkpoints in pieces
//! included), decoded from arbitrary bytes and converted
//! to the domain types (the first byte picks the message): a clear refusal or a value,
//! never a panic.
#![no_main]

use hypersearch_proto::data_transfer::{DataChunk, DataRequest};
use hypersearch_proto::model_transfer::{
    CheckpointRefusal, CheckpointRequest, ModelPiece, ModelReceipt, Resume,
};
use hypersearch_proto::{
    Assignment, Completion, Heartbeat, LeaseGrant, LeaseId, Report, StudyInfo, Welcome,
    WorkerHello, pb,
};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn convert<M: Message + Default, T: TryFrom<M>>(bytes: &[u8]) {
    if let Ok(message) = M::decode(bytes) {
        let _ = T::try_from(message);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 18 {
        0 => convert::<pb::FetchDataRequest, DataRequest>(bytes),
        1 => convert::<pb::DataChunk, DataChunk>(bytes),
        2 => {
            if let Ok(lease) = pb::LeaseRef::decode(bytes) {
                let _ = LeaseId::try_from(Some(lease));
            }
        }
        3 => convert::<pb::RegisterRequest, WorkerHello>(bytes),
        4 => convert::<pb::StudyInfo, StudyInfo>(bytes),
        5 => convert::<pb::RegisterReply, Welcome>(bytes),
        6 => convert::<pb::TrialAssignment, Assignment>(bytes),
        7 => convert::<pb::LeaseReply, LeaseGrant>(bytes),
        8 => convert::<pb::ReportRequest, Report>(bytes),
        9 => convert::<pb::CompleteRequest, Completion>(bytes),
        10 => convert::<pb::CompleteReply, LeaseGrant>(bytes),
        11 => convert::<pb::HeartbeatRequest, Heartbeat>(bytes),
        12 => convert::<pb::HeartbeatReply, Vec<LeaseId>>(bytes),
        13 => {
            if let Ok(message) = pb::PutModelRequest::decode(bytes) {
                let size = message.size;
                if let Ok(piece) = ModelPiece::try_from(message) {
                    let end = piece.chunk.offset + piece.chunk.data.len() as u64;
                    assert!(end <= size, "a piece ending at {end} of a {size}-byte model");
                }
            }
        }
        14 => {
            if let Ok(message) = pb::PutModelReply::decode(bytes) {
                let _ = ModelReceipt::from(message);
            }
        }
        15 => convert::<pb::GetCheckpointRequest, CheckpointRequest>(bytes),
        16 => convert::<pb::RefuseCheckpointRequest, CheckpointRefusal>(bytes),
        _ => {
            convert::<pb::Resume, Resume>(bytes);
            // What the coordinator's SteerWorker handler reads of its request.
            if let Ok(message) = pb::SteerWorkerRequest::decode(bytes) {
                let _ = pb::Steer::try_from(message.steer);
            }
        }
    }
});
