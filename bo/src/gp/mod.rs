//! The Gaussian-process surrogate: zero prior mean on standardized outputs, Matérn 5/2 ARD
//! kernel. [`posterior`] holds a fitted posterior and its constant-liar extension,
//! [`predict`] the batched prediction with gradients, [`fit`](mod@fit) chooses the hyperparameters by
//! maximum a posteriori.

pub mod fit;
pub mod posterior;
pub mod predict;

pub use fit::{FitSettings, Fitted, fit};
pub use posterior::Gp;
pub use predict::{MultiPrediction, Prediction};

use rand::Rng;

use crate::kernel::Inputs;
use crate::transform::{OutputTransform, Warp};

/// A GP fitted to `values` standardized (no power warp), as the constraint and objective
/// models of several outputs use it.
#[derive(Debug, Clone)]
pub struct Standardized {
    /// The posterior on the standardized values.
    pub gp: Gp,
    /// The standardization (values in, the GP's scale out).
    pub transform: OutputTransform,
    /// The raw hyperparameters, to warm-start the next fit from (see [`fit`](mod@fit)).
    pub raw: Vec<f64>,
}

impl Standardized {
    /// Fits a GP to `values` (one per row of `inputs`, all finite) after standardizing them.
    /// `warm` is the previous fit's raw hyperparameters: the start of the optimization, or,
    /// with `reuse`, the hyperparameters themselves (no optimization). `None` when the fit
    /// or the factorization fails.
    pub fn fit(
        inputs: Inputs,
        values: &[f64],
        warm: Option<&[f64]>,
        reuse: bool,
        settings: &FitSettings,
        rng: &mut (impl Rng + ?Sized),
    ) -> Option<Self> {
        let (transform, y) = OutputTransform::with_warp(values, Warp::Identity);
        let (params, raw) = match warm {
            Some(raw) if reuse => (
                fit::params_from_raw(raw, settings.noise_floor),
                raw.to_vec(),
            ),
            _ => {
                let fitted = fit(&inputs, &y, warm, settings, rng);
                if !fitted.objective.is_finite() {
                    return None;
                }
                (fitted.params, fitted.raw)
            }
        };
        let gp = Gp::new(inputs, y, params)?;
        Some(Self { gp, transform, raw })
    }
}
