//! The trainable tensors of a network as ndarray arrays, layer by layer. The same type holds
//! their gradients and the optimizer's moments (same shapes), so the optimizer walks the four
//! side by side.

use ndarray::{Array1, Array2};

use crate::linalg::{flat, flat_mut};

/// What a tensor is to the optimizer: L2 applies to weight matrices only, not to biases or
/// batch-norm parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A weight matrix.
    Weight,
    /// A bias, batch-norm scale or shift.
    Other,
}

/// Batch normalization's per-feature scale γ and shift β.
#[derive(Debug, Clone)]
pub(crate) struct ScaleShift {
    pub gamma: Array1<f32>,
    pub beta: Array1<f32>,
}

/// One dense layer's trainable tensors (or their gradients, or an optimizer's moments).
#[derive(Debug, Clone)]
pub(crate) struct LayerParameters {
    /// The `input × output` weight matrix: a batch's `rows × input` activations times it give
    /// the layer's `rows × output` pre-activations.
    pub w: Array2<f32>,
    /// The bias (absent when batch norm follows: its shift plays that role).
    pub bias: Option<Array1<f32>>,
    /// Batch-norm scale and shift (hidden layers with batch norm).
    pub bn: Option<ScaleShift>,
}

impl LayerParameters {
    /// Zeros for a layer of `input` → `output` units, with a bias or with batch norm.
    pub(crate) fn zeros(input: usize, output: usize, batch_norm: bool) -> Self {
        Self {
            w: Array2::zeros((input, output)),
            bias: (!batch_norm).then(|| Array1::zeros(output)),
            bn: batch_norm.then(|| ScaleShift {
                gamma: Array1::zeros(output),
                beta: Array1::zeros(output),
            }),
        }
    }

    fn zeros_like(&self) -> Self {
        Self::zeros(self.w.nrows(), self.w.ncols(), self.bn.is_some())
    }

    /// Every tensor of the layer as a flat slice, weights first.
    fn tensors(&self) -> impl Iterator<Item = (Role, &[f32])> {
        let (gamma, beta) = match &self.bn {
            Some(ScaleShift { gamma, beta }) => (Some(gamma), Some(beta)),
            None => (None, None),
        };
        std::iter::once((Role::Weight, flat(self.w.view()))).chain(
            [self.bias.as_ref(), gamma, beta]
                .into_iter()
                .flatten()
                .map(|t| (Role::Other, flat(t.view()))),
        )
    }

    /// [`Self::tensors`], mutable.
    fn tensors_mut(&mut self) -> impl Iterator<Item = (Role, &mut [f32])> {
        let (gamma, beta) = match &mut self.bn {
            Some(ScaleShift { gamma, beta }) => (Some(gamma), Some(beta)),
            None => (None, None),
        };
        std::iter::once((Role::Weight, flat_mut(self.w.view_mut()))).chain(
            [self.bias.as_mut(), gamma, beta]
                .into_iter()
                .flatten()
                .map(|t| (Role::Other, flat_mut(t.view_mut()))),
        )
    }
}

/// Every layer's tensors: the hidden layers in order, then the output layer.
#[derive(Debug, Clone)]
pub(crate) struct Parameters {
    pub hidden: Vec<LayerParameters>,
    pub output: LayerParameters,
}

impl Parameters {
    /// The same shapes, all zeros (gradients, optimizer state).
    pub(crate) fn zeros_like(&self) -> Self {
        Self {
            hidden: self
                .hidden
                .iter()
                .map(LayerParameters::zeros_like)
                .collect(),
            output: self.output.zeros_like(),
        }
    }

    /// Every tensor as a flat slice, layer by layer, in a fixed order.
    pub(crate) fn tensors(&self) -> impl Iterator<Item = (Role, &[f32])> {
        self.hidden
            .iter()
            .chain(std::iter::once(&self.output))
            .flat_map(LayerParameters::tensors)
    }

    /// [`Self::tensors`], mutable (the same order).
    pub(crate) fn tensors_mut(&mut self) -> impl Iterator<Item = (Role, &mut [f32])> {
        self.hidden
            .iter_mut()
            .chain(std::iter::once(&mut self.output))
            .flat_map(LayerParameters::tensors_mut)
    }

    /// The number of trainable values.
    pub(crate) fn count(&self) -> usize {
        self.hidden
            .iter()
            .chain(std::iter::once(&self.output))
            .map(|l| {
                l.w.len()
                    + l.bias.as_ref().map_or(0, Array1::len)
                    + l.bn.as_ref().map_or(0, |s| s.gamma.len() + s.beta.len())
            })
            .sum()
    }
}
