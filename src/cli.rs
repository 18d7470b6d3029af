//! The command-line grammar (clap derive). One variant per command (the README lists them).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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

/// Output format of `train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrainFormat {
    /// The epoch table as the epochs end.
    Table,
    /// One JSON object with the whole history, at the end.
    Json,
}

/// Output format of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One row per trial: parameters and final metrics as columns.
    Csv,
    /// The study, every trial, its per-epoch history and early-stopping decision.
    Json,
}

/// Trial states `trials --state` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateFilter {
    /// Waiting for a worker.
    Queued,
    /// Running now.
    Running,
    /// Finished with a value.
    Complete,
    /// Stopped early by the early-stopping rule.
    Pruned,
    /// Failed for good.
    Failed,
}

/// How `trials` orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    /// By trial number.
    Number,
    /// Best value first.
    Value,
}

/// Where the trials database is, for the query commands.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArg {
    /// The trials database (SQLite file).
    #[arg(long, default_value = "hypersearch.db", env = "HYPERSEARCH_DB")]
    pub db: PathBuf,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a whole study on this machine: the coordinator and local workers, with a progress bar.
    #[command(
        after_help = "Examples:\n  hypersearch run examples/digits-search.toml\n  \
        hypersearch run examples/digits-search.toml --workers 4 --db digits.db\n\n\
        Running the same command again resumes the study: finished trials are kept."
    )]
    Run {
        /// The study config (e.g. examples/digits-search.toml).
        config: PathBuf,
        /// Local worker slots (trials trained at once); default one per core.
        #[arg(long)]
        workers: Option<u32>,
        /// The trials database (a SQLite file or a `postgres://` URL); default `[study]
        /// storage`, else `hypersearch.db`.
        #[arg(long, env = "HYPERSEARCH_DB")]
        db: Option<PathBuf>,
        /// Seconds a trial's lease lasts without a sign of life from its worker.
        #[arg(long, default_value_t = 10.0)]
        lease_seconds: f64,
        /// The directory the study's `data.path` must lie in; default anywhere (only this
        /// run's own local workers read the data; `serve` confines it to the config's
        /// directory, as it streams it to remote workers).
        #[arg(long)]
        data_root: Option<PathBuf>,
        /// Serve the live web dashboard on this address too (e.g. 127.0.0.1:8080; it prints
        /// the address to open; beyond loopback with a one-time token in it).
        #[arg(long)]
        dashboard: Option<SocketAddr>,
    },
    /// Run the coordinator alone; workers on any machine join with `hypersearch worker`.
    #[command(
        after_help = "Examples:\n  hypersearch serve examples/digits-search.toml --listen 0.0.0.0:50051 --token-file secret.txt\n  \
        hypersearch serve study.toml --listen 127.0.0.1:0 --db runs.db\n  \
        hypersearch serve study.toml --listen 0.0.0.0:50051 --token-file secret.txt \
        --tls-cert server.pem --tls-key server-key.pem\n\n\
        It prints `listening on ADDRESS` once ready and exits when the study's budget is spent \
        (with --keep-serving, when stopped). The README's \"Several machines, securely\" explains tokens and TLS; \
        docs/SECURITY.md the threat model and every bound below."
    )]
    Serve {
        /// The study config (e.g. examples/digits-search.toml).
        config: PathBuf,
        /// Address to listen on (port 0 picks a free one).
        #[arg(long)]
        listen: SocketAddr,
        /// The trials database (a SQLite file or a `postgres://` URL); default `[study]
        /// storage`, else `hypersearch.db`.
        #[arg(long, env = "HYPERSEARCH_DB")]
        db: Option<PathBuf>,
        /// A file holding the token workers must present.
        #[arg(long, env = "HYPERSEARCH_TOKEN_FILE")]
        token_file: Option<PathBuf>,
        /// Listen beyond loopback without a token (anyone who can connect can join).
        #[arg(long)]
        insecure: bool,
        /// Seconds a trial's lease lasts without a sign of life from its worker.
        #[arg(long, default_value_t = 10.0)]
        lease_seconds: f64,
        /// Serve over TLS with this certificate chain (PEM).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of `--tls-cert` (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Require every worker to present a certificate signed by this CA (mutual TLS).
        #[arg(long, requires = "tls_cert")]
        tls_client_ca: Option<PathBuf>,
        /// The directory the study's `data.path` must lie in; default the config's directory.
        #[arg(long)]
        data_root: Option<PathBuf>,
        /// Serve `/healthz`, `/readyz` and Prometheus `/metrics` over plain HTTP on this
        /// address (e.g. 0.0.0.0:9090), for probes and scrapers.
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// Go on serving once the study is finished (late workers hear it is finished and
        /// exit 0) until SIGTERM or Ctrl-C: for supervisors that restart whatever exits.
        #[arg(long)]
        keep_serving: bool,
        /// Bounds on what workers and connections may take (docs/SECURITY.md).
        #[command(flatten)]
        limits: ServeLimits,
        /// Serve the live web dashboard on this address too (e.g. 127.0.0.1:8080; beyond
        /// loopback it asks for --token-file's token).
        #[arg(long)]
        dashboard: Option<SocketAddr>,
    },
    /// Join a coordinator and run its trials.
    #[command(
        after_help = "Examples:\n  hypersearch worker --coordinator http://10.0.0.5:50051 --token-file secret.txt\n  \
        hypersearch worker --coordinator http://127.0.0.1:50051 --slots 2\n  \
        hypersearch worker --coordinator https://coordinator.lan:50051 --token-file secret.txt \
        --tls-ca ca.pem\n\n\
        A worker that lacks the study's data set fetches it from the coordinator into --data-dir."
    )]
    Worker {
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
    },
    /// List the studies in a database, with trial counts and best values.
    #[command(
        after_help = "Examples:\n  hypersearch studies\n  hypersearch studies --db runs.db --format json"
    )]
    Studies {
        #[command(flatten)]
        db: DbArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The best complete trials of a study: value, architecture and hyperparameters.
    #[command(
        after_help = "Examples:\n  hypersearch best --study digits-search --top 5\n  \
        hypersearch best --db runs.db --format json"
    )]
    Best {
        #[command(flatten)]
        db: DbArg,
        /// The study; may be left out when the database holds one.
        #[arg(long)]
        study: Option<String>,
        /// How many trials.
        #[arg(long, default_value_t = 10)]
        top: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The workers of a study: slots, what they ran and how it ended, last seen; or steer
    /// one on a running coordinator (drain, resume, quarantine).
    #[command(
        after_help = "Examples:\n  hypersearch workers --study digits-search\n  \
        hypersearch workers --db runs.db --format json\n  \
        hypersearch workers drain 3 --coordinator http://10.0.0.5:50051 --token-file token.txt"
    )]
    Workers {
        /// Steer one worker instead of listing them.
        #[command(subcommand)]
        steer: Option<SteerCommand>,
        #[command(flatten)]
        db: DbArg,
        /// The study; may be left out when the database holds one.
        #[arg(long)]
        study: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Every trial of a study, optionally filtered by state.
    #[command(
        after_help = "Examples:\n  hypersearch trials --study digits-search --state pruned\n  \
        hypersearch trials --sort value --format csv > trials.csv"
    )]
    Trials {
        #[command(flatten)]
        db: DbArg,
        /// The study; may be left out when the database holds one.
        #[arg(long)]
        study: Option<String>,
        /// Only trials in this state.
        #[arg(long, value_enum)]
        state: Option<StateFilter>,
        /// Row order.
        #[arg(long, value_enum, default_value_t = SortKey::Number)]
        sort: SortKey,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// What an early-stopping rule would have done on a study's recorded curves, fed in the
    /// order the epochs arrived: which trials it stops and when, epochs and seconds saved,
    /// which of the best trials it would have killed, against the recorded stops.
    #[command(
        after_help = "Examples:\n  hypersearch replay --study digits-search\n  \
        hypersearch replay --rule asha --reduction-factor 3 --min-resource 1\n  \
        hypersearch replay --rule median --warmup-epochs 2 --top 5 --format json\n\n\
        Without --rule it replays the study's own rule with its own options: the result is \
        the recorded decisions."
    )]
    Replay(crate::commands::replay::ReplayArgs),
    /// One trial: parameters, per-epoch history, why it ended, and how to re-run it.
    #[command(
        after_help = "Examples:\n  hypersearch show 7\n  hypersearch show 7 --study digits-search --format json"
    )]
    Show {
        /// The trial's number within its study.
        trial: u64,
        #[command(flatten)]
        db: DbArg,
        /// The study; may be left out when the database holds one.
        #[arg(long)]
        study: Option<String>,
        /// Output format (`csv` prints the per-epoch history).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Draw a study's charts as PNG or SVG files: history, learning curves, parameter
    /// importance, parallel coordinates, one slice per parameter, the worker timeline.
    Plot(crate::commands::plot::PlotArgs),
    /// Open a live web dashboard of the database's studies: history, curves, parallel
    /// coordinates, slices, the worker timeline, a trial table, each trial, comparisons.
    Dashboard(crate::commands::dashboard::DashboardArgs),
    /// Everything about a study, for pandas or a spreadsheet.
    #[command(
        after_help = "Examples:\n  hypersearch export --study digits-search --format csv > trials.csv\n  \
        hypersearch export --format json > study.json"
    )]
    Export {
        #[command(flatten)]
        db: DbArg,
        /// The study; may be left out when the database holds one.
        #[arg(long)]
        study: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
    },
    /// Which parameters decide whether a trial is among the best (PED-ANOVA), and which way
    /// each one pulls.
    Importance(crate::commands::importance::ImportanceArgs),
    /// Train one network locally and print its epoch table.
    #[command(after_help = "Examples:\n  hypersearch train examples/digits.toml\n  \
        hypersearch train examples/digits.toml --params '{\"training.learning_rate\": 0.01}' --format json\n  \
        hypersearch train examples/digits-search.toml --params \"$(hypersearch best --format json | jq -c '.[0].params')\"\n  \
        hypersearch train --trial 12 --db hypersearch.db\n  \
        hypersearch train examples/digits.toml --int8 --onnx digits-int8.onnx\n\n\
        --params takes a trial's `params` as best, trials and show print them (architecture choices \
        such as arch.units_1 included) or its `overrides` (training keys such as network.hidden).")]
    Train {
        /// A training config (e.g. examples/digits.toml) or a study config, whose training part is used.
        #[arg(required_unless_present = "trial")]
        config: Option<PathBuf>,
        /// Overrides of the config as a JSON object: a trial's params or overrides.
        #[arg(long, conflicts_with = "trial")]
        params: Option<String>,
        /// Re-run this stored trial (its study's training part with its overrides) instead.
        #[arg(long, conflicts_with = "config")]
        trial: Option<u64>,
        #[command(flatten)]
        db: DbArg,
        /// The study of `--trial`; may be left out when the database holds one.
        #[arg(long, requires = "trial")]
        study: Option<String>,
        /// `table` prints the epoch table, `json` one object with the whole history.
        #[arg(long, value_enum, default_value_t = TrainFormat::Table)]
        format: TrainFormat,
        /// Also draw the run's loss and accuracy by epoch as DIR/history.png and .svg.
        #[arg(long, value_name = "DIR")]
        plot: Option<PathBuf>,
        /// What to keep of the trained network: int8, ONNX, predictions.
        #[command(flatten)]
        artifacts: ArtifactArgs,
    },
}

