//! The study file (`examples/digits-search.toml` is one): parsed with serde (`deny_unknown_fields`) and checked
//! once into a [`StudyConfig`]; every error names the key and its line.
//!
//! # Keys
//! | key | default | meaning |
//! |---|---|---|
//! | `[study] name` | file stem | study name |
//! | `[study] metric` | `val_loss` (nn-core), `value` (function) | metric to optimize; required for `command` |
//! | `[study] direction` | `maximize` for `*accuracy*`, else `minimize` | |
//! | `[study] metrics` | none (`f1`, `f2` for a two-objective function) | several objectives instead of `metric`, e.g. `["val_accuracy", "parameters"]`; each a metric the objective reports |
//! | `[study] directions` | per metric as for `direction` | one `minimize` / `maximize` per entry of `metrics` |
//! | `[study] constraints` | none | `["parameters <= 100000", "inference_ms < 0.5"]`: `metric OP number`, OP one of `<=`, `>=`, `<`, `>`; a trial breaking one is infeasible, never best; a trial not reporting the metric fails |
//! | `[study] storage` | none | SQLite file |
//! | `[study] value_range` | none | `[low, high]`: results outside are recorded as failed, never as best |
//! | `[study] keep_models` | 10 | the trained networks of the best K complete trials kept for `hypersearch model`; 0 ..= 1000 (0: none) |
//! | `[study] checkpoints` | true | a training's workers send a checkpoint after every epoch; a retry of a lost attempt resumes from it |
//! | `[objective] command` / `function` | nn-core | one of them; a function's dimension must fit its parameters |
//! | `[search] algorithm` | `bayes` | `bayes`, `random`, `grid`, `tpe`, `evolution` |
//! | `[search] trials` | grid size (grid only) | 1 ..= 10,000,000 |
//! | `[search] parallel` | 1 | trials running at once, 1 ..= 4096 |
//! | `[search] seed` | 0 | the study seed |
//! | `[search] n_startup_trials` | 10 | random trials before TPE / bayes model |
//! | `[search] max_attempts` | 3 | attempts per trial when its worker is lost |
//! | `[search] failure_retries` | 0 | re-runs of a trial whose run failed |
//! | `[search] trial_timeout` | none | wall time an attempt may run (`"90s"`, `"30m"`, `"2h"`); past it the trial fails (user error) with the reason |
//! | `[search] quarantine_after` | none | a worker whose last K failures (user errors, no success since) ran successfully on other workers is quarantined; 1 ..= 1000, needs `failure_retries` >= 1 |
//! | `[search] max_epochs` | the training's epochs, else 10,000 | epochs one attempt may report; a report past it is refused |
//! | `[search.space] NAME` | | `{ float = [lo, hi], log, step, grid }`, `{ int = [lo, hi], log, step }`, `{ choice = [...] }`; any of them with `when = { PARENT = value or [values], … }` exists only while every PARENT (a searched `choice` or `int`) has one of its values; for nn-core NAME is a training key ([`training_keys`]) |
//! | `[search.architecture]` | | `layers`, `units`, `dropout` (per layer, conditional on `layers`), `activation`, `batch_norm`, `residual` |
//! | `[[search.enqueue]]` | | params to run first; missing ones drawn at random |
//! | `[search.tpe]` | | `multivariate` (true; false with several objectives), `group` (true), `constant_liar` (true), `n_ei_candidates` (128), `prior_weight` (1.0), `consider_endpoints` (false), `bandwidth` (`neighbour` or `scott`), `bandwidth_floor` (1.5) |
//! | `[search.evolution]` | | `population` (20, 2 ..= 100,000, at most `trials`), `sample_size` (5, 1 ..= `population`) |
//! | `[early_stopping] rule` | `none` | `median`, `percentile` (`warmup_epochs` 0, `startup_trials` 5, `min_trials` 1, `interval_epochs` 1, `percentile`), `asha` (`reduction_factor` 4, `min_resource` auto, `min_early_stopping_rate` 0, `bootstrap_count` 0), `hyperband` (`reduction_factor` 3, `min_resource` 1, `max_resource` auto, `bootstrap_count` 0) |
//! | `[data]`, `[network]`, `[training]` | | the base training config, kept as TOML text for the worker |
//!
//! Layout: `raw` (the file as written), `check` (one check per table), `search_table`
//! (`[search]`: its space and the sampler's settings), `objectives`
//! (metrics, directions, constraints), `location` (lines
//! and keys for errors), `conditions` (`when`), `compare` (what a resume may change), `domain`
//! (one parameter's range), `space` (search space, architecture, training-key checks),
//! `early_stopping` (the rules), `evolution` (its options), [`training_keys`] (what the
//! search may set), `enqueue`.

