//! `hypersearch worker`: join a coordinator from any machine and run its trials.

use std::path::PathBuf;
use std::process::ExitCode;

use hypersearch_worker::{ClientTls, identity_pair};

use super::run::{cores, raised};
use super::signals;
use super::{logging, read_token, runtime};

/// `hypersearch worker`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch worker --coordinator http://10.0.0.5:50051 --token-file secret.txt\n  \
    hypersearch worker --coordinator http://127.0.0.1:50051 --slots 2\n  \
    hypersearch worker --coordinator https://coordinator.lan:50051 --token-file secret.txt \
    --tls-ca ca.pem\n\n\
    A worker that lacks the study's data set fetches it from the coordinator into --data-dir."
)]
pub struct WorkerArgs {
    /// The coordinator's address.
    #[arg(long)]
    coordinator: String,
    /// Trials run at once; default one per core.
    #[arg(long)]
    slots: Option<u32>,
    /// A file holding the coordinator's token.
    #[arg(long, env = "HYPERSEARCH_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// A name for this worker in the trials database; default `host:pid`.
    #[arg(long)]
    name: Option<String>,
    /// Seconds to keep retrying while the coordinator is unreachable.
    #[arg(long, default_value_t = 30.0)]
    patience_seconds: f64,
    /// Trust this CA for the coordinator's certificate (an `https://` address); default
    /// the system's roots.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// This worker's certificate chain (PEM), for a coordinator that requires one.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Where data sets fetched from the coordinator are cached (one folder per data
    /// set); default `~/.cache/hypersearch/data`.
    #[arg(long, env = "HYPERSEARCH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where a study's `command` objective runs (scripts it names are found from there);
    /// default the directory the worker was started in.
    #[arg(long)]
    workdir: Option<PathBuf>,
}

/// `hypersearch worker`.
pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let patience = super::seconds("--patience-seconds", args.patience_seconds)?;
    logging::init("info");
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let identity = identity_pair(args.tls_cert.as_deref(), args.tls_key.as_deref())?;
    let tls = if args.tls_ca.is_some() || identity.is_some() {
        Some(ClientTls::from_files(args.tls_ca.as_deref(), identity)?)
    } else {
        None
    };
    let mut options = hypersearch_worker::Options::new(
        &args.coordinator,
        args.slots.unwrap_or_else(cores).max(1),
    );
    options.token = token;
    options.tls = tls;
    options.name = args.name;
    options.patience = patience;
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
