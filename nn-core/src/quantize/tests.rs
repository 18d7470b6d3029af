//! The quantizer: round-trip error bounds, per-channel scales, int8 inference against f32.

use ndarray::{Array1, Array2, array};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn identity_standardization(features: usize) -> Standardization {
    Standardization {
        mean: Array1::zeros(features),
        scale: Array1::ones(features),
    }
}

fn random_layer(outputs: usize, inputs: usize, rng: &mut ChaCha8Rng, magnitude: f32) -> DenseLayer {
    DenseLayer {
        weights: Array2::from_shape_fn((outputs, inputs), |_| {
            rng.random_range(-magnitude..magnitude)
        }),
        bias: Array1::from_shape_fn(outputs, |_| rng.random_range(-0.3..0.3)),
        residual: false,
    }
}

#[test]
fn weights_round_trip_within_half_a_step_of_their_own_channel() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut layer = random_layer(6, 50, &mut rng, 1.0);
    // Channels of very different magnitudes: each keeps its own precision.
    for (c, mut row) in layer.weights.rows_mut().into_iter().enumerate() {
        row *= 10f32.powi(c as i32 - 3);
    }
    let q = QuantizedLayer::quantize(&layer, 0.05);
    for c in 0..6 {
        let row = layer.weights.row(c);
        let max = row.fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            (q.weight_scales[c] - max / 127.0).abs() <= 1e-6 * max,
            "channel {c}"
        );
        assert!(
            q.weights.row(c).iter().any(|&v| v.abs() == 127),
            "channel {c} uses the full range"
        );
        for (k, &w) in row.iter().enumerate() {
            let back = f32::from(q.weights[[c, k]]) * q.weight_scales[c];
            assert!(
                (back - w).abs() <= 0.5 * q.weight_scales[c] * 1.0001,
                "({c}, {k}): {w} → {back}"
            );
        }
        let bias_scale = 0.05 * q.weight_scales[c];
        let back = q.bias[c] as f32 * bias_scale;
        assert!((back - layer.bias[c]).abs() <= 0.5 * bias_scale * 1.0001);
    }
    assert!(q.weights.iter().all(|&v| (-127..=127).contains(&v)));
    // A layer of zeros gets scale 1 rather than a division by zero.
    let zeros = DenseLayer {
        weights: Array2::zeros((2, 3)),
        bias: Array1::zeros(2),
        residual: false,
    };
    let q = QuantizedLayer::quantize(&zeros, 0.1);
    assert_eq!(q.weight_scales, array![1.0, 1.0]);
    assert!(q.weights.iter().all(|&v| v == 0));
}

#[test]
fn activations_round_trip_within_half_a_step_up_to_the_clipping_point() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let x = Array2::from_shape_fn((200, 30), |_| rng.random_range(-3.0f32..3.0));
    let s = calibrate::scale(x.view());
    assert!((s * 127.0 - 3.0).abs() < 0.01, "{}", s * 127.0);
    for &v in &x {
        let back = f32::from(quantize_value(v, s)) * s;
        assert!(
            (back - v).abs() <= 0.5 * s * 1.0001 || v.abs() > 127.0 * s,
            "{v} → {back}"
        );
    }
}

#[test]
fn int8_logits_are_the_exact_integer_arithmetic() {
    // One output layer, by hand: inputs quantized at 0.5, weights per channel, i32 sums.
    let model = Model::new(
        identity_standardization(2),
        vec![],
        DenseLayer {
            weights: array![[1.0, -0.3], [0.2, 0.5]],
            bias: array![0.0, 0.1],
            residual: false,
        },
        Activation::Relu,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let calibration = array![[63.5f32, -10.0], [1.0, 2.0]];
    let q = QuantizedModel::calibrate(&model, calibration.view()).unwrap_or_else(|e| panic!("{e}"));
    let layer = q.output();
    assert_eq!(layer.input_scale, 0.5);
    assert_eq!(layer.weights, array![[127i8, -38], [51, 127]]);
    // x = [3.0, -1.2] → [6, -2]; sums 6·127 + -2·-38 = 838 and 6·51 - 2·127 = 52.
    let logits = q.logits(array![[3.0f32, -1.2]].view());
    let s0 = 0.5 * (1.0f32 / 127.0);
    let s1 = 0.5 * (0.5f32 / 127.0);
    let b1 = (f64::from(0.1f32) / f64::from(s1)).round_ties_even() as i32;
    assert_eq!(layer.bias, array![0, b1]);
    assert_eq!(logits, array![[838.0 * s0, (52 + b1) as f32 * s1]]);
}

#[test]
fn a_quantized_network_predicts_like_its_f32_self() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let features = 40;
    let hidden = vec![
        random_layer(32, features, &mut rng, 0.3),
        DenseLayer {
            residual: true,
            ..random_layer(32, 32, &mut rng, 0.3)
        },
    ];
    let model = Model::new(
        identity_standardization(features),
        hidden,
        random_layer(5, 32, &mut rng, 0.5),
        Activation::Gelu,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let x = Array2::from_shape_fn((500, features), |_| rng.random_range(-2.0f32..2.0));
    let q = QuantizedModel::calibrate(&model, x.slice(ndarray::s![..200, ..]))
        .unwrap_or_else(|e| panic!("{e}"));
    let (exact, int8) = (model.logits(x.view()), q.logits(x.view()));
    let spread = exact.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    // Mean error: the few values beyond the calibrated clipping point are off by more.
    let mean = exact
        .iter()
        .zip(&int8)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / exact.len() as f32;
    assert!(
        mean < 0.01 * spread,
        "int8 logits off by {mean} on average (logits up to {spread})"
    );
    assert!(
        mean > 0.0,
        "int8 logits equal f32 ones: nothing was quantized"
    );
    let agree = predictions(exact.view())
        .iter()
        .zip(predictions(int8.view()))
        .filter(|(a, b)| **a == *b)
        .count();
    // A random network on random inputs has many near-ties between classes (a trained one
    // agrees far more: the digits run in tests/onnx.rs).
    assert!(agree >= 475, "{agree} of 500 predictions agree");
    // ~4x smaller: one byte per weight, four per bias and scale.
    let weights = 40 * 32 + 32 * 32 + 32 * 5;
    let others = 32 + 32 + 5;
    assert_eq!(model.bytes(), 4 * (weights + others));
    assert_eq!(q.bytes(), weights + 4 * (2 * others + 3));
}

#[test]
fn calibration_on_the_wrong_width_is_refused() {
    let model = Model::new(
        identity_standardization(3),
        vec![],
        DenseLayer {
            weights: Array2::ones((2, 3)),
            bias: Array1::zeros(2),
            residual: false,
        },
        Activation::Relu,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = QuantizedModel::calibrate(&model, Array2::zeros((4, 5)).view());
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("samples of 3 features; got 4 of 5"),
        "{message}"
    );
}
