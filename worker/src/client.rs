//! The worker's side of the protocol: typed calls that speak domain types, carry the token,
//! and ride out short coordinator outages (retrying with jittered backoff, which is safe
//! because every call is idempotent on the coordinator's side or harmless to repeat).

use std::time::Duration;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use hypersearch_proto::auth::{AUTHORIZATION, WORKER_CREDENTIAL, bearer};
use hypersearch_proto::data_transfer::DataRequest;
use hypersearch_proto::model_transfer::{
    CheckpointRefusal, CheckpointRequest, ModelPiece, ModelReceipt,
};
use hypersearch_proto::pb::coordinator_client::CoordinatorClient;
use hypersearch_proto::{
    Completion, Heartbeat, LeaseGrant, LeaseId, LeaseRequest, MAX_MESSAGE_BYTES, REFUSAL_KEY,
    Report, StopDecision, UNKNOWN_WORKER, Welcome, WorkerHello, pb,
};
use tonic::Code;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Call, Error};
use crate::tls::ClientTls;

/// Adds the bearer token to every request.
#[derive(Clone)]
struct AddToken(Option<AsciiMetadataValue>);

impl tonic::service::Interceptor for AddToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert(AUTHORIZATION, token.clone());
        }
        Ok(request)
    }
}

/// Why a call failed, as the worker acts on it.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The lease named is no longer this worker's: abandon the trial.
    LeaseLost(String),
    /// The coordinator has no record of this worker: join again.
    Unregistered(String),
    /// The coordinator refused a trial's report or completion as invalid (a message it
    /// cannot take, such as metrics past the protocol's limits): end that trial only.
    TrialRefused(String),
    /// The worker cannot go on.
    Fatal(Error),
}

/// A connection to the coordinator.
#[derive(Clone)]
pub(crate) struct Client {
    url: String,
    inner: CoordinatorClient<InterceptedService<Channel, AddToken>>,
    /// How long the coordinator may stay unreachable before the worker gives up.
    patience: Duration,
    jitter_seed: u64,
    /// What to check when the connection breaks in a way a TLS mismatch causes.
    tls_hint: &'static str,
    /// The credential the coordinator handed each worker id this client joined as.
    credentials: Arc<Mutex<HashMap<u64, AsciiMetadataValue>>>,
}

/// How long a coordinator may stay silent before a retrying worker says so.
const SILENCE_ANNOUNCED_AFTER: Duration = Duration::from_secs(5);

