//! The gRPC service: thin handlers that convert the wire messages (validated by
//! `hypersearch-proto`), call the scheduler, and convert back; and the token check every
//! request passes first.

use std::sync::Arc;

use hypersearch_proto::auth::{AUTHORIZATION, constant_time_eq, parse_bearer};
use hypersearch_proto::{Completion, Heartbeat, LeaseGrant, LeaseRequest, Report, WorkerHello, pb};
use tonic::{Request, Response, Status};

use crate::scheduler::Scheduler;

/// The `Coordinator` gRPC service over a scheduler.
pub(crate) struct Service {
    pub scheduler: Arc<Scheduler>,
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
