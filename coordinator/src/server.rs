//! [`Coordinator`]: opens (or resumes) a study in its database and serves it to workers
//! until every trial is over.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hypersearch_proto::{Direction, MAX_MESSAGE_BYTES, Objective, StudyInfo, pb};
use hypersearch_search::{Algorithm, StudyConfig, make_pruner, make_sampler};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;

use crate::Error;
use crate::checkpoint_reads::CheckpointReads;
use crate::connections::{ConnectionLimits, TrackCalls, incoming};
use crate::limits::ReportLimiter;
use crate::model_uploads::{self, ModelUploads};
use crate::observe::{self, Readiness};
use crate::scheduler::{Parts, Progress, Rules, Scheduler};
use crate::served_files::ServedFiles;
use crate::service::{Service, TokenCheck};
use crate::store::{self, Location, StudyDefinition, WriteOp, Writer};
use crate::tls::ServerTls;
use crate::transfer::{TransferLimits, Transfers};
use crate::workers::{JoinLimits, Registry};
use tonic_health::ServingStatus;

/// How long the coordinator keeps answering after the study ends, so that every worker
/// hears "study finished" instead of finding the port closed.
const DRAIN: Duration = Duration::from_secs(2);

/// How long the coordinator waits, once it stops serving, for clients to close their
/// connections before it closes them.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// How long a coordinator asked to stop answers `NOT_SERVING` before it closes its port.
const NOT_SERVING_GRACE: Duration = Duration::from_secs(2);

/// The coordinator's service, as the gRPC health service names it.
const SERVICE_NAME: &str = "hypersearch.v1.Coordinator";

/// Keeps the workers' gauges current until `closed` is raised.
async fn watch_workers(workers: Arc<Registry>, mut closed: watch::Receiver<bool>) {
    loop {
        let (count, slots) = workers.recent(tokio::time::Instant::now());
        observe::workers(count, slots);
        tokio::select! {
            _ = closed.wait_for(|closed| *closed) => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// How often the coordinator pings an HTTP/2 connection without traffic, and how long it
/// waits for the answer before it drops a dead peer.
const KEEPALIVE: Duration = Duration::from_secs(20);

/// Settings of the coordinator that are not part of the study.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// How long a lease lasts without a heartbeat or report (default 10 s). A lost worker's
    /// trial is retried about this long after its last sign of life.
    pub lease: Duration,
    /// Serve over TLS with this identity (and, if it has a client CA, require worker
    /// certificates); plaintext when `None` (the default).
    pub tls: Option<ServerTls>,
    /// Metric values a second each worker may report per trial it runs (at least one),
    /// with a burst of one second's worth (default 10,000); faster reports are answered
    /// `RESOURCE_EXHAUSTED`.
    pub report_rate: f64,
    /// The bounds on workers joining.
    pub join: JoinLimits,
    /// The bounds on data transfers.
    pub transfers: TransferLimits,
    /// The bounds on connections.
    pub connections: ConnectionLimits,
    /// Metric values the study may store in all (default 100 million, a few GB): past it,
    /// reports are refused and the trials sending them fail with the reason.
    pub max_stored_values: u64,
    /// The files of the study's data set, which workers that lack them fetch from the
    /// coordinator (default none). They are opened and hashed when the study opens.
    pub data_files: Vec<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lease: Duration::from_secs(10),
            tls: None,
            report_rate: 10_000.0,
            join: JoinLimits::default(),
            transfers: TransferLimits::default(),
            connections: ConnectionLimits::default(),
            max_stored_values: 100_000_000,
            data_files: Vec::new(),
        }
    }
}

/// A study opened in its database, ready to serve.
pub struct Coordinator {
    scheduler: Arc<Scheduler>,
    writer: Writer,
    /// The stored checkpoints retries resume from, read back in pieces.
    checkpoint_reads: Arc<CheckpointReads>,
    resumed: bool,
    data: Arc<ServedFiles>,
    tls: Option<ServerTls>,
    report_rate: f64,
    workers: Arc<Registry>,
    transfer_limits: TransferLimits,
    connections: ConnectionLimits,
    /// Held while the coordinator lives: no second one serves the same database.
    _lock: store::lock::CoordinatorLock,
    /// Where to serve `/healthz`, `/readyz` and `/metrics`, if anywhere.
    metrics: Option<TcpListener>,
    /// Whether to go on serving once the study is finished, until asked to stop.
    keep_serving: bool,
    /// The trial budget the study had before this run changed it, if it did.
    budget_before: Option<u64>,
    /// The name a study of the same name with only failed trials was given, if one was.
    set_aside: Option<String>,
}

