//! Output warping the HEBO way: divide by the standard deviation, apply a Box-Cox (all
//! values positive) or Yeo-Johnson power transform with λ chosen by maximum likelihood, then
//! standardize. It compresses heavy upper tails and spreads out the values near the optimum.

/// The power transform applied after scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Warp {
    /// No power transform.
    Identity,
    /// Box-Cox with this λ (needs positive values).
    BoxCox(f64),
    /// Yeo-Johnson with this λ.
    YeoJohnson(f64),
}

/// A fitted monotone increasing map from observed values to standardized warped values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputTransform {
    scale: f64,
    warp: Warp,
    mean: f64,
    std: f64,
}

/// Range searched for λ.
const LAMBDA_RANGE: (f64, f64) = (-3.0, 3.0);

fn box_cox(y: f64, lambda: f64) -> f64 {
    if lambda.abs() < 1e-12 {
        y.ln()
    } else {
        (lambda * y.ln()).exp_m1() / lambda
    }
}

fn box_cox_inverse(t: f64, lambda: f64) -> f64 {
    if lambda.abs() < 1e-12 {
        t.exp()
    } else {
        ((lambda * t).ln_1p() / lambda).exp()
    }
}

fn yeo_johnson(y: f64, lambda: f64) -> f64 {
    if y >= 0.0 {
        if lambda.abs() < 1e-12 {
            y.ln_1p()
        } else {
            (lambda * y.ln_1p()).exp_m1() / lambda
        }
    } else {
        let l2 = 2.0 - lambda;
        if l2.abs() < 1e-12 {
            -(-y).ln_1p()
        } else {
            -(l2 * (-y).ln_1p()).exp_m1() / l2
        }
    }
}

fn yeo_johnson_inverse(t: f64, lambda: f64) -> f64 {
    if t >= 0.0 {
        if lambda.abs() < 1e-12 {
            t.exp_m1()
        } else {
            ((lambda * t).ln_1p() / lambda).exp_m1()
        }
    } else {
        let l2 = 2.0 - lambda;
        if l2.abs() < 1e-12 {
            -(-t).exp_m1()
        } else {
            -((-l2 * t).ln_1p() / l2).exp_m1()
        }
    }
}

fn mean_and_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn apply(warp: Warp, y: f64) -> f64 {
    match warp {
        Warp::Identity => y,
        Warp::BoxCox(l) => box_cox(y, l),
        Warp::YeoJohnson(l) => yeo_johnson(y, l),
    }
}

/// Profile log-likelihood of λ (the normality criterion of Box & Cox / Yeo & Johnson).
fn log_likelihood(values: &[f64], make: fn(f64) -> Warp, lambda: f64) -> f64 {
    let warp = make(lambda);
    let t: Vec<f64> = values.iter().map(|&y| apply(warp, y)).collect();
    let (_, std) = mean_and_std(&t);
    let n = values.len() as f64;
    let jacobian: f64 = match warp {
        Warp::BoxCox(_) => values.iter().map(|y| y.ln()).sum(),
        _ => values.iter().map(|y| y.signum() * y.abs().ln_1p()).sum(),
    };
    let ll = -n * std.ln() + (lambda - 1.0) * jacobian;
    if ll.is_finite() {
        ll
    } else {
        f64::NEG_INFINITY
    }
}

/// λ maximizing the likelihood, by golden-section search on [`LAMBDA_RANGE`].
fn best_lambda(values: &[f64], make: fn(f64) -> Warp) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = LAMBDA_RANGE;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (
        log_likelihood(values, make, c),
        log_likelihood(values, make, d),
    );
    while b - a > 1e-5 {
        if fc >= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = log_likelihood(values, make, c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = log_likelihood(values, make, d);
        }
    }
    0.5 * (a + b)
}

impl OutputTransform {
    /// Fits the transform to finite `values` and returns it with the transformed values.
    /// With `warping` off (or when the power transform degenerates: HEBO's std < 0.5 check),
    /// the values are only standardized.
    pub fn fit(values: &[f64], warping: bool) -> (Self, Vec<f64>) {
        let warp = if warping {
            Self::choose_warp(values)
        } else {
            Warp::Identity
        };
        Self::with_warp(values, warp)
    }

    /// HEBO's choice of power transform for `values`: Box-Cox if all are positive (after
    /// division by their standard deviation), else (or if Box-Cox degenerates) Yeo-Johnson,
    /// λ by maximum likelihood; the identity if both degenerate.
    pub fn choose_warp(values: &[f64]) -> Warp {
        let (_, raw_std) = mean_and_std(values);
        if values.len() < 3 || !(raw_std > 0.0 && raw_std.is_finite()) {
            return Warp::Identity;
        }
        let scaled: Vec<f64> = values.iter().map(|v| v / raw_std).collect();
        let positive = scaled.iter().all(|&v| v > 0.0);
        let candidates: Vec<fn(f64) -> Warp> = if positive {
            vec![Warp::BoxCox, Warp::YeoJohnson]
        } else {
            vec![Warp::YeoJohnson]
        };
        candidates
            .into_iter()
            .map(|make| make(best_lambda(&scaled, make)))
            .find(|&w| spread_ok(&scaled, w))
            .unwrap_or(Warp::Identity)
    }

    /// The transform with a given power warp: divide by the standard deviation, warp,
    /// standardize. Returns it with the transformed values.
    pub fn with_warp(values: &[f64], warp: Warp) -> (Self, Vec<f64>) {
        let (_, raw_std) = mean_and_std(values);
        let scale = if raw_std > 0.0 && raw_std.is_finite() {
            1.0 / raw_std
        } else {
            1.0
        };
        let warped: Vec<f64> = values.iter().map(|&v| apply(warp, v * scale)).collect();
        let (mean, std) = mean_and_std(&warped);
        let std = if std > 1e-10 && std.is_finite() {
            std
        } else {
            1.0
        };
        let out = Self {
            scale,
            warp,
            mean,
            std,
        };
        let transformed = warped.iter().map(|w| (w - mean) / std).collect();
        (out, transformed)
    }

