//! `hypersearch serve`: the coordinator alone, for workers on other machines.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use hypersearch_coordinator::{
    ConnectionLimits, Coordinator, JoinLimits, Options, ServerTls, TransferLimits,
};
use tokio::net::{TcpListener, TcpSocket};

use super::output::maybe_number;
use super::run::raised;
use super::{failures, logging, progress, read_token, runtime, signals, study_file};

/// `hypersearch serve`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch serve examples/digits-search.toml --listen 0.0.0.0:50051 --token-file secret.txt\n  \
    hypersearch serve study.toml --listen 127.0.0.1:0 --db runs.db\n  \
    hypersearch serve study.toml --listen 0.0.0.0:50051 --token-file secret.txt \
    --tls-cert server.pem --tls-key server-key.pem\n\n\
    It prints `listening on ADDRESS` once ready and exits when the study's budget is spent \
    (with --keep-serving, when stopped). The README's \"Several machines, securely\" explains tokens and TLS; \
    docs/SECURITY.md the threat model and every bound below."
)]
pub struct ServeArgs {
    /// The study config (e.g. examples/digits-search.toml).
    config: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long)]
    listen: SocketAddr,
    /// The trials database (a SQLite file or a `postgres://` URL); default `[study]
    /// storage`, else `hypersearch.db`.
    #[arg(long, env = "HYPERSEARCH_DB")]
    db: Option<PathBuf>,
    /// A file holding the token workers must present.
    #[arg(long, env = "HYPERSEARCH_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Listen beyond loopback without a token (anyone who can connect can join).
    #[arg(long)]
    insecure: bool,
    /// Seconds a trial's lease lasts without a sign of life from its worker.
    #[arg(long, default_value_t = 10.0)]
    lease_seconds: f64,
    /// Serve over TLS with this certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require every worker to present a certificate signed by this CA (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// The directory the study's `data.path` must lie in; default the config's directory.
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Serve `/healthz`, `/readyz` and Prometheus `/metrics` over plain HTTP on this
    /// address (e.g. 0.0.0.0:9090), for probes and scrapers.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Go on serving once the study is finished (late workers hear it is finished and
    /// exit 0) until SIGTERM or Ctrl-C: for supervisors that restart whatever exits.
    #[arg(long)]
    keep_serving: bool,
    /// Bounds on what workers and connections may take (docs/SECURITY.md).
    #[command(flatten)]
    limits: ServeLimits,
    /// Serve the live web dashboard on this address too (e.g. 127.0.0.1:8080; beyond
    /// loopback it asks for --token-file's token).
    #[arg(long)]
    dashboard: Option<SocketAddr>,
}

/// `serve`'s bounds on what workers and connections may take.
#[derive(Debug, Clone, clap::Args)]
struct ServeLimits {
    /// Metric values a second each worker may report per trial it runs (a burst of one
    /// second's worth); faster reports are refused with RESOURCE_EXHAUSTED and retried.
    #[arg(long, default_value_t = 10_000.0)]
    report_rate: f64,
    /// Workers heard from within three leases, at most; more are refused until some leave.
    #[arg(long, default_value_t = 1_000)]
    max_workers: usize,
    /// Slots of those workers together, at most.
    #[arg(long, default_value_t = 10_000)]
    max_slots: u64,
    /// Registrations a second, at most (a burst of ten seconds' worth).
    #[arg(long, default_value_t = 10.0)]
    max_registrations: f64,
    /// Seconds a data transfer may wait for its client to take the next 1 MiB before it is
    /// cancelled and its place given to another worker.
    #[arg(long, default_value_t = 20.0)]
    transfer_timeout: f64,
    /// Metric values the study may store in all; past it reports are refused and their
    /// trials fail with the reason.
    #[arg(long, default_value_t = 100_000_000)]
    max_stored_values: u64,
    /// Connections open at once, at most (lowered to fit the process's file limit).
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Connections that have made no authenticated call yet, at most; a new one closes
    /// the oldest.
    #[arg(long, default_value_t = 256)]
    max_unauthenticated: usize,
    /// Seconds a new connection has to make an authenticated call before it is closed.
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout: f64,
    /// Seconds a connection may stay without a call in progress before it is closed.
    #[arg(long, default_value_t = 120.0)]
    idle_timeout: f64,
}

/// Connections the kernel holds for the coordinator to accept (the system caps it, at
/// `net.core.somaxconn`): a burst of clients waits in the queue instead of having its
/// connection attempts dropped and retried a second later.
const ACCEPT_QUEUE: u32 = 4096;

/// A listening socket on `address` with a deep accept queue.
fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_QUEUE)
}

