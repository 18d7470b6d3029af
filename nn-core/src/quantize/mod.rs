//! int8 post-training quantization of a [`Model`]: symmetric per-output-channel int8
//! weights in [-127, 127], per-tensor symmetric int8 activations whose scales are calibrated
//! on training samples, int32 biases, and inference in int8 arithmetic (`i8 × i8 → i32`
//! products, requantized through f32 between layers). The arithmetic is that of the ONNX
//! QDQ graph the export writes, so onnxruntime predicts as [`QuantizedModel::logits`] does.
//!
//! Layout: `calibrate` (calibration samples and activation scales), `kernel` (rounding and
//! the int8 product).

mod calibrate;
mod kernel;

use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};

pub use calibrate::{CALIBRATION_SAMPLES, calibration_samples};

use crate::config::Activation;
use crate::data::{Split, Standardization};
use crate::error::Error;
use crate::model::{DenseLayer, Model, predictions};
use crate::network::activation;
use kernel::{matmul_i8, quantize as quantize_value};

/// One dense layer in int8: its input is quantized at `input_scale`, its weights per output
/// unit at `weight_scales[c]`, its bias at their product.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedLayer {
    /// A real input `x` enters as `round(x / input_scale)` saturated to [-128, 127].
    pub input_scale: f32,
    /// `outputs × inputs`, each in [-127, 127]: weight `(c, k)` ≈ `weights[c, k] · weight_scales[c]`.
    pub weights: Array2<i8>,
    /// One scale per output unit: the unit's largest absolute weight / 127.
    pub weight_scales: Array1<f32>,
    /// The bias in units of `input_scale · weight_scales[c]` (see [`QuantizedLayer::bias_scales`]).
    pub bias: Array1<i32>,
    /// Whether the layer's (dequantized) input is added to its activated output.
    pub residual: bool,
}

impl QuantizedLayer {
    /// The scale of each output unit's i32 sum (and bias): `input_scale · weight_scales[c]`.
    pub fn bias_scales(&self) -> Array1<f32> {
        self.weight_scales.mapv(|s| self.input_scale * s)
    }

    fn quantize(layer: &DenseLayer, input_scale: f32) -> Self {
        let weight_scales = layer.weights.map_axis(Axis(1), |row| {
            let max = row.fold(0.0f32, |m, v| m.max(v.abs()));
            if max > 0.0 { max / 127.0 } else { 1.0 }
        });
        let mut weights = Array2::zeros(layer.weights.raw_dim());
        Zip::from(weights.rows_mut())
            .and(layer.weights.rows())
            .and(&weight_scales)
            .for_each(|mut q, w, &s| {
                Zip::from(&mut q).and(&w).for_each(|q, &w| {
                    *q = quantize_value(w, s).clamp(-127, 127);
                });
            });
        let bias = Zip::from(&layer.bias)
            .and(&weight_scales)
            .map_collect(|&b, &s| {
                let q = f64::from(b) / f64::from(input_scale * s);
                q.round_ties_even()
                    .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
            });
        Self {
            input_scale,
            weights,
            weight_scales,
            bias,
            residual: layer.residual,
        }
    }
}

/// A [`Model`] quantized to int8.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedModel {
    standardization: Standardization,
    hidden: Vec<QuantizedLayer>,
    output: QuantizedLayer,
    activation: Activation,
}

impl QuantizedModel {
    /// Quantizes `model`, calibrating the activation scales on `calibration`: standardized
    /// samples, one per row (e.g. [`calibration_samples`] of the training split).
    ///
    /// # Errors
    /// [`Error::Setup`] when `calibration` has no rows or not [`Model::features`] columns.
    pub fn calibrate(model: &Model, calibration: ArrayView2<'_, f32>) -> Result<Self, Error> {
        Self::with_input_scales(model, &Self::input_scales(model, calibration)?)
    }

    /// The int8 scale of each layer's input (hidden layers, then the output layer), set by
    /// its values on `calibration`: standardized samples, one per row. What
    /// [`QuantizedModel::calibrate`] quantizes at, and what a kept model stores so that
    /// its int8 version can be rebuilt without the data set.
    ///
    /// # Errors
    /// [`Error::Setup`] when `calibration` has no rows or not [`Model::features`] columns.
    pub fn input_scales(
        model: &Model,
        calibration: ArrayView2<'_, f32>,
    ) -> Result<Vec<f32>, Error> {
        if calibration.nrows() == 0 || calibration.ncols() != model.features() {
            return Err(Error::Setup(format!(
                "int8 calibration needs samples of {} features; got {} of {}",
                model.features(),
                calibration.nrows(),
                calibration.ncols()
            )));
        }
        // Each layer's input on the calibration samples, in f32, sets its scale.
        let mut input = calibration.to_owned();
        let mut scales = Vec::with_capacity(model.hidden().len() + 1);
        for layer in model.hidden() {
            scales.push(calibrate::scale(input.view()));
            input = single_layer(model, layer, input.view());
        }
        scales.push(calibrate::scale(input.view()));
        Ok(scales)
    }

