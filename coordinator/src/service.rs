//! The gRPC service: thin handlers that convert the wire messages (validated by
//! `hypersearch-proto`), call the scheduler, and convert back; and the token check every
//! request passes first.

use std::sync::Arc;

use hypersearch_proto::auth::{AUTHORIZATION, constant_time_eq, parse_bearer};
use hypersearch_proto::data::DataRequest;
use hypersearch_proto::{Completion, Heartbeat, LeaseGrant, LeaseRequest, Report, WorkerHello, pb};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::Error;
use crate::data::DataSet;
use crate::limits::ReportLimiter;
use crate::scheduler::Scheduler;

/// Chunks of one transfer read ahead of the network.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The `Coordinator` gRPC service over a scheduler.
pub(crate) struct Service {
    pub scheduler: Arc<Scheduler>,
    /// The study's data files, for workers that lack them.
    pub data: Arc<DataSet>,
    /// Transfers served at once.
    pub transfers: Arc<Semaphore>,
    /// The bound on each worker's report rate.
    pub reports: ReportLimiter,
}

#[tonic::async_trait]
impl pb::coordinator_server::Coordinator for Service {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterReply>, Status> {
        let hello = WorkerHello::try_from(request.into_inner())?;
        let welcome = self.scheduler.register(hello).await?;
        Ok(Response::new(welcome.into()))
    }

    async fn lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<pb::LeaseReply>, Status> {
        let request = LeaseRequest::from(request.into_inner());
        let grant = self.scheduler.lease(request).await?;
        if grant == LeaseGrant::StudyFinished {
            self.scheduler.told_finished(request.worker_id);
        }
        Ok(Response::new(grant.into()))
    }

    async fn report(
        &self,
        request: Request<pb::ReportRequest>,
    ) -> Result<Response<pb::ReportReply>, Status> {
        let report = Report::try_from(request.into_inner())?;
        if let Some(slots) = self.scheduler.worker_slots(report.worker_id)
            && !self
                .reports
                .allow(report.worker_id, slots, tokio::time::Instant::now())
        {
            return Err(Error::RateLimited {
                worker: report.worker_id,
                per_slot: self.reports.per_slot(),
            }
            .into());
        }
        let stop = self.scheduler.report(report).await?;
        Ok(Response::new(pb::ReportReply {
            stop: stop.map(Into::into),
        }))
    }

    async fn complete(
        &self,
        request: Request<pb::CompleteRequest>,
    ) -> Result<Response<pb::CompleteReply>, Status> {
        let completion = Completion::try_from(request.into_inner())?;
        let worker = completion.worker_id;
        let next = self.scheduler.complete(completion).await?;
        if next == LeaseGrant::StudyFinished {
            self.scheduler.told_finished(worker);
        }
        Ok(Response::new(next.into()))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatReply>, Status> {
        let heartbeat = Heartbeat::try_from(request.into_inner())?;
        let lost = self.scheduler.heartbeat(&heartbeat)?;
        Ok(Response::new(lost.into()))
    }

    type FetchDataStream = ReceiverStream<Result<pb::DataChunk, Status>>;

    async fn fetch_data(
        &self,
        request: Request<pb::FetchDataRequest>,
    ) -> Result<Response<Self::FetchDataStream>, Status> {
        let request = DataRequest::try_from(request.into_inner())?;
        let chunks = self.data.chunks(request)?;
        let turn = self
            .transfers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::ShuttingDown)?;
        tracing::info!(worker = request.worker_id, file = %request.sha256,
            offset = request.offset, "sending a data file");
        let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            for chunk in chunks {
                let chunk = chunk.map(Into::into).map_err(Status::from);
                // A closed channel: the worker went away; stop reading.
                if sender.blocking_send(chunk).is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

/// Checks the bearer token of every request when the coordinator has one. The comparison
/// takes the same time wherever the tokens differ; the token itself is never logged.
#[derive(Clone)]
pub(crate) struct TokenCheck {
    pub expected: Option<Arc<str>>,
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_bearer);
        match presented {
            None => Err(Status::unauthenticated(
                "this coordinator requires a token and none was given (use --token-file)",
            )),
            Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated(
                "the token does not match the coordinator's",
            )),
        }
    }
}
