//! The seeded train/validation split and standardization fitted on the training rows only.

use ndarray::{Array1, Array2, ArrayView2, Zip};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{Dataset, FeatureRanges, MAX_CLASSES, Samples, Standardization};
use crate::error::Error;

/// Features whose spread on the training rows is below this are only centred, not scaled
/// (a border pixel that is always 0 would otherwise divide by zero).
const MIN_STD: f64 = 1e-6;

pub(super) fn build(
    train: Samples,
    test: Option<Samples>,
    validation_fraction: f64,
    split_seed: u64,
) -> Result<Dataset, Error> {
    let bad = |problem: String| Error::Data {
        path: "data set".into(),
        problem,
    };
    let n = train.len();
    let n_val = (n as f64 * validation_fraction).round() as usize;
    if n - n_val < 1 || (validation_fraction > 0.0 && n_val < 1) {
        return Err(bad(format!(
            "{n} samples are too few for a validation fraction of {validation_fraction}"
        )));
    }
    let features = train.x.ncols();
    if let Some(t) = &test
        && t.x.ncols() != features
    {
        return Err(bad(format!(
            "the test set has {} features per sample, the training set {features}",
            t.x.ncols()
        )));
    }
    let max_label = train
        .y
        .iter()
        .chain(test.iter().flat_map(|t| t.y.iter()))
        .copied()
        .max()
        .unwrap_or(0) as usize;
    if max_label >= MAX_CLASSES {
        return Err(bad(format!(
            "label {max_label}: at most {MAX_CLASSES} classes"
        )));
    }
    let classes = (max_label + 1).max(2);

    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(split_seed));
    let mut val_rows = order[..n_val].to_vec();
    let mut train_rows = order[n_val..].to_vec();
    val_rows.sort_unstable();
    train_rows.sort_unstable();

    let Samples { mut x, y, shape } = train;
    let (mean, scale) = fit_standardization(x.view(), &train_rows);
    apply_standardization(&mut x, &mean, &scale);
    let test = test.map(|mut t| {
        apply_standardization(&mut t.x, &mean, &scale);
        (t.x, t.y)
    });
    let (low, high) = feature_ranges(x.view(), &train_rows);
    let side = features.isqrt();
    let square = (side * side == features).then_some((side, side));
    Ok(Dataset {
        classes,
        source_shape: shape,
        image_shape: shape.or(square),
        ranges: FeatureRanges { low, high },
        x,
        y,
        train_rows,
        val_rows,
        test,
        standardization: Standardization { mean, scale },
    })
}

/// Per-feature mean and 1/std over `rows` (f64 accumulation).
fn fit_standardization(x: ArrayView2<'_, f32>, rows: &[u32]) -> (Array1<f32>, Array1<f32>) {
    let mut sum = Array1::<f64>::zeros(x.ncols());
    let mut sum_sq = Array1::<f64>::zeros(x.ncols());
    for &r in rows {
        Zip::from(&mut sum)
            .and(&mut sum_sq)
            .and(x.row(r as usize))
            .for_each(|s, q, &v| {
                let v = f64::from(v);
                *s += v;
                *q += v * v;
            });
    }
    let n = rows.len().max(1) as f64;
    let mean = sum.mapv(|s| (s / n) as f32);
    let scale = Zip::from(&sum).and(&sum_sq).map_collect(|s, q| {
        let m = s / n;
        let std = (q / n - m * m).max(0.0).sqrt();
        if std < MIN_STD {
            1.0
        } else {
            (1.0 / std) as f32
        }
    });
    (mean, scale)
}

/// Per-feature smallest and largest value over `rows`.
fn feature_ranges(x: ArrayView2<'_, f32>, rows: &[u32]) -> (Array1<f32>, Array1<f32>) {
    let mut low = Array1::from_elem(x.ncols(), f32::INFINITY);
    let mut high = Array1::from_elem(x.ncols(), f32::NEG_INFINITY);
    for &r in rows {
        Zip::from(&mut low)
            .and(&mut high)
            .and(x.row(r as usize))
            .for_each(|l, h, &v| {
                *l = l.min(v);
                *h = h.max(v);
            });
    }
    (low, high)
}

/// `x ← (x − mean) · scale`, row by row (the statistics broadcast over the rows).
fn apply_standardization(x: &mut Array2<f32>, mean: &Array1<f32>, scale: &Array1<f32>) {
    *x -= mean;
    *x *= scale;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(n: usize, features: usize) -> Samples {
        Samples {
            x: Array2::from_shape_fn((n, features), |(r, f)| {
                ((r * features + f) % 7) as f32 * 3.0 + 1.0
            }),
            y: (0..n).map(|i| (i % 3) as u32).collect(),
            shape: None,
        }
    }

    #[test]
    fn training_rows_are_standardized_and_split_is_seeded() {
        let d = build(samples(100, 4), None, 0.2, 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.val_rows.len(), 20);
        assert_eq!(d.train_rows.len(), 80);
        for f in 0..4 {
            let vals: Vec<f64> = d
                .train_rows
                .iter()
                .map(|&r| f64::from(d.x[[r as usize, f]]))
                .collect();
            let mean = vals.iter().sum::<f64>() / 80.0;
            let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 80.0;
            assert!(mean.abs() < 1e-5, "feature {f} mean {mean}");
            assert!((var - 1.0).abs() < 1e-4, "feature {f} var {var}");
        }
        let again = build(samples(100, 4), None, 0.2, 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.val_rows, again.val_rows);
        let other = build(samples(100, 4), None, 0.2, 6).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(d.val_rows, other.val_rows);
    }

    #[test]
    fn constant_features_stay_finite() {
        let s = Samples {
            x: Array2::from_elem((10, 4), 3.0),
            y: vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
            shape: None,
        };
        let d = build(s, None, 0.0, 0).unwrap_or_else(|e| panic!("{e}"));
        assert!(d.x.iter().all(|v| *v == 0.0));
        assert_eq!(d.classes, 2);
    }
}
