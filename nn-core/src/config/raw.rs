//! The config as written: serde structs with `deny_unknown_fields`, every value wrapped in
//! `Spanned` so validation can name the line it came from. Only `validate` turns these into
//! the checked types.

use serde::Deserialize;
use toml::Spanned;

/// A training config file or a study config file (`examples/`): the study tables
/// are accepted here and ignored (the search crate validates them).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub data: Option<Spanned<RawData>>,
    #[serde(default)]
    pub network: RawNetwork,
    #[serde(default)]
    pub training: RawTraining,
    #[serde(rename = "study")]
    pub _study: Option<toml::Value>,
    #[serde(rename = "search")]
    pub _search: Option<toml::Value>,
    #[serde(rename = "early_stopping")]
    pub _early_stopping: Option<toml::Value>,
    #[serde(rename = "objective")]
    pub _objective: Option<toml::Value>,
}

/// `[data]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawData {
    pub source: Spanned<String>,
    pub path: Option<Spanned<String>>,
    pub validation_fraction: Option<Spanned<f64>>,
    pub split_seed: Option<Spanned<i64>>,
    pub image_shape: Option<Spanned<Vec<i64>>>,
    pub augment: Option<Spanned<RawAugment>>,
}

/// `augment = { shift = 2, rotate = 10 }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAugment {
    pub shift: Option<Spanned<f64>>,
    pub rotate: Option<Spanned<f64>>,
}

/// `[network]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub hidden: Option<Spanned<Vec<i64>>>,
    pub activation: Option<Spanned<String>>,
    pub batch_norm: Option<Spanned<bool>>,
    pub dropout: Option<Spanned<RawDropout>>,
    pub residual: Option<Spanned<bool>>,
    pub init: Option<Spanned<String>>,
}

/// `dropout = 0.2` or `dropout = [0.5, 0.3]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum RawDropout {
    One(f64),
    PerLayer(Vec<f64>),
}

/// `[training]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTraining {
    pub optimizer: Option<Spanned<String>>,
    pub learning_rate: Option<Spanned<f64>>,
    pub momentum: Option<Spanned<f64>>,
    pub batch_size: Option<Spanned<i64>>,
    pub epochs: Option<Spanned<i64>>,
    pub l2: Option<Spanned<f64>>,
    pub lr_schedule: Option<Spanned<RawSchedule>>,
    pub clip_norm: Option<Spanned<f64>>,
    pub patience: Option<Spanned<i64>>,
    pub seed: Option<Spanned<i64>>,
    pub threads: Option<Spanned<i64>>,
    pub quantize: Option<Spanned<String>>,
}

/// `lr_schedule = { exponential = 0.95 }`, `{ step = [10, 0.5] }`, `{ cosine = true }` or
/// `"none"`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum RawSchedule {
    None,
    Exponential(f64),
    Step(i64, f64),
    Cosine(bool),
}