/// `hypersearch serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let lease = super::seconds("--lease-seconds", args.lease_seconds)?;
    let limits = &args.limits;
    if !(limits.report_rate.is_finite() && limits.report_rate >= 1.0) {
        bail!(
            "--report-rate must be at least 1 metric value a second per trial, got {}",
            limits.report_rate
        );
    }
    if !(limits.max_registrations.is_finite() && limits.max_registrations > 0.0) {
        bail!(
            "--max-registrations must be a positive number a second, got {}",
            limits.max_registrations
        );
    }
    if limits.max_workers == 0 || limits.max_slots == 0 {
        bail!("--max-workers and --max-slots must be at least 1");
    }
    let transfer_timeout = super::seconds("--transfer-timeout", limits.transfer_timeout)?;
    if limits.max_connections == 0 || limits.max_unauthenticated == 0 {
        bail!("--max-connections and --max-unauthenticated must be at least 1");
    }
    let connections = ConnectionLimits {
        max_connections: limits.max_connections,
        max_unauthenticated: limits.max_unauthenticated,
        handshake_timeout: super::seconds("--handshake-timeout", limits.handshake_timeout)?,
        idle_timeout: super::seconds("--idle-timeout", limits.idle_timeout)?,
    };
    let study = study_file::load(&args.config, args.data_root.as_deref())?;
    let db_path = study_file::database(args.db.as_deref(), &study.config);
    let db = super::query::location(&db_path)?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let tls = (args.tls_cert.as_deref().zip(args.tls_key.as_deref()))
        .map(|(cert, key)| ServerTls::from_files(cert, key, args.tls_client_ca.as_deref()))
        .transpose()?;
    let workers_authenticated = token.is_some() || tls.as_ref().is_some_and(ServerTls::is_mutual);
    if !workers_authenticated && !args.listen.ip().is_loopback() && !args.insecure {
        bail!(
            "refusing to listen on {} without a token: pass --token-file FILE (or require \
             worker certificates with --tls-client-ca), or --insecure to let anyone who can \
             connect join",
            args.listen
        );
    }
    let transport = match &tls {
        Some(tls) if tls.is_mutual() => "TLS, worker certificates required",
        Some(_) => "TLS",
        None => "plaintext",
    };
    let name = study.config.name.clone();
    let token_required = token.is_some();
    runtime()?.block_on(async {
        let coordinator = Coordinator::open(
            &study.config,
            &study.text,
            &db,
            &Options {
                lease,
                tls,
                report_rate: limits.report_rate,
                join: JoinLimits {
                    max_workers: limits.max_workers,
                    max_slots: limits.max_slots,
                    registrations_per_second: limits.max_registrations,
                },
                max_stored_values: limits.max_stored_values,
                connections,
                transfers: TransferLimits {
                    progress_timeout: transfer_timeout,
                    ..TransferLimits::default()
                },
                data_files: study.data_files.clone(),
            },
        )
        .await
        .with_context(|| format!("cannot start study `{name}`"))?;
        let start = *coordinator.progress().borrow();
        super::run::say_how_resumed(&name, &coordinator);
        if start.finished && !args.keep_serving {
            eprintln!("study `{name}` in {db} is already finished");
            coordinator.close().await?;
            return Ok(ExitCode::SUCCESS);
        }
        let listener =
            listen(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let coordinator = match args.metrics {
            Some(at) => {
                let metrics = TcpListener::bind(at)
                    .await
                    .with_context(|| format!("cannot listen on {at} for --metrics"))?;
                eprintln!("metrics on http://{}/metrics", metrics.local_addr()?);
                coordinator.with_metrics(metrics)
            }
            None => coordinator,
        };
        let coordinator = if args.keep_serving {
            coordinator.keep_serving()
        } else {
            coordinator
        };
        eprintln!(
            "study `{name}` ({} of {} trials done, database {})",
            start.done(),
            start.budget,
            db
        );
        eprintln!(
            "{transport}; {}",
            if token_required {
                "token required"
            } else {
                "no token"
            }
        );
        if let Some(at) = args.dashboard {
            let (bound, _serving) =
                super::dashboard::start(at, db.clone(), token.as_deref(), std::future::pending())
                    .await?;
            eprintln!("dashboard at http://{bound}/");
        }
        eprintln!("listening on {address}");
        let (stopping, stop) = signals::watch_stop();
        // A line when trials end (at most one a second), the first failure's reason, and a
        // stop when the first trials all fail the same way (a broken worker or study file).
        let (notes, noted) = tokio::sync::mpsc::unbounded_channel();
        let watching = tokio::spawn(failures::watch(
            coordinator.progress(),
            db_path.clone(),
            db.to_string(),
            name.clone(),
            notes,
        ));
        let display = tokio::spawn(progress::lines(
            coordinator.progress(),
            study.config.metric.clone(),
            noted,
        ));
        let (fail_fast, failing) = tokio::sync::watch::channel(None);
        let stop_serving = {
            let stopping = stopping.clone();
            async move {
                tokio::select! {
                    () = raised(stopping.clone()) => {}
                    found = watching => match found.ok().flatten() {
                        Some(first) => {
                            fail_fast.send_replace(Some(first));
                        }
                        None => raised(stopping).await,
                    },
                }
            }
        };
        let end = coordinator.serve(listener, token, stop_serving).await?;
        display.abort();
        if let Some((number, reason)) = failing.borrow().clone()
            && !end.finished
        {
            eprintln!(
                "stopped: the first {} trials all failed the same way:\n  {}\nfix the study file \
                 or the workers (a `command` runs in each worker's --workdir) and serve again; \
                 hypersearch show {number} --db {db} tells more",
                failures::FAIL_FAST,
                failures::indented(&reason)
            );
            return Ok(ExitCode::FAILURE);
        }
        if !end.finished {
            eprintln!(
                "stopped: {} of {} trials done; serve again to resume",
                end.done(),
                end.budget
            );
            let code = stop.borrow().map_or(130, signals::Stop::exit_code);
            return Ok(ExitCode::from(code));
        }
        eprintln!(
            "study `{name}` finished: {} complete, {} pruned, {} failed; best {} (trial {})",
            end.complete,
            end.pruned,
            end.failed,
            maybe_number(end.best.map(|(_, v)| v)),
            end.best
                .map_or_else(|| "-".to_string(), |(t, _)| t.to_string()),
        );
        Ok(ExitCode::SUCCESS)
    })
}
