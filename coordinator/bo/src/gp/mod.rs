//! The Gaussian-process surrogate: zero prior mean on standardized outputs, Matérn 5/2 ARD
//! kernel. [`posterior`] holds a fitted posterior (batched prediction with gradients and the
//! constant-liar extension); [`fit`] chooses the hyperparameters by maximum a posteriori.

pub mod fit;
pub mod posterior;

pub use fit::{FitSettings, Fitted, fit};
pub use posterior::{Gp, Prediction};
