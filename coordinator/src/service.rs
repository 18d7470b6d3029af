//! The gRPC service: thin handlers that check the worker's credential, convert the wire
//! messages (validated by `hypersearch-proto`), call the scheduler, and convert back; and the
//! token check every request passes first.

use std::sync::Arc;

use hypersearch_proto::auth::{
    AUTHORIZATION, WORKER_CREDENTIAL, constant_time_eq, credential_digest, new_credential,
    parse_bearer,
};
use hypersearch_proto::data_transfer::DataRequest;
use hypersearch_proto::model_transfer::{
    CheckpointRefusal, CheckpointRequest, ModelPiece, ModelReceipt,
};
use hypersearch_proto::{Completion, Heartbeat, LeaseGrant, LeaseRequest, Report, WorkerHello, pb};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::Error;
use crate::checkpoint_reads::CheckpointReads;
use crate::connections::Peer;
use crate::limits::ReportLimiter;
use crate::model_uploads::{ModelUploads, Received};
use crate::scheduler::{Scheduler, Steer};
use crate::served_files::ServedFiles;
use crate::transfer::Transfers;
use crate::workers::Registry;

/// The `Coordinator` gRPC service over a scheduler.
pub(crate) struct Service {
    pub scheduler: Arc<Scheduler>,
    /// The study's data files, for workers that lack them.
    pub data: Arc<ServedFiles>,
    /// The data transfers in progress, and their bounds.
    pub transfers: Arc<Transfers>,
    /// The bound on each worker's report rate.
    pub reports: ReportLimiter,
    /// The workers' credentials and the bounds on joining.
    pub workers: Arc<Registry>,
    /// Trained networks and checkpoints arriving from workers.
    pub models: Arc<ModelUploads>,
    /// Stored checkpoints read back for resumed attempts.
    pub checkpoints: Arc<CheckpointReads>,
}

