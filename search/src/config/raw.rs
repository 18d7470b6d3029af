//! The study file exactly as written: serde structs with `deny_unknown_fields`, values kept
//! with their spans so validation can name the line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::location::OrderedMap;
use crate::config::{Algorithm, RuleName, TpeBandwidth};
use crate::trial::Direction;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStudyFile {
    #[serde(default)]
    pub study: RawStudy,
    pub search: Option<Spanned<RawSearch>>,
    pub early_stopping: Option<Spanned<RawEarlyStopping>>,
    pub objective: Option<Spanned<RawObjective>>,
    pub data: Option<toml::Table>,
    pub network: Option<BTreeMap<String, Spanned<toml::Value>>>,
    pub training: Option<BTreeMap<String, Spanned<toml::Value>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStudy {
    pub name: Option<Spanned<String>>,
    pub metric: Option<Spanned<String>>,
    pub metrics: Option<Spanned<Vec<Spanned<String>>>>,
    pub directions: Option<Spanned<Vec<Spanned<Direction>>>>,
    pub constraints: Option<Spanned<Vec<Spanned<String>>>>,
    pub value_range: Option<Spanned<Vec<f64>>>,
    pub direction: Option<Spanned<Direction>>,
    pub storage: Option<String>,
    pub keep_models: Option<Spanned<i64>>,
    pub checkpoints: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSearch {
    pub algorithm: Option<Algorithm>,
    pub trials: Option<Spanned<i64>>,
    pub parallel: Option<Spanned<i64>>,
    pub seed: Option<Spanned<i64>>,
    pub n_startup_trials: Option<Spanned<i64>>,
    pub max_attempts: Option<Spanned<i64>>,
    pub failure_retries: Option<Spanned<i64>>,
    pub max_epochs: Option<Spanned<i64>>,
    pub trial_timeout: Option<Spanned<String>>,
    pub quarantine_after: Option<Spanned<i64>>,
    pub deterministic: Option<Spanned<bool>>,
    pub space: Option<OrderedMap<Spanned<RawDomain>>>,
    pub architecture: Option<Spanned<RawArchitecture>>,
    pub enqueue: Option<Vec<Spanned<OrderedMap<Spanned<toml::Value>>>>>,
    pub tpe: Option<RawTpe>,
    pub evolution: Option<Spanned<RawEvolution>>,
}

/// One parameter's domain: exactly one of `float`, `int`, `choice`, plus modifiers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDomain {
    pub float: Option<Spanned<Vec<Spanned<f64>>>>,
    pub int: Option<Spanned<Vec<Spanned<i64>>>>,
    pub choice: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    pub log: Option<Spanned<bool>>,
    pub step: Option<Spanned<f64>>,
    pub grid: Option<Spanned<i64>>,
    pub when: Option<Spanned<OrderedMap<Spanned<toml::Value>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArchitecture {
    pub layers: Option<Spanned<RawDomain>>,
    pub units: Option<Spanned<RawDomain>>,
    pub dropout: Option<Spanned<RawDomain>>,
    pub activation: Option<Spanned<RawDomain>>,
    pub batch_norm: Option<Spanned<RawDomain>>,
    pub residual: Option<Spanned<RawDomain>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTpe {
    pub multivariate: Option<bool>,
    pub group: Option<bool>,
    pub constant_liar: Option<bool>,
    pub n_ei_candidates: Option<Spanned<i64>>,
    pub prior_weight: Option<Spanned<f64>>,
    pub consider_endpoints: Option<bool>,
    pub bandwidth: Option<TpeBandwidth>,
    pub bandwidth_floor: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvolution {
    pub population: Option<Spanned<i64>>,
    pub sample_size: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEarlyStopping {
    pub rule: Option<RuleName>,
    pub warmup_epochs: Option<Spanned<i64>>,
    pub startup_trials: Option<Spanned<i64>>,
    pub min_trials: Option<Spanned<i64>>,
    pub interval_epochs: Option<Spanned<i64>>,
    pub percentile: Option<Spanned<f64>>,
    pub reduction_factor: Option<Spanned<i64>>,
    pub min_resource: Option<Spanned<toml::Value>>,
    pub max_resource: Option<Spanned<toml::Value>>,
    pub min_early_stopping_rate: Option<Spanned<i64>>,
    pub bootstrap_count: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawObjective {
    pub command: Option<Spanned<String>>,
    pub function: Option<Spanned<String>>,
}
