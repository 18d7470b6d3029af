//! `hypersearch serve`: the coordinator alone, for workers on other machines.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use hypersearch_coordinator::{Coordinator, Options, ServerTls};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::output::maybe_number;
use super::run::raised;
use super::{logging, read_token, runtime, study_file};

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
    /// `--report-rate`.
    pub report_rate: f64,
}

/// `hypersearch serve`.
pub fn run(args: ServeArgs<'_>) -> anyhow::Result<ExitCode> {
    logging::init("info");
    if !(args.report_rate.is_finite() && args.report_rate >= 1.0) {
        bail!(
            "--report-rate must be at least 1 report a second per slot, got {}",
            args.report_rate
        );
    }
    let study = study_file::load(args.config, args.data_root)?;
    let db = super::query::location(&study_file::database(args.db, &study.config))?;
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
                reports_per_slot_second: args.report_rate,
                data_files: study.data_files.clone(),
            },
        )
        .await
        .with_context(|| format!("cannot start study `{name}`"))?;
        let start = *coordinator.progress().borrow();
        if start.finished {
            eprintln!("study `{name}` in {db} is already finished");
            coordinator.close().await?;
            return Ok(ExitCode::SUCCESS);
        }
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
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
        eprintln!("listening on {address}");
        let (stop, stopping) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = stop.send(true);
            }
        });
        let end = coordinator.serve(listener, token, raised(stopping)).await?;
        if !end.finished {
            eprintln!(
                "stopped: {} of {} trials done; serve again to resume",
                end.done(),
                end.budget
            );
            return Ok(ExitCode::from(130));
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
