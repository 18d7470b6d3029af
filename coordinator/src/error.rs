//! The coordinator's one error type, and the one place that maps it to gRPC status codes.

use std::path::PathBuf;

use hypersearch_proto::LeaseId;
use hypersearch_proto::data_transfer::Checksum;

/// Everything that can go wrong in the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The trials database could not be opened or created.
    #[error("cannot open the trials database {database}: {reason}")]
    OpenDatabase {
        /// The database file, or its URL with the password hidden.
        database: String,
        /// What the database said (in the message; not chained again).
        reason: sqlx::Error,
    },
    /// A `postgres://` URL that does not parse.
    #[error("cannot use the database URL {url}: {problem}")]
    BadDatabaseUrl {
        /// The URL, its password hidden.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The schema migrations could not be applied.
    #[error("cannot apply the schema migrations to {database}: {reason}")]
    Migrate {
        /// The database file, or its URL with the password hidden.
        database: String,
        /// What went wrong (in the message; not chained again).
        reason: sqlx::migrate::MigrateError,
    },
    /// A statement failed.
    #[error("trials database: {context}: {message}")]
    Database {
        /// What the coordinator was doing.
        context: &'static str,
        /// What SQLite said.
        message: String,
    },
    /// A stored value is not what its column holds (a hand-edited or damaged database): a
    /// NULL where a value belongs, text where a number belongs, JSON that does not parse.
    #[error("the trials database is damaged at {what}: {value}")]
    Corrupt {
        /// Where: the row (`trial 12 of study `x``) and its column (`trials.value`).
        what: String,
        /// What was expected and what is there (`expected a number, found text "abc"`).
        value: String,
    },
    /// The study exists in the database with a different configuration.
    #[error(
        "study `{name}` already exists in {database} with a different configuration:\n  {}\n\
         give the study a new name or use another --db to search differently (a resumed study \
         may change only trials, parallel, trial_timeout, max_attempts, failure_retries, \
         quarantine_after, comments and layout)",
        differences.join("\n  ")
    )]
    StudyChanged {
        /// The study's name.
        name: String,
        /// The database file, or its URL with the password hidden.
        database: String,
        /// What differs, one field a line (`search.seed: 7 -> 8`).
        differences: Vec<String>,
    },
    /// A resumed study's trial budget is below the trials it has already created.
    #[error(
        "study `{name}` has {trials} trials already: `trials = {budget}` cannot take it back \
         below that (give at least {trials})"
    )]
    BudgetBelowTrials {
        /// The study's name.
        name: String,
        /// Trials created so far.
        trials: u64,
        /// The budget asked for.
        budget: u64,
    },
    /// Another coordinator serves this database (SQLite) or study (PostgreSQL).
    #[error(
        "{database} already has a coordinator: {holder}; stop it first (two coordinators \
         would hand out the same trials), or use another --db"
    )]
    AlreadyServed {
        /// The database file, or its URL with the password hidden.
        database: String,
        /// Who holds it, as far as known.
        holder: String,
    },
    /// A query named a study the database does not hold.
    #[error("no study named `{name}` in {database}{}", available_list(available))]
    UnknownStudy {
        /// The name asked for.
        name: String,
        /// The database file, or its URL with the password hidden.
        database: String,
        /// The studies it does hold.
        available: Vec<String>,
    },
    /// A query named no study, and the database holds several.
    #[error(
        "{database} holds {} studies: name one with --study ({})",
        available.len(),
        available.join(", ")
    )]
    StudyNeeded {
        /// The database file, or its URL with the password hidden.
        database: String,
        /// The studies it holds.
        available: Vec<String>,
    },
    /// A query named a trial the study does not have.
    #[error("study `{study}` has no trial {number}")]
    UnknownTrial {
        /// The study.
        study: String,
        /// The trial number asked for.
        number: u64,
    },
    /// An operator named a worker the study does not have.
    #[error("this study has no worker {0} (hypersearch workers lists them)")]
    NoSuchWorker(u64),
    /// A request came from a worker id the coordinator never registered.
    #[error("unknown worker {0}: register first")]
    UnknownWorker(u64),
    /// A report or completion whose lease is no longer (or never was) the sender's.
    #[error("{lease} is not held by worker {worker}: {reason}")]
    LeaseNotHeld {
        /// The lease the message carried.
        lease: LeaseId,
        /// The sender.
        worker: u64,
        /// Why: expired, superseded by a retry, finished, another worker's, ...
        reason: String,
    },
    /// A message that is well formed but contradicts what the coordinator knows.
    #[error("{lease}: {problem}")]
    Protocol {
        /// The lease the message carried.
        lease: LeaseId,
        /// What is wrong.
        problem: String,
    },
    /// The sampler failed; the study cannot go on.
    #[error("sampler failed: {0}")]
    Sampler(String),
    /// The study stopped before its end (a sampler or database failure).
    #[error("the study cannot go on: {0}")]
    StudyStopped(String),
    /// The coordinator is shutting down.
    #[error("the coordinator is shutting down")]
    ShuttingDown,
    /// A TLS certificate or key file cannot be used.
    #[error("{}: {problem}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file of the study's data set cannot be served.
    #[error("data file {}: {problem}", path.display())]
    DataFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// A worker asked for a data file the study does not have.
    #[error("this study has no data file with SHA-256 {0}")]
    UnknownDataFile(Checksum),
    /// A request for a data file that cannot be answered (e.g. an offset past its end).
    #[error("bad data request: {0}")]
    BadDataRequest(String),
    /// A trained network a worker sent that the coordinator does not keep (its bytes do not
    /// match the digest they were announced with).
    #[error("model refused: {0}")]
    ModelRefused(String),
    /// A checkpoint a worker sent or asked for that the coordinator does not take or serve
    /// (the study takes none, its epoch was not reported, the attempt did not resume).
    #[error("checkpoint refused: {0}")]
    CheckpointRefused(String),
    /// A worker sent metric values faster than its bound.
    #[error(
        "worker {worker} sends metric values faster than {per_trial} a second per running \
         trial; slow down (serve --report-rate sets the bound)"
    )]
    RateLimited {
        /// The worker.
        worker: u64,
        /// Metric values a second allowed per running trial.
        per_trial: f64,
    },
    /// A call named a worker without that worker's credential.
    #[error("worker {worker}: {problem}")]
    BadCredential {
        /// The worker id the call named.
        worker: u64,
        /// What was wrong.
        problem: &'static str,
    },
    /// The study's storage budget for metric values is spent.
    #[error(
        "{lease}: the study has stored its budget of {budget} metric values; \
         nothing more is recorded (serve --max-stored-values sets the budget)"
    )]
    StorageFull {
        /// The lease of the refused report.
        lease: LeaseId,
        /// The budget.
        budget: u64,
    },
    /// A worker that may lease no more trials.
    #[error("worker {worker} is quarantined: {reason}; it may lease no more trials")]
    Quarantined {
        /// The worker.
        worker: u64,
        /// Why.
        reason: String,
    },
    /// A data transfer the coordinator cannot start now.
    #[error("cannot send the data file now: {0}")]
    TransfersBusy(String),
    /// A registration the coordinator cannot take now (a rate or capacity bound).
    #[error("cannot join: {0}")]
    JoinRefused(String),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

