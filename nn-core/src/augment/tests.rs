//! The warp on synthetic images (exact shifts and quarter turns), the per-example draw, and
//! augmentation inside training: reproducible, training rows only, config errors.

use ndarray::Array2;

use super::*;
use crate::config::TrainConfig;
use crate::train::{Control, EpochMetrics, TrainReport, train};

/// A `height × width` image whose pixels are 1, 2, 3, … row by row (no pixel is 0).
fn numbered(height: usize, width: usize) -> Vec<f32> {
    (1..=height * width).map(|v| v as f32).collect()
}

fn shift(dx: f64, dy: f64) -> Transform {
    Transform { dx, dy, angle: 0.0 }
}

#[test]
fn a_whole_shift_moves_every_pixel_by_that_many_pixels() {
    // 5×7 takes the portable path, 12×20 the 8-pixel one (where the CPU has AVX2).
    for (h, w) in [(5, 7), (12, 20)] {
        whole_shifts(h, w);
    }
}

fn whole_shifts(h: usize, w: usize) {
    let src = numbered(h, w);
    for (dx, dy) in [(2i64, 0i64), (0, 1), (-3, 2), (1, -4), (7, 0), (-9, 11)] {
        let mut dst = vec![f32::NAN; h * w];
        warp(&src, &mut dst, (h, w), &shift(dx as f64, dy as f64));
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let (sx, sy) = (x - dx, y - dy);
                let expected = if (0..w as i64).contains(&sx) && (0..h as i64).contains(&sy) {
                    src[(sy * w as i64 + sx) as usize]
                } else {
                    0.0
                };
                assert_eq!(
                    dst[(y * w as i64 + x) as usize],
                    expected,
                    "shift ({dx}, {dy}), pixel ({x}, {y})"
                );
            }
        }
    }
}

#[test]
fn a_quarter_turn_of_a_square_image_is_its_transpose_with_each_row_reversed() {
    for n in [6, 7, 28] {
        let src = numbered(n, n);
        let mut dst = vec![f32::NAN; n * n];
        let turn = Transform {
            dx: 0.0,
            dy: 0.0,
            angle: 90f64.to_radians(),
        };
        warp(&src, &mut dst, (n, n), &turn);
        for r in 0..n {
            for c in 0..n {
                // transpose: t[r][c] = src[c][r]; then each row reversed: t[r][n-1-c].
                assert_eq!(
                    dst[r * n + c],
                    src[(n - 1 - c) * n + r],
                    "n {n}, ({r}, {c})"
                );
            }
        }
    }
}

#[test]
fn a_half_pixel_shift_averages_neighbours_and_fills_with_zero() {
    let src = vec![2.0, 4.0, 6.0];
    let mut dst = vec![0.0; 3];
    warp(&src, &mut dst, (1, 3), &shift(0.5, 0.0));
    assert_eq!(dst, vec![1.0, 3.0, 5.0]);
}

#[test]
fn draws_depend_on_seed_epoch_and_example_only_and_stay_in_range() {
    let augment = Augmentation {
        shift: 2.0,
        rotate: 10.0,
    };
    let a = Transform::draw(&augment, 7, 3, 11);
    assert_eq!(a, Transform::draw(&augment, 7, 3, 11));
    assert_ne!(a, Transform::draw(&augment, 7, 4, 11));
    assert_ne!(a, Transform::draw(&augment, 7, 3, 12));
    assert_ne!(a, Transform::draw(&augment, 8, 3, 11));
    let mut spread = (0.0f64, 0.0f64);
    for example in 0..2000 {
        let t = Transform::draw(&augment, 1, 0, example);
        assert!(t.dx.abs() <= 2.0 && t.dy.abs() <= 2.0, "{t:?}");
        assert!(t.angle.abs() <= 10f64.to_radians(), "{t:?}");
        spread = (spread.0.max(t.dx.abs()), spread.1.max(t.angle.abs()));
    }
    // The draws cover the range, not a corner of it.
    assert!(
        spread.0 > 1.9 && spread.1 > 9.5f64.to_radians(),
        "{spread:?}"
    );
}

fn digits_with(extra: &str) -> (TrainConfig, Dataset) {
    let text = format!(
        "[data]\nsource = \"digits\"\n{extra}\n[network]\nhidden = [32]\n[training]\nepochs = 2\n"
    );
    let config = TrainConfig::from_toml(&text, "test").unwrap_or_else(|e| panic!("{e}"));
    let data = Dataset::load(config.data()).unwrap_or_else(|e| panic!("{e}"));
    (config, data)
}

fn run(config: &TrainConfig, data: &Dataset) -> TrainReport {
    train(config, data, &mut |_: &EpochMetrics| Control::Continue).unwrap_or_else(|e| panic!("{e}"))
}

