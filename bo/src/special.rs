//! Special functions behind the acquisition functions: the normal density and distribution,
//! the scaled complementary error function `erfcx`, and the logarithm of the expected
//! improvement's core `h(z) = z·Φ(z) + φ(z)`, all accurate far into the tails; standard
//! normal draws.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use rand::{Rng, RngExt};

/// `ln √(2π)`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Number of terms of the continued fractions used in the tails at their switch-over points
/// (enough for full double precision there; checked against 40-digit references in tests).
const CF_TERMS: usize = 80;

/// Terms of a continued fraction at argument `x` that converges like `scale / x` terms (the
/// two below need about 110/x and 160/x for full double precision), with a margin of 8,
/// at most [`CF_TERMS`]. Far in a tail, where an acquisition evaluates most of its points,
/// a few terms do.
fn cf_terms(scale: f64, x: f64) -> usize {
    ((scale / x) as usize + 8).min(CF_TERMS)
}

/// `exp(x)` for `x ≤ 0` as a branch-free polynomial that auto-vectorizes (libm's `exp` is
/// an opaque call): Cody–Waite reduction by ln 2, degree-12 Taylor polynomial on
/// `|r| ≤ ln 2 / 2` (truncation below 2e-16 relative), scaling by `2^k` through the exponent
/// bits. Arguments below −708 give `exp(−708)` (≈ 3e-308) instead of a subnormal or zero.
#[inline(always)]
pub fn exp_nonpositive(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    // ln 2 split so that k·LN2_HI is exact (fdlibm's constants).
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    // 1.5·2⁵²: adding it rounds to an integer held in the low mantissa bits.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let x = x.clamp(-708.0, 0.0);
    let t = x * LOG2_E + ROUND;
    let k = t - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 479_001_600.0;
    for c in [
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // The low 12 bits of t's pattern hold k (mod 4096); k + 1023 is the exponent of 2^k.
    let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
    p * scale
}

/// A standard normal draw (Box–Muller).
pub fn standard_normal(rng: &mut (impl Rng + ?Sized)) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Standard normal density φ(z).
pub fn norm_pdf(z: f64) -> f64 {
    (-0.5 * z * z - LN_SQRT_2PI).exp()
}

/// Standard normal distribution function Φ(z), relatively accurate in the lower tail.
pub fn norm_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z * FRAC_1_SQRT_2)
}

/// Scaled complementary error function `erfcx(x) = exp(x²)·erfc(x)`.
///
/// Computed without forming `exp(x²)` for large `x` (where it overflows past x ≈ 26.6):
/// a continued fraction from x = 2 on. Returns `+inf` only where the true value overflows
/// (x below about −26.6).
pub fn erfcx(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        if x < -26.6 {
            return f64::INFINITY;
        }
        return 2.0 * (x * x).exp() - erfcx(-x);
    }
    if x < 2.0 {
        return (x * x).exp() * libm::erfc(x);
    }
    if x > 1e8 {
        // The continued fraction's first term; the next correction is below 1e-16.
        return 1.0 / (x * PI.sqrt());
    }
    // erfcx(x) = 1/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated bottom-up.
    let mut t = x;
    for k in (1..=cf_terms(110.0, x)).rev() {
        t = x + (k as f64 * 0.5) / t;
    }
    1.0 / (PI.sqrt() * t)
}

/// Mills-type ratio `Φ(-t)/φ(t)` for `t ≥ 0`, via `erfcx` (no underflow).
fn mills_ratio(t: f64) -> f64 {
    (PI / 2.0).sqrt() * erfcx(t * FRAC_1_SQRT_2)
}

/// `h(z)/φ(z) = 1 + z·Φ(z)/φ(z)` for `z ≤ -1`, without cancellation.
fn h_over_pdf_lower_tail(z: f64) -> f64 {
    let t = -z;
    if t < 3.0 {
        // Mild cancellation only (at most one digit on this range).
        return 1.0 - t * mills_ratio(t);
    }
    if t > 1e8 {
        return 1.0 / (t * t);
    }
    // 1 - t·Φ(-t)/φ(t) = 1/(1 + t·D) with D = t + 2/(t + 3/(t + 4/(t + …))).
    let mut d = t;
    for k in (2..=cf_terms(162.0, t)).rev() {
        d = t + k as f64 / d;
    }
    1.0 / (1.0 + t * d)
}

