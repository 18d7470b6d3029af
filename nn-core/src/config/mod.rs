//! The training config (`examples/digits.toml`): `[data]`, `[network]` and `[training]`.
//!
//! Text is parsed into raw serde structs (`deny_unknown_fields`, every value with its span),
//! overrides of dotted keys are applied, and the result is validated once into
//! [`TrainConfig`], the only form the rest of the crate accepts.
//!
//! | Key | Default | Range |
//! |---|---|---|
//! | `data.source` | (required) | `idx`, `csv`, `digits` |
//! | `data.path` | (required for idx, csv) | a directory (idx) or a file (csv, `.gz` allowed) |
//! | `data.validation_fraction` | 0.2 | 0 ≤ f ≤ 0.9 (0: no validation split) |
//! | `data.split_seed` | 0 | ≥ 0; seeds the train/validation split |
//! | `data.image_shape` | from the data | `[h, w]`, for CSV images that are not square |
//! | `data.augment.shift` | 0 (off) | 0 ≤ s ≤ 64 pixels, training images only |
//! | `data.augment.rotate` | 0 (off) | 0 ≤ r ≤ 180 degrees, training images only |
//! | `network.hidden` | `[256, 128]` | 1..=64 layers of 1..=65536 units |
//! | `network.activation` | `relu` | relu, leaky_relu, elu, sigmoid, tanh, swish, gelu |
//! | `network.batch_norm` | false | |
//! | `network.dropout` | 0 | 0 ≤ p < 1, one number or one per hidden layer |
//! | `network.residual` | false | skip connections between equal-width hidden layers |
//! | `network.init` | `he` | he, xavier, small_random, zeros |
//! | `training.optimizer` | `adam` | sgd, momentum, adam, adamw |
//! | `training.learning_rate` | 0.001 | 0 < lr ≤ 10 |
//! | `training.momentum` | 0.9 | 0 ≤ m < 1 (momentum optimizer) |
//! | `training.batch_size` | 128 | 1..=65536 |
//! | `training.epochs` | 10 | 1..=100000 |
//! | `training.l2` | 0 | 0 ≤ l2 ≤ 1 (decoupled weight decay for adamw) |
//! | `training.lr_schedule` | `"none"` | `{exponential = r}`, `{step = [n, f]}`, `{cosine = true}` |
//! | `training.clip_norm` | none | > 0 |
//! | `training.patience` | none | ≥ 1 epochs without a better validation loss |
//! | `training.seed` | 1 | ≥ 0 |
//! | `training.threads` | 1 | 1..=1024 |
//! | `training.quantize` | `"none"` | `none`, `int8` (not overridable: it changes no weight) |

mod keys;
mod raw;
mod validate;

use std::path::{Path, PathBuf};

pub use keys::{ACTIVATIONS, INITS, KeyKind, OPTIMIZERS, TRAINING_KEYS, is_training_key, key_kind};

use crate::error::Error;

/// Dotted-key overrides of a config, e.g. a trial's `{"training.learning_rate": 0.003}`.
pub type Overrides = serde_json::Map<String, serde_json::Value>;

/// A validated training config: the only form training and data loading accept.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    data: DataConfig,
    augment: Augmentation,
    network: NetworkConfig,
    training: TrainingConfig,
}

impl TrainConfig {
    /// Parses and validates a training or study config file. A relative `data.path` is taken
    /// relative to the file's directory.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; otherwise as
    /// [`TrainConfig::from_toml_with_overrides`].
    pub fn from_file(path: &Path, overrides: &Overrides) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        validate::parse(&text, &path.display().to_string(), overrides, Some(base))
    }

    /// Parses TOML text (a training config or a study config, whose study tables are
    /// ignored), applies `overrides` (dotted training keys to JSON values) and validates the
    /// result. `origin` names the text in errors (usually its file name). A relative
    /// `data.path` is kept as it is.
    ///
    /// # Errors
    /// [`Error::ConfigSyntax`] for invalid TOML, unknown keys and wrong types in the text
    /// (with line and column); [`Error::Override`] for an unknown dotted key or a value of the
    /// wrong type; [`Error::InvalidValue`] for a value out of range, naming key and line.
    ///
    /// # Example
    /// ```
    /// let text = "[data]\nsource = \"digits\"\n[training]\nepochs = 3\n";
    /// let overrides = serde_json::json!({"training.learning_rate": 0.01, "network.hidden": [32]});
    /// let config = nn_core::TrainConfig::from_toml_with_overrides(
    ///     text, "example.toml", overrides.as_object().unwrap()).unwrap();
    /// assert_eq!(config.training().learning_rate, 0.01);
    /// assert_eq!(config.network().hidden, vec![32]);
    /// ```
    pub fn from_toml_with_overrides(
        text: &str,
        origin: &str,
        overrides: &Overrides,
    ) -> Result<Self, Error> {
        validate::parse(text, origin, overrides, None)
    }

    /// Parses and validates TOML text without overrides.
    ///
    /// # Errors
    /// As [`TrainConfig::from_toml_with_overrides`].
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, Error> {
        validate::parse(text, origin, &Overrides::new(), None)
    }

    /// The `[data]` section.
    pub fn data(&self) -> &DataConfig {
        &self.data
    }

    /// `[data] augment`: how training images are shifted and rotated. Kept apart from
    /// [`DataConfig`] because it does not change the loaded data: trials that differ only
    /// in augmentation share one loaded copy.
    pub fn augment(&self) -> &Augmentation {
        &self.augment
    }

    /// The `[network]` section.
    pub fn network(&self) -> &NetworkConfig {
        &self.network
    }

    /// The `[training]` section.
    pub fn training(&self) -> &TrainingConfig {
        &self.training
    }

    /// The same config with `training.quantize` set (what `train --int8` does).
    pub fn with_quantize(mut self, quantize: Quantize) -> Self {
        self.training.quantize = quantize;
        self
    }
}

