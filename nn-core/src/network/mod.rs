//! The network: a stack of dense hidden layers (each optionally with batch norm, dropout and a
//! residual connection) and a dense output layer feeding softmax cross-entropy.
//!
//! The trainable tensors live in [`Parameters`] (ndarray arrays per layer); the layout of
//! each layer (widths, dropout, residual, batch-norm running statistics) in [`Dense`].

pub(crate) mod activation;
pub(crate) mod batch_norm;
pub(crate) mod dropout;
pub(crate) mod init;
pub(crate) mod loss;
pub(crate) mod parameters;
pub(crate) mod pass;

#[cfg(test)]
mod gradcheck;

use ndarray::Array1;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub(crate) use parameters::{LayerParameters, Parameters, Role, ScaleShift};

use crate::config::{Activation, NetworkConfig};
use crate::error::Error;
use crate::linalg::flat_mut;

/// The most trainable parameters accepted (800 MB of f32 with its optimizer state).
const MAX_PARAMETERS: usize = 200_000_000;

/// Batch normalization's running mean and (unbiased) variance, used in inference mode.
#[derive(Debug, Clone)]
pub(crate) struct RunningStats {
    pub mean: Array1<f32>,
    pub var: Array1<f32>,
}

/// The layout of one dense layer.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    pub input: usize,
    pub output: usize,
    pub dropout: f32,
    pub residual: bool,
    /// The batch-norm running statistics (present exactly when the layer has batch norm).
    pub running: Option<RunningStats>,
}

/// A network's layout and parameters.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub hidden: Vec<Dense>,
    pub activation: Activation,
    pub features: usize,
    pub classes: usize,
    pub params: Parameters,
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
        let last = widths[widths.len() - 1];
        let total: usize = widths
            .windows(2)
            .map(|w| w[0] * w[1] + if config.batch_norm { 2 * w[1] } else { w[1] })
            .sum::<usize>()
            + last * classes
            + classes;
        if total > MAX_PARAMETERS {
            return Err(Error::Setup(format!(
                "the network has {total} parameters for {features} inputs: at most {MAX_PARAMETERS} are accepted (network.hidden is {:?})",
                config.hidden
            )));
        }
        let hidden: Vec<Dense> = widths
            .windows(2)
            .enumerate()
            .map(|(l, pair)| Dense {
                input: pair[0],
                output: pair[1],
                dropout: config.dropout[l],
                residual: config.residual && pair[0] == pair[1],
                running: config.batch_norm.then(|| RunningStats {
                    mean: Array1::zeros(pair[1]),
                    var: Array1::ones(pair[1]),
                }),
            })
            .collect();
        let mut params = Parameters {
            hidden: hidden
                .iter()
                .map(|l| LayerParameters::zeros(l.input, l.output, config.batch_norm))
                .collect(),
            output: LayerParameters::zeros(last, classes, false),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(dropout::mix(seed, 0x1417));
        for layer in params
            .hidden
            .iter_mut()
            .chain(std::iter::once(&mut params.output))
        {
            let (fan_in, fan_out) = layer.w.dim();
            init::fill(
                flat_mut(layer.w.view_mut()),
                config.init,
                fan_in,
                fan_out,
                &mut rng,
            );
            if let Some(bn) = &mut layer.bn {
                bn.gamma.fill(1.0);
            }
        }
        Ok(Network {
            hidden,
            activation: config.activation,
            features,
            classes,
            params,
        })
    }

    /// The number of trainable parameters.
    pub(crate) fn parameter_count(&self) -> usize {
        self.params.count()
    }

    /// Floating-point operations of one forward pass for one example in inference mode.
    /// Per dense layer of `i` inputs and `o` outputs: 2·i·o for the matrix product (a
    /// multiply-add counts as 2), then `o` for the bias, or 2·o for batch normalization (a
    /// scale and a shift, which replace the bias), and `o` more for a residual addition.
    /// Activations, dropout (off in inference) and the final softmax are not counted.
    pub(crate) fn flops(&self) -> u64 {
        let dense = |i: usize, o: usize| 2 * i as u64 * o as u64;
        let hidden: u64 = self
            .hidden
            .iter()
            .map(|l| {
                let o = l.output as u64;
                dense(l.input, l.output)
                    + if l.running.is_some() { 2 * o } else { o }
                    + if l.residual { o } else { 0 }
            })
            .sum();
        let last = self.hidden.last().map_or(self.features, |l| l.output);
        hidden + dense(last, self.classes) + self.classes as u64
    }
}