mod check;
mod compare;
mod conditions;
mod domain;
mod early_stopping;
mod enqueue;
mod evolution;
mod location;
mod objectives;
mod raw;
mod search_table;
mod space;
pub mod training_keys;

use serde::{Deserialize, Serialize};

pub use early_stopping::{
    EarlyStopping, HalvingRule, HyperbandRule, PercentileRule, Resource, RuleName,
};
use location::Locator;
use raw::RawStudyFile;

use crate::error::ConfigError;
use crate::multi::Objectives;
use crate::params::Params;
use crate::space::SearchSpace;
use crate::trial::Direction;

/// The sampling algorithms `[search] algorithm` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Gaussian-process Bayesian optimization (the default).
    Bayes,
    /// Independent uniform draws, including random architecture search.
    Random,
    /// Every point of the grid, in a fixed order.
    Grid,
    /// Tree-structured Parzen estimator.
    Tpe,
    /// Regularized (aging) evolution, Real et al. 2019.
    Evolution,
}

impl Algorithm {
    /// The name a study file uses and the trials database stores (fixed: renaming a variant
    /// never changes stored data).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Bayes => "bayes",
            Algorithm::Random => "random",
            Algorithm::Grid => "grid",
            Algorithm::Tpe => "tpe",
            Algorithm::Evolution => "evolution",
        }
    }
}

/// What a trial runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Objective {
    /// nn-core training of the base config with the trial's overrides (the default).
    NnCore,
    /// A program run once per trial (`[objective] command`).
    Command(String),
    /// A built-in test function (`[objective] function`), reporting `value`.
    Function(String),
}

/// How TPE sizes its numeric kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TpeBandwidth {
    /// Optuna 5: the larger gap to the neighbouring observations (or bounds), per parameter.
    Neighbour,
    /// Optuna 4's multivariate rule: 0.2 · m^(−1/(d+4)) · range for every kernel.
    Scott,
}

/// TPE options (`[search.tpe]`), Optuna 5's defaults except where noted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TpeSettings {
    /// Model the parameters jointly (default true, Optuna v5's single-objective default).
    pub multivariate: bool,
    /// Model groups of parameters that exist together separately (default true).
    pub group: bool,
    /// Put running trials in the "bad" group (default true; Optuna's default is false).
    pub constant_liar: bool,
    /// Candidates drawn from the "good" density per suggestion (default 128; Optuna's is 24).
    pub n_ei_candidates: u32,
    /// Weight of the prior component (default 1.0).
    pub prior_weight: f64,
    /// Widen the edge kernels (default false).
    pub consider_endpoints: bool,
    /// Kernel widths (default `neighbour`, Optuna 5's rule).
    pub bandwidth: TpeBandwidth,
    /// The floor under the kernel widths: at least range / (floor · min(100, kernels + 1))
    /// (default 1.5; 1.0 is Optuna's "magic clip"). Higher lets the good density narrow in
    /// on a minimum sooner.
    pub bandwidth_floor: f64,
}

impl Default for TpeSettings {
    fn default() -> Self {
        TpeSettings {
            multivariate: true,
            group: true,
            constant_liar: true,
            n_ei_candidates: 128,
            prior_weight: 1.0,
            consider_endpoints: false,
            bandwidth: TpeBandwidth::Neighbour,
            bandwidth_floor: 1.5,
        }
    }
}

/// Regularized evolution's options (`[search.evolution]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EvolutionSettings {
    /// How many of the newest finished trials (completed, or pruned with a report) form the
    /// population; the oldest dies when a newer one finishes (default 20, 2 ..= 100,000, at
    /// most the study's trials). Until this many trials are members or running, trials are
    /// drawn at random.
    pub population: u32,
    /// How many population members a tournament draws; the best of them is mutated into
    /// the next trial (default 5, 1 ..= `population`).
    pub sample_size: u32,
}

impl Default for EvolutionSettings {
    fn default() -> Self {
        EvolutionSettings {
            population: 20,
            sample_size: 5,
        }
    }
}

