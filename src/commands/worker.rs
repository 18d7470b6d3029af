//! `hypersearch worker`: join a coordinator from any machine and run its trials.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use hypersearch_worker::{ClientTls, identity_pair};

use super::run::{cores, raised};
use super::signals;
use super::{logging, read_token, runtime};

/// What `worker` was given.
pub struct WorkerArgs<'a> {
    /// `--coordinator`.
    pub coordinator: &'a str,
    /// `--slots`.
    pub slots: Option<u32>,
    /// `--token-file`.
    pub token_file: Option<&'a Path>,
    /// `--name`.
    pub name: Option<String>,
    /// `--patience-seconds`.
    pub patience: Duration,
    /// `--tls-ca`.
    pub tls_ca: Option<&'a Path>,
    /// `--tls-cert`.
    pub tls_cert: Option<&'a Path>,
    /// `--tls-key`.
    pub tls_key: Option<&'a Path>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--workdir`.
    pub workdir: Option<PathBuf>,
}

/// `hypersearch worker`.
pub fn run(args: WorkerArgs<'_>) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let token = args.token_file.map(read_token).transpose()?;
    let identity = identity_pair(args.tls_cert, args.tls_key)?;
    let tls = if args.tls_ca.is_some() || identity.is_some() {
        Some(ClientTls::from_files(args.tls_ca, identity)?)
    } else {
        None
    };
    let mut options =
        hypersearch_worker::Options::new(args.coordinator, args.slots.unwrap_or_else(cores).max(1));
    options.token = token;
    options.tls = tls;
    options.name = args.name;
    options.patience = args.patience;
    if let Some(dir) = args.data_dir {
        options.data_dir = dir;
    }
    if let Some(dir) = args.workdir {
        if !dir.is_dir() {
            anyhow::bail!("--workdir {}: not a directory", dir.display());
        }
        options.workdir = Some(dir);
    }
    runtime()?.block_on(async {
        let (stopping, stop) = signals::watch_stop();
        let summary = hypersearch_worker::run(options, raised(stopping)).await?;
        let stop = *stop.borrow();
        match stop {
            Some(stop) => {
                eprintln!(
                    "stopped on request: this worker ran {} trial attempts of study `{}` and \
                     handed its running trials back",
                    summary.attempts, summary.study
                );
                Ok(ExitCode::from(stop.exit_code()))
            }
            None => {
                eprintln!(
                    "study `{}` finished; this worker ran {} trial attempts",
                    summary.study, summary.attempts
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