impl Service {
    /// Checks that `request` carries the credential of `worker`, the worker it names.
    fn authenticate<T>(&self, request: &Request<T>, worker: u64) -> Result<(), Status> {
        let presented = request
            .metadata()
            .get(WORKER_CREDENTIAL)
            .and_then(|value| value.to_str().ok());
        self.workers
            .check(worker, presented, tokio::time::Instant::now())
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::coordinator_server::Coordinator for Service {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterReply>, Status> {
        let hello = WorkerHello::try_from(request.into_inner())?;
        let admission = self
            .workers
            .admit(hello.slots, tokio::time::Instant::now())?;
        let credential = new_credential().ok_or_else(|| {
            Status::unavailable("the operating system gave no randomness for a credential")
        })?;
        let digest = credential_digest(&credential).hex();
        let mut welcome = self.scheduler.register(hello, digest.clone()).await?;
        admission.joined(welcome.worker_id, digest, tokio::time::Instant::now());
        welcome.credential = credential;
        Ok(Response::new(welcome.into()))
    }

    async fn lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<pb::LeaseReply>, Status> {
        self.authenticate(&request, request.get_ref().worker_id)?;
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
        let worker = request.get_ref().worker_id;
        self.authenticate(&request, worker)?;
        let values: usize = request
            .get_ref()
            .epochs
            .iter()
            .map(|epoch| epoch.metrics.len().max(1))
            .sum();
        let running = self.scheduler.leases_held(worker);
        if !self
            .reports
            .allow(worker, running, values, tokio::time::Instant::now())
        {
            return Err(Error::RateLimited {
                worker,
                per_trial: self.reports.per_trial(),
            }
            .into());
        }
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
        self.authenticate(&request, request.get_ref().worker_id)?;
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
        self.authenticate(&request, request.get_ref().worker_id)?;
        let heartbeat = Heartbeat::try_from(request.into_inner())?;
        let lost = self.scheduler.heartbeat(&heartbeat)?;
        Ok(Response::new(lost.into()))
    }

    async fn steer_worker(
        &self,
        request: Request<pb::SteerWorkerRequest>,
    ) -> Result<Response<pb::SteerWorkerReply>, Status> {
        let request = request.into_inner();
        let steer = match pb::Steer::try_from(request.steer) {
            Ok(pb::Steer::Drain) => Steer::Drain,
            Ok(pb::Steer::Resume) => Steer::Resume,
            Ok(pb::Steer::Quarantine) => Steer::Quarantine,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "steer: unknown value {}",
                    request.steer
                )));
            }
        };
        let (state, running) = self.scheduler.steer(request.worker_id, steer)?;
        Ok(Response::new(pb::SteerWorkerReply {
            state: state.to_string(),
            running: u32::try_from(running).unwrap_or(u32::MAX),
        }))
    }

    async fn put_model(
        &self,
        request: Request<pb::PutModelRequest>,
    ) -> Result<Response<pb::PutModelReply>, Status> {
        let worker = request.get_ref().worker_id;
        self.authenticate(&request, worker)?;
        let piece = ModelPiece::try_from(request.into_inner())?;
        let (lease, sha256, size) = (piece.lease, piece.sha256, piece.size);
        let checkpoint_epoch = piece.checkpoint_epoch;
        match checkpoint_epoch {
            None => self.scheduler.model_piece(worker, lease)?,
            Some(epoch) => self.scheduler.checkpoint_piece(worker, lease, epoch)?,
        }
        let now = tokio::time::Instant::now();
        let receipt = match self.models.receive(piece, now)? {
            Received::Wants(next_offset) => ModelReceipt {
                next_offset,
                stored: false,
            },
            Received::Stored => ModelReceipt {
                next_offset: size,
                stored: true,
            },
            Received::Whole(bytes) => {
                match checkpoint_epoch {
                    None => {
                        self.scheduler
                            .store_model(worker, lease, sha256.hex(), bytes)
                            .await?;
                    }
                    Some(epoch) => {
                        self.scheduler
                            .store_checkpoint(worker, lease, epoch, sha256, bytes)
                            .await?;
                    }
                }
                self.models.stored(lease, sha256, now);
                ModelReceipt {
                    next_offset: size,
                    stored: true,
                }
            }
        };
        Ok(Response::new(receipt.into()))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::DataChunk>, Status> {
        let worker = request.get_ref().worker_id;
        self.authenticate(&request, worker)?;
        let asked = CheckpointRequest::try_from(request.into_inner())?;
        let resume = self.scheduler.checkpoint_to_send(worker, asked.lease)?;
        let piece = self
            .checkpoints
            .piece(
                asked.lease,
                resume,
                asked.offset,
                tokio::time::Instant::now(),
            )
            .await?;
        Ok(Response::new(piece.into()))
    }

    async fn refuse_checkpoint(
        &self,
        request: Request<pb::RefuseCheckpointRequest>,
    ) -> Result<Response<pb::RefuseCheckpointReply>, Status> {
        let worker = request.get_ref().worker_id;
        self.authenticate(&request, worker)?;
        let refusal = CheckpointRefusal::try_from(request.into_inner())?;
        self.scheduler.refuse_checkpoint(refusal).await?;
        Ok(Response::new(pb::RefuseCheckpointReply {}))
    }

    type FetchDataStream = ReceiverStream<Result<pb::DataChunk, Status>>;

    async fn fetch_data(
        &self,
        request: Request<pb::FetchDataRequest>,
    ) -> Result<Response<Self::FetchDataStream>, Status> {
        self.authenticate(&request, request.get_ref().worker_id)?;
        // The download keeps its connection from counting as idle until it ends.
        let call = Peer::of(request.extensions()).map(Peer::call);
        let request = DataRequest::try_from(request.into_inner())?;
        let chunks = self.data.chunks(request)?;
        let turn = self.transfers.begin(request.worker_id).await?;
        tracing::info!(worker = request.worker_id, file = %request.sha256,
            offset = request.offset, "sending a data file");
        let what = format!("{} to worker {}", request.sha256, request.worker_id);
        Ok(Response::new(self.transfers.send(
            (turn, call),
            chunks,
            what,
        )))
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
        let peer = Peer::of(request.extensions()).cloned();
        let Some(expected) = &self.expected else {
            if let Some(peer) = peer {
                peer.authenticated();
            }
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
            Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => {
                if let Some(peer) = peer {
                    peer.authenticated();
                }
                Ok(request)
            }
            Some(_) => Err(Status::unauthenticated(
                "the token does not match the coordinator's",
            )),
        }
    }
}
