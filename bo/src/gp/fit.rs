//! Maximum-a-posteriori kernel hyperparameters: the negative log marginal likelihood plus
//! Optuna's default priors, minimized by L-BFGS-B over log parameters with analytic
//! gradients, warm-started from the previous fit, with extra starts while data are few.
//!
//! Raw parameters: `[ln λ_1 … ln λ_d, ln c, ln(s² - floor)]`.

use rand::{Rng, RngExt};

use crate::kernel::{Inputs, KernelParams, matern52_with_derivative_into};
use crate::lbfgsb::{self, Settings};
use crate::linalg::{
    Matrix, cholesky, inverse_lower_from_cholesky, solve_lower_in_place,
    solve_lower_transpose_in_place, vectorized,
};
use crate::special::standard_normal as normal;

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// How hyperparameters are fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSettings {
    /// Smallest noise variance (on standardized outputs). It bounds how finely a fit can
    /// tell apart values near the best: at 1e-6 (Optuna's floor) the search stalled near
    /// 1e-3 of the values' spread, at 1e-8 the sampler benchmark's medians fell from
    /// 6.4e-7 to 5.4e-8 on branin and from 6.2e-7 to 8.0e-8 on `mixed_schedule`; a kernel
    /// matrix that does not factor gets jitter.
    pub noise_floor: f64,
    /// Starts drawn from the priors in addition to the warm start and the defaults, used
    /// while fewer than [`FitSettings::restart_below`] points are observed.
    pub random_restarts: usize,
    /// Number of points from which on only the warm start (or the defaults) is used.
    pub restart_below: usize,
    /// L-BFGS iterations per start.
    pub max_iterations: usize,
    /// Projected-gradient tolerance (Optuna: 1e-2).
    pub gtol: f64,
}

impl Default for FitSettings {
    fn default() -> Self {
        Self {
            noise_floor: 1e-8,
            random_restarts: 2,
            restart_below: 50,
            max_iterations: 200,
            gtol: 1e-2,
        }
    }
}

/// A fitted set of hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// The hyperparameters.
    pub params: KernelParams,
    /// The raw log parameters (the next fit's warm start).
    pub raw: Vec<f64>,
    /// The negative log posterior reached (`+inf` if no start could be evaluated).
    pub objective: f64,
}

/// Lower and upper bounds of the raw parameters.
fn bounds(d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut lower = vec![(1e-4f64).ln(); d];
    let mut upper = vec![(1e6f64).ln(); d];
    lower.extend([(1e-3f64).ln(), (1e-9f64).ln()]);
    upper.extend([(1e3f64).ln(), (10f64).ln()]);
    (lower, upper)
}

/// The raw defaults: unit length scales and signal, noise 0.01.
pub fn default_raw(d: usize, noise_floor: f64) -> Vec<f64> {
    let mut raw = vec![0.0; d + 2];
    raw[d + 1] = (0.01 - noise_floor).ln();
    raw
}

/// Hyperparameters from raw log parameters.
pub fn params_from_raw(raw: &[f64], noise_floor: f64) -> KernelParams {
    let d = raw.len() - 2;
    KernelParams {
        inverse_squared_lengthscales: raw[..d].iter().map(|v| v.exp()).collect(),
        signal: raw[d].exp(),
        noise: noise_floor + raw[d + 1].exp(),
    }
}

/// `-ln p(θ)` of Optuna's default priors and its gradient with respect to the raw
/// parameters (added into `grad`).
fn negative_log_prior(params: &KernelParams, raw: &[f64], grad: &mut [f64]) -> f64 {
    let d = params.inverse_squared_lengthscales.len();
    let mut value = 0.0;
    for (j, &lam) in params.inverse_squared_lengthscales.iter().enumerate() {
        value += 0.1 / lam + 0.1 * lam;
        grad[j] += -0.1 / lam + 0.1 * lam;
    }
    let c = params.signal;
    value += -(c.ln() - c);
    grad[d] += c - 1.0;
    let s2 = params.noise;
    value += -(0.1 * s2.ln() - 30.0 * s2);
    grad[d + 1] += -(0.1 / s2 - 30.0) * raw[d + 1].exp();
    value
}

