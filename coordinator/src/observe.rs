//! What an operator watches: the standard gRPC health service on the coordinator's port
//! (`SERVING` while it leases trials, `NOT_SERVING` once it stops), and, when asked for, a
//! plain-HTTP port with `/healthz` (the process answers), `/readyz` (it serves trials) and
//! Prometheus `/metrics`:
//!
//! - `hypersearch_trials{state}`: trials by state (queued, running, complete, pruned, failed);
//! - `hypersearch_trials_ended_total{outcome}`: trials that ended, by outcome;
//! - `hypersearch_lease_expirations_total`: leases that expired (workers lost);
//! - `hypersearch_workers` and `hypersearch_worker_slots`: workers heard from lately, and
//!   their slots;
//! - `hypersearch_store_commit_duration_seconds`: the store's commits (a histogram);
//! - `grpc_server_handled_total{grpc_method, grpc_code}`: gRPC calls answered, by outcome.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::scheduler::Progress;

const COMMIT_SECONDS: &str = "hypersearch_store_commit_duration_seconds";

/// The process's Prometheus recorder, installed on first use (once per process: a second
/// coordinator in the same process shares it).
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(COMMIT_SECONDS.into()), &buckets)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("hypersearch_trials", "Trials of the study by state.");
    describe_counter!(
        "hypersearch_trials_ended_total",
        "Trials that ended, by outcome."
    );
    describe_counter!(
        "hypersearch_lease_expirations_total",
        "Leases that expired without a sign of life from their worker."
    );
    describe_gauge!(
        "hypersearch_workers",
        "Workers heard from within three leases."
    );
    describe_gauge!("hypersearch_worker_slots", "Slots of those workers.");
    describe_histogram!(
        COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "Time to commit one round of writes to the store."
    );
    describe_counter!(
        "grpc_server_handled_total",
        "gRPC calls answered, by method and status code."
    );
}

/// Records one commit of the store.
pub(crate) fn commit_took(took: Duration) {
    metrics::histogram!(COMMIT_SECONDS).record(took.as_secs_f64());
}

/// Records a lease that expired.
pub(crate) fn lease_expired() {
    metrics::counter!("hypersearch_lease_expirations_total").increment(1);
}

/// Records a gRPC call answered with `code` (the `grpc-status` number).
pub(crate) fn call_answered(method: &str, code: i32) {
    metrics::counter!(
        "grpc_server_handled_total",
        "grpc_method" => method.to_string(),
        "grpc_code" => code_name(tonic::Code::from_i32(code)),
    )
    .increment(1);
}

/// The canonical name of a status code (`OK`, `INVALID_ARGUMENT`, ...), as gRPC's own
/// metrics label it.
fn code_name(code: tonic::Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// Keeps the study's gauges and counters equal to `progress` as it changes.
pub(crate) async fn follow(mut progress: watch::Receiver<Progress>) {
    loop {
        let now = *progress.borrow_and_update();
        for (state, count) in [
            ("queued", now.queued),
            ("running", now.running),
            ("complete", now.complete),
            ("pruned", now.pruned),
            ("failed", now.failed),
        ] {
            metrics::gauge!("hypersearch_trials", "state" => state).set(count as f64);
        }
        for (outcome, count) in [
            ("complete", now.complete),
            ("pruned", now.pruned),
            ("failed", now.failed),
        ] {
            metrics::counter!("hypersearch_trials_ended_total", "outcome" => outcome)
                .absolute(count);
        }
        if progress.changed().await.is_err() {
            return;
        }
    }
}

/// Sets the workers' gauges.
pub(crate) fn workers(workers: usize, slots: u64) {
    metrics::gauge!("hypersearch_workers").set(workers as f64);
    metrics::gauge!("hypersearch_worker_slots").set(slots as f64);
}

/// Whether the coordinator serves trials now (for `/readyz` and the gRPC health service).
#[derive(Clone, Default)]
pub(crate) struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks it serving or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

type Answer = hyper::Response<Full<Bytes>>;

fn answer(status: u16, content_type: &str, body: String) -> Answer {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn route(path: &str, ready: &Readiness) -> Answer {
    const TEXT: &str = "text/plain; charset=utf-8";
    match path {
        "/healthz" => answer(200, TEXT, "ok\n".into()),
        "/readyz" if ready.get() => answer(200, TEXT, "ready\n".into()),
        "/readyz" => answer(503, TEXT, "not serving trials\n".into()),
        "/metrics" => match handle() {
            Some(handle) => answer(200, "text/plain; version=0.0.4", handle.render()),
            None => answer(503, TEXT, "metrics are not available\n".into()),
        },
        _ => answer(404, TEXT, "try /healthz, /readyz or /metrics\n".into()),
    }
}

/// Installs the metrics recorder; call before the study starts so that nothing is missed.
pub(crate) fn start_recording() {
    let _ = handle();
}

/// Serves `/healthz`, `/readyz` and `/metrics` on `listener` until `stop` is raised.
pub(crate) async fn serve_http(
    listener: TcpListener,
    ready: Readiness,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let ready = ready.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let response = route(request.uri().path(), &ready);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            // A slow or silent client gets ten seconds, not a task forever.
            let _ = tokio::time::timeout(Duration::from_secs(10), connection).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_named_as_grpc_names_them() {
        assert_eq!(code_name(tonic::Code::Ok), "OK");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(
            code_name(tonic::Code::ResourceExhausted),
            "RESOURCE_EXHAUSTED"
        );
    }

    #[test]
    fn readiness_decides_readyz_and_unknown_paths_are_404() {
        let ready = Readiness::default();
        assert_eq!(route("/readyz", &ready).status(), 503);
        ready.set(true);
        assert_eq!(route("/readyz", &ready).status(), 200);
        assert_eq!(route("/healthz", &ready).status(), 200);
        assert_eq!(route("/", &ready).status(), 404);
    }
}
