//! `hypersearch serve`: the coordinator alone, for workers on other machines.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use hypersearch_coordinator::{
    ConnectionLimits, Coordinator, JoinLimits, Options, ServerTls, TransferLimits,
};
use tokio::net::{TcpListener, TcpSocket};

use super::output::maybe_number;
use super::run::raised;
use super::{failures, logging, progress, read_token, runtime, signals, study_file};
use crate::cli::ServeLimits;

/// What `serve` was given.
pub struct ServeArgs<'a> {
    /// The study config.
    pub config: &'a Path,
    /// Where to listen.
    pub listen: SocketAddr,
    /// `--db`.
    pub db: Option<&'a Path>,
    /// `--token-file`.
    pub token_file: Option<&'a Path>,
    /// `--insecure`.
    pub insecure: bool,
    /// `--lease-seconds`.
    pub lease: Duration,
    /// `--tls-cert` and `--tls-key`.
    pub tls: Option<(&'a Path, &'a Path)>,
    /// `--tls-client-ca`.
    pub tls_client_ca: Option<&'a Path>,
    /// `--data-root`.
    pub data_root: Option<&'a Path>,
    /// `--metrics`.
    pub metrics: Option<SocketAddr>,
    /// `--keep-serving`.
    pub keep_serving: bool,
    /// `--report-rate`, `--max-workers` and the other bounds.
    pub limits: ServeLimits,
    /// `--dashboard`.
    pub dashboard: Option<SocketAddr>,
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
pub fn run(args: ServeArgs<'_>) -> anyhow::Result<ExitCode> {
    logging::init("info");
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
    let study = study_file::load(args.config, args.data_root)?;
    let db_path = study_file::database(args.db, &study.config);
    let db = super::query::location(&db_path)?;
    let token = args.token_file.map(read_token).transpose()?;
    let tls = args
        .tls
        .map(|(cert, key)| ServerTls::from_files(cert, key, args.tls_client_ca))
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
                lease: args.lease,
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
