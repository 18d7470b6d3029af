//! The coordinator/worker gRPC protocol of hypersearch.
//!
//! This crate owns the `.proto` files, the code tonic and prost generate from them, and every
//! conversion between those generated types and the plain Rust types the coordinator and the
//! worker work with; neither of them touches a prost type outside a gRPC handler or call.
//!
//! Layout:
//! - [`pb`]: the generated messages, the `Coordinator` client and server.
//! - [`codec`]: prost's codec, with undecodable messages answered `INVALID_ARGUMENT`.
//! - [`domain`]: the protocol's plain types ([`LeaseId`], [`Assignment`], [`Outcome`], ...).
//! - `convert`: `From`/`TryFrom` between the two; incoming messages are validated here
//!   ([`ConvertError`] names the field that is wrong).
//! - [`auth`]: the bearer token and the per-worker credentials both sides use, and their
//!   constant-time check.
//! - [`data_transfer`]: the data-set transfer's types (files named by SHA-256, checksummed chunks).
//! - [`model_transfer`]: a finished trial's trained network sent to the coordinator in
//!   checksummed pieces, fenced on its lease.
//! - [`visible`]: a remote party's text made safe to print (escapes shown, not acted on).
//! - [`pem`]: the TLS files both sides load (certificates, CAs, keys), checked when read.
//!
//! ```
//! use hypersearch_proto::{pb, LeaseId};
//! let lease = LeaseId { trial: 3, attempt: 1, token: 42 };
//! let wire: pb::LeaseRef = lease.into();
//! assert_eq!(LeaseId::try_from(Some(wire)).unwrap(), lease);
//! ```

pub mod auth;
pub mod codec;
mod convert;
pub mod data_transfer;
pub mod domain;
pub mod model_transfer;
pub mod pem;
pub mod visible;

pub use convert::{ConvertError, MAX_EPOCHS, MAX_ERROR_BYTES, MAX_METRICS, MAX_NAME_BYTES};
pub use domain::*;

/// Code generated from `proto/hypersearch/v1/coordinator.proto`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("hypersearch.v1");
}

/// Largest message either side decodes or encodes (bytes). Trials, reports and configs are
/// small; anything bigger is a mistake or an attack.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The gRPC status metadata key naming, for a program to act on, why a call was refused.
pub const REFUSAL_KEY: &str = "hypersearch-refusal";

/// [`REFUSAL_KEY`]'s value on a `FAILED_PRECONDITION` from a coordinator with no record of
/// the worker (its database was replaced): the worker joins again.
pub const UNKNOWN_WORKER: &str = "unknown-worker";