/// The negative log posterior (negative log marginal likelihood plus negative log prior)
/// at `raw`, its gradient written into `grad`. `+inf` if the kernel matrix does not factor.
pub fn negative_log_posterior(
    inputs: &Inputs,
    y: &[f64],
    raw: &[f64],
    noise_floor: f64,
    grad: &mut [f64],
) -> f64 {
    let n = inputs.len();
    let d = inputs.dims();
    let params = params_from_raw(raw, noise_floor);
    let lam = &params.inverse_squared_lengthscales;
    let c = params.signal;
    // Lower triangles only (the factorization reads no more): column b holds rows a > b.
    let mut k = Matrix::zeros(n, n);
    let mut dm = Matrix::zeros(n, n);
    let mut r2 = vec![0.0; n];
    vectorized(
        #[inline(always)]
        || {
            for b in 0..n {
                let below = &mut r2[..n - b - 1];
                inputs.scaled_sq_distances_from(b + 1, inputs.row(b), lam, below);
                let (kcol, dcol) = (&mut k.col_mut(b)[b + 1..], &mut dm.col_mut(b)[b + 1..]);
                matern52_with_derivative_into(below, kcol, dcol);
                kcol.iter_mut().for_each(|v| *v *= c);
            }
        },
    );
    for b in 0..n {
        k.set(b, b, c + params.noise);
    }
    let Some(chol) = cholesky(&k, 0.0) else {
        grad.iter_mut().for_each(|g| *g = 0.0);
        return f64::INFINITY;
    };
    let l = &chol.factor;
    let mut alpha = y.to_vec();
    solve_lower_in_place(l, &mut alpha);
    let quad: f64 = alpha.iter().map(|v| v * v).sum();
    solve_lower_transpose_in_place(l, &mut alpha);
    let logdet: f64 = (0..n).map(|i| 2.0 * l.get(i, i).ln()).sum();
    let nll = 0.5 * quad + 0.5 * logdet + 0.5 * n as f64 * LN_2PI;

    // d(-MLL)/dθ = -½ tr(M·dK/dθ) with M = ααᵀ - K⁻¹ (symmetric).
    let kinv = inverse_lower_from_cholesky(l);
    grad.iter_mut().for_each(|g| *g = 0.0);
    let mut trace_m = 0.0;
    let mut signal_term = 0.0;
    let mut weights = vec![0.0; n];
    vectorized(
        #[inline(always)]
        || {
            for b in 0..n {
                let mbb = alpha[b] * alpha[b] - kinv.get(b, b);
                trace_m += mbb;
                signal_term += mbb * c;
                // Rows a > b of column b: M_ab = α_a·α_b - (K⁻¹)_ab, and both triangles'
                // -½·M_ab·c·m'(r²_ab) per unit of λ_j·d_j².
                let w = &mut weights[..n - b - 1];
                let (kinv_col, k_col, dm_col) = (
                    &kinv.col(b)[b + 1..],
                    &k.col(b)[b + 1..],
                    &dm.col(b)[b + 1..],
                );
                for ((((wv, &ka), &kv), &dv), &aa) in w
                    .iter_mut()
                    .zip(kinv_col)
                    .zip(k_col)
                    .zip(dm_col)
                    .zip(&alpha[b + 1..])
                {
                    let mab = aa * alpha[b] - ka;
                    signal_term += 2.0 * mab * kv;
                    *wv = -mab * c * dv;
                }
                for (j, g) in grad[..d].iter_mut().enumerate() {
                    let col = &inputs.column(j)[b + 1..];
                    let xb = inputs.column(j)[b];
                    *g += if inputs.categorical()[j] {
                        w.iter()
                            .zip(col)
                            .map(|(wv, &xa)| if xa == xb { 0.0 } else { *wv })
                            .sum::<f64>()
                    } else {
                        w.iter()
                            .zip(col)
                            .map(|(wv, &xa)| wv * (xa - xb) * (xa - xb))
                            .sum::<f64>()
                    };
                }
            }
        },
    );
    for j in 0..d {
        grad[j] *= lam[j];
    }
    grad[d] = -0.5 * signal_term;
    grad[d + 1] = -0.5 * trace_m * raw[d + 1].exp();
    nll + negative_log_prior(&params, raw, grad)
}

