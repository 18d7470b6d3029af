//! `hypersearch workers`: the workers of a study, what they ran and how it ended; and
//! `hypersearch workers drain|resume|quarantine ID`, which steers one on a running coordinator.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use hypersearch_worker::{ClientTls, Steer};

use super::output::{self, say};
use super::query::with_database;
use super::{read_token, runtime};
use crate::cli::{Format, SteerCommand};

/// `hypersearch workers drain|resume|quarantine ID`.
pub fn steer(command: SteerCommand) -> anyhow::Result<ExitCode> {
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
pub fn run(db: &Path, study: Option<&str>, format: Format) -> anyhow::Result<ExitCode> {
    let (study, workers) = with_database(db, async |db| {
        let study = db.study(study).await?;
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
