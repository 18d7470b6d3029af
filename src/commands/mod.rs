//! One module per command; `dispatch` routes the parsed command line to it.
//!
//! Layout: `run`, `serve`, `worker` (the distributed system); `query` (`studies`, `best`,
//! `trials`), `show`, `export`, `importance`, `replay` (reading the trials database); `plot`,
//! `dashboard` (seeing a study); `train` (one local run); `model` (a kept network as ONNX);
//! `study_file` (loading a study config), `output` (tables, CSV, JSON), `progress` (the
//! progress bar), `logging`, `training_config` (a trial as a re-runnable training config).

pub mod artifacts;
pub mod dashboard;
pub mod export;
mod failures;
pub mod importance;
mod logging;
pub mod model;
mod output;
mod pareto;
pub mod plot;
mod progress;
pub mod query;
pub mod replay;
pub mod run;
pub mod serve;
pub mod show;
mod signals;
mod study_file;
pub mod train;
mod training_config;
pub mod worker;
pub mod workers;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cli::{Cli, Command};

/// Runs the command the user typed and returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Studies(args) => query::studies(&args),
        Command::Best(args) => query::best(&args),
        Command::Workers(args) => workers::run(args),
        Command::Trials(args) => query::trials(&args),
        Command::Show(args) => show::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Replay(args) => replay::replay(&args),
        Command::Plot(args) => plot::run(args),
        Command::Importance(args) => importance::run(&args),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Train(args) => train::run(&args),
        Command::Model(args) => model::run(&args),
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