/// `ln h(z)` where `h(z) = z·Φ(z) + φ(z)` is the expected improvement of a unit-variance
/// normal over a threshold `z` standard deviations away (Ament et al. 2023, log-EI).
/// Finite for every finite `z`.
pub fn log_h(z: f64) -> f64 {
    if z > -1.0 {
        (z * norm_cdf(z) + norm_pdf(z)).ln()
    } else {
        -0.5 * z * z - LN_SQRT_2PI + h_over_pdf_lower_tail(z).ln()
    }
}

/// Derivative of [`log_h`]: `Φ(z)/h(z)` (since `h' = Φ`), finite for every finite `z`.
pub fn d_log_h(z: f64) -> f64 {
    if z > -1.0 {
        norm_cdf(z) / (z * norm_cdf(z) + norm_pdf(z))
    } else {
        mills_ratio(-z) / h_over_pdf_lower_tail(z)
    }
}

/// `(ln h(z), ln Φ(z))` as [`log_h`] and [`log_norm_cdf`] give them, sharing `Φ(z)` where
/// both need it.
pub fn log_h_and_log_norm_cdf(z: f64) -> (f64, f64) {
    if z > -1.0 {
        let cdf = norm_cdf(z);
        ((z * cdf + norm_pdf(z)).ln(), cdf.ln())
    } else {
        (log_h(z), log_norm_cdf(z))
    }
}

/// `[h(z), Φ(z), φ(z)]` in linear space, each relatively accurate as long as `φ(z)` is a
/// normal number (`z` above about −37.5; all three reach 0 below about −38.6): the
/// building blocks of an expected improvement and its partials where no logarithm is
/// needed. In the lower tail `Φ = (φ − h)/(−z)` comes from `h/φ` without cancellation.
pub fn h_cdf_pdf(z: f64) -> [f64; 3] {
    let pdf = norm_pdf(z);
    if z > -1.0 {
        let cdf = norm_cdf(z);
        [z * cdf + pdf, cdf, pdf]
    } else {
        let ratio = h_over_pdf_lower_tail(z);
        [pdf * ratio, pdf * (1.0 - ratio) / -z, pdf]
    }
}

/// `ln Φ(z)`, accurate in the lower tail (log probability of improvement).
pub fn log_norm_cdf(z: f64) -> f64 {
    if z > -5.0 {
        norm_cdf(z).ln()
    } else {
        -0.5 * z * z - LN_SQRT_2PI + mills_ratio(-z).ln()
    }
}

