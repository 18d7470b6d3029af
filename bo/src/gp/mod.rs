//! The Gaussian-process surrogate: zero prior mean on standardized outputs, Matérn 5/2 ARD
//! kernel. [`posterior`] holds a fitted posterior and its constant-liar extension,
//! [`predict`] the batched prediction with gradients, [`fit`] chooses the hyperparameters by
//! maximum a posteriori.

pub mod fit;
pub mod posterior;
pub mod predict;

pub use fit::{FitSettings, Fitted, fit};
pub use posterior::Gp;
pub use predict::{MultiPrediction, Prediction};
