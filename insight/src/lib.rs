//! What a study's stored trials say: the one aggregation layer that `hypersearch plot`, the
//! dashboard, `importance` and `replay` draw from. Pure (no I/O): the store's read-only
//! queries feed it, and what it returns has a size bounded by the view, not by the study
//! (a 100,000-trial study gives a best-so-far line of its change points, a scatter sample of
//! a few thousand points, and percentile bands instead of 100,000 curves).
//!
//! Layout:
//! - [`trials`]: the study's trials ([`StudyTrials`]), what every view takes;
//! - [`history`]: the optimization history and its best-so-far line;
//! - [`curves`]: learning-curve percentile bands, the best curves, pruned trials' stops;
//! - [`params`]: parameter columns and axes for parallel coordinates and slices;
//! - [`timeline`]: one lane per worker, attempts as bars;
//! - [`importance`](mod@importance): which parameters decide whether a trial is among the best (PED-ANOVA,
//!   as Optuna 5 computes it) and which way each pulls;
//! - [`pareto`]: where each trial of a study with several objectives stands (front,
//!   dominated, infeasible);
//! - [`replay`]: an early-stopping rule replayed on the recorded curves, in the order the
//!   epochs arrived ([`replay::replay`]): what it stops, saves and would have killed;
//! - [`sample`]: thinning a series without losing its envelope, quantiles;
//! - [`error`]: what a view refuses to compute.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod curves;
pub mod error;
pub mod history;
pub mod importance;
pub mod params;
pub mod pareto;
pub mod replay;
pub mod sample;
pub mod timeline;
pub mod trials;

pub use error::Error;
pub use importance::{Importance, importance};
pub use trials::{Outcome, StudyTrials, TrialRow};