    /// Quantizes `model` with the given input scale of each layer (hidden layers, then the
    /// output layer), as [`QuantizedModel::input_scales`] computes them.
    ///
    /// # Errors
    /// [`Error::Setup`] when there is not one scale per layer, or a scale is not a positive
    /// finite number.
    pub fn with_input_scales(model: &Model, scales: &[f32]) -> Result<Self, Error> {
        let layers = model.hidden().len() + 1;
        if scales.len() != layers {
            return Err(Error::Setup(format!(
                "int8: {} input scales for {layers} layers",
                scales.len()
            )));
        }
        if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::Setup(format!(
                "int8: input scale {bad} is not a positive finite number"
            )));
        }
        let hidden = model
            .hidden()
            .iter()
            .zip(scales)
            .map(|(layer, &scale)| QuantizedLayer::quantize(layer, scale))
            .collect();
        let output = QuantizedLayer::quantize(model.output(), scales[layers - 1]);
        Ok(Self {
            standardization: model.standardization().clone(),
            hidden,
            output,
            activation: model.activation(),
        })
    }

    /// The standardization raw samples go through first (in f32, before quantization).
    pub fn standardization(&self) -> &Standardization {
        &self.standardization
    }

    /// The hidden layers, in order.
    pub fn hidden(&self) -> &[QuantizedLayer] {
        &self.hidden
    }

    /// The output layer (its i32 sums dequantized to f32 logits; softmax follows).
    pub fn output(&self) -> &QuantizedLayer {
        &self.output
    }

    /// The activation of every hidden layer (applied in f32 to the dequantized sums).
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Features per raw sample.
    pub fn features(&self) -> usize {
        self.standardization.mean.len()
    }

    /// Classes the model tells apart.
    pub fn classes(&self) -> usize {
        self.output.weights.nrows()
    }

    /// Bytes of the quantized parameters: one per weight, four per bias and per scale (the
    /// standardization is not counted, as in [`Model::bytes`]).
    pub fn bytes(&self) -> usize {
        self.hidden
            .iter()
            .chain(std::iter::once(&self.output))
            .map(|l| l.weights.len() + 4 * (l.bias.len() + l.weight_scales.len() + 1))
            .sum()
    }

    /// The logits of standardized samples (one row each), computed in int8 arithmetic.
    ///
    /// # Panics
    /// When `x` does not have [`QuantizedModel::features`] columns.
    pub fn logits(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        let rows = x.nrows();
        let first = self.hidden.first().unwrap_or(&self.output);
        let x = x.as_standard_layout();
        let mut q = Array2::zeros(x.raw_dim());
        kernel::quantize_all(
            x.as_slice().expect("standard layout"),
            first.input_scale,
            q.as_slice_mut().expect("a new array is contiguous"),
        );
        for (l, layer) in self.hidden.iter().enumerate() {
            let y = self.sums(layer, q.view());
            let next_scale = self.hidden.get(l + 1).unwrap_or(&self.output).input_scale;
            let mut next = Array2::zeros(y.raw_dim());
            let residual = layer
                .residual
                .then(|| (q.as_slice().expect("contiguous"), layer.input_scale));
            kernel::activate_quantize(
                self.activation,
                y.as_slice().expect("contiguous"),
                residual,
                next_scale,
                next.as_slice_mut().expect("a new array is contiguous"),
            );
            q = next;
        }
        debug_assert_eq!(q.nrows(), rows);
        self.sums(&self.output, q.view())
    }

    /// A layer's dequantized pre-activations: `(Σ x·w + bias) · input_scale · weight_scale`.
    fn sums(&self, layer: &QuantizedLayer, q: ArrayView2<'_, i8>) -> Array2<f32> {
        let mut acc = Array2::zeros((q.nrows(), layer.weights.nrows()));
        matmul_i8(acc.view_mut(), q, layer.weights.view());
        let mut y = Array2::zeros(acc.raw_dim());
        kernel::dequantize(
            acc.as_slice().expect("contiguous"),
            layer.bias.as_slice().expect("contiguous"),
            layer.bias_scales().as_slice().expect("contiguous"),
            y.as_slice_mut().expect("a new array is contiguous"),
        );
        y
    }

    /// The share of `split`'s samples whose predicted class is their label.
    pub fn accuracy(&self, split: &Split<'_>) -> f64 {
        let predicted = self.predict(split);
        let correct = predicted
            .iter()
            .enumerate()
            .filter(|&(i, p)| split.sample(i).1 == *p)
            .count();
        correct as f64 / split.len().max(1) as f64
    }

    /// The predicted class of every sample of `split`, in split order.
    pub fn predict(&self, split: &Split<'_>) -> Vec<u32> {
        const BATCH: usize = 256;
        let mut predicted = Vec::with_capacity(split.len());
        let mut batch = Array2::zeros((BATCH.min(split.len()), split.features()));
        for start in (0..split.len()).step_by(BATCH) {
            let end = (start + BATCH).min(split.len());
            for (i, mut row) in (start..end).zip(batch.rows_mut()) {
                row.assign(&split.sample(i).0);
            }
            let logits = self.logits(batch.slice(ndarray::s![..end - start, ..]));
            predicted.extend(predictions(logits.view()));
        }
        predicted
    }
}

/// One hidden layer of `model` on `input` (standardized or a previous layer's output), f32.
fn single_layer(model: &Model, layer: &DenseLayer, input: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut pre = input.dot(&layer.weights.t());
    pre += &layer.bias;
    let mut out = pre.mapv(|v| activation::value(model.activation(), v));
    if layer.residual {
        out += &input;
    }
    out
}

#[cfg(test)]
mod tests;
