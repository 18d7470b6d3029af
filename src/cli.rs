//! The command-line grammar (clap derive). One variant per command of SPEC §3.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Distributed hyperparameter and neural-architecture search.
#[derive(Debug, Parser)]
#[command(name = "hypersearch", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of the commands that print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A human-readable table.
    Table,
    /// JSON, for scripts.
    Json,
    /// CSV, for spreadsheets and pandas.
    Csv,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one network locally and print its epoch table.
    #[command(after_help = "Examples:\n  hypersearch train examples/digits.toml\n  \
        hypersearch train examples/digits.toml --params '{\"training.learning_rate\": 0.01}' --format json")]
    Train {
        /// A training config (SPEC §4.1) or a study config, whose training part is used.
        config: PathBuf,
        /// Overrides of the config as a JSON object of dotted keys, e.g. a trial's parameters.
        #[arg(long)]
        params: Option<String>,
        /// `table` prints the epoch table, `json` one object with the whole history.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}