/// How a study already in the database is taken up.
enum Resume {
    /// It is new.
    New,
    /// It resumes; its budget before this run.
    Resumes(u64),
    /// It had no successful trial and its definition changed: it was renamed to this, and
    /// the study starts anew.
    SetAside(String),
}

/// Checks that the study of `definition`, if `db` has it already under a different text,
/// differs only in what a resume may change; then stores the new text and budget. A study
/// none of whose trials succeeded (every one failed: a typo) is set aside instead of
/// refused when its definition changed.
async fn resumable(
    conn: &mut sqlx::AnyConnection,
    config: &StudyConfig,
    definition: &StudyDefinition,
    db: &Location,
) -> Result<Resume, Error> {
    let Some(stored) = store::stored_definition(conn, &definition.name).await? else {
        return Ok(Resume::New);
    };
    if stored.config == definition.config {
        return Ok(Resume::Resumes(stored.budget));
    }
    let differences = match StudyConfig::from_toml_str(&stored.config, &config.origin) {
        Ok(before) => config.differences_from(&before),
        Err(err) => vec![format!(
            "the stored study file no longer parses ({err}), so nothing can be compared"
        )],
    };
    if !differences.is_empty() && store::retire::nothing_succeeded(conn, &definition.name).await? {
        let aside = store::retire::set_aside(conn, &definition.name).await?;
        return Ok(Resume::SetAside(aside));
    }
    if !differences.is_empty() {
        return Err(Error::StudyChanged {
            name: definition.name.clone(),
            database: db.to_string(),
            differences,
        });
    }
    if definition.budget < stored.trials {
        return Err(Error::BudgetBelowTrials {
            name: definition.name.clone(),
            trials: stored.trials,
            budget: definition.budget,
        });
    }
    store::redefine(conn, definition).await?;
    Ok(Resume::Resumes(stored.budget))
}

/// Trials sampled ahead of the `parallel` running ones. A sampler that ignores the history
/// (random, grid) samples a whole round ahead, so a worker that finishes finds its next
/// trial waiting. A model-based one samples none ahead: a trial sampled ahead is proposed
/// knowing fewer results, with more trials in flight than `parallel` says, and the
/// benchmarks measure the samplers with exactly `parallel − 1` others running. With `bayes`
/// at `parallel = 8`, sampling 2 ahead made branin's median final regret 7.7e-5 instead of
/// 3.2e-6 (10 seeds through `hypersearch run`), and a study with `parallel = 1` (1 ahead) was
/// not sequential (TPE's hartmann6 0.17 instead of 0.027). The cost: a slot whose trial ends
/// waits for the next suggestion, its insert and the lease's round trip (about 10 ms with
/// TPE, plus the suggestion's time with `bayes`).
pub(crate) fn prefetch(algorithm: Algorithm, parallel: u32) -> u32 {
    match algorithm {
        Algorithm::Random | Algorithm::Grid => parallel,
        Algorithm::Tpe | Algorithm::Bayes | Algorithm::Evolution => 0,
    }
}

fn direction(config: &StudyConfig) -> Direction {
    match config.direction {
        hypersearch_search::Direction::Minimize => Direction::Minimize,
        hypersearch_search::Direction::Maximize => Direction::Maximize,
    }
}

