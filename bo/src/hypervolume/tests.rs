use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::kernel::{Inputs, KernelParams};
use crate::special::standard_normal;

/// The hypervolume below `reference` dominated by `points` (minimized), by sweeping.
fn hypervolume(points: &[[f64; 2]], reference: [f64; 2]) -> f64 {
    let mut sorted: Vec<[f64; 2]> = points
        .iter()
        .copied()
        .filter(|p| p[0] < reference[0] && p[1] < reference[1])
        .collect();
    sorted.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let mut staircase: Vec<[f64; 2]> = Vec::new();
    for p in sorted {
        if staircase.last().is_none_or(|l| p[1] < l[1]) {
            staircase.push(p);
        }
    }
    // Each staircase point owns the slab up to the next one.
    let mut volume = 0.0;
    for (k, p) in staircase.iter().enumerate() {
        let right = staircase.get(k + 1).map_or(reference[0], |q| q[0]);
        volume += (right - p[0]) * (reference[1] - p[1]);
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

/// A 2-D problem with two GPs and a front of four points.
fn problem() -> (HypervolumeImprovement, Vec<[f64; 2]>, [f64; 2]) {
    let rows = vec![0.1, 0.2, 0.8, 0.3, 0.5, 0.9, 0.3, 0.7, 0.6, 0.5];
    let f = gp(rows.clone(), vec![-1.0, 0.8, 0.1, -0.4, 0.5], 4.0);
    let g = gp(rows, vec![1.0, -0.9, -0.2, 0.6, -0.1], 6.0);
    let front = vec![
        [-1.0, 1.0],
        [0.8, -0.9],
        [0.1, -0.2],
        [-0.4, 0.6],
        [0.5, -0.1],
    ];
    let reference = [1.2, 1.3];
    (
        HypervolumeImprovement::new([f, g], &front, reference),
        front,
        reference,
    )
}

#[test]
fn the_strips_leave_out_dominated_points_and_points_beyond_the_reference() {
    let (edges, tops) = strips(
        &[[2.0, 1.0], [1.0, 2.0], [1.5, 2.5], [0.5, 9.0]],
        [3.0, 3.0],
    );
    assert_eq!(edges, vec![1.0, 2.0, 3.0]);
    assert_eq!(tops, vec![3.0, 2.0, 1.0]);
}

#[test]
fn the_closed_form_agrees_with_sampled_improvements() {
    let (ehvi, front, reference) = problem();
    let base = hypervolume(&front, reference);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let cases: [([f64; 2], [f64; 2]); 3] = [
        ([0.0, 0.0], [0.3, 0.2]),
        ([-0.8, -0.5], [0.05, 0.5]),
        ([1.0, 1.0], [0.5, 0.5]),
    ];
    for (mean, variance) in cases {
        let samples = 200_000;
        let mut sum = 0.0;
        for _ in 0..samples {
            let y = [
                mean[0] + variance[0].sqrt() * standard_normal(&mut rng),
                mean[1] + variance[1].sqrt() * standard_normal(&mut rng),
            ];
            let mut with = front.clone();
            with.push(y);
            sum += hypervolume(&with, reference) - base;
        }
        let sampled = sum / samples as f64;
        let exact = ehvi.log_value(mean, variance, false).value.exp();
        assert!(
            (exact - sampled).abs() < 0.01 * sampled + 1e-4,
            "{mean:?} {variance:?}: {exact} vs {sampled}"
        );
    }
}

#[test]
fn partials_match_finite_differences_near_and_far_from_the_front() {
    let (ehvi, _, _) = problem();
    for (mean, variance) in [
        ([0.0, 0.0], [0.3, 0.2]),
        ([-0.8, -0.5], [0.05, 0.5]),
        ([1.5, 1.6], [0.01, 0.02]),
        ([6.0, 5.0], [0.04, 0.03]),
    ] {
        let at = ehvi.log_value(mean, variance, true);
        assert!(at.value.is_finite(), "{mean:?}: {}", at.value);
        for j in 0..2 {
            let e = 1e-6;
            let (mut up, mut down) = (mean, mean);
            up[j] += e;
            down[j] -= e;
            let fd = (ehvi.log_value(up, variance, false).value
                - ehvi.log_value(down, variance, false).value)
                / (2.0 * e);
            assert!(
                (at.dmean[j] - fd).abs() < 1e-4 * (1.0 + fd.abs()),
                "{mean:?} dmean{j} {} vs {fd}",
                at.dmean[j]
            );
            let e = 1e-6 * variance[j];
            let (mut up, mut down) = (variance, variance);
            up[j] += e;
            down[j] -= e;
            let fd = (ehvi.log_value(mean, up, false).value
                - ehvi.log_value(mean, down, false).value)
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
    let (ehvi, _, _) = problem();
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
