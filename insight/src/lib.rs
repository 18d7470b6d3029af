//! What a study's stored trials say: the one aggregation layer that `hypersearch plot`, the
//! dashboard, `importance` and `replay` draw from. Pure (no I/O): the store's read-only
//! queries feed it, and what it returns has a size bounded by the view, not by the study
//! (a 100,000-trial study gives a best-so-far line of its change points, a scatter sample of
//! a few thousand points, and percentile bands instead of 100,000 curves).
//!
//! Layout:
//! - [`trials`]: the study's trials in columns ([`StudyTrials`]), what every view takes.
//! - [`replay`]: an early-stopping rule replayed on the recorded curves, in the order the
//!   epochs arrived ([`replay::replay`]): what it stops, saves and would have killed.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod replay;
pub mod trials;

pub use trials::{Outcome, StudyTrials, TrialRow};
