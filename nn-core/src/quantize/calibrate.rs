//! Activation scales from calibration samples: per tensor, symmetric, the 99.99th percentile
//! of the absolute values over the samples mapped to 127 (a few outliers, such as a rare
//! pixel whose standardized value is huge, are clipped rather than stretching the scale for
//! every other value).

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::Split;
use crate::network::dropout::mix;

/// Training samples calibration runs on, at most.
pub const CALIBRATION_SAMPLES: usize = 512;
/// The share of absolute values at or below the clipping point.
const PERCENTILE: f64 = 0.9999;

/// The int8 scale of a tensor whose values over the calibration samples are `values`.
pub(crate) fn scale(values: ArrayView2<'_, f32>) -> f32 {
    let mut magnitudes: Vec<f32> = values
        .iter()
        .map(|v| v.abs())
        .filter(|v| v.is_finite())
        .collect();
    if magnitudes.is_empty() {
        return 1.0;
    }
    let rank = ((magnitudes.len() - 1) as f64 * PERCENTILE).round() as usize;
    let (_, clip, _) = magnitudes.select_nth_unstable_by(rank, f32::total_cmp);
    if *clip > 0.0 { *clip / 127.0 } else { 1.0 }
}

/// Up to [`CALIBRATION_SAMPLES`] samples of `split` (standardized), drawn without
/// replacement by a generator seeded from `seed`, in split order.
pub fn calibration_samples(split: &Split<'_>, seed: u64) -> Array2<f32> {
    let n = split.len().min(CALIBRATION_SAMPLES);
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 0xca1b));
    let mut chosen = rand::seq::index::sample(&mut rng, split.len(), n).into_vec();
    chosen.sort_unstable();
    let mut x = Array2::zeros((n, split.features()));
    for (mut row, i) in x.rows_mut().into_iter().zip(chosen) {
        row.assign(&split.sample(i).0);
    }
    x
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    #[test]
    fn the_scale_clips_rare_outliers_and_maps_the_rest_to_127() {
        // 100,000 values in [-1, 1] and five huge ones: the outliers do not set the scale.
        let mut x = Array2::from_shape_fn((1000, 100), |(r, c)| {
            ((r * 100 + c) % 2001) as f32 / 1000.0 - 1.0
        });
        for i in 0..5 {
            x[[i, 0]] = 500.0;
        }
        let s = scale(x.view());
        assert!((s * 127.0 - 1.0).abs() < 0.01, "{}", s * 127.0);
        assert_eq!(scale(Array2::zeros((3, 3)).view()), 1.0);
    }
}
