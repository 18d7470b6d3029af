//! What training reports: per-epoch metrics to the observer, and the final report.

use serde::Serialize;

/// The metrics of one epoch, as the observer sees them and `--format json` prints them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochMetrics {
    /// The epoch, counting from 1.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's mini-batches (as the weights moved).
    pub train_loss: f64,
    /// Mean cross-entropy on the validation split after the epoch (none without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Share of training samples classified right during the epoch.
    pub train_accuracy: f64,
    /// Share of validation samples classified right after the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    /// The learning rate used in this epoch.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
}

impl EpochMetrics {
    /// The metric named `name` (`train_loss`, `val_loss`, `train_accuracy`, `val_accuracy`,
    /// `learning_rate`, `seconds`), when it exists.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "train_loss" => Some(self.train_loss),
            "val_loss" => self.val_loss,
            "train_accuracy" => Some(self.train_accuracy),
            "val_accuracy" => self.val_accuracy,
            "learning_rate" => Some(self.learning_rate),
            "seconds" => Some(self.seconds),
            "epoch" => Some(self.epoch as f64),
            _ => None,
        }
    }
}

/// The observer's answer after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Train the next epoch.
    Continue,
    /// Stop now (e.g. the coordinator pruned the trial).
    Stop,
}

/// Called after every epoch with its metrics; can stop training.
pub trait Observer {
    /// Sees one epoch's metrics and says whether to go on.
    fn on_epoch(&mut self, metrics: &EpochMetrics) -> Control;
}

impl<F: FnMut(&EpochMetrics) -> Control> Observer for F {
    fn on_epoch(&mut self, metrics: &EpochMetrics) -> Control {
        self(metrics)
    }
}

/// Why training ended before its last epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The validation loss did not improve for `patience` epochs.
    Patience,
    /// The observer returned [`Control::Stop`].
    Observer,
}

/// The outcome of a training run (what `train --format json` prints).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    /// One entry per epoch trained.
    pub history: Vec<EpochMetrics>,
    /// Accuracy on the test split after training, when the data has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Mean cross-entropy on the test split, when the data has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    /// Trainable parameters of the network.
    pub parameters: usize,
    /// Floating-point operations of one forward pass for one example, in inference mode
    /// (a multiply-add counts as 2; see `Network::flops` for what is counted).
    pub flops: u64,
    /// Milliseconds of one forward pass for a batch of one example on one thread: the
    /// median of repeats measured after training.
    pub inference_ms: f64,
    /// Whether training ended before its last epoch.
    pub stopped_early: bool,
    /// Why it ended early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// The int8 model's accuracy and size, when `training.quantize` is `int8` (its fields
    /// sit at the top level of the JSON).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub int8: Option<Int8Report>,
}

/// What int8 quantization gives, next to f32.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Int8Report {
    /// The int8 model's accuracy on the validation split, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int8_val_accuracy: Option<f64>,
    /// The int8 model's accuracy on the test split, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int8_test_accuracy: Option<f64>,
    /// Bytes of the f32 weights and biases (batch norm folded).
    pub model_bytes: usize,
    /// Bytes of the int8 weights with their i32 biases and f32 scales.
    pub int8_model_bytes: usize,
}
