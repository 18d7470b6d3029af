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
//! - `error`: the one [`Error`] type and its mapping to gRPC status codes.

mod error;
mod scheduler;
mod server;
mod service;
pub mod store;

pub use error::Error;
pub use scheduler::Progress;
pub use server::{Coordinator, Options};
