//! The trained network as an inference model: batch norm folded into the dense layer before
//! it, dropout gone (it is the identity at inference), the data set's standardization kept so
//! raw samples go in. [`Model`] is what export and quantization start from.
//!
//! Layout: this file holds [`Model`]; [`file`](mod@file) the model as bytes, as the coordinator keeps
//! it ([`file::KeptModel`]).

pub mod file;

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::config::Activation;
use crate::data::Standardization;
use crate::error::Error;
use crate::linalg::{Threads, matmul};
use crate::network::batch_norm::EPS;
use crate::network::{Network, activation, loss};

/// One dense layer of a [`Model`]: `output = activation(input · weightsᵀ + bias)` (the
/// output layer has no activation), plus the input when `residual`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    /// `outputs × inputs`: row `c` holds the weights of output unit `c` (ONNX Gemm's `B`
    /// with `transB = 1`).
    pub weights: Array2<f32>,
    /// One bias per output unit (batch norm's shift folded in).
    pub bias: Array1<f32>,
    /// Whether the layer's input is added to its activated output (equal widths only).
    pub residual: bool,
}

impl DenseLayer {
    /// Inputs the layer takes.
    pub fn inputs(&self) -> usize {
        self.weights.ncols()
    }

    /// Outputs the layer gives.
    pub fn outputs(&self) -> usize {
        self.weights.nrows()
    }
}

/// A trained network ready for inference: raw samples in, class probabilities out.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    standardization: Standardization,
    hidden: Vec<DenseLayer>,
    output: DenseLayer,
    activation: Activation,
}

