use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::kernel::{Inputs, KernelParams};
use crate::special::standard_normal;

/// The hypervolume below `reference` dominated by `points` (minimized), by
/// inclusion–exclusion over every subset (small fronts only).
fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let n = points.len();
    let mut volume = 0.0;
    for subset in 1u32..(1 << n) {
        let members: Vec<&Vec<f64>> = (0..n)
            .filter(|&k| subset & (1 << k) != 0)
            .map(|k| &points[k])
            .collect();
        let corner: f64 = (0..reference.len())
            .map(|j| {
                let worst = members
                    .iter()
                    .map(|p| p[j])
                    .fold(f64::NEG_INFINITY, f64::max);
                (reference[j] - worst).max(0.0)
            })
            .product();
        let sign = if members.len() % 2 == 1 { 1.0 } else { -1.0 };
        volume += sign * corner;
    }
    volume
}

fn gp(rows: Vec<f64>, y: Vec<f64>, lengthscale: f64) -> Gp {
    Gp::new(
        Inputs::new(rows, vec![false, false]),
        y,
        KernelParams {
            inverse_squared_lengthscales: vec![lengthscale; 2],
            signal: 1.0,
            noise: 1e-4,
        },
    )
    .expect("factors")
}

/// A 2-D input space with two objectives (`m = 2`: a front of five points) or three
/// (`m = 3`: six points), one GP each.
fn problem(m: usize) -> (HypervolumeImprovement, Vec<Vec<f64>>, Vec<f64>) {
    let rows = vec![0.1, 0.2, 0.8, 0.3, 0.5, 0.9, 0.3, 0.7, 0.6, 0.5];
    let f = gp(rows.clone(), vec![-1.0, 0.8, 0.1, -0.4, 0.5], 4.0);
    let g = gp(rows.clone(), vec![1.0, -0.9, -0.2, 0.6, -0.1], 6.0);
    let h = gp(rows, vec![0.2, 0.4, -0.8, -0.3, 0.9], 3.0);
    let (gps, front, reference) = if m == 2 {
        (
            vec![f, g],
            vec![
                vec![-1.0, 1.0],
                vec![0.8, -0.9],
                vec![0.1, -0.2],
                vec![-0.4, 0.6],
                vec![0.5, -0.1],
            ],
            vec![1.2, 1.3],
        )
    } else {
        (
            vec![f, g, h],
            vec![
                vec![-1.0, 1.0, 0.2],
                vec![0.8, -0.9, 0.4],
                vec![0.1, -0.2, -0.8],
                vec![-0.4, 0.6, -0.3],
                vec![0.5, -0.1, 0.9],
                vec![0.6, 0.7, 0.8],
            ],
            vec![1.2, 1.3, 1.1],
        )
    };
    (
        HypervolumeImprovement::new(gps, &front, &reference),
        front,
        reference,
    )
}

#[test]
fn the_closed_form_agrees_with_sampled_improvements() {
    for (m, cases) in [
        (
            2,
            vec![
                (vec![0.0, 0.0], vec![0.3, 0.2]),
                (vec![-0.8, -0.5], vec![0.05, 0.5]),
                (vec![1.0, 1.0], vec![0.5, 0.5]),
            ],
        ),
        (
            3,
            vec![
                (vec![0.0, 0.0, 0.0], vec![0.3, 0.2, 0.1]),
                (vec![-0.8, -0.5, 0.5], vec![0.05, 0.5, 0.2]),
                (vec![1.0, 1.0, -1.0], vec![0.5, 0.5, 0.3]),
            ],
        ),
    ] {
        let (ehvi, front, reference) = problem(m);
        assert_eq!(ehvi.objectives(), m);
        sampled_improvements_agree(&ehvi, &front, &reference, &cases);
    }
}

/// The exact EHVI at each `(mean, variance)` is the mean hypervolume gained by 20,000
/// sampled outcomes, within 2 % and 2e-3 (the sampling error is about 1 %).
fn sampled_improvements_agree(
    ehvi: &HypervolumeImprovement,
    front: &[Vec<f64>],
    reference: &[f64],
    cases: &[(Vec<f64>, Vec<f64>)],
) {
    let base = hypervolume(front, reference);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (mean, variance) in cases {
        let samples = 20_000;
        let mut sum = 0.0;
        for _ in 0..samples {
            let y: Vec<f64> = mean
                .iter()
                .zip(variance)
                .map(|(mu, var)| mu + var.sqrt() * standard_normal(&mut rng))
                .collect();
            let mut with = front.to_vec();
            with.push(y);
            sum += hypervolume(&with, reference) - base;
        }
        let sampled = sum / f64::from(samples);
        let exact = ehvi.log_value(mean, variance, false).value.exp();
        assert!(
            (exact - sampled).abs() < 0.02 * sampled + 2e-3,
            "{mean:?} {variance:?}: {exact} vs {sampled}"
        );
    }
}

