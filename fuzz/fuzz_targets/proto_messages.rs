//! Every message a coordinator or worker receives, decoded from arbitrary bytes and converted
//! to the domain types (the first byte picks the message): a clear refusal or a value,
//! never a panic.
#![no_main]

use hypersearch_proto::data_transfer::{DataChunk, DataRequest};
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
    match which % 13 {
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
        _ => convert::<pb::HeartbeatReply, Vec<LeaseId>>(bytes),
    }
});
