//! Weight initialization from a seeded generator.

use rand::{Rng, RngExt};

use crate::config::Init;

/// A standard normal draw (Box–Muller; one of the pair is discarded for simplicity).
fn standard_normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Fills the `fan_in`×`fan_out` weight matrix `w` as `init` says.
pub(crate) fn fill(w: &mut [f32], init: Init, fan_in: usize, fan_out: usize, rng: &mut impl Rng) {
    match init {
        Init::Zeros => w.fill(0.0),
        Init::SmallRandom => w.iter_mut().for_each(|v| *v = 0.01 * standard_normal(rng)),
        Init::He => {
            let std = (2.0 / fan_in as f64).sqrt() as f32;
            w.iter_mut().for_each(|v| *v = std * standard_normal(rng));
        }
        Init::Xavier => {
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
            w.iter_mut()
                .for_each(|v| *v = rng.random_range(-limit..limit));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn moments(w: &[f32]) -> (f64, f64) {
        let n = w.len() as f64;
        let mean = w.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
        let var = w
            .iter()
            .map(|v| (f64::from(*v) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var)
    }

    #[test]
    fn variances_follow_the_schemes() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut w = vec![0.0; 200 * 100];
        fill(&mut w, Init::He, 200, 100, &mut rng);
        let (m, v) = moments(&w);
        assert!(
            m.abs() < 0.005 && (v - 2.0 / 200.0).abs() < 0.0005,
            "he {m} {v}"
        );
        fill(&mut w, Init::Xavier, 200, 100, &mut rng);
        let (m, v) = moments(&w);
        // U(±a) has variance a²/3 = 2 / (fan_in + fan_out).
        assert!(
            m.abs() < 0.005 && (v - 2.0 / 300.0).abs() < 0.0005,
            "xavier {m} {v}"
        );
        assert!(w.iter().all(|x| x.abs() <= (6.0f32 / 300.0).sqrt()));
        fill(&mut w, Init::Zeros, 200, 100, &mut rng);
        assert!(w.iter().all(|x| *x == 0.0));
    }
}
