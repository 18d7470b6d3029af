//! `hypersearch worker`: join a coordinator from any machine and run its trials.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::watch;

use super::run::{cores, raised};
use super::{logging, read_token, runtime};

/// `hypersearch worker`.
pub fn run(
    coordinator: &str,
    slots: Option<u32>,
    token_file: Option<&Path>,
    name: Option<String>,
    patience: Duration,
) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let token = token_file.map(read_token).transpose()?;
    let mut options =
        hypersearch_worker::Options::new(coordinator, slots.unwrap_or_else(cores).max(1));
    options.token = token;
    options.name = name;
    options.patience = patience;
    runtime()?.block_on(async {
        let (stop, stopping) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = stop.send(true);
            }
        });
        let summary = hypersearch_worker::run(options, raised(stopping)).await?;
        eprintln!(
            "study `{}` finished; this worker ran {} trial attempts",
            summary.study, summary.attempts
        );
        Ok(ExitCode::SUCCESS)
    })
}