/// Where the data comes from and how it is split (`[data]`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DataConfig {
    /// The source and its path.
    pub source: DataSource,
    /// The share of the training file held out for validation (0 means none).
    pub validation_fraction: f64,
    /// Seeds the train/validation split (the same for every trial sharing the data set).
    pub split_seed: u64,
    /// `[height, width]` of a CSV source's images (IDX files and digits carry their own).
    pub image_shape: Option<(usize, usize)>,
}

/// Random shifts and rotations of the training images (`[data] augment`); 0 turns a part
/// off, and both at 0 (the default) turn augmentation off.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct Augmentation {
    /// The largest shift, in pixels, along each axis (drawn uniformly in ±shift).
    pub shift: f64,
    /// The largest rotation, in degrees (drawn uniformly in ±rotate).
    pub rotate: f64,
}

impl Augmentation {
    /// Whether any image is changed.
    pub fn is_active(&self) -> bool {
        self.shift > 0.0 || self.rotate > 0.0
    }
}

/// A data source (`data.source` and `data.path`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataSource {
    /// MNIST-style IDX files (`train-images-idx3-ubyte[.gz]`, …) in a directory; the
    /// `t10k-*` files, when present, are the test set.
    Idx(PathBuf),
    /// A CSV file (optionally gzipped) with a header row holding a `label` column.
    Csv(PathBuf),
    /// The built-in 8×8 digits set (1,797 images).
    Digits,
}

/// The network's shape (`[network]`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NetworkConfig {
    /// Units per hidden layer.
    pub hidden: Vec<usize>,
    /// The activation of every hidden layer.
    pub activation: Activation,
    /// Batch normalization after each hidden dense layer.
    pub batch_norm: bool,
    /// Dropout probability per hidden layer (one entry per layer).
    pub dropout: Vec<f32>,
    /// Skip connections around hidden layers whose input and output widths are equal.
    pub residual: bool,
    /// How weights are initialized.
    pub init: Init,
}

/// A hidden-layer activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// x for x > 0, 0.01·x otherwise.
    LeakyRelu,
    /// x for x > 0, eˣ − 1 otherwise.
    Elu,
    /// 1 / (1 + e⁻ˣ).
    Sigmoid,
    /// tanh(x).
    Tanh,
    /// x·sigmoid(x) (SiLU).
    Swish,
    /// x·Φ(x), with the exact normal CDF.
    Gelu,
}

/// A weight initialization; biases start at zero, batch-norm scales at one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Kaiming normal: N(0, 2 / fan_in).
    He,
    /// Glorot uniform: U(±√(6 / (fan_in + fan_out))).
    Xavier,
    /// N(0, 0.01²).
    SmallRandom,
    /// All zeros (does not break symmetry; for demonstration).
    Zeros,
}

/// How the network is trained (`[training]`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TrainingConfig {
    /// The update rule.
    pub optimizer: Optimizer,
    /// The initial learning rate.
    pub learning_rate: f64,
    /// The momentum coefficient of the `momentum` optimizer.
    pub momentum: f64,
    /// Samples per mini-batch.
    pub batch_size: usize,
    /// Passes over the training split.
    pub epochs: usize,
    /// L2 penalty on the weights (decoupled weight decay for AdamW).
    pub l2: f64,
    /// How the learning rate changes from epoch to epoch.
    pub lr_schedule: Schedule,
    /// Rescale the gradient when its global L2 norm exceeds this.
    pub clip_norm: Option<f64>,
    /// Stop after this many epochs without a lower validation loss.
    pub patience: Option<usize>,
    /// Seeds initialization, shuffling and dropout.
    pub seed: u64,
    /// Threads for the matrix products (1: no thread pool at all).
    pub threads: usize,
    /// Post-training quantization, evaluated after training next to f32.
    pub quantize: Quantize,
}

/// Post-training quantization (`training.quantize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantize {
    /// None: f32 only.
    #[default]
    None,
    /// int8 weights and activations, calibrated on training samples.
    Int8,
}

/// An optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    /// Plain stochastic gradient descent.
    Sgd,
    /// SGD with (heavy-ball) momentum.
    Momentum,
    /// Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8), L2 added to the gradient.
    Adam,
    /// Adam with decoupled weight decay (`l2` is the decay rate).
    AdamW,
}

/// A learning-rate schedule, applied per epoch (epoch e counts from 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The learning rate stays as configured.
    Constant,
    /// lr · rᵉ.
    Exponential(f64),
    /// lr · factor^⌊e / every⌋.
    Step {
        /// Epochs between two reductions.
        every: usize,
        /// The factor applied at each reduction.
        factor: f64,
    },
    /// lr · ½(1 + cos(π e / epochs)).
    Cosine,
}

impl Schedule {
    /// The learning rate of epoch `epoch` (0-based) out of `epochs`.
    pub fn learning_rate(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Exponential(rate) => base * rate.powi(epoch as i32),
            Schedule::Step { every, factor } => base * factor.powi((epoch / every) as i32),
            Schedule::Cosine => {
                base * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs as f64).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests;
