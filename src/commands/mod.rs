//! One module per command; `dispatch` routes the parsed command line to it.

mod train;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the command the user typed and returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Train {
            config,
            params,
            format,
        } => train::run(&config, params.as_deref(), format),
    }
}
