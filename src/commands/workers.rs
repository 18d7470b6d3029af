//! `hypersearch workers`: the workers of a study, what they ran and how it ended.

use std::path::Path;
use std::process::ExitCode;

use super::output::{self, say};
use super::query::with_database;
use crate::cli::Format;

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
                    ]
                })
                .collect();
            output::print_csv(&header, &rows)?;
        }
        Format::Table if workers.is_empty() => {
            say!("study `{}`: no worker joined yet", study.name);
        }
        Format::Table => {
            let mut table = output::table(&[
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
            ]);
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
                ]);
            }
            say!("{table}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