impl Client {
    /// A client for `url` (over TLS for `https://`); connects on first use.
    pub fn new(
        url: &str,
        token: Option<&str>,
        tls: Option<&ClientTls>,
        patience: Duration,
    ) -> Result<Client, Error> {
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|err| Error::InvalidUrl {
                url: url.to_string(),
                reason: err.to_string(),
            })?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(20));
        if endpoint.uri().host().is_none() {
            return Err(Error::InvalidUrl {
                url: url.to_string(),
                reason: "expected http://HOST:PORT or https://HOST:PORT".into(),
            });
        }
        match (endpoint.uri().scheme_str(), tls) {
            (Some("https"), tls) => {
                let config = tls.cloned().unwrap_or_default().config();
                endpoint = endpoint
                    .tls_config(config)
                    .map_err(|err| Error::InvalidUrl {
                        url: url.to_string(),
                        reason: format!("cannot set up TLS: {err}"),
                    })?;
            }
            (Some("http"), Some(_)) => {
                return Err(Error::InvalidUrl {
                    url: url.to_string(),
                    reason: "TLS options were given: use an https:// address".into(),
                });
            }
            (Some("http"), None) => {}
            _ => {
                return Err(Error::InvalidUrl {
                    url: url.to_string(),
                    reason: "expected http://HOST:PORT or https://HOST:PORT".into(),
                });
            }
        }
        let token = token
            .map(|token| MetadataValue::try_from(bearer(token)).map_err(|_| Error::InvalidToken))
            .transpose()?;
        let channel = endpoint.connect_lazy();
        let inner = CoordinatorClient::with_interceptor(channel, AddToken(token))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Client {
            url: url.to_string(),
            inner,
            patience,
            jitter_seed: u64::from(std::process::id()),
            credentials: Arc::default(),
            tls_hint: match (url.starts_with("https://"), tls) {
                (false, _) => " (if the coordinator serves TLS, use an https:// address)",
                (true, Some(tls)) if tls.has_identity() => {
                    " (if the coordinator requires worker certificates, is this worker's \
                     certificate signed by its --tls-client-ca?)"
                }
                (true, _) => {
                    " (if the coordinator requires worker certificates, pass --tls-cert and \
                     --tls-key)"
                }
            },
        })
    }

    /// The TLS hint for a connection that broke with `detail`: a plaintext client talking to
    /// a TLS port sees an HTTP/2 protocol error or the connection closed; a worker without
    /// the certificate a coordinator requires sees the connection closed or a broken pipe.
    fn hint_for(&self, detail: &str) -> &'static str {
        let broken = [
            "h2 protocol error",
            "connection closed",
            "broken pipe",
            "connection reset",
        ];
        if broken.iter().any(|words| detail.contains(words)) {
            self.tls_hint
        } else {
            ""
        }
    }

    /// The coordinator's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What the worker does about a call that failed with `status`: `Err` gives the status
    /// back when the call is worth retrying.
    fn classify(&self, call: Call, status: tonic::Status) -> Result<CallError, tonic::Status> {
        if refused_by_going_away(&status) {
            // The call crossed the coordinator's announcement that it is closing (the end of
            // the study, a restart): it was never processed, and another slot may already
            // know why.
            return Err(status);
        }
        match status.code() {
            Code::Unauthenticated | Code::PermissionDenied => {
                Ok(CallError::Fatal(Error::Refused {
                    url: self.url.clone(),
                    detail: status.message().to_string(),
                }))
            }
            Code::FailedPrecondition
                if status
                    .metadata()
                    .get(REFUSAL_KEY)
                    .is_some_and(|v| v.as_bytes() == UNKNOWN_WORKER.as_bytes()) =>
            {
                Ok(CallError::Unregistered(status.message().to_string()))
            }
            Code::FailedPrecondition => Ok(CallError::LeaseLost(status.message().to_string())),
            Code::InvalidArgument | Code::OutOfRange
                if matches!(
                    call,
                    Call::Report
                        | Call::Complete
                        | Call::PutModel
                        | Call::GetCheckpoint
                        | Call::RefuseCheckpoint
                ) =>
            {
                Ok(CallError::TrialRefused(status.message().to_string()))
            }
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
            | Code::ResourceExhausted
            | Code::Aborted => Err(status),
            _ => Ok(CallError::Fatal(Error::Rejected {
                url: self.url.clone(),
                call,
                detail: format!("{}{}", status.message(), self.hint_for(status.message())),
            })),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the coordinator has been
    /// unreachable for longer than the worker's patience. A call the coordinator refuses as
    /// too fast (`RESOURCE_EXHAUSTED`) is retried with backoff for as long as it answers.
    async fn call<T, F, Fut>(&self, call: Call, mut attempt: F) -> Result<T, CallError>
    where
        F: FnMut(CoordinatorClient<InterceptedService<Channel, AddToken>>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut give_up = tokio::time::Instant::now() + self.patience;
        let mut throttled = false;
        let mut unreachable_said = false;
        let started = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(50);
        let mut draw =
            self.jitter_seed ^ (call.name().len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        loop {
            let status = match attempt(self.inner.clone()).await {
                Ok(response) => {
                    if unreachable_said {
                        tracing::info!(
                            call = call.name(),
                            "the coordinator answers again, after {:.0} s",
                            started.elapsed().as_secs_f64()
                        );
                    }
                    return Ok(response.into_inner());
                }
                Err(status) => status,
            };
            if let Some(detail) = tls_failure(&status) {
                // A certificate problem does not go away by waiting.
                return Err(CallError::Fatal(Error::Tls {
                    url: self.url.clone(),
                    detail,
                }));
            }
            let status = match self.classify(call, status) {
                Ok(err) => return Err(err),
                Err(status) => status,
            };
            let now = tokio::time::Instant::now();
            if status.code() == Code::ResourceExhausted {
                // The coordinator answered: it is reachable, only busy or bounding this
                // worker. Wait it out (patience counts silence, not refusals).
                if !throttled {
                    tracing::warn!(call = call.name(), reason = %status.message(), "the coordinator asks this worker to slow down");
                    throttled = true;
                }
                give_up = now + self.patience;
            }
            if now >= give_up {
                return Err(CallError::Fatal(Error::Unreachable {
                    url: self.url.clone(),
                    detail: {
                        let detail = transport_detail(&status);
                        format!("{detail}{}", self.hint_for(&detail))
                    },
                }));
            }
            if !unreachable_said
                && status.code() != Code::ResourceExhausted
                && now >= started + SILENCE_ANNOUNCED_AFTER
            {
                // A worker waiting on a coordinator that is starting or restarting says so
                // once, rather than staying silent for its whole patience.
                tracing::warn!(
                    call = call.name(),
                    url = %self.url,
                    reason = %transport_detail(&status),
                    "the coordinator has not answered for {:.0} s; still retrying (this worker \
                     gives up after {:.0} s of silence, --patience-seconds)",
                    now.duration_since(started).as_secs_f64(),
                    self.patience.as_secs_f64()
                );
                unreachable_said = true;
            }
            tracing::debug!(call = call.name(), status = %status.message(), "coordinator unavailable; retrying");
            // Jitter from a per-process sequence keeps many workers from retrying in step.
            draw ^= draw << 13;
            draw ^= draw >> 7;
            draw ^= draw << 17;
            let jitter = Duration::from_millis(draw % (backoff.as_millis() as u64 + 1));
            tokio::time::sleep((backoff + jitter).min(give_up - now)).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Joins the study.
    pub async fn register(&self, hello: WorkerHello) -> Result<Welcome, CallError> {
        let request = pb::RegisterRequest::from(hello);
        let reply = self
            .call(Call::Register, |mut c| {
                let request = request.clone();
                async move { c.register(request).await }
            })
            .await?;
        let welcome =
            Welcome::try_from(reply).map_err(|err| self.bad_reply(Call::Register, err))?;
        let credential = AsciiMetadataValue::try_from(welcome.credential.as_str())
            .map_err(|_| self.bad_reply_text(Call::Register, "the credential is not ASCII"))?;
        self.credentials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(welcome.worker_id, credential);
        Ok(welcome)
    }

    /// `message` as a request of `worker`, carrying its credential.
    fn as_worker<T>(&self, worker: u64, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let credentials = self
            .credentials
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(credential) = credentials.get(&worker) {
            request
                .metadata_mut()
                .insert(WORKER_CREDENTIAL, credential.clone());
        }
        request
    }

    /// Asks for trials, waiting up to `request.wait_ms`.
    pub async fn lease(&self, request: LeaseRequest) -> Result<LeaseGrant, CallError> {
        let wait = Duration::from_millis(u64::from(request.wait_ms));
        let request = pb::LeaseRequest::from(request);
        let reply = self
            .call(Call::Lease, |mut c| {
                let mut request = self.as_worker(request.worker_id, request);
                request.set_timeout(wait + Duration::from_secs(10));
                async move { c.lease(request).await }
            })
            .await?;
        LeaseGrant::try_from(reply).map_err(|err| self.bad_reply(Call::Lease, err))
    }

    /// Reports epochs; returns the stop decision, if any.
    pub async fn report(&self, report: Report) -> Result<Option<StopDecision>, CallError> {
        let request = pb::ReportRequest::from(report);
        let reply = self
            .call(Call::Report, |mut c| {
                let request = self.as_worker(request.worker_id, request.clone());
                async move { c.report(request).await }
            })
            .await?;
        Ok(reply.stop.map(Into::into))
    }

    /// Reports how an attempt ended; returns once the coordinator recorded it, with the
    /// next trials when the completion asked for them.
    pub async fn complete(&self, completion: Completion) -> Result<LeaseGrant, CallError> {
        let request = pb::CompleteRequest::from(completion);
        let reply = self
            .call(Call::Complete, |mut c| {
                let request = self.as_worker(request.worker_id, request.clone());
                async move { c.complete(request).await }
            })
            .await?;
        LeaseGrant::try_from(reply).map_err(|err| self.bad_reply(Call::Complete, err))
    }

    /// Renews the leases; returns those the worker no longer holds.
    pub async fn heartbeat(&self, heartbeat: Heartbeat) -> Result<Vec<LeaseId>, CallError> {
        let request = pb::HeartbeatRequest::from(heartbeat);
        let reply = self
            .call(Call::Heartbeat, |mut c| {
                let request = self.as_worker(request.worker_id, request.clone());
                async move { c.heartbeat(request).await }
            })
            .await?;
        Vec::<LeaseId>::try_from(reply).map_err(|err| self.bad_reply(Call::Heartbeat, err))
    }

    /// Starts streaming (the rest of) a data file.
    pub async fn fetch_data(
        &self,
        request: DataRequest,
    ) -> Result<tonic::Streaming<pb::DataChunk>, CallError> {
        let request = pb::FetchDataRequest::from(request);
        self.call(Call::FetchData, |mut c| {
            let request = self.as_worker(request.worker_id, request.clone());
            async move { c.fetch_data(request).await }
        })
        .await
    }

    /// Sends one piece of a finished trial's trained network; the coordinator's answer says
    /// which offset it wants next and whether the whole is stored.
    pub async fn put_model(&self, piece: ModelPiece) -> Result<ModelReceipt, CallError> {
        let request = pb::PutModelRequest::from(piece);
        let reply = self
            .call(Call::PutModel, |mut c| {
                let request = self.as_worker(request.worker_id, request.clone());
                async move { c.put_model(request).await }
            })
            .await?;
        Ok(ModelReceipt::from(reply))
    }

    /// One piece of the checkpoint a resumed attempt goes on from.
    pub async fn get_checkpoint(
        &self,
        request: CheckpointRequest,
    ) -> Result<hypersearch_proto::data_transfer::DataChunk, CallError> {
        let request = pb::GetCheckpointRequest::from(request);
        let reply = self
            .call(Call::GetCheckpoint, |mut c| {
                let request = self.as_worker(request.worker_id, request);
                async move { c.get_checkpoint(request).await }
            })
            .await?;
        hypersearch_proto::data_transfer::DataChunk::try_from(reply)
            .map_err(|err| self.bad_reply(Call::GetCheckpoint, err))
    }

    /// Tells the coordinator a resumed attempt cannot use its checkpoint.
    pub async fn refuse_checkpoint(&self, refusal: CheckpointRefusal) -> Result<(), CallError> {
        let request = pb::RefuseCheckpointRequest::from(refusal);
        self.call(Call::RefuseCheckpoint, |mut c| {
            let request = self.as_worker(request.worker_id, request.clone());
            async move { c.refuse_checkpoint(request).await }
        })
        .await?;
        Ok(())
    }

    /// An operator's steer of one worker: its state and running trials afterwards.
    pub async fn steer_worker(
        &self,
        request: pb::SteerWorkerRequest,
    ) -> Result<pb::SteerWorkerReply, CallError> {
        self.call(Call::SteerWorker, |mut c| async move {
            c.steer_worker(request).await
        })
        .await
    }

    fn bad_reply(&self, call: Call, err: hypersearch_proto::ConvertError) -> CallError {
        self.bad_reply_text(call, &err.to_string())
    }

    fn bad_reply_text(&self, call: Call, problem: &str) -> CallError {
        CallError::Fatal(Error::Rejected {
            url: self.url.clone(),
            call,
            detail: format!("malformed reply: {problem}"),
        })
    }
}

/// The most useful words of a transport failure ("connection refused" rather than
/// "transport error").
pub(crate) fn transport_detail(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut detail = status.message().to_string();
    let mut source = status.source();
    while let Some(err) = source {
        detail = err.to_string();
        source = err.source();
    }
    detail
}

/// The TLS failure behind a failed call, if it is one (a certificate the worker does not
/// trust, a coordinator that wants a client certificate, a peer that does not speak TLS).
pub(crate) fn tls_failure(status: &tonic::Status) -> Option<String> {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = status.source();
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // tokio-rustls wraps rustls's error in an io::Error, whose `source` skips it.
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(tls.to_string());
        }
        source = err.source();
    }
    // After the handshake, HTTP/2 keeps only the text of an I/O error: rustls's words for an
    // alert the coordinator sent (e.g. it requires a client certificate) still say it.
    let detail = transport_detail(status);
    detail
        .starts_with("received fatal alert: ")
        .then_some(detail)
}

/// Whether `status` is a call the coordinator never processed because it was closing its
/// connection gracefully (HTTP/2 GOAWAY without an error; tonic reports it as `Internal`).
fn refused_by_going_away(status: &tonic::Status) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = status.source();
    while let Some(err) = source {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR);
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::new("http://127.0.0.1:9", None, None, Duration::from_secs(1)).unwrap()
    }

    fn kind(call: Call, status: tonic::Status) -> &'static str {
        match client().classify(call, status) {
            Ok(CallError::TrialRefused(_)) => "trial",
            Ok(CallError::Fatal(_)) => "fatal",
            Ok(CallError::LeaseLost(_)) => "lease",
            Ok(CallError::Unregistered(_)) => "unregistered",
            Err(_) => "retry",
        }
    }

    /// A report or completion refused as invalid ends that trial only; a bad token, or an
    /// invalid registration or lease request, ends the worker.
    #[tokio::test]
    async fn invalid_reports_and_completions_end_the_trial_only() {
        for call in [Call::Report, Call::Complete] {
            assert_eq!(kind(call, tonic::Status::invalid_argument("x")), "trial");
            assert_eq!(kind(call, tonic::Status::out_of_range("x")), "trial");
            assert_eq!(kind(call, tonic::Status::unauthenticated("x")), "fatal");
            assert_eq!(kind(call, tonic::Status::permission_denied("x")), "fatal");
            assert_eq!(kind(call, tonic::Status::failed_precondition("x")), "lease");
            assert_eq!(kind(call, tonic::Status::unavailable("x")), "retry");
        }
        for call in [Call::Register, Call::Lease, Call::Heartbeat] {
            assert_eq!(kind(call, tonic::Status::invalid_argument("x")), "fatal");
            assert_eq!(kind(call, tonic::Status::out_of_range("x")), "fatal");
        }
    }

    /// An HTTP/2 peer that reads nothing and, after its settings, announces it is closing
    /// before any stream (GOAWAY, last stream 0, NO_ERROR), as a coordinator ending its study
    /// does to a call that crosses its shutdown.
    async fn closing_peer() -> String {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let settings = [0, 0, 0, 4, 0, 0, 0, 0, 0];
                let go_away = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                let _ = stream.write_all(&settings).await;
                let _ = stream.write_all(&go_away).await;
                open.push(stream);
            }
        });
        format!("http://{address}")
    }

    /// A call refused by a coordinator that is closing is retried (here until the worker's
    /// patience runs out), not taken as the coordinator rejecting the worker.
    #[tokio::test]
    async fn a_call_crossing_a_graceful_shutdown_is_retried_not_rejected() {
        let url = closing_peer().await;
        let client = Client::new(&url, None, None, Duration::from_secs(1)).unwrap();
        let request = LeaseRequest {
            worker_id: 1,
            max_trials: 1,
            wait_ms: 0,
        };
        match client.lease(request).await {
            Err(CallError::Fatal(Error::Unreachable { .. })) => {}
            Err(CallError::Fatal(err)) => panic!("fatal at once: {err}"),
            other => panic!("{:?}", other.map(|_| ()).err().map(|e| format!("{e:?}"))),
        }
    }
}