fn losses(report: &TrainReport) -> Vec<(u64, Option<u64>)> {
    report
        .history
        .iter()
        .map(|m| (m.train_loss.to_bits(), m.val_loss.map(f64::to_bits)))
        .collect()
}

#[test]
fn the_augmenter_undoes_the_standardization_and_redoes_it_after_the_warp() {
    let (config, data) = digits_with("augment = { shift = 1 }");
    assert_eq!(data.image_shape(), Some((8, 8)));
    let mut augmenter = Augmenter::new(config.augment(), 1, &data, 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("augmentation is on"));
    let (st, range) = (data.standardization(), data.feature_ranges());
    let row = data.samples().row(5).to_vec();
    let pixels: Vec<f32> = row
        .iter()
        .zip(st.mean.iter().zip(&st.scale))
        .map(|(v, (m, s))| v / s + m)
        .collect();
    let mut out = vec![0.0; 64];
    augmenter.apply(&row, &mut out, 0, 5);
    let mut expected = vec![0.0; 64];
    warp(
        &pixels,
        &mut expected,
        (8, 8),
        &Transform::draw(config.augment(), 1, 0, 5),
    );
    for (i, (o, e)) in out.iter().zip(&expected).enumerate() {
        let standardized = ((e - st.mean[i]) * st.scale[i]).clamp(range.low[i], range.high[i]);
        assert!(
            (o - standardized).abs() < 1e-4,
            "pixel {i}: {o} against {standardized}"
        );
    }
    // Another epoch moves the same example elsewhere.
    let mut other = vec![0.0; 64];
    augmenter.apply(&row, &mut other, 1, 5);
    assert_ne!(out, other);
}

#[test]
fn augmented_training_is_reproducible_and_differs_from_plain_training() {
    let (config, data) = digits_with("augment = { shift = 1, rotate = 10 }");
    let first = run(&config, &data);
    assert_eq!(losses(&first), losses(&run(&config, &data)));
    let (plain, _) = digits_with("");
    let plain = run(&plain, &data);
    assert_ne!(losses(&first)[0].0, losses(&plain)[0].0);
}

#[test]
fn validation_and_test_examples_are_never_augmented() {
    // With plain SGD and a learning rate of 1e-30 the weights cannot move (every update is
    // far below an f32 ulp), so the validation and test losses after an epoch are those of
    // the initial weights, computed on the examples as stored: the same with and without
    // augmentation exactly when evaluation never augments. The training loss, computed on
    // augmented examples, does differ.
    let (n, side) = (60, 4);
    let x = Array2::from_shape_fn((n, side * side), |(r, f)| ((r * 7 + f * 3) % 11) as f32);
    let y: Vec<u32> = (0..n).map(|r| (r % 3) as u32).collect();
    let test = (x.slice(ndarray::s![..20, ..]).to_owned(), y[..20].to_vec());
    let data = Dataset::from_arrays(x, y, Some(test), 0.25, 1).unwrap_or_else(|e| panic!("{e}"));
    let config = |augment: &str| {
        let text = format!(
            "[data]\nsource = \"digits\"\n{augment}\n[network]\nhidden = [8]\n\
             [training]\noptimizer = \"sgd\"\nlearning_rate = 1e-30\nepochs = 1\n"
        );
        TrainConfig::from_toml(&text, "test").unwrap_or_else(|e| panic!("{e}"))
    };
    let plain = run(&config(""), &data);
    let augmented = run(&config("augment = { shift = 3, rotate = 90 }"), &data);
    assert_ne!(plain.history[0].train_loss, augmented.history[0].train_loss);
    assert_eq!(plain.history[0].val_loss, augmented.history[0].val_loss);
    assert_eq!(plain.test_loss, augmented.test_loss);
    assert!(plain.test_loss.is_some());
}

#[test]
fn samples_that_are_not_square_images_need_an_image_shape() {
    let x = Array2::from_shape_fn((30, 6), |(r, f)| (r + f) as f32);
    let y: Vec<u32> = (0..30).map(|r| (r % 2) as u32).collect();
    let data = Dataset::from_arrays(x, y, None, 0.2, 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(data.image_shape(), None);
    let text = "[data]\nsource = \"digits\"\naugment = { rotate = 5 }\n[network]\nhidden = [4]\n";
    let config = TrainConfig::from_toml(text, "test").unwrap_or_else(|e| panic!("{e}"));
    let err = train(&config, &data, &mut |_: &EpochMetrics| Control::Continue)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("data.augment")
            && err.contains("6 features")
            && err.contains("data.image_shape"),
        "{err}"
    );
    // With a shape, it trains; a shape of the wrong size is refused.
    let data = data
        .with_image_shape(2, 3)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(data.image_shape(), Some((2, 3)));
    assert_eq!(run(&config, &data).history.len(), 10);
    let err = data
        .with_image_shape(3, 3)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("3×3") && err.contains("9 features") && err.contains("6"),
        "{err}"
    );
}