/// Derivative of [`log_norm_cdf`]: `φ(z)/Φ(z)`.
pub fn d_log_norm_cdf(z: f64) -> f64 {
    if z > -5.0 {
        norm_pdf(z) / norm_cdf(z)
    } else {
        1.0 / mills_ratio(-z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_rel(got: f64, want: f64, tol: f64) {
        let rel = ((got - want) / want).abs();
        assert!(
            rel <= tol,
            "got {got:e}, want {want:e}, relative error {rel:e}"
        );
    }

    #[test]
    fn erfcx_matches_reference_values() {
        // References: exp(x²)·erfc(x) in 50-digit arithmetic (mpmath).
        let cases = [
            (-3.0, 16205.988853999586),
            (-0.5, 1.952360489182557),
            (0.0, 1.0),
            (0.3, 0.7345993345676551),
            (1.0, 0.427583576155807),
            (2.5, 0.2108063640611436),
            (3.0, 0.17900115118138996),
            (5.0, 0.11070463773306863),
            (10.0, 0.05614099274382259),
            (26.0, 0.021683584850562907),
            (30.0, 0.01879588886141675),
            (100.0, 0.005641613782989433),
            (1e5, 5.6418958351954685e-06),
        ];
        for (x, want) in cases {
            assert_rel(erfcx(x), want, 2e-14);
        }
        assert_eq!(erfcx(-30.0), f64::INFINITY);
    }

    #[test]
    fn the_fused_log_h_and_log_cdf_are_the_separate_ones() {
        for i in 0..2000 {
            let z = -60.0 + f64::from(i) * 0.04;
            assert_eq!(
                log_h_and_log_norm_cdf(z),
                (log_h(z), log_norm_cdf(z)),
                "{z}"
            );
        }
    }

    #[test]
    fn the_shortened_continued_fractions_agree_with_long_ones() {
        let mut worst: f64 = 0.0;
        for i in 0..4000 {
            let x = 2.0 + f64::from(i) * 0.05;
            let (mut a, mut b) = (x, x);
            for k in (1..=400).rev() {
                a = x + (f64::from(k) * 0.5) / a;
            }
            for k in (2..=400).rev() {
                b = x + f64::from(k) / b;
            }
            worst = worst.max((erfcx(x) * PI.sqrt() * a - 1.0).abs());
            if x >= 3.0 {
                worst = worst.max((h_over_pdf_lower_tail(-x) * (1.0 + x * b) - 1.0).abs());
            }
        }
        assert!(worst < 5e-16, "worst relative difference {worst:e}");
    }

    #[test]
    fn the_linear_h_cdf_and_pdf_agree_with_their_logarithms() {
        for i in 0..3000 {
            let z = -37.0 + f64::from(i) * 0.015;
            let [h, cdf, pdf] = h_cdf_pdf(z);
            assert_rel(h.ln(), log_h(z), 1e-14);
            if z > -20.0 {
                assert_rel(cdf, norm_cdf(z), 1e-13);
            } else {
                assert_rel(cdf.ln(), log_norm_cdf(z), 1e-14);
            }
            assert_rel(pdf, norm_pdf(z), 1e-15);
        }
        assert_eq!(h_cdf_pdf(-40.0), [0.0, 0.0, 0.0]);
        let [h, cdf, _] = h_cdf_pdf(50.0);
        assert_eq!((h, cdf), (50.0, 1.0));
    }

    #[test]
    fn polynomial_exp_matches_libm() {
        let mut worst: f64 = 0.0;
        for i in 0..200_000 {
            let x = -(i as f64) * 700.0 / 200_000.0 - 1e-3 * (i % 7) as f64;
            let rel = (exp_nonpositive(x) - x.exp()).abs() / x.exp();
            worst = worst.max(rel);
        }
        assert!(worst < 4e-16, "worst relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
        assert!(exp_nonpositive(-1e6) > 0.0 && exp_nonpositive(-1e6) < 1e-307);
    }

    #[test]
    fn log_h_matches_reference_values() {
        // References: ln(z·Φ(z) + φ(z)) in 40-digit arithmetic (mpmath).
        let cases = [
            (5.0, 1.6094379231264313),
            (1.0, 0.08002621884930694),
            (0.0, -0.9189385332046728),
            (-0.5, -1.6205162643873199),
            (-1.0, -2.4851210257126413),
            (-2.0, -4.768783523917114),
            (-3.0, -7.869686059603029),
            (-5.0, -16.74430116266099),
            (-10.0, -55.55312203612235),
            (-30.0, -457.724653760598),
            (-100.0, -5010.12957880025),
            (-1e4, -50000019.33961931),
        ];
        for (z, want) in cases {
            assert_rel(log_h(z), want, 1e-13);
        }
    }

    #[test]
    fn log_h_derivative_matches_finite_differences() {
        for z in [
            3.0f64, 0.4, -0.99, -1.01, -2.0, -2.99, -3.01, -8.0, -40.0, -400.0,
        ] {
            let eps = 1e-6 * (1.0 + z.abs());
            let fd = (log_h(z + eps) - log_h(z - eps)) / (2.0 * eps);
            assert_rel(d_log_h(z), fd, 1e-6);
        }
    }

    #[test]
    fn log_norm_cdf_is_continuous_and_matches_its_derivative() {
        assert_rel(
            log_norm_cdf(-5.0 + 1e-12),
            log_norm_cdf(-5.0 - 1e-12),
            1e-10,
        );
        // ln Φ(-40) from mpmath: -804.60844201943...
        assert_rel(log_norm_cdf(-40.0), -804.6084420137538, 1e-13);
        for z in [1.0f64, -4.0, -6.0, -50.0] {
            let eps = 1e-6 * (1.0 + z.abs());
            let fd = (log_norm_cdf(z + eps) - log_norm_cdf(z - eps)) / (2.0 * eps);
            assert_rel(d_log_norm_cdf(z), fd, 1e-6);
        }
    }
}
