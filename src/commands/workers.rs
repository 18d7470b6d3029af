//! `hypersearch workers`: the workers of a study, what they ran and how it ended; and
//! `hypersearch workers drain|resume|quarantine ID`, which steers one on a running coordinator.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hypersearch_worker::{ClientTls, Steer};

use super::output::{self, say};
use super::{read_token, runtime};
use crate::cli::{Format, StudyArg};

/// `hypersearch workers`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch workers --study digits-search\n  \
    hypersearch workers --db runs.db --format json\n  \
    hypersearch workers drain 3 --coordinator http://10.0.0.5:50051 --token-file token.txt"
)]
pub struct WorkersArgs {
    /// Steer one worker instead of listing them.
    #[command(subcommand)]
    steer: Option<SteerCommand>,
    #[command(flatten)]
    study: StudyArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// What `hypersearch workers` asks of one worker.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SteerCommand {
    /// It finishes its running trials and gets no more until resumed.
    Drain(SteerArgs),
    /// It gets trials again (after a drain or a quarantine).
    Resume(SteerArgs),
    /// Its next lease request is refused and it stops.
    Quarantine(SteerArgs),
}

/// The worker to steer and the coordinator to ask.
#[derive(Debug, Clone, clap::Args)]
pub struct SteerArgs {
    /// The worker's id (the first column of `hypersearch workers`).
    pub id: u64,
    /// The coordinator's address.
    #[arg(long)]
    pub coordinator: String,
    /// A file holding the coordinator's token.
    #[arg(long, env = "HYPERSEARCH_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Trust this CA for the coordinator's certificate (an `https://` address).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
}

/// `hypersearch workers drain|resume|quarantine ID`.
fn steer(command: SteerCommand) -> anyhow::Result<ExitCode> {
    let (steer, args) = match command {
        SteerCommand::Drain(args) => (Steer::Drain, args),
        SteerCommand::Resume(args) => (Steer::Resume, args),
        SteerCommand::Quarantine(args) => (Steer::Quarantine, args),
    };
    let mut options = hypersearch_worker::Options::new(&args.coordinator, 1);
    options.token = args.token_file.as_deref().map(read_token).transpose()?;
    options.tls = args
        .tls_ca
        .as_deref()
        .map(|ca| ClientTls::from_files(Some(ca), None))
        .transpose()?;
    options.patience = Duration::from_secs(5);
    let (state, running) =
        runtime()?.block_on(hypersearch_worker::steer_worker(&options, args.id, steer))?;
    say!(
        "worker {}: {state}, {running} trial{} running",
        args.id,
        if running == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}

/// `hypersearch workers`.
pub fn run(args: WorkersArgs) -> anyhow::Result<ExitCode> {
    if let Some(command) = args.steer {
        return steer(command);
    }
    let format = args.format;
    let (study, workers) = args.study.read(async |db, study| {
        let workers = db.workers(&study).await?;
        Ok((study, workers))
    })?;
    match format {
        Format::Json => output::print_json(&workers)?,
        Format::Csv => {
            let header: Vec<String> = [
                "worker",
                "name",
                "hostname",
                "slots",
                "version",
                "registered_at",
                "attempts",
                "succeeded",
                "failed",
                "preempted",
                "running",
                "last_seen",
                "quarantined",
            ]
            .map(String::from)
            .to_vec();
            let rows: Vec<Vec<String>> = workers
                .iter()
                .map(|w| {
                    vec![
                        w.worker.to_string(),
                        w.name.clone(),
                        w.hostname.clone(),
                        w.slots.to_string(),
                        w.version.clone(),
                        w.registered_at.clone(),
                        w.attempts.to_string(),
                        w.succeeded.to_string(),
                        w.failed.to_string(),
                        w.preempted.to_string(),
                        w.running.to_string(),
                        w.last_seen.clone(),
                        w.quarantined.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::print_csv(&header, &rows)?;
        }
        Format::Table if workers.is_empty() => {
            say!("study `{}`: no worker joined yet", study.name);
        }
        Format::Table => {
            let header = [
                "worker",
                "name",
                "host",
                "slots",
                "attempts",
                "ok",
                "failed",
                "preempted",
                "running",
                "last seen",
                "state",
            ];
            let mut table = output::table(&header);
            for w in &workers {
                table.add_row(vec![
                    w.worker.to_string(),
                    output::remote(&w.name),
                    output::remote(&w.hostname),
                    w.slots.to_string(),
                    w.attempts.to_string(),
                    w.succeeded.to_string(),
                    w.failed.to_string(),
                    w.preempted.to_string(),
                    w.running.to_string(),
                    w.last_seen.clone(),
                    if w.quarantined.is_some() {
                        "quarantined"
                    } else {
                        "ok"
                    }
                    .to_string(),
                ]);
            }
            let hidden = output::fit(
                &mut table,
                &header,
                &[
                    "preempted",
                    "host",
                    "slots",
                    "attempts",
                    "last seen",
                    "name",
                ],
                &[],
            );
            say!("{table}");
            if let Some(hidden) = hidden {
                say!("{hidden}");
            }
            for w in &workers {
                if let Some(reason) = &w.quarantined {
                    say!(
                        "worker {} quarantined: {}",
                        w.worker,
                        output::remote(reason)
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
