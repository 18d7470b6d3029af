//! Integration tests of the search library: one test binary, modules by concept.

#![allow(clippy::unwrap_used, missing_docs)]

mod config_errors;
mod optimize;
mod properties;
