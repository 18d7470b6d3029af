//! The hypersearch coordinator: it owns a study, samples its trials, leases them to workers
//! over gRPC, decides early stopping from the streamed metrics, and records everything in
//! SQLite.
//!
//! Layout:
//! - [`store`]: the trials database (migrations, the single writer with grouped commits,
//!   loading a study to resume it, the read-only queries of the CLI).
//! - `error`: the one [`Error`] type and its mapping to gRPC status codes.

mod error;
pub mod store;

pub use error::Error;