impl Coordinator {
    /// Opens `db` (creating it and applying migrations as needed) and creates the study of
    /// `config`, or resumes it if the database has a study of that name with the same
    /// `config_text`.
    pub async fn open(
        config: &StudyConfig,
        config_text: &str,
        db: &Location,
        options: &Options,
    ) -> Result<Coordinator, Error> {
        let paths = options.data_files.clone();
        let data = tokio::task::spawn_blocking(move || ServedFiles::open(&paths))
            .await
            .map_err(|err| {
                Error::StudyStopped(format!("hashing the data files failed: {err}"))
            })??;
        let mut conn = store::open_for_writing(db).await?;
        let definition = StudyDefinition {
            name: config.name.clone(),
            metric: config.metric.clone(),
            direction: direction(config),
            algorithm: config.search.algorithm.name().to_string(),
            budget: config.search.trials,
            config: config_text.to_string(),
            objective_metrics: if config.objectives.is_multi() {
                config
                    .objectives
                    .goals
                    .iter()
                    .map(|g| g.metric.clone())
                    .collect()
            } else {
                Vec::new()
            },
        };
        // Locked before anything of the study is read or changes: a second coordinator is
        // refused before it could redefine or set aside the study.
        let lock = store::lock::lock(db, &config.name).await?;
        let (budget_before, set_aside) = match resumable(&mut conn, config, &definition, db).await?
        {
            Resume::New => (None, None),
            Resume::Resumes(budget) => (Some(budget), None),
            Resume::SetAside(name) => (None, Some(name)),
        };
        let stored = store::create_or_resume(&mut conn, &definition, &db.to_string()).await?;
        let resumed = stored.resumed;
        let workers = Registry::new(
            options.join,
            options.lease,
            &stored.workers,
            tokio::time::Instant::now(),
        );
        let trial_ids = stored.trials.iter().map(|t| (t.number, t.id)).collect();
        // The writer opens its own connection; this one only migrated and loaded.
        sqlx::Connection::close(conn)
            .await
            .map_err(|err| Error::database("close the loading connection", err))?;
        let writer = Writer::open_at(db, stored.id, trial_ids).await?;
        let checkpoint_reads = CheckpointReads::new(db.clone(), stored.id);
        let sampler = make_sampler(config).map_err(|err| Error::Sampler(err.to_string()))?;
        // Only a training has a network to keep.
        let keep_models = (config.objective == hypersearch_search::Objective::NnCore
            && config.keep_models > 0)
            .then_some(config.keep_models);
        // Only a training has a running state to checkpoint.
        let checkpoints =
            config.objective == hypersearch_search::Objective::NnCore && config.checkpoints;
        let objective = match &config.objective {
            hypersearch_search::Objective::NnCore => Objective::Training,
            hypersearch_search::Objective::Command(command) => Objective::Command(command.clone()),
            hypersearch_search::Objective::Function(name) => Objective::Function(name.clone()),
        };
        let scheduler = Scheduler::start(Parts {
            rules: Rules {
                metric: config.metric.clone(),
                direction: config.direction,
                budget: config.search.trials,
                parallel: config.search.parallel,
                prefetch: prefetch(config.search.algorithm, config.search.parallel),
                lease: options.lease,
                max_attempts: config.search.max_attempts,
                failure_retries: config.search.failure_retries,
                max_epochs: config.search.max_epochs,
                max_stored_values: options.max_stored_values,
                value_range: config.value_range,
                trial_timeout: config.search.trial_timeout,
                quarantine_after: config.search.quarantine_after,
                keep_models,
                checkpoints,
                objectives: config
                    .objectives
                    .needs_metrics()
                    .then(|| config.objectives.clone()),
            },
            study: StudyInfo {
                name: config.name.clone(),
                metric: config.metric.clone(),
                direction: direction(config),
                objective,
                base_config_toml: config.base_training_config.clone(),
                data_files: data.files(),
                keep_models: keep_models.is_some(),
                checkpoints,
            },
            stored,
            sampler,
            pruner: make_pruner(config),
            space: config.space.clone(),
            writer: writer.clone(),
            deterministic: config.search.deterministic,
        })?;
        Ok(Coordinator {
            scheduler,
            writer,
            checkpoint_reads: Arc::new(checkpoint_reads),
            resumed,
            data: Arc::new(data),
            tls: options.tls.clone(),
            report_rate: options.report_rate,
            workers: Arc::new(workers),
            transfer_limits: options.transfers,
            connections: options.connections,
            _lock: lock,
            metrics: None,
            keep_serving: false,
            budget_before: budget_before.filter(|&before| before != config.search.trials),
            set_aside,
        })
    }

    /// Serves `/healthz`, `/readyz` and Prometheus `/metrics` over plain HTTP on `listener`
    /// while the coordinator serves (for probes and scrapers that speak no gRPC).
    pub fn with_metrics(mut self, listener: TcpListener) -> Coordinator {
        observe::start_recording();
        self.metrics = Some(listener);
        self
    }

    /// Goes on serving once the study is finished, until `serve`'s shutdown resolves: a
    /// worker that joins late hears the study is finished (and exits 0) instead of finding
    /// the port closed, and a supervisor that restarts whatever exits (a Kubernetes
    /// StatefulSet) sees a healthy coordinator instead of a crash loop.
    pub fn keep_serving(mut self) -> Coordinator {
        self.keep_serving = true;
        self
    }

    /// Whether the study existed in the database before (this run resumes it).
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The trial budget the resumed study had before this run changed it, if it did.
    pub fn budget_before(&self) -> Option<u64> {
        self.budget_before
    }