#[test]
fn partials_match_finite_differences_near_and_far_from_the_front() {
    for m in [2, 3] {
        let (ehvi, _, _) = problem(m);
        for (mean, variance) in [
            ([0.0, 0.0, -0.5], [0.3, 0.2, 0.1]),
            ([-0.8, -0.5, 0.3], [0.05, 0.5, 0.2]),
            ([1.5, 1.6, 1.2], [0.01, 0.02, 0.03]),
            ([6.0, 5.0, 4.0], [0.04, 0.03, 0.02]),
        ] {
            partials_agree(&ehvi, &mean[..m], &variance[..m]);
        }
    }
}

/// The analytic partials of log-EHVI at `(mean, variance)` are its finite differences.
fn partials_agree(ehvi: &HypervolumeImprovement, mean: &[f64], variance: &[f64]) {
    {
        let at = ehvi.log_value(mean, variance, true);
        assert!(at.value.is_finite(), "{mean:?}: {}", at.value);
        for j in 0..mean.len() {
            let e = 1e-6;
            let (mut up, mut down) = (mean.to_vec(), mean.to_vec());
            up[j] += e;
            down[j] -= e;
            let fd = (ehvi.log_value(&up, variance, false).value
                - ehvi.log_value(&down, variance, false).value)
                / (2.0 * e);
            assert!(
                (at.dmean[j] - fd).abs() < 1e-4 * (1.0 + fd.abs()),
                "{mean:?} dmean{j} {} vs {fd}",
                at.dmean[j]
            );
            let e = 1e-6 * variance[j];
            let (mut up, mut down) = (variance.to_vec(), variance.to_vec());
            up[j] += e;
            down[j] -= e;
            let fd = (ehvi.log_value(mean, &up, false).value
                - ehvi.log_value(mean, &down, false).value)
                / (2.0 * e);
            assert!(
                (at.dvariance[j] - fd).abs() < 1e-4 * (1.0 + fd.abs()),
                "{mean:?} dvariance{j} {} vs {fd}",
                at.dvariance[j]
            );
        }
    }
}

#[test]
fn the_batch_gradient_matches_finite_differences() {
    for m in [2, 3] {
        batch_gradient_agrees(&problem(m).0);
    }
}

fn batch_gradient_agrees(ehvi: &HypervolumeImprovement) {
    let x = [0.6, 0.35, 0.05, 0.95, 0.45, 0.5];
    let mut g = [0.0; 6];
    let values = ehvi.evaluate_with_gradient(&x, &mut g);
    assert_eq!(values, ehvi.evaluate(&x));
    for k in 0..6 {
        let e = 1e-6;
        let (mut up, mut down) = (x, x);
        up[k] += e;
        down[k] -= e;
        let fd = (ehvi.evaluate(&up)[k / 2] - ehvi.evaluate(&down)[k / 2]) / (2.0 * e);
        assert!(
            (g[k] - fd).abs() < 1e-4 * (1.0 + fd.abs()),
            "{k}: {} vs {fd}",
            g[k]
        );
    }
}

#[test]
fn linear_and_log_space_sums_agree_wherever_both_hold() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut compared = 0;
    for m in [2, 3] {
        let (ehvi, _, _) = problem(m);
        for _ in 0..2000 {
            let mean: Vec<f64> = (0..m).map(|_| -1.5 + 7.0 * rng.random::<f64>()).collect();
            let variance: Vec<f64> = (0..m)
                .map(|_| 10f64.powf(-4.0 + 4.0 * rng.random::<f64>()))
                .collect();
            let mut s = Scratch::default();
            let mut linear_partials = vec![0.0; 2 * m];
            let mut query = Query {
                mean: &mean,
                variance: &variance,
                partials: Some(&mut linear_partials),
            };
            let Some(linear) = ehvi.linear_log_value(&mut query, &mut s) else {
                continue;
            };
            let mut partials = vec![0.0; 2 * m];
            let mut query = Query {
                mean: &mean,
                variance: &variance,
                partials: Some(&mut partials),
            };
            let logs = ehvi.log_space_log_value(&mut query, &mut s);
            assert!(
                (linear - logs).abs() < 1e-10 * (1.0 + logs.abs()),
                "{mean:?} {variance:?}: {linear} vs {logs}"
            );
            for (a, b) in linear_partials.iter().zip(&partials) {
                assert!(
                    (a - b).abs() < 1e-8 * (1.0 + b.abs()),
                    "{mean:?} {variance:?}: partial {a} vs {b}"
                );
            }
            compared += 1;
        }
    }
    // Both outcomes occur: most points sum in linear space, the far ones do not.
    assert!((1000..4000).contains(&compared), "{compared}");
}