/// The checked `[search]` table (besides the space).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchSettings {
    /// The sampler.
    pub algorithm: Algorithm,
    /// How many trials the study runs (a grid defaults to its size).
    pub trials: u64,
    /// How many trials run at once (default 1).
    pub parallel: u32,
    /// The study seed every random choice flows from (default 0).
    pub seed: u64,
    /// Finished trials drawn at random before a model-based sampler starts (default 10).
    pub n_startup_trials: u32,
    /// Attempts per trial when its worker is lost (infrastructure), default 3.
    pub max_attempts: u32,
    /// Re-runs of a trial whose run failed (user error), default 0.
    pub failure_retries: u32,
    /// Epochs one attempt may report (`[search] max_epochs`; default the training's
    /// epochs for nn-core, else 10,000). A report past it is refused.
    pub max_epochs: u32,
    /// The wall time an attempt may run (`[search] trial_timeout`, e.g. `"30m"`); past it
    /// the trial is stopped and failed as a user error. `None`: no limit.
    pub trial_timeout: Option<std::time::Duration>,
    /// Quarantine a worker once this many of its failures (user errors, with no success of
    /// its own since) were re-run successfully by other workers: its environment is broken,
    /// not the configurations (`[search] quarantine_after`; `None`: never).
    pub quarantine_after: Option<u32>,
    /// TPE options.
    pub tpe: TpeSettings,
    /// Trial n is sampled from trials 0 … n − parallel, all finished, and sees the ones
    /// between as running, so a seed gives the same trials whatever the timing
    /// (`[search] deterministic`, default false; slots may wait for a slow trial).
    pub deterministic: bool,
    /// Regularized evolution options.
    pub evolution: EvolutionSettings,
}

/// A checked study file: the only form the rest of the system accepts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StudyConfig {
    /// Where the text came from (a path, for messages).
    pub origin: String,
    /// The study name (default: the file stem of `origin`).
    pub name: String,
    /// The metric to optimize (default `value` for a function, `val_loss` for nn-core).
    pub metric: String,
    /// Minimize or maximize (default: maximize for a metric named `*accuracy*`, else minimize).
    pub direction: Direction,
    /// Every objective (`metric` and `direction` are the first's) and the constraints a
    /// result must meet (`[study] metrics`, `directions`, `constraints`).
    pub objectives: Objectives,
    /// The SQLite file, if given (`[study] storage`).
    pub storage: Option<String>,
    /// The plausible results, `[study] value_range = [low, high]`: a trial whose result
    /// lies outside is recorded as failed with the reason, never as the best.
    pub value_range: Option<(f64, f64)>,
    /// How many trained networks the coordinator keeps (`[study] keep_models`, default
    /// [`DEFAULT_KEEP_MODELS`]): those of the best complete trials, for `hypersearch model`;
    /// 0 keeps none. Only trainings (nn-core) have networks to keep.
    pub keep_models: u32,
    /// Whether a training's workers send a checkpoint after every epoch so that a retry of
    /// a lost attempt resumes from it (`[study] checkpoints`, default true).
    pub checkpoints: bool,
    /// What a trial runs.
    pub objective: Objective,
    /// Sampler settings.
    pub search: SearchSettings,
    /// The search space.
    pub space: SearchSpace,
    /// User configurations that run first, in order; a missing parameter is drawn at random.
    pub enqueued: Vec<Params>,
    /// The early-stopping rule.
    pub early_stopping: EarlyStopping,
    /// The `[data]`, `[network]`, `[training]` tables as TOML text: the base training config.
    pub base_training_config: String,
    /// The most epochs a trial trains, when the config fixes or bounds it (`training.epochs`).
    pub max_epochs: Option<u32>,
}

/// Trained networks kept when `[study] keep_models` is not given.
pub const DEFAULT_KEEP_MODELS: u32 = 10;
/// The most trained networks `[study] keep_models` may keep.
pub const MAX_KEEP_MODELS: i64 = 1000;

/// Most points a grid search may enumerate.
pub const MAX_GRID_POINTS: u128 = 1_000_000;
/// Most trials a study may ask for.
pub const MAX_TRIALS: i64 = 10_000_000;
/// Most trials running at once.
pub const MAX_PARALLEL: i64 = 4096;
/// The most epochs `[search] max_epochs` may allow one attempt to report.
pub const MAX_REPORTED_EPOCHS: i64 = 1_000_000;
/// Epochs one attempt may report when neither the training nor `[search] max_epochs` says.
pub const DEFAULT_MAX_EPOCHS: u32 = 10_000;

/// The metrics an nn-core training reports: per epoch, then (the last three, final metrics
/// only) the trained network's cost.
const NN_CORE_METRICS: [&str; 9] = [
    "train_loss",
    "val_loss",
    "train_accuracy",
    "val_accuracy",
    "learning_rate",
    "seconds",
    "parameters",
    "flops",
    "inference_ms",
];

impl StudyConfig {
    /// Parses and checks a study file. `origin` names it in error messages.
    ///
    /// # Errors
    /// The first problem found, with the key and line: see [`ConfigErrorKind`](crate::error::ConfigErrorKind).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<StudyConfig, ConfigError> {
        let loc = Locator { origin, text };
        let raw: RawStudyFile = toml::from_str(text).map_err(|e| loc.toml_error(&e))?;
        check::study(&loc, raw)
    }
}

#[cfg(test)]
mod tests;