/// Fits the hyperparameters to `y` at `inputs` by MAP: from `warm` (if given, e.g. the
/// previous fit), the defaults, and, while data are few, random draws; keeps the best.
/// Falls back to the defaults when no start can be evaluated.
pub fn fit(
    inputs: &Inputs,
    y: &[f64],
    warm: Option<&[f64]>,
    settings: &FitSettings,
    rng: &mut (impl Rng + ?Sized),
) -> Fitted {
    let d = inputs.dims();
    let (lower, upper) = bounds(d);
    let defaults = default_raw(d, settings.noise_floor);
    let mut starts: Vec<Vec<f64>> = Vec::new();
    if let Some(w) = warm.filter(|w| w.len() == d + 2) {
        starts.push(w.to_vec());
    }
    if starts.is_empty() || inputs.len() < settings.restart_below {
        starts.push(defaults.clone());
    }
    if inputs.len() < settings.restart_below {
        for _ in 0..settings.random_restarts {
            let mut raw: Vec<f64> = (0..d).map(|_| 1.5 * normal(rng)).collect();
            raw.push(0.5 * normal(rng));
            let log_noise = (1e-6f64).ln() + rng.random::<f64>() * ((0.1f64).ln() - (1e-6f64).ln());
            raw.push(log_noise);
            starts.push(raw);
        }
    }
    let lbfgs = Settings {
        max_iterations: settings.max_iterations,
        pgtol: settings.gtol,
        ..Settings::default()
    };
    let mut best: Option<(Vec<f64>, f64)> = None;
    for start in starts {
        let objective = |raw: &[f64], g: &mut [f64]| {
            negative_log_posterior(inputs, y, raw, settings.noise_floor, g)
        };
        let (raw, value) = lbfgsb::minimize(
            objective,
            &start,
            lower.clone(),
            upper.clone(),
            lbfgs.clone(),
        );
        if value.is_finite() && best.as_ref().is_none_or(|(_, b)| value < *b) {
            best = Some((raw, value));
        }
    }
    let (raw, objective) = best.unwrap_or((defaults, f64::INFINITY));
    Fitted {
        params: params_from_raw(&raw, settings.noise_floor),
        raw,
        objective,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn data(n: usize, seed: u64) -> (Inputs, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let (a, b): (f64, f64) = (rng.random(), rng.random());
            let cat = Column::category_position(rng.random_range(0..3), 3);
            rows.extend([a, b, cat]);
            y.push((5.0 * a).sin() + 0.3 * b + if cat < 0.4 { 0.5 } else { 0.0 });
        }
        (Inputs::new(rows, vec![false, false, true]), y)
    }

    use crate::Column;

    #[test]
    fn gradient_matches_finite_differences() {
        let (inputs, y) = data(25, 1);
        let raw = vec![0.3, -0.5, 0.2, 0.1, (0.02f64).ln()];
        let mut g = vec![0.0; 5];
        negative_log_posterior(&inputs, &y, &raw, 1e-6, &mut g);
        for k in 0..5 {
            let eps = 1e-6;
            let (mut up, mut down) = (raw.clone(), raw.clone());
            up[k] += eps;
            down[k] -= eps;
            let mut scratch = vec![0.0; 5];
            let fd = (negative_log_posterior(&inputs, &y, &up, 1e-6, &mut scratch)
                - negative_log_posterior(&inputs, &y, &down, 1e-6, &mut scratch))
                / (2.0 * eps);
            assert!(
                (g[k] - fd).abs() < 1e-5 * (1.0 + fd.abs()),
                "component {k}: {} vs {fd}",
                g[k]
            );
        }
    }

    #[test]
    fn fit_improves_on_the_defaults_and_is_deterministic() {
        let (inputs, y) = data(30, 2);
        let settings = FitSettings::default();
        let mut scratch = vec![0.0; 5];
        let at_defaults =
            negative_log_posterior(&inputs, &y, &default_raw(3, 1e-6), 1e-6, &mut scratch);
        let a = fit(
            &inputs,
            &y,
            None,
            &settings,
            &mut ChaCha8Rng::seed_from_u64(7),
        );
        let b = fit(
            &inputs,
            &y,
            None,
            &settings,
            &mut ChaCha8Rng::seed_from_u64(7),
        );
        assert!(
            a.objective < at_defaults - 1.0,
            "{} vs {at_defaults}",
            a.objective
        );
        assert_eq!(a, b);
        // The irrelevant-ish second column gets a longer length scale than the first.
        assert!(
            a.params.inverse_squared_lengthscales[0] > a.params.inverse_squared_lengthscales[1]
        );
    }
}