    /// `Σ ln |d forward / d value|` over `values`: added to a model's log likelihood of the
    /// transformed values, it gives the likelihood of the values themselves, so that models
    /// fitted under different warps can be compared.
    pub fn log_jacobian(&self, values: &[f64]) -> f64 {
        let base = self.scale.ln() - self.std.ln();
        values
            .iter()
            .map(|&v| {
                let u = v * self.scale;
                let log_derivative = match self.warp {
                    Warp::Identity => 0.0,
                    Warp::BoxCox(l) => (l - 1.0) * u.ln(),
                    Warp::YeoJohnson(l) if u >= 0.0 => (l - 1.0) * u.ln_1p(),
                    Warp::YeoJohnson(l) => (1.0 - l) * (-u).ln_1p(),
                };
                base + log_derivative
            })
            .sum()
    }

    /// The warp that was chosen.
    pub fn warp(&self) -> Warp {
        self.warp
    }

    /// Maps an observed value to the model's scale.
    pub fn forward(&self, value: f64) -> f64 {
        (apply(self.warp, value * self.scale) - self.mean) / self.std
    }

    /// Maps a value on the model's scale back to the observed scale.
    pub fn inverse(&self, t: f64) -> f64 {
        let w = t * self.std + self.mean;
        let scaled = match self.warp {
            Warp::Identity => w,
            Warp::BoxCox(l) => box_cox_inverse(w, l),
            Warp::YeoJohnson(l) => yeo_johnson_inverse(w, l),
        };
        scaled / self.scale
    }
}

/// HEBO's sanity check: the transform must give finite values that are not collapsed onto
/// one value (HEBO rejects a transform whose standardized output has std < 0.5, which only
/// happens when standardizing failed).
fn spread_ok(scaled: &[f64], warp: Warp) -> bool {
    let t: Vec<f64> = scaled.iter().map(|&v| apply(warp, v)).collect();
    if t.iter().any(|v| !v.is_finite()) {
        return false;
    }
    let (mean, std) = mean_and_std(&t);
    std > 1e-12 * (1.0 + mean.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skewed() -> Vec<f64> {
        (0..40).map(|i| 0.01 + (i as f64 / 4.0).exp()).collect()
    }

    #[test]
    fn transforms_round_trip() {
        let sets = [
            skewed(),
            (0..30)
                .map(|i| i as f64 - 20.0)
                .map(|v| v * v.abs())
                .collect(),
            vec![3.0, -1.0, 7.5, 2.0],
        ];
        for values in sets {
            for warping in [false, true] {
                let (t, out) = OutputTransform::fit(&values, warping);
                for (v, o) in values.iter().zip(&out) {
                    assert!((t.forward(*v) - o).abs() < 1e-9);
                    let back = t.inverse(*o);
                    assert!(
                        (back - v).abs() < 1e-8 * (1.0 + v.abs()),
                        "{v} -> {o} -> {back} ({:?})",
                        t.warp()
                    );
                }
            }
        }
    }

    #[test]
    fn log_jacobian_matches_finite_differences() {
        let values = skewed();
        for warp in [
            Warp::Identity,
            Warp::BoxCox(0.3),
            Warp::YeoJohnson(-0.4),
            Warp::YeoJohnson(1.7),
        ] {
            let (t, _) = OutputTransform::with_warp(&values, warp);
            let shifted: Vec<f64> = values.iter().map(|v| v - 2.0).collect();
            for set in [&values, &shifted] {
                if matches!(warp, Warp::BoxCox(_)) && set[0] <= 0.0 {
                    continue;
                }
                let fd: f64 = set
                    .iter()
                    .map(|&v| {
                        let e = 1e-6 * (1.0 + v.abs());
                        ((t.forward(v + e) - t.forward(v - e)) / (2.0 * e)).ln()
                    })
                    .sum();
                let got = t.log_jacobian(set);
                assert!(
                    (got - fd).abs() < 1e-5 * fd.abs().max(1.0),
                    "{warp:?}: {got} vs {fd}"
                );
            }
        }
    }

    #[test]
    fn positive_skewed_values_get_box_cox_and_become_symmetric() {
        let values = skewed();
        let (t, out) = OutputTransform::fit(&values, true);
        assert!(
            matches!(t.warp(), Warp::BoxCox(l) if l.abs() < 0.5),
            "{:?}",
            t.warp()
        );
        let (mean, std) = mean_and_std(&out);
        assert!(mean.abs() < 1e-12 && (std - 1.0).abs() < 1e-12);
        let skew: f64 = out.iter().map(|v| v.powi(3)).sum::<f64>() / out.len() as f64;
        assert!(skew.abs() < 0.5, "skewness {skew}");
        // Monotone: the order of the values is kept.
        for w in out.windows(2) {
            assert!(w[0] < w[1]);
        }
    }

    #[test]
    fn values_with_negatives_get_yeo_johnson_and_constants_stay_finite() {
        let values: Vec<f64> = (0..20).map(|i| -3.3 + (i as f64).powi(3) / 100.0).collect();
        let (t, _) = OutputTransform::fit(&values, true);
        assert!(matches!(t.warp(), Warp::YeoJohnson(_)), "{:?}", t.warp());
        let (_, out) = OutputTransform::fit(&[2.0, 2.0, 2.0], true);
        assert_eq!(out, vec![0.0, 0.0, 0.0]);
    }
}
