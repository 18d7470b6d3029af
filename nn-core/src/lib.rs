//! `nn-core`: the training core every worker runs. It trains feed-forward networks on
//! MNIST-like data, fast on one thread, and knows nothing of gRPC, SQL or search.
//!
//! Layout:
//! - [`config`]: the training config (`examples/digits.toml`), parsed, overridden by dotted keys and
//!   validated once into [`TrainConfig`].
//! - [`data`]: IDX, CSV and built-in digits loaders; [`Dataset`] holds the standardized
//!   samples (an ndarray `Array2`, one row per sample) and the seeded train/validation split,
//!   shareable read-only between trainings.
//! - `augment`: random shifts and rotations of training images (`[data] augment`), warped
//!   into the batch buffer from (seed, epoch, example).
//! - `linalg`: the one matrix-product wrapper: ndarray views in, faer's kernels on the same
//!   memory (no copy).
//! - `network`: parameters (ndarray arrays per layer), activations, batch norm, dropout,
//!   softmax cross-entropy, and the forward/backward passes over preallocated arrays.
//! - `optim`: SGD, momentum, Adam, AdamW, global-norm clipping, as fused passes.
//! - [`train`](mod@train): the loop, the per-epoch [`Observer`] and the [`TrainReport`];
//!   [`Checkpoint`]: a running training as bytes, to go on from ([`train_from`]).
//! - [`model`]: the trained network for inference ([`Model`]): batch norm folded, the
//!   standardization kept so raw samples go in; what export starts from.
//! - [`quantize`]: int8 post-training quantization ([`QuantizedModel`]) and inference in int8
//!   arithmetic.
//!
//! # Example
//! ```
//! use nn_core::{Control, Dataset, TrainConfig};
//! let text = "[data]\nsource = \"digits\"\n[network]\nhidden = [64]\n[training]\nepochs = 3\nbatch_size = 32\n";
//! let config = TrainConfig::from_toml(text, "inline").unwrap();
//! let data = std::sync::Arc::new(Dataset::load(config.data()).unwrap());
//! let report = nn_core::train(&config, &data, &mut |_: &nn_core::EpochMetrics| Control::Continue).unwrap();
//! assert!(report.history[2].val_accuracy.unwrap() > 0.9);
//! ```

mod augment;
pub mod config;
pub mod data;
mod error;
mod linalg;
pub mod model;
mod network;
mod optim;
pub mod quantize;
pub mod train;

pub use config::{TrainConfig, is_training_key};
pub use data::{Dataset, Split, Standardization};
pub use error::{Error, Result};
pub use model::Model;
/// The ndarray version of the public API ([`Dataset::from_arrays`], [`Split::x`]).
pub use ndarray;
pub use quantize::QuantizedModel;
pub use train::{
    Checkpoint, CheckpointSink, Control, EpochMetrics, Observer, StopReason, TrainReport, Trained,
    check_setup, train, train_from, train_model,
};
