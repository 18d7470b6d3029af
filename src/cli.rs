//! The command-line grammar (clap derive). One variant per command (the README lists them).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::commands;

/// Distributed hyperparameter and neural-architecture search.
#[derive(Debug, Parser)]
#[command(
    name = "hypersearch",
    version,
    about,
    propagate_version = true,
    after_help = "Examples:\n  hypersearch run examples/digits-search.toml\n  \
        hypersearch best --top 5\n  hypersearch show 12\n\n\
        `hypersearch COMMAND --help` explains each command with an example."
)]
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

/// Where the trials database is, for the query commands.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArg {
    /// The trials database (SQLite file).
    #[arg(long, default_value = "hypersearch.db", env = "HYPERSEARCH_DB")]
    pub db: PathBuf,
}

/// The database and the study in it, for the commands that read one study.
#[derive(Debug, Clone, clap::Args)]
pub struct StudyArg {
    #[command(flatten)]
    pub db: DbArg,
    /// The study; may be left out when the database holds one.
    #[arg(long)]
    pub study: Option<String>,
}

/// The commands; each one's flags are a struct in its own module under `commands/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a whole study on this machine: the coordinator and local workers, with a progress bar.
    Run(commands::run::RunArgs),
    /// Run the coordinator alone; workers on any machine join with `hypersearch worker`.
    Serve(commands::serve::ServeArgs),
    /// Join a coordinator and run its trials.
    Worker(commands::worker::WorkerArgs),
    /// List the studies in a database, with trial counts and best values.
    Studies(commands::query::StudiesArgs),
    /// The best complete trials of a study: value, architecture and hyperparameters.
    Best(commands::query::BestArgs),
    /// The workers of a study: slots, what they ran and how it ended, last seen; or steer
    /// one on a running coordinator (drain, resume, quarantine).
    Workers(commands::workers::WorkersArgs),
    /// Every trial of a study, optionally filtered by state.
    Trials(commands::query::TrialsArgs),
    /// What an early-stopping rule would have done on a study's recorded curves, fed in the
    /// order the epochs arrived: which trials it stops and when, epochs and seconds saved,
    /// which of the best trials it would have killed, against the recorded stops.
    Replay(commands::replay::ReplayArgs),
    /// One trial: parameters, per-epoch history, why it ended, and how to re-run it.
    Show(commands::show::ShowArgs),
    /// Draw a study's charts as PNG or SVG files: history, learning curves, parameter
    /// importance, parallel coordinates, one slice per parameter, the worker timeline.
    Plot(commands::plot::PlotArgs),
    /// Open a live web dashboard of the database's studies: history, curves, parallel
    /// coordinates, slices, the worker timeline, a trial table, each trial, comparisons.
    Dashboard(commands::dashboard::DashboardArgs),
    /// Everything about a study, for pandas or a spreadsheet.
    Export(commands::export::ExportArgs),
    /// Which parameters decide whether a trial is among the best (PED-ANOVA), and which way
    /// each one pulls.
    Importance(commands::importance::ImportanceArgs),
    /// Train one network locally and print its epoch table.
    Train(commands::train::TrainArgs),
    /// Write a trial's trained network, as the coordinator kept it, as an ONNX model (f32
    /// or int8).
    Model(commands::model::ModelArgs),
}
