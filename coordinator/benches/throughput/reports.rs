//! The `reports` rows: clients speaking the worker protocol over gRPC to a real `hypersearch
//! serve` process. Every trial reports the curve 1/(step+1) for steps 0..19 (epochs 1..=20)
//! under the median rule, so every epoch is judged and none is stopped; then completes. Like
//! the worker, a client sends in one call the epochs it has ready: here all 20 at once.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hypersearch_proto::pb::coordinator_client::CoordinatorClient;
use hypersearch_proto::{
    Assignment, Completion, Epoch, LeaseGrant, LeaseRequest, Metrics, Outcome, Report, WorkerHello,
    pb,
};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::cluster::{branin_study, read_figures, serve, trouble};
use crate::table::{Row, load_average};

/// Epochs per trial, as in the peer.
pub const EPOCHS: u32 = 20;

/// Most slots one client (one connection) carries.
const SLOTS_PER_CLIENT: u32 = 8;

/// Counters the streams share.
#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    errors: AtomicU64,
    /// Some stream heard the study is finished: the coordinator may close while the
    /// others wait on a lease (a worker stops its other slots at this point).
    finished: AtomicBool,
}

impl Counts {
    fn failed(&self) {
        if !self.finished.load(Ordering::Acquire) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }
}

/// One `reports` row with `slots` concurrent trial streams.
pub async fn reports_row(
    bin: &Path,
    parent: &Path,
    slots: u32,
    trials: u64,
) -> Result<Row, String> {
    let load = load_average()[0];
    let study = branin_study(
        "reports",
        trials,
        slots,
        "\n[early_stopping]\nrule = \"median\"\n",
    );
    let (dir, config) = crate::cluster::study_dir(parent, "reports", &study)?;
    let db = tokio::task::block_in_place(|| crate::cluster::new_database(dir.path()))?;
    let wall = Instant::now();
    let (mut serve, address) = serve(bin, dir.path(), &config, &db)?;
    let counts = Arc::new(Counts::default());
    let clients = slots.div_ceil(SLOTS_PER_CLIENT).max(1);
    let mut streams = tokio::task::JoinSet::new();
    for c in 0..clients {
        let mine = SLOTS_PER_CLIENT.min(slots - c * SLOTS_PER_CLIENT);
        let channel = Endpoint::from_shared(address.clone())
            .map_err(|err| err.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|err| format!("cannot connect to {address}: {err}"))?;
        let mut joining = CoordinatorClient::new(channel.clone());
        let hello = WorkerHello {
            name: format!("bench-{c}"),
            hostname: "bench".into(),
            slots: mine,
            version: "bench".into(),
        };
        let welcome = joining
            .register(pb::RegisterRequest::from(hello))
            .await
            .map_err(|err| format!("register: {err}"))?
            .into_inner();
        let credential = AsciiMetadataValue::try_from(welcome.credential.as_str())
            .map_err(|err| format!("register: the credential is not ASCII: {err}"))?;
        let client = CoordinatorClient::with_interceptor(channel, Credential(credential));
        for _ in 0..mine {
            streams.spawn(stream(client.clone(), welcome.worker_id, counts.clone()));
        }
    }
    while streams.join_next().await.is_some() {}
    let mut errors = Vec::new();
    let ok = tokio::task::block_in_place(|| serve.wait(Duration::from_secs(60)))?;
    if !ok {
        errors.push(format!("serve failed:\n{}", serve.log_text()));
    }
    let wall = wall.elapsed().as_secs_f64();
    errors.extend(trouble(&serve.log_text()));
    let failed_calls = counts.errors.load(Ordering::Relaxed);
    if failed_calls > 0 {
        errors.push(format!("{failed_calls} calls failed"));
    }
    let figures = tokio::task::block_in_place(|| read_figures(&db))?;
    errors.extend(figures.problems(trials));
    let expected_epochs = trials * u64::from(EPOCHS);
    if figures.epochs != expected_epochs {
        errors.push(format!(
            "{} epochs recorded of {expected_epochs}",
            figures.epochs
        ));
    }
    Ok(Row {
        mode: "reports",
        slots,
        processes: clients,
        requested: trials,
        recorded: figures.terminal,
        seconds: figures.span,
        wall_seconds: wall,
        reports: figures.epochs,
        report_calls: counts.calls.load(Ordering::Relaxed),
        cpu_ms_per_trial: None,
        errors: errors.len() as u64,
        error_kinds: errors,
        load,
        best_ms: None,
    })
}

/// Adds the worker's credential to every call.
#[derive(Clone)]
struct Credential(AsciiMetadataValue);

impl tonic::service::Interceptor for Credential {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert(hypersearch_proto::auth::WORKER_CREDENTIAL, self.0.clone());
        Ok(request)
    }
}

/// A client speaking as one registered worker.
type Client = CoordinatorClient<InterceptedService<Channel, Credential>>;

/// The curve every trial reports.
fn curve() -> Vec<Epoch> {
    (1..=EPOCHS)
        .map(|epoch| Epoch {
            epoch,
            metrics: Metrics::from([("value".to_string(), 1.0 / f64::from(epoch))]),
        })
        .collect()
}

/// One slot: lease, report the curve, complete asking for the next trial, until the study
/// is finished.
async fn stream(mut client: Client, worker_id: u64, counts: Arc<Counts>) {
    let curve = curve();
    let mut next: Vec<Assignment> = Vec::new();
    loop {
        let Some(assignment) = next.pop() else {
            let request = LeaseRequest {
                worker_id,
                max_trials: 1,
                wait_ms: 1000,
            };
            let reply = client.lease(pb::LeaseRequest::from(request)).await;
            match granted(reply, &counts) {
                Some(trials) => next = trials,
                None => return,
            }
            continue;
        };
        let report = Report {
            worker_id,
            lease: assignment.lease,
            epochs: curve.clone(),
        };
        counts.calls.fetch_add(1, Ordering::Relaxed);
        let stopped = match client.report(pb::ReportRequest::from(report)).await {
            Ok(reply) => reply.into_inner().stop.is_some(),
            Err(_) => {
                counts.failed();
                return;
            }
        };
        let outcome = if stopped {
            Outcome::Pruned
        } else {
            Outcome::Finished(Metrics::from([(
                "value".to_string(),
                1.0 / f64::from(EPOCHS),
            )]))
        };
        let completion = Completion {
            worker_id,
            lease: assignment.lease,
            outcome,
            next_max_trials: 1,
        };
        let reply = client.complete(pb::CompleteRequest::from(completion)).await;
        match granted(reply, &counts) {
            Some(trials) => next = trials,
            None => return,
        }
    }
}

/// The trials a lease or completion reply grants; `None` when the stream ends (the study is
/// finished, or the call failed: counted in `counts`).
fn granted<T>(
    reply: Result<tonic::Response<T>, tonic::Status>,
    counts: &Counts,
) -> Option<Vec<Assignment>>
where
    LeaseGrant: TryFrom<T>,
{
    match reply.map(|reply| LeaseGrant::try_from(reply.into_inner())) {
        Ok(Ok(LeaseGrant::Trials(trials))) => Some(trials),
        Ok(Ok(LeaseGrant::StudyFinished)) => {
            counts.finish();
            None
        }
        Ok(Err(_)) | Err(_) => {
            counts.failed();
            None
        }
    }
}