    /// The new name of the study of the same name that this run set aside because none of
    /// its trials succeeded and its definition changed (a fixed typo), if it did.
    pub fn set_aside(&self) -> Option<&str> {
        self.set_aside.as_deref()
    }

    /// The study's figures, updated on every change.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.scheduler.progress()
    }

    /// Closes a study that needs no serving (every trial is over), recording it finished.
    pub async fn close(self) -> Result<Progress, Error> {
        let progress = *self.scheduler.progress().borrow();
        if progress.finished {
            self.writer.submit(WriteOp::FinishStudy).await?;
        }
        Ok(progress)
    }

    /// Serves workers on `listener` until every trial is over or `shutdown` resolves.
    /// With `token`, every request must carry it. Returns the final figures.
    pub async fn serve(
        self,
        listener: TcpListener,
        token: Option<String>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<Progress, Error> {
        let service = pb::coordinator_server::CoordinatorServer::new(Service {
            scheduler: self.scheduler.clone(),
            data: self.data.clone(),
            transfers: Transfers::new(self.transfer_limits),
            reports: ReportLimiter::new(self.report_rate),
            workers: self.workers.clone(),
            models: Arc::new(ModelUploads::new(model_uploads::BUFFER_BUDGET)),
            checkpoints: self.checkpoint_reads.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let service = InterceptedService::new(
            service,
            TokenCheck {
                expected: token.map(Arc::from),
            },
        );
        let scheduler = self.scheduler.clone();
        let writer = self.writer.clone();
        let keep_serving = self.keep_serving;
        let (closing, mut closed) = watch::channel(false);
        let (health, health_service) = tonic_health::server::health_reporter();
        let ready = Readiness::default();
        for name in ["", SERVICE_NAME] {
            health
                .set_service_status(name, ServingStatus::Serving)
                .await;
        }
        ready.set(true);
        tokio::spawn(observe::follow(self.scheduler.progress()));
        tokio::spawn(watch_workers(self.workers.clone(), closed.clone()));
        if let Some(metrics) = self.metrics {
            tokio::spawn(observe::serve_http(metrics, ready.clone(), closed.clone()));
        }
        let ended = async move {
            let asked = tokio::select! {
                () = shutdown => true,
                () = async {
                    scheduler.finished().await;
                    if keep_serving && scheduler.fatal().is_none() {
                        if let Err(err) = writer.submit(WriteOp::FinishStudy).await {
                            tracing::error!("cannot record the study finished: {err}");
                            return;
                        }
                        tracing::info!("study finished; serving until asked to stop");
                        std::future::pending::<()>().await;
                    }
                    let _ = tokio::time::timeout(DRAIN, scheduler.every_worker_told()).await;
                } => false,
            };
            ready.set(false);
            for name in ["", SERVICE_NAME] {
                health
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
            if asked {
                // Probes and load balancers see NOT_SERVING before the port closes.
                tokio::time::sleep(NOT_SERVING_GRACE).await;
            }
            let _ = closing.send(true);
        };
        let mut server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE))
            .http2_keepalive_timeout(Some(KEEPALIVE))
            .layer(TrackCalls);
        if let Some(tls) = &self.tls {
            server = server.tls_config(tls.config())?;
        }
        let serving = server
            .add_service(health_service)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming(listener, self.connections), ended);
        // The server waits for open connections to close; a client that keeps one open
        // (a stalled download, an idle connection) gets `CLOSE_GRACE`, not a veto.
        tokio::select! {
            served = serving => served?,
            () = async {
                let _ = closed.wait_for(|closing| *closing).await;
                tokio::time::sleep(CLOSE_GRACE).await;
            } => {
                tracing::warn!(
                    "connections still open {:.0} s after the end: closing them",
                    CLOSE_GRACE.as_secs_f64()
                );
            }
        }
        // Everything queued before this is committed once it is.
        let progress = *self.scheduler.progress().borrow();
        if let Some(problem) = self.scheduler.fatal() {
            return Err(Error::StudyStopped(problem));
        }
        if progress.finished {
            self.writer.submit(WriteOp::FinishStudy).await?;
        }
        Ok(progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_samplers_that_ignore_the_history_sample_ahead() {
        for parallel in [1, 8] {
            assert_eq!(prefetch(Algorithm::Random, parallel), parallel);
            assert_eq!(prefetch(Algorithm::Grid, parallel), parallel);
            for model_based in [Algorithm::Tpe, Algorithm::Bayes, Algorithm::Evolution] {
                assert_eq!(prefetch(model_based, parallel), 0, "{model_based:?}");
            }
        }
    }
}