/// `train`'s flags for the trained network itself (docs/MODELS.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ArtifactArgs {
    /// Quantize the trained network to int8 (as `[training] quantize = "int8"`) and report
    /// its accuracy and size next to f32's.
    #[arg(long)]
    pub int8: bool,
    /// Write the trained network as an ONNX model to FILE (int8 in QDQ form when quantizing).
    #[arg(long, value_name = "FILE")]
    pub onnx: Option<PathBuf>,
    /// Write the predictions on the test split (else the validation split) to FILE as CSV:
    /// split, row in its file, label, predicted class, each class's probability, and the
    /// int8 model's predicted class when quantizing.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
}

/// `serve`'s bounds on what workers and connections may take.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeLimits {
    /// Metric values a second each worker may report per trial it runs (a burst of one
    /// second's worth); faster reports are refused with RESOURCE_EXHAUSTED and retried.
    #[arg(long, default_value_t = 10_000.0)]
    pub report_rate: f64,
    /// Workers heard from within three leases, at most; more are refused until some leave.
    #[arg(long, default_value_t = 1_000)]
    pub max_workers: usize,
    /// Slots of those workers together, at most.
    #[arg(long, default_value_t = 10_000)]
    pub max_slots: u64,
    /// Registrations a second, at most (a burst of ten seconds' worth).
    #[arg(long, default_value_t = 10.0)]
    pub max_registrations: f64,
    /// Seconds a data transfer may wait for its client to take the next 1 MiB before it is
    /// cancelled and its place given to another worker.
    #[arg(long, default_value_t = 20.0)]
    pub transfer_timeout: f64,
    /// Metric values the study may store in all; past it reports are refused and their
    /// trials fail with the reason.
    #[arg(long, default_value_t = 100_000_000)]
    pub max_stored_values: u64,
    /// Connections open at once, at most (lowered to fit the process's file limit).
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// Connections that have made no authenticated call yet, at most; a new one closes
    /// the oldest.
    #[arg(long, default_value_t = 256)]
    pub max_unauthenticated: usize,
    /// Seconds a new connection has to make an authenticated call before it is closed.
    #[arg(long, default_value_t = 10.0)]
    pub handshake_timeout: f64,
    /// Seconds a connection may stay without a call in progress before it is closed.
    #[arg(long, default_value_t = 120.0)]
    pub idle_timeout: f64,
}

/// What `hypersearch workers` asks of one worker.
#[derive(Debug, Subcommand)]
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