impl Model {
    /// Assembles a model from its parts (e.g. weights kept by the coordinator).
    ///
    /// # Errors
    /// [`Error::Setup`] when the shapes do not chain: the standardization's width against the
    /// first layer's inputs, each layer's outputs against the next one's inputs, a bias's
    /// length against its layer's outputs, a residual layer that is not square.
    pub fn new(
        standardization: Standardization,
        hidden: Vec<DenseLayer>,
        output: DenseLayer,
        activation: Activation,
    ) -> Result<Self, Error> {
        let mut width = standardization.mean.len();
        if standardization.scale.len() != width {
            return Err(Error::Setup(format!(
                "model: {width} standardization means but {} scales",
                standardization.scale.len()
            )));
        }
        for (l, layer) in hidden.iter().chain(std::iter::once(&output)).enumerate() {
            let problem = if layer.inputs() != width {
                Some(format!("takes {} inputs, gets {width}", layer.inputs()))
            } else if layer.bias.len() != layer.outputs() {
                Some(format!(
                    "has {} outputs but {} biases",
                    layer.outputs(),
                    layer.bias.len()
                ))
            } else if layer.residual && (layer.inputs() != layer.outputs() || l == hidden.len()) {
                Some("is residual but not a square hidden layer".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(Error::Setup(format!("model: layer {} {problem}", l + 1)));
            }
            width = layer.outputs();
        }
        Ok(Self {
            standardization,
            hidden,
            output,
            activation,
        })
    }

    /// The inference model of a trained network: batch norm folded into the weights and
    /// biases before it, weights transposed to `outputs × inputs`.
    pub(crate) fn from_network(net: &Network, standardization: &Standardization) -> Self {
        let hidden = net
            .hidden
            .iter()
            .zip(&net.params.hidden)
            .map(|(layout, p)| {
                let mut weights = p.w.t().as_standard_layout().into_owned();
                let bias = match (&p.bn, &layout.running, &p.bias) {
                    (Some(bn), Some(running), _) => {
                        // gamma·(z − mean)/√(var + ε) + beta = g·z + (beta − g·mean).
                        let g = Array1::from_shape_fn(bn.gamma.len(), |c| {
                            bn.gamma[c] / (running.var[c] + EPS).sqrt()
                        });
                        for (mut row, g) in weights.axis_iter_mut(Axis(0)).zip(&g) {
                            row *= *g;
                        }
                        &bn.beta - &(&running.mean * &g)
                    }
                    (_, _, Some(bias)) => bias.clone(),
                    _ => Array1::zeros(layout.output),
                };
                DenseLayer {
                    weights,
                    bias,
                    residual: layout.residual,
                }
            })
            .collect();
        let p = &net.params.output;
        let output = DenseLayer {
            weights: p.w.t().as_standard_layout().into_owned(),
            bias: p.bias.clone().unwrap_or_else(|| Array1::zeros(net.classes)),
            residual: false,
        };
        Self {
            standardization: standardization.clone(),
            hidden,
            output,
            activation: net.activation,
        }
    }

    /// The standardization raw samples go through first.
    pub fn standardization(&self) -> &Standardization {
        &self.standardization
    }

    /// The hidden layers, in order.
    pub fn hidden(&self) -> &[DenseLayer] {
        &self.hidden
    }

    /// The output layer (logits; softmax follows).
    pub fn output(&self) -> &DenseLayer {
        &self.output
    }

    /// The activation of every hidden layer.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Features per raw sample.
    pub fn features(&self) -> usize {
        self.standardization.mean.len()
    }

    /// Classes the model tells apart.
    pub fn classes(&self) -> usize {
        self.output.outputs()
    }

    /// Weights and biases (after folding: batch norm adds none).
    pub fn parameter_count(&self) -> usize {
        self.layers().map(|l| l.weights.len() + l.bias.len()).sum()
    }

    /// Bytes of the weights and biases as f32 (the standardization, the same in every
    /// precision, is not counted).
    pub fn bytes(&self) -> usize {
        4 * self.parameter_count()
    }

    /// The hidden layers, then the output layer.
    pub fn layers(&self) -> impl Iterator<Item = &DenseLayer> {
        self.hidden.iter().chain(std::iter::once(&self.output))
    }

    /// Raw samples standardized as in training: `(x − mean) · scale`.
    ///
    /// # Panics
    /// When `raw` does not have [`Model::features`] columns.
    pub fn standardize(&self, raw: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut x = raw.to_owned();
        x -= &self.standardization.mean;
        x *= &self.standardization.scale;
        x
    }

    /// The logits of standardized samples (one row each), in f32.
    ///
    /// # Panics
    /// When `x` does not have [`Model::features`] columns.
    pub fn logits(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut input = x.as_standard_layout().into_owned();
        for layer in &self.hidden {
            let mut pre = Array2::zeros((input.nrows(), layer.outputs()));
            matmul(
                pre.view_mut(),
                false,
                input.view(),
                layer.weights.t(),
                Threads::One,
            );
            let mut out = Array2::zeros(pre.raw_dim());
            activation::forward(
                self.activation,
                pre.view_mut(),
                Some(layer.bias.view()),
                out.view_mut(),
            );
            if layer.residual {
                out += &input;
            }
            input = out;
        }
        let mut logits = Array2::zeros((input.nrows(), self.classes()));
        matmul(
            logits.view_mut(),
            false,
            input.view(),
            self.output.weights.t(),
            Threads::One,
        );
        logits += &self.output.bias;
        logits
    }

    /// Class probabilities (softmax of the logits) of raw samples, one row each: what the
    /// exported ONNX model computes.
    ///
    /// # Panics
    /// When `raw` does not have [`Model::features`] columns.
    pub fn probabilities(&self, raw: ArrayView2<'_, f32>) -> Array2<f32> {
        softmax(self.logits(self.standardize(raw).view()))
    }
}

/// Row-wise softmax: `exp(z − max) / Σ exp(z − max)`.
pub fn softmax(mut z: Array2<f32>) -> Array2<f32> {
    for mut row in z.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    z
}

/// The predicted class of each row of logits (ties go to the lowest class).
pub fn predictions(logits: ArrayView2<'_, f32>) -> Vec<u32> {
    logits
        .rows()
        .into_iter()
        .map(|row| {
            let row = row.to_vec();
            loss::argmax(&row) as u32
        })
        .collect()
}

#[cfg(test)]
mod tests;
