//! The network: a stack of dense hidden layers (each optionally with batch norm, dropout and a
//! residual connection) and a dense output layer feeding softmax cross-entropy.
//!
//! All trainable parameters live in one flat vector (weight matrices first, then biases and
//! batch-norm scales and shifts), so the optimizer updates them in one fused loop and L2
//! applies to the weight prefix only.

pub(crate) mod activation;
pub(crate) mod batch_norm;
pub(crate) mod dropout;
pub(crate) mod init;
pub(crate) mod loss;
pub(crate) mod pass;

#[cfg(test)]
mod gradcheck;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::{Activation, NetworkConfig};
use crate::error::Error;

/// The most trainable parameters accepted (800 MB of f32 with its optimizer state).
const MAX_PARAMETERS: usize = 200_000_000;

/// Where one dense layer's tensors live in the flat parameter vector.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    pub input: usize,
    pub output: usize,
    /// Offset of the `input`×`output` row-major weight matrix.
    pub w: usize,
    /// Offset of the bias (absent when batch norm follows: its shift plays that role).
    pub bias: Option<usize>,
    /// Offsets of the batch-norm scale and shift, and of the running statistics.
    pub bn: Option<BatchNormAt>,
    pub dropout: f32,
    pub residual: bool,
}

/// Offsets of one layer's batch-norm tensors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchNormAt {
    pub gamma: usize,
    pub beta: usize,
    /// Offset in `running_mean` / `running_var`.
    pub running: usize,
}

/// A network's layout, parameters and batch-norm running statistics.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub hidden: Vec<Dense>,
    pub output: Dense,
    pub activation: Activation,
    pub features: usize,
    pub classes: usize,
    pub params: Vec<f32>,
    /// `params[..weights_len]` are weight matrices (the part L2 applies to).
    pub weights_len: usize,
    pub running_mean: Vec<f32>,
    pub running_var: Vec<f32>,
}

impl Network {
    /// Lays out and initializes a network for `features` inputs and `classes` outputs.
    pub(crate) fn new(
        config: &NetworkConfig,
        features: usize,
        classes: usize,
        seed: u64,
    ) -> Result<Self, Error> {
        let mut widths = vec![features];
        widths.extend(&config.hidden);
        let weights_len: usize = widths.windows(2).map(|w| w[0] * w[1]).sum::<usize>()
            + widths[widths.len() - 1] * classes;
        let extra: usize = config
            .hidden
            .iter()
            .map(|h| if config.batch_norm { 2 * h } else { *h })
            .sum::<usize>()
            + classes;
        let total = weights_len + extra;
        if total > MAX_PARAMETERS {
            return Err(Error::Setup(format!(
                "the network has {total} parameters for {features} inputs: at most {MAX_PARAMETERS} are accepted (network.hidden is {:?})",
                config.hidden
            )));
        }
        let mut w_at = 0;
        let mut other_at = weights_len;
        let mut running_at = 0;
        let mut take_w = |n: usize| {
            let at = w_at;
            w_at += n;
            at
        };
        let mut hidden = Vec::new();
        for (l, pair) in widths.windows(2).enumerate() {
            let (input, output) = (pair[0], pair[1]);
            let w = take_w(input * output);
            let (bias, bn) = if config.batch_norm {
                let at = BatchNormAt {
                    gamma: other_at,
                    beta: other_at + output,
                    running: running_at,
                };
                other_at += 2 * output;
                running_at += output;
                (None, Some(at))
            } else {
                other_at += output;
                (Some(other_at - output), None)
            };
            hidden.push(Dense {
                input,
                output,
                w,
                bias,
                bn,
                dropout: config.dropout[l],
                residual: config.residual && input == output,
            });
        }
        let last = widths[widths.len() - 1];
        let output = Dense {
            input: last,
            output: classes,
            w: take_w(last * classes),
            bias: Some(other_at),
            bn: None,
            dropout: 0.0,
            residual: false,
        };
        let mut net = Network {
            hidden,
            output,
            activation: config.activation,
            features,
            classes,
            params: vec![0.0; total],
            weights_len,
            running_mean: vec![0.0; running_at],
            running_var: vec![1.0; running_at],
        };
        let mut rng = ChaCha8Rng::seed_from_u64(dropout::mix(seed, 0x1417));
        for layer in net.hidden.iter().chain(std::iter::once(&net.output)) {
            let w = &mut net.params[layer.w..layer.w + layer.input * layer.output];
            init::fill(w, config.init, layer.input, layer.output, &mut rng);
            if let Some(bn) = layer.bn {
                net.params[bn.gamma..bn.gamma + layer.output].fill(1.0);
            }
        }
        Ok(net)
    }

    /// The number of trainable parameters.
    pub(crate) fn parameter_count(&self) -> usize {
        self.params.len()
    }

    /// The widest layer output (hidden or output), for sizing gradient buffers.
    pub(crate) fn max_width(&self) -> usize {
        self.hidden
            .iter()
            .map(|l| l.output)
            .chain([self.classes])
            .max()
            .unwrap_or(self.classes)
    }
}
