//! One module per command; `dispatch` routes the parsed command line to it.
//!
//! Layout: `run`, `serve`, `worker` (the distributed system); `query` (`studies`, `best`,
//! `trials`), `show`, `export`, `importance`, `replay` (reading the trials database); `plot`,
//! `dashboard` (seeing a study); `train` (one local run);
//! `study_file` (loading a study config), `output` (tables, CSV, JSON), `progress` (the
//! progress bar), `logging`, `training_config` (a trial as a re-runnable training config).

mod artifacts;
pub mod dashboard;
mod export;
mod failures;
pub mod importance;
mod logging;
mod output;
pub mod plot;
mod progress;
mod query;
pub mod replay;
mod run;
mod serve;
mod show;
mod signals;
mod study_file;
mod train;
mod training_config;
mod worker;
mod workers;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cli::{Cli, Command};

/// Runs the command the user typed and returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            config,
            workers,
            db,
            lease_seconds,
            data_root,
            dashboard,
        } => run::run(
            &config,
            workers,
            db.as_deref(),
            seconds("--lease-seconds", lease_seconds)?,
            data_root.as_deref(),
            dashboard,
        ),
        Command::Serve {
            config,
            listen,
            db,
            token_file,
            insecure,
            lease_seconds,
            tls_cert,
            tls_key,
            tls_client_ca,
            data_root,
            metrics,
            keep_serving,
            limits,
            dashboard,
        } => serve::run(serve::ServeArgs {
            config: &config,
            listen,
            db: db.as_deref(),
            token_file: token_file.as_deref(),
            insecure,
            lease: seconds("--lease-seconds", lease_seconds)?,
            tls: tls_cert.as_deref().zip(tls_key.as_deref()),
            tls_client_ca: tls_client_ca.as_deref(),
            data_root: data_root.as_deref(),
            metrics,
            keep_serving,
            limits,
            dashboard,
        }),
        Command::Worker {
            coordinator,
            slots,
            token_file,
            name,
            patience_seconds,
            tls_ca,
            tls_cert,
            tls_key,
            data_dir,
            workdir,
        } => worker::run(worker::WorkerArgs {
            coordinator: &coordinator,
            slots,
            token_file: token_file.as_deref(),
            name,
            patience: seconds("--patience-seconds", patience_seconds)?,
            tls_ca: tls_ca.as_deref(),
            tls_cert: tls_cert.as_deref(),
            tls_key: tls_key.as_deref(),
            data_dir,
            workdir,
        }),
        Command::Studies { db, format } => query::studies(&db.db, format),
        Command::Replay(args) => replay::replay(&args),
        Command::Best {
            db,
            study,
            top,
            format,
        } => query::best(&db.db, study.as_deref(), top, format),
        Command::Workers {
            steer: Some(steer), ..
        } => workers::steer(steer),
        Command::Workers {
            steer: None,
            db,
            study,
            format,
        } => workers::run(&db.db, study.as_deref(), format),
        Command::Trials {
            db,
            study,
            state,
            sort,
            format,
        } => query::trials(&db.db, study.as_deref(), state, sort, format),
        Command::Show {
            trial,
            db,
            study,
            format,
        } => show::run(&db.db, study.as_deref(), trial, format),
        Command::Export { db, study, format } => export::run(&db.db, study.as_deref(), format),
        Command::Plot(args) => plot::run(args),
        Command::Importance(args) => importance::run(&args),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Train {
            config,
            params,
            trial,
            db,
            study,
            format,
            plot,
            artifacts,
        } => {
            let what = match (config, trial) {
                (_, Some(trial)) => train::What::Trial {
                    db: db.db,
                    study,
                    trial,
                },
                (Some(config), None) => train::What::Config { config, params },
                (None, None) => bail!("give a config file or --trial N"),
            };
            train::run(what, format, plot.as_deref(), &artifacts)
        }
    }
}

/// A positive, finite number of seconds from the command line.
fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    if !(value.is_finite() && value > 0.0 && value < 1e6) {
        bail!("{flag} must be a positive number of seconds, got {value}");
    }
    Ok(Duration::from_secs_f64(value))
}

/// The secret in `path`, trimmed.
fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        bail!(
            "the token in {} must be printable ASCII without spaces",
            path.display()
        );
    }
    Ok(token.to_string())
}

/// A multi-threaded runtime for the distributed commands.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A one-thread runtime for the query commands.
fn small_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
