//! Pending points as fantasies: outcomes drawn from the posterior's joint distribution at
//! the pending points, each conditioning the posterior mean on its own values (the
//! posterior variance does not depend on outputs, so one Cholesky extension serves all
//! samples), for log-EI averaged over the samples ([`Acquisition::PendingLogEi`]). This is
//! the expected improvement integrated over the pending outcomes (Snoek et al. 2012), at
//! the cost of one extra `n×s` product per batch of candidates.
//!
//! [`Acquisition::PendingLogEi`]: crate::acquisition::Acquisition::PendingLogEi

use rand::Rng;

use crate::acquisition::Fantasies;
use crate::gp::Gp;
use crate::linalg::{Matrix, cholesky};
use crate::special::standard_normal;

/// Largest jitter tried when the pending points' covariance does not factor.
const MAX_JITTER: f64 = 1e-2;

/// `samples` fantasies (rounded up to even: antithetic pairs) of the values at the
/// row-major `pending` points, drawn from `base` (the posterior given the observations);
/// `extended` is `base` extended by the same pending points in the same order, whose factor
/// turns each sample into a coefficient vector. `best` is the incumbent value on the
/// model's scale. `None` without pending points or when their covariance does not factor.
pub fn fantasies(
    base: &Gp,
    extended: &Gp,
    pending: &[f64],
    best: f64,
    samples: usize,
    rng: &mut (impl Rng + ?Sized),
) -> Option<Fantasies> {
    let q = pending.len() / base.inputs().dims().max(1);
    if q == 0 || samples == 0 || extended.len() != base.len() + q {
        return None;
    }
    let (mean, mut cov) = base.joint_posterior(pending);
    // The pending evaluations are noisy observations of the latent values.
    for i in 0..q {
        cov.set(i, i, cov.get(i, i) + base.diagonal_noise());
    }
    let factor = cholesky(&cov, MAX_JITTER)?.factor;
    let pairs = samples.div_ceil(2);
    let n = base.len();
    let mut alphas = Matrix::zeros(n + q, 2 * pairs);
    let mut bests = Vec::with_capacity(2 * pairs);
    let mut y = extended.outputs()[..n].to_vec();
    y.resize(n + q, 0.0);
    for pair in 0..pairs {
        let z: Vec<f64> = (0..q).map(|_| standard_normal(rng)).collect();
        for (k, sign) in [(2 * pair, 1.0), (2 * pair + 1, -1.0)] {
            let mut sample_best = best;
            for i in 0..q {
                let shift: f64 = (0..=i).map(|j| factor.get(i, j) * z[j]).sum();
                y[n + i] = mean[i] + sign * shift;
                sample_best = sample_best.min(y[n + i]);
            }
            alphas.col_mut(k).copy_from_slice(&extended.solve(&y));
            bests.push(sample_best);
        }
    }
    Some(Fantasies {
        alphas,
        best: bests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquisition::Acquisition;
    use crate::kernel::{Inputs, KernelParams};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn gp(xs: &[f64]) -> Gp {
        let y: Vec<f64> = xs.iter().map(|x| (6.0 * x).sin()).collect();
        Gp::new(
            Inputs::new(xs.to_vec(), vec![false]),
            y,
            KernelParams {
                inverse_squared_lengthscales: vec![20.0],
                signal: 1.0,
                noise: 1e-6,
            },
        )
        .expect("factors")
    }

    #[test]
    fn fantasies_condition_the_mean_and_agree_with_a_refit() {
        let base = gp(&[0.0, 0.2, 0.5, 0.9]);
        let pending = [0.3, 0.7];
        let extended = base.extended(&pending, &[0.0, 0.0]).expect("extends");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let f = fantasies(&base, &extended, &pending, -1.0, 4, &mut rng).expect("factors");
        assert_eq!(f.alphas.ncols(), 4);
        // Each sample's mean at a pending point is (about) that sample's value there, and
        // equals the mean of a GP given the sample as data.
        let probe = [0.3, 0.45, 0.7];
        let multi = extended.predict_multi(&probe, &f.alphas);
        for k in 0..4 {
            let y: Vec<f64> = extended.outputs()[..4]
                .iter()
                .copied()
                .chain([multi.means.get(k, 0), multi.means.get(k, 2)])
                .collect();
            let direct = Gp::new(extended.inputs().clone(), y, base.params().clone())
                .expect("factors")
                .predict(&probe);
            for i in 0..3 {
                assert!(
                    (multi.means.get(k, i) - direct.mean[i]).abs() < 1e-4,
                    "{k} {i}"
                );
            }
            assert!(f.best[k] <= -1.0);
        }
        // Antithetic pairs: the two samples of a pair straddle the posterior mean.
        let centre = base.predict(&pending).mean;
        let (a, b) = (multi.means.get(0, 0), multi.means.get(1, 0));
        assert!(((a + b) / 2.0 - centre[0]).abs() < 1e-4);
    }

    #[test]
    fn expected_log_ei_vanishes_at_pending_points_and_not_elsewhere() {
        let base = gp(&[0.0, 0.2, 0.5, 0.9]);
        let best = base.outputs().iter().copied().fold(f64::INFINITY, f64::min);
        let pending = [0.62];
        let extended = base.extended(&pending, &[0.0]).expect("extends");
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let f = fantasies(&base, &extended, &pending, best, 16, &mut rng).expect("factors");
        let with = Acquisition::PendingLogEi(f).evaluate(&extended, &[0.62, 0.75]);
        let without = Acquisition::LogEi { best }.evaluate(&base, &[0.62, 0.75]);
        // At the pending point every sample knows the value: no improvement is expected.
        assert!(with[0] < without[0] - 5.0, "{with:?} vs {without:?}");
        // Away from it, some improvement remains.
        assert!(with[1].is_finite() && with[1] > with[0]);
    }

    #[test]
    fn pending_log_ei_gradient_matches_finite_differences() {
        let base = gp(&[0.0, 0.2, 0.5, 0.9]);
        let pending = [0.62, 0.35];
        let extended = base.extended(&pending, &[0.0, 0.0]).expect("extends");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let f = fantasies(&base, &extended, &pending, -1.2, 8, &mut rng).expect("factors");
        let acq = Acquisition::PendingLogEi(f);
        let x = [0.7, 0.12];
        let mut g = [0.0; 2];
        acq.evaluate_with_gradient(&extended, &x, &mut g);
        for k in 0..2 {
            let e = 1e-6;
            let fd = (acq.evaluate(&extended, &[x[k] + e])[0]
                - acq.evaluate(&extended, &[x[k] - e])[0])
                / (2.0 * e);
            assert!(
                (g[k] - fd).abs() < 1e-4 * (1.0 + fd.abs()),
                "{k}: {} vs {fd}",
                g[k]
            );
        }
    }
}
