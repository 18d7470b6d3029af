//! Gaussian-process Bayesian optimization on a mixed unit-cube encoding: pure numerics, no
//! I/O. The search crate encodes a search space into [`Column`]s (continuous, grid of
//! values, categorical), hands the [`Engine`] the encoded history (observed points with
//! values to minimize, pending points) and decodes the point(s) it returns.
//!
//! What the engine does, in order: scrambled-Sobol initial design; output warping (Box-Cox /
//! Yeo-Johnson, HEBO's rule); a zero-mean GP with a Matérn 5/2 ARD kernel (Hamming distance on
//! categorical columns) whose hyperparameters are fitted by MAP with Optuna's priors
//! (L-BFGS-B, analytic gradients, warm start plus restarts while data are few); log expected
//! improvement computed stably far into the tail; its maximization by 2048 Sobol candidates
//! scored in one batch plus 10 local searches (L-BFGS-B in length-scale units alternating
//! with discrete-column search), confined to a trust region around the incumbent (in the
//! continuous columns and the integer ranges) whose side follows TuRBO's success/failure
//! rule (with q points in flight, shrinking only after ⌈¾q⌉ failures in a row, q in a space
//! that takes the global steps: one with a categorical column, where every 3rd suggestion
//! searches the whole cube on the global model); pending points as lies through a Cholesky extension (each
//! its posterior mean, and the one expected to improve most becomes the incumbent, so that
//! a batch builds on the improvements it expects), or as fantasies (log-EI averaged over
//! joint posterior samples of their outcomes); the lower confidence bound on the
//! lie-extended posterior instead of log-EI (GP-BUCB), so that a round of parallel
//! suggestions spreads out, and one at a time too in a space without the global steps (no
//! categorical column, or those steps off) and without constraints; under constraints
//! ([`Engine::suggest_constrained`]), one GP per constraint margin and the acquisition multiplied by the probability of feasibility, the
//! best feasible observation as the incumbent; with two objectives
//! ([`Engine::suggest_pareto`]), one GP per objective and the expected hypervolume
//! improvement of the observed front; no repeats of observed or pending points.
//!
//! Layout:
//! - [`column`](mod@column): what each coordinate means, snapping onto allowed values;
//! - [`engine`]: the entry point, [`Engine::suggest`];
//! - [`gp`]: the posterior ([`gp::posterior`]) and the hyperparameter fit ([`gp::fit`](mod@gp::fit));
//! - [`kernel`]: Matérn 5/2 ARD with Hamming distance;
//! - [`acquisition`]: log-EI, log-PI, LCB with gradients;
//! - [`feasibility`]: constraint GPs and the probability of feasibility;
//! - [`hypervolume`]: the expected hypervolume improvement of two objectives;
//! - [`optimize`]: the acquisition maximizer;
//! - [`pending`]: fantasized outcomes of pending points;
//! - [`transform`]: output warping;
//! - [`special`]: erfcx, log-h and normal-distribution tails;
//! - [`lbfgsb`]: bound-constrained L-BFGS as an ask/tell state machine;
//! - [`sobol`]: scrambled Sobol points;
//! - [`linalg`]: the only door to faer.
//!
//! # Example
//! ```
//! use hypersearch_bo::{Column, Engine, History, Settings};
//!
//! let mut engine = Engine::new(vec![Column::Continuous, Column::Categorical(3)], Settings::default())?;
//! let (mut points, mut values) = (Vec::new(), Vec::new());
//! for trial in 0..12 {
//!     let history = History { points: &points, values: &values, pending: &[] };
//!     let next = engine.suggest(&history, 1, trial)?.remove(0);
//!     let category = Column::category_index(next[1], 3) as f64;
//!     values.push((next[0] - 0.3).powi(2) + category);
//!     points.extend(next);
//! }
//! assert_eq!(values.len(), 12);
//! # Ok::<(), hypersearch_bo::Error>(())
//! ```

pub mod acquisition;
pub mod column;
pub mod engine;
mod error;
pub mod feasibility;
pub mod gp;
pub mod hypervolume;
pub mod kernel;
pub mod lbfgsb;
pub mod linalg;
pub mod optimize;
pub mod pending;
pub mod sobol;
pub mod special;
pub mod transform;

pub use column::{Column, Columns};
pub use engine::{
    AcquisitionChoice, Engine, History, Liar, Margins, OutputWarping, ParetoHistory, Settings,
    TrustRegion,
};
pub use error::Error;
