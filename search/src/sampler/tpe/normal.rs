//! The normal distribution in log space, for truncated-normal kernels: stable log CDF,
//! log mass of an interval, inverse CDF.

use std::f64::consts::{FRAC_1_SQRT_2, LN_2, PI};

/// ln of the standard normal density.
pub(super) fn log_pdf(z: f64) -> f64 {
    -0.5 * z * z - 0.5 * (2.0 * PI).ln()
}

/// Standard normal CDF Φ(z).
pub(super) fn cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z * FRAC_1_SQRT_2)
}

/// ln Φ(z), accurate far into both tails.
pub(super) fn log_cdf(z: f64) -> f64 {
    if z > 6.0 {
        (-0.5 * libm::erfc(z * FRAC_1_SQRT_2)).ln_1p()
    } else if z > -37.0 {
        (0.5 * libm::erfc(-z * FRAC_1_SQRT_2)).ln()
    } else {
        // Asymptotic series: Φ(z) ≈ φ(z)/(-z) · (1 - 1/z² + 3/z⁴).
        let z2 = z * z;
        log_pdf(z) - (-z).ln() + (1.0 - 1.0 / z2 + 3.0 / (z2 * z2)).ln()
    }
}

/// ln(1 - e^x) for x ≤ 0.
fn log1m_exp(x: f64) -> f64 {
    if x > -LN_2 {
        (-x.exp_m1()).ln()
    } else {
        (-x.exp()).ln_1p()
    }
}

/// ln(Φ(b) - Φ(a)) for a ≤ b, stable when both are deep in one tail.
pub(super) fn log_mass(a: f64, b: f64) -> f64 {
    if a >= b {
        return f64::NEG_INFINITY;
    }
    if b <= 0.0 {
        let (la, lb) = (log_cdf(a), log_cdf(b));
        lb + log1m_exp(la - lb)
    } else if a >= 0.0 {
        log_mass(-b, -a)
    } else {
        (-cdf(a) - cdf(-b)).ln_1p()
    }
}

/// ln(Φ(b) − Φ(a)) for a ≤ 0 ≤ b with b − a ≥ 1 (a kernel's mass inside its truncation
/// bounds, which always hold its mean): a fast Φ (relative error below 1.2e-7, from the
/// Chebyshev fit of Numerical Recipes' `erfcc`) suffices there, as the mass is at least 0.38.
pub(super) fn log_central_mass(a: f64, b: f64) -> f64 {
    (1.0 - fast_cdf(a) - fast_cdf(-b)).ln()
}

/// Φ(z) with relative error below 1.2e-7.
fn fast_cdf(z: f64) -> f64 {
    let x = -z * FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc_abs = t * (-x * x + poly).exp();
    0.5 * if x >= 0.0 { erfc_abs } else { 2.0 - erfc_abs }
}

/// Inverse of Φ (Acklam's rational approximation refined by one Halley step).
pub(super) fn inverse_cdf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.024_25 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.024_25 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let e = cdf(x) - p;
    let u = e * (2.0 * PI).sqrt() * (0.5 * x * x).exp();
    x - u / (1.0 + 0.5 * x * u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_cdf_is_continuous_across_branches() {
        for z in [-37.0f64, 6.0] {
            let (l, r) = (log_cdf(z - 1e-9), log_cdf(z + 1e-9));
            assert!((l - r).abs() < 1e-6 * l.abs().max(1e-12), "{z}: {l} vs {r}");
        }
        assert!((log_cdf(0.0) - 0.5f64.ln()).abs() < 1e-15);
        assert!(log_cdf(-100.0).is_finite());
    }

    #[test]
    fn log_mass_matches_direct_and_survives_tails() {
        let direct = (cdf(0.5) - cdf(-1.0)).ln();
        assert!((log_mass(-1.0, 0.5) - direct).abs() < 1e-12);
        let direct = (cdf(-3.0) - cdf(-4.0)).ln();
        assert!((log_mass(-4.0, -3.0) - direct).abs() < 1e-10);
        assert!((log_mass(3.0, 4.0) - direct).abs() < 1e-10);
        let far = log_mass(50.0, 50.1);
        assert!(far.is_finite() && far < -1000.0);
    }

    #[test]
    fn central_mass_is_accurate() {
        for (a, b) in [
            (-0.5, 0.5),
            (-3.0, 1.0),
            (0.0, 10.0),
            (-9.0, 0.0),
            (-100.0, 100.0),
        ] {
            let exact = log_mass(a, b);
            assert!((log_central_mass(a, b) - exact).abs() < 5e-7, "{a} {b}");
        }
    }

    #[test]
    fn inverse_cdf_inverts() {
        for p in [1e-12, 1e-5, 0.01, 0.3, 0.5, 0.77, 0.99, 1.0 - 1e-9] {
            let x = inverse_cdf(p);
            assert!((cdf(x) - p).abs() < 1e-12 * p.max(1e-3), "{p}: {}", cdf(x));
        }
    }
}
