//! `hypersearch train`: train one configuration locally.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::Format;

/// Trains the network the config describes and prints its history.
pub fn run(config: &Path, params: Option<&str>, format: Format) -> anyhow::Result<ExitCode> {
    let _ = (params, format);
    anyhow::bail!("{}: training is not wired in yet", config.display())
}