fn available_list(available: &[String]) -> String {
    if available.is_empty() {
        " (it holds no study)".to_string()
    } else {
        format!(" (it holds: {})", available.join(", "))
    }
}

impl Error {
    /// A [`Error::Database`] from a failed statement.
    pub(crate) fn database(context: &'static str, err: sqlx::Error) -> Self {
        Error::Database {
            context,
            message: err.to_string(),
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        use tonic::Status;
        let message = err.to_string();
        match err {
            Error::LeaseNotHeld { .. } => Status::failed_precondition(message),
            Error::UnknownWorker(_) => {
                // Said in metadata too, so that the worker joins again rather than give up.
                let mut status = Status::failed_precondition(message);
                status.metadata_mut().insert(
                    hypersearch_proto::REFUSAL_KEY,
                    tonic::metadata::MetadataValue::from_static(hypersearch_proto::UNKNOWN_WORKER),
                );
                status
            }
            Error::Protocol { .. } => Status::invalid_argument(message),
            Error::StorageFull { .. } => Status::out_of_range(message),
            Error::UnknownStudy { .. }
            | Error::StudyNeeded { .. }
            | Error::UnknownTrial { .. }
            | Error::NoSuchWorker(_) => Status::not_found(message),
            Error::ShuttingDown => Status::unavailable(message),
            Error::RateLimited { .. } | Error::JoinRefused(_) | Error::TransfersBusy(_) => {
                Status::resource_exhausted(message)
            }
            Error::BadCredential { .. } => Status::unauthenticated(message),
            Error::Quarantined { .. } => Status::permission_denied(message),
            Error::UnknownDataFile(_) => Status::not_found(message),
            Error::BadDataRequest(_) | Error::ModelRefused(_) | Error::CheckpointRefused(_) => {
                Status::invalid_argument(message)
            }
            Error::OpenDatabase { .. }
            | Error::BadDatabaseUrl { .. }
            | Error::Migrate { .. }
            | Error::Database { .. }
            | Error::Corrupt { .. }
            | Error::StudyChanged { .. }
            | Error::BudgetBelowTrials { .. }
            | Error::AlreadyServed { .. }
            | Error::Sampler(_)
            | Error::StudyStopped(_)
            | Error::Serve(_)
            | Error::Tls { .. }
            | Error::DataFile { .. } => Status::internal(message),
        }
    }
}
