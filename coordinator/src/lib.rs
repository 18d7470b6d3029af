//! The hypersearch coordinator: it owns a study, samples its trials, leases them to workers
//! over gRPC, decides early stopping from the streamed metrics, and records everything in
//! SQLite.
//!
//! Layout:
//! - [`store`]: the trials database (migrations, the single writer with grouped commits,
//!   loading a study to resume it, the read-only queries of the CLI).
//! - `scheduler`: trials, leases (fenced by trial, attempt and token, expiring on this
//!   process's monotonic clock), retries with separate infrastructure and user-error
//!   budgets, the sampler thread, the reaper; [`Progress`] figures.
//! - `service`: the thin gRPC handlers and the token check.
//! - `server`: [`Coordinator`], which opens or resumes a study and serves it.
//! - `connections`: every TCP connection counted and watched: silent and idle ones closed,
//!   a cap, back-off when out of file descriptors ([`ConnectionLimits`]).
//! - `tls`: [`ServerTls`], the certificate, key and optional client CA (rustls, ring).
//! - `workers`: each worker's credential, checked before anything else looks at a call,
//!   and the bounds on joining ([`JoinLimits`]).
//! - `limits`: token buckets: the metric values a worker stores, and registrations.
//! - `data`: the study's data files, hashed at start and read in checksummed chunks.
//! - `transfer`: sending them fairly: a few at once, two per worker, cancelled when the
//!   client stops taking chunks ([`TransferLimits`]).
//! - `model_uploads`: trained networks arriving from workers in checksummed pieces, held
//!   until whole (bounded), then kept through the scheduler (`[study] keep_models`).
//! - `checkpoint_reads`: the stored checkpoint a resumed attempt goes on from, read once
//!   from the database and served to its worker in checksummed pieces.
//! - `observe`: the gRPC health service, `/healthz`, `/readyz` and Prometheus `/metrics`.
//! - `error`: the one [`Error`] type and its mapping to gRPC status codes.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use hypersearch_coordinator::store::Location;
//! use hypersearch_coordinator::{Coordinator, Options};
//! use hypersearch_search::StudyConfig;
//!
//! let text = std::fs::read_to_string("examples/digits-search.toml")?;
//! let config = StudyConfig::from_toml_str(&text, "examples/digits-search.toml")?;
//! // A SQLite file, or PostgreSQL: Location::parse("postgres://user@host/db")?.
//! let db = Location::parse("trials.db")?;
//! let coordinator = Coordinator::open(&config, &text, &db, &Options::default()).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! // Workers join with `hypersearch worker --coordinator http://127.0.0.1:50051`.
//! let end = coordinator.serve(listener, None, std::future::pending()).await?;
//! println!("{} trials complete, best {:?}", end.complete, end.best);
//! # Ok(()) }
//! ```

mod checkpoint_reads;
mod connections;
mod error;
mod limits;
mod model_uploads;
mod observe;
mod scheduler;
mod served_files;
mod server;
mod service;
pub mod store;
mod tls;
mod transfer;
mod workers;

/// The coordinator's reassembly of the models and checkpoints workers send in pieces, for the
/// fuzz targets in `fuzz/` (feature `fuzzing`, which release builds never enable).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::model_uploads::{ModelUploads, Received};
}

pub use connections::ConnectionLimits;
pub use error::Error;
pub use scheduler::Progress;
#[cfg(feature = "test-hooks")]
pub use served_files::CORRUPT_CHUNK_ENV;
pub use server::{Coordinator, Options};
pub use tls::ServerTls;
pub use transfer::TransferLimits;
pub use workers::JoinLimits;