#[test]
fn an_image_shape_that_contradicts_the_source_is_refused() {
    let text = "[data]\nsource = \"digits\"\nimage_shape = [4, 16]\n";
    let config = TrainConfig::from_toml(text, "test").unwrap_or_else(|e| panic!("{e}"));
    let err = Dataset::load(config.data())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("data.image_shape") && err.contains("8×8") && err.contains("4×16"),
        "{err}"
    );
}

/// A `height × width` image of values in [0, 1) from `seed`, no two neighbours alike.
fn speckled(height: usize, width: usize, seed: u64) -> Vec<f32> {
    (0..height * width)
        .map(|i| (mix(seed, i as u64) >> 40) as f32 / (1u64 << 24) as f32)
        .collect()
}

/// Transforms drawn under several settings, quarter turns and half turns included.
fn transforms() -> Vec<Transform> {
    let settings = [
        (2.0, 10.0),
        (0.5, 3.0),
        (5.0, 45.0),
        (3.0, 180.0),
        (0.0, 90.0),
    ];
    let mut all = Vec::new();
    for (shift, rotate) in settings {
        let augment = Augmentation { shift, rotate };
        all.extend((0..40).map(|example| Transform::draw(&augment, 5, 0, example)));
    }
    all.extend([90.0f64, -90.0, 180.0].map(|degrees| Transform {
        dx: 1.0,
        dy: -2.0,
        angle: degrees.to_radians(),
    }));
    all
}

#[test]
fn the_simd_and_the_portable_warp_give_the_same_bits() {
    for (h, w) in [(28, 28), (8, 8), (9, 13), (13, 9)] {
        let src = speckled(h, w, 3);
        for t in transforms() {
            let (mut fast, mut portable) = (vec![0.0; h * w], vec![0.0; h * w]);
            warp_with(&src, &mut fast, (h, w), &t, warp::augment);
            warp_with(&src, &mut portable, (h, w), &t, warp::augment_portable);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&portable), "{h}×{w} {t:?}");
        }
    }
}

/// The bilinear inverse map computed directly in f64, reading 0 outside the image.
fn reference(src: &[f32], (h, w): (usize, usize), t: &Transform, (x, y): (usize, usize)) -> f64 {
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let (sin, cos) = t.angle.sin_cos();
    let (ox, oy) = (x as f64 - cx - t.dx, y as f64 - cy - t.dy);
    let (sx, sy) = (cos * ox + sin * oy + cx, -sin * ox + cos * oy + cy);
    let pixel = |px: f64, py: f64| {
        let inside = (0.0..w as f64).contains(&px) && (0.0..h as f64).contains(&py);
        if inside {
            f64::from(src[py as usize * w + px as usize])
        } else {
            0.0
        }
    };
    let (x0, y0) = (sx.floor(), sy.floor());
    let (fx, fy) = (sx - x0, sy - y0);
    let top = pixel(x0, y0) * (1.0 - fx) + pixel(x0 + 1.0, y0) * fx;
    let low = pixel(x0, y0 + 1.0) * (1.0 - fx) + pixel(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + low * fy
}

#[test]
fn the_warp_is_the_bilinear_inverse_map_with_zero_fill() {
    for (h, w) in [(28, 28), (9, 13)] {
        let src = speckled(h, w, 4);
        for t in transforms() {
            let mut dst = vec![f32::NAN; h * w];
            warp(&src, &mut dst, (h, w), &t);
            for (i, &v) in dst.iter().enumerate() {
                let expected = reference(&src, (h, w), &t, (i % w, i / w));
                assert!(
                    (f64::from(v) - expected).abs() < 1e-3,
                    "{t:?} pixel {i}: {v} against {expected}"
                );
            }
        }
    }
}

#[test]
fn a_batch_augmented_over_a_pool_equals_one_augmented_on_one_thread() {
    let (config, data) = digits_with("augment = { shift = 1, rotate = 10 }");
    let split = data.train();
    let positions: Vec<u32> = (0..100).rev().collect();
    let features = data.features();
    let mut augmenter = Augmenter::new(config.augment(), 1, &data, positions.len())
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("augmentation is on"));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut batches = Vec::new();
    for threads in [Threads::One, Threads::Pool(&pool)] {
        let mut out = vec![f32::NAN; positions.len() * features];
        augmenter.fill(&split, &positions, &mut out, 3, threads);
        batches.push(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
    assert_eq!(batches[0], batches[1]);
    // Each example is the one `apply` gives on its own.
    let row = split.row(positions[7] as usize);
    let mut alone = vec![0.0; features];
    augmenter.apply(crate::linalg::flat(split.x.row(row)), &mut alone, 3, row);
    let seventh = &batches[0][7 * features..8 * features];
    assert_eq!(
        alone.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        seventh
    );
}
