//! The study file (`examples/digits-search.toml` is one): parsed with serde (`deny_unknown_fields`) and checked
//! once into a [`StudyConfig`]; every error names the key and its line.
//!
//! # Keys
//! | key | default | meaning |
//! |---|---|---|
//! | `[study] name` | file stem | study name |
//! | `[study] metric` | `val_loss` (nn-core), `value` (function) | metric to optimize; required for `command` |
//! | `[study] direction` | `maximize` for `*accuracy*`, else `minimize` | |
//! | `[study] storage` | none | SQLite file |
//! | `[study] value_range` | none | `[low, high]`: results outside are recorded as failed, never as best |
//! | `[objective] command` / `function` | nn-core | one of them; a function's dimension must fit its parameters |
//! | `[search] algorithm` | `bayes` | `bayes`, `random`, `grid`, `tpe` |
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
//! | `[search.tpe]` | | `multivariate` (true), `group` (true), `constant_liar` (true), `n_ei_candidates` (24), `prior_weight` (1.0), `consider_endpoints` (false), `bandwidth` (`neighbour` or `scott`) |
//! | `[early_stopping] rule` | `none` | `median`, `percentile` (`warmup_epochs` 0, `startup_trials` 5, `min_trials` 1, `interval_epochs` 1, `percentile`), `asha` (`reduction_factor` 4, `min_resource` auto, `min_early_stopping_rate` 0, `bootstrap_count` 0), `hyperband` (`reduction_factor` 3, `min_resource` 1, `max_resource` auto, `bootstrap_count` 0) |
//! | `[data]`, `[network]`, `[training]` | | the base training config, kept as TOML text for the worker |
//!
//! Layout: `raw` (the file as written), `location` (lines and keys for errors), `domain`
//! (one parameter's range), `space` (search space, architecture, training-key checks),
//! `early_stopping` (the rules), [`training_keys`] (what the search may set), `enqueue`.

mod compare;
mod conditions;
mod domain;
mod early_stopping;
mod enqueue;
mod location;
mod raw;
mod space;
pub mod training_keys;

use serde::{Deserialize, Serialize};

pub use early_stopping::{
    EarlyStopping, HalvingRule, HyperbandRule, PercentileRule, Resource, RuleName,
};
use location::{Locator, OrderedMap};
use raw::{RawSearch, RawStudyFile};

use crate::error::{ConfigError, ConfigErrorKind, shown};
use crate::params::Params;
use crate::space::{OverrideStyle, SearchSpace};
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
    /// Candidates drawn from the "good" density per suggestion (default 24).
    pub n_ei_candidates: u32,
    /// Weight of the prior component (default 1.0).
    pub prior_weight: f64,
    /// Widen the edge kernels (default false).
    pub consider_endpoints: bool,
    /// Kernel widths (default `neighbour`, Optuna 5's rule).
    pub bandwidth: TpeBandwidth,
}

impl Default for TpeSettings {
    fn default() -> Self {
        TpeSettings {
            multivariate: true,
            group: true,
            constant_liar: true,
            n_ei_candidates: 24,
            prior_weight: 1.0,
            consider_endpoints: false,
            bandwidth: TpeBandwidth::Neighbour,
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
    /// The SQLite file, if given (`[study] storage`).
    pub storage: Option<String>,
    /// The plausible results, `[study] value_range = [low, high]`: a trial whose result
    /// lies outside is recorded as failed with the reason, never as the best.
    pub value_range: Option<(f64, f64)>,
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

const NN_CORE_METRICS: [&str; 6] = [
    "train_loss",
    "val_loss",
    "train_accuracy",
    "val_accuracy",
    "learning_rate",
    "seconds",
];

impl StudyConfig {
    /// Parses and checks a study file. `origin` names it in error messages.
    ///
    /// # Errors
    /// The first problem found, with the key and line: see [`ConfigErrorKind`].
    pub fn from_toml_str(text: &str, origin: &str) -> Result<StudyConfig, ConfigError> {
        let loc = Locator { origin, text };
        let raw: RawStudyFile = toml::from_str(text).map_err(|e| loc.toml_error(&e))?;
        check(&loc, raw)
    }
}

fn int_in(
    loc: &Locator<'_>,
    key: &str,
    v: &toml::Spanned<i64>,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let x = *v.get_ref();
    if x < min || x > max {
        return Err(loc.at(
            &v.span(),
            key,
            ConfigErrorKind::OutOfRange {
                value: shown(x),
                range: format!("an integer in [{min}, {max}]"),
            },
        ));
    }
    Ok(x)
}

fn check(loc: &Locator<'_>, raw: RawStudyFile) -> Result<StudyConfig, ConfigError> {
    let objective = match &raw.objective {
        None => Objective::NnCore,
        Some(o) => match (&o.get_ref().command, &o.get_ref().function) {
            (Some(c), None) if !c.get_ref().trim().is_empty() => {
                Objective::Command(c.get_ref().clone())
            }
            (Some(c), None) => {
                return Err(loc.at(
                    &c.span(),
                    "objective.command",
                    ConfigErrorKind::Invalid {
                        value: "\"\"".into(),
                        reason: "the command is empty".into(),
                    },
                ));
            }
            (None, Some(f)) => {
                hypersearch_testfns::find(f.get_ref()).map_err(|e| {
                    loc.at(
                        &f.span(),
                        "objective.function",
                        ConfigErrorKind::Invalid {
                            value: f.get_ref().clone(),
                            reason: e.to_string(),
                        },
                    )
                })?;
                Objective::Function(f.get_ref().clone())
            }
            _ => {
                return Err(loc.at(
                    &o.span(),
                    "objective",
                    ConfigErrorKind::Invalid {
                        value: "the table".into(),
                        reason: "give exactly one of `command` or `function`".into(),
                    },
                ));
            }
        },
    };
    let nn_core = objective == Objective::NnCore;
    let Some(search) = &raw.search else {
        return Err(loc.nowhere(
            "search",
            ConfigErrorKind::Missing("a study needs a [search] table".into()),
        ));
    };
    let s: &RawSearch = search.get_ref();

    let (mut params, conditions) = match &s.space {
        Some(space) => space::space_params(loc, space, nn_core)?,
        None => (Vec::new(), Vec::new()),
    };
    if let (Objective::Function(_), Some(first)) = (&objective, conditions.first()) {
        return Err(loc.at(
            &first.when.span(),
            format!("search.space.{}.when", location::quoted(&first.name)),
            ConfigErrorKind::Invalid {
                value: "when".into(),
                reason: "a test function takes every parameter; conditions are for training and command objectives".into(),
            },
        ));
    }
    if let Some(arch) = &s.architecture {
        if let Objective::Function(_) = objective {
            return Err(loc.at(
                &arch.span(),
                "search.architecture",
                ConfigErrorKind::Invalid {
                    value: "the table".into(),
                    reason: "a test function has no architecture to search".into(),
                },
            ));
        }
        if nn_core {
            let empty = OrderedMap(Vec::new());
            space::check_no_conflicts(
                loc,
                s.space.as_ref().unwrap_or(&empty),
                arch,
                raw.network.as_ref(),
            )?;
        }
        params.extend(space::architecture_params(loc, arch, nn_core)?);
    }
    if params.is_empty() {
        return Err(loc.at(
            &search.span(),
            "search.space",
            ConfigErrorKind::Missing(
                "nothing to search: add parameters to [search.space] or [search.architecture]"
                    .into(),
            ),
        ));
    }
    let params = conditions::apply(loc, params, &conditions)?;
    let style = if nn_core {
        OverrideStyle::TrainingConfig
    } else {
        OverrideStyle::PassThrough
    };
    let space = SearchSpace::new(params, style);

    if let Objective::Function(name) = &objective {
        check_function_space(loc, search, name, &space)?;
    }

    let algorithm = s.algorithm.unwrap_or(Algorithm::Bayes);
    let grid_size = space.grid_size();
    if algorithm == Algorithm::Grid {
        check_grid(loc, search, &space, grid_size)?;
    }
    let trials = match &s.trials {
        Some(t) => int_in(loc, "search.trials", t, 1, MAX_TRIALS)? as u64,
        None if algorithm == Algorithm::Grid => grid_size.unwrap_or(1) as u64,
        None => {
            return Err(loc.at(
                &search.span(),
                "search.trials",
                ConfigErrorKind::Missing("give the number of trials, e.g. `trials = 60`".into()),
            ));
        }
    };
    let int_or = |key: &str,
                  v: &Option<toml::Spanned<i64>>,
                  min: i64,
                  max: i64,
                  default: i64|
     -> Result<i64, ConfigError> {
        v.as_ref()
            .map_or(Ok(default), |v| int_in(loc, key, v, min, max))
    };
    let mut tpe = TpeSettings::default();
    if let Some(t) = &s.tpe {
        tpe.multivariate = t.multivariate.unwrap_or(tpe.multivariate);
        tpe.group = t.group.unwrap_or(tpe.group);
        tpe.constant_liar = t.constant_liar.unwrap_or(tpe.constant_liar);
        tpe.consider_endpoints = t.consider_endpoints.unwrap_or(tpe.consider_endpoints);
        tpe.bandwidth = t.bandwidth.unwrap_or(tpe.bandwidth);
        tpe.n_ei_candidates = int_or(
            "search.tpe.n_ei_candidates",
            &t.n_ei_candidates,
            1,
            100_000,
            24,
        )? as u32;
        if let Some(w) = &t.prior_weight {
            let v = *w.get_ref();
            if !(v.is_finite() && v > 0.0) {
                return Err(loc.at(
                    &w.span(),
                    "search.tpe.prior_weight",
                    ConfigErrorKind::OutOfRange {
                        value: shown(v),
                        range: "a positive number".into(),
                    },
                ));
            }
            tpe.prior_weight = v;
        }
    }
    let derived_max_epochs = max_epochs(&space, &raw);
    let settings = SearchSettings {
        algorithm,
        trials,
        parallel: int_or("search.parallel", &s.parallel, 1, MAX_PARALLEL, 1)? as u32,
        seed: int_or("search.seed", &s.seed, 0, i64::MAX, 0)? as u64,
        n_startup_trials: int_or(
            "search.n_startup_trials",
            &s.n_startup_trials,
            0,
            1_000_000,
            10,
        )? as u32,
        max_attempts: int_or("search.max_attempts", &s.max_attempts, 1, 100, 3)? as u32,
        failure_retries: int_or("search.failure_retries", &s.failure_retries, 0, 100, 0)? as u32,
        max_epochs: int_or(
            "search.max_epochs",
            &s.max_epochs,
            1,
            MAX_REPORTED_EPOCHS,
            i64::from(derived_max_epochs.unwrap_or(DEFAULT_MAX_EPOCHS)),
        )? as u32,
        trial_timeout: trial_timeout(loc, s.trial_timeout.as_ref())?,
        quarantine_after: s
            .quarantine_after
            .as_ref()
            .map(|v| int_in(loc, "search.quarantine_after", v, 1, 1000))
            .transpose()?
            .map(|k| k as u32),
        tpe,
    };
    if let Some(k) = &s.quarantine_after
        && settings.failure_retries == 0
    {
        return Err(loc.at(
            &k.span(),
            "search.quarantine_after",
            ConfigErrorKind::Invalid {
                value: k.get_ref().to_string(),
                reason: "it needs `failure_retries` of 1 or more: a failed trial is re-run on \
                         another worker, which tells a broken worker from a broken \
                         configuration"
                    .into(),
            },
        ));
    }

    let enqueued = match &s.enqueue {
        Some(list) => enqueue::check_enqueued(loc, list, &space)?,
        None => Vec::new(),
    };

    if nn_core {
        if let Some(n) = &raw.network {
            space::check_base_table(loc, "network", n)?;
        }
        if let Some(t) = &raw.training {
            space::check_base_table(loc, "training", t)?;
        }
    }
    let (metric, direction) = metric_and_direction(loc, &raw, &objective)?;
    let name = match &raw.study.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(loc.at(
                &n.span(),
                "study.name",
                ConfigErrorKind::Invalid {
                    value: "\"\"".into(),
                    reason: "the name is empty".into(),
                },
            ));
        }
        Some(n) => n.get_ref().clone(),
        None => std::path::Path::new(loc.origin)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("study")
            .to_string(),
    };
    let early_stopping = early_stopping::check_early_stopping(loc, raw.early_stopping.as_ref())?;
    Ok(StudyConfig {
        origin: loc.origin.to_string(),
        name,
        metric,
        direction,
        storage: raw.study.storage.clone(),
        value_range: value_range(loc, &raw)?,
        objective,
        search: settings,
        space,
        enqueued,
        early_stopping,
        base_training_config: base_text(&raw),
        max_epochs: derived_max_epochs,
    })
}

fn check_function_space(
    loc: &Locator<'_>,
    search: &toml::Spanned<RawSearch>,
    name: &str,
    space: &SearchSpace,
) -> Result<(), ConfigError> {
    let Ok(f) = hypersearch_testfns::find(name) else {
        return Ok(());
    };
    let d = space.params().len();
    if !f.dimension.accepts(d) {
        let expected = match f.dimension {
            hypersearch_testfns::Dimension::Fixed(n) => format!("{n}"),
            hypersearch_testfns::Dimension::AtLeast(n) => format!("at least {n}"),
        };
        return Err(loc.at(
            &search.span(),
            "search.space",
            ConfigErrorKind::Invalid {
                value: format!("{d} parameter{}", if d == 1 { "" } else { "s" }),
                reason: format!("`{name}` takes {expected} inputs"),
            },
        ));
    }
    for p in space.params() {
        let numeric = match &p.domain {
            crate::space::Domain::Categorical(c) => c.iter().all(|v| v.as_f64().is_some()),
            _ => true,
        };
        if !numeric {
            return Err(loc.at(
                &search.span(),
                format!("search.space.{}", location::quoted(&p.name)),
                ConfigErrorKind::Invalid {
                    value: "a non-numeric choice".into(),
                    reason: "a test function takes numbers".into(),
                },
            ));
        }
    }
    Ok(())
}

fn check_grid(
    loc: &Locator<'_>,
    search: &toml::Spanned<RawSearch>,
    space: &SearchSpace,
    grid_size: Option<u128>,
) -> Result<(), ConfigError> {
    match grid_size {
        None => {
            let p = space
                .params()
                .iter()
                .find(|p| p.domain.grid_count().is_none());
            let key = p.map_or("search.space".to_string(), |p| {
                format!("search.space.{}", location::quoted(&p.name))
            });
            Err(loc.at(
                &search.span(),
                key,
                ConfigErrorKind::Missing(
                    "a grid search needs `step` or `grid = N` (number of points) on every float"
                        .into(),
                ),
            ))
        }
        Some(n) if n > MAX_GRID_POINTS => Err(loc.at(
            &search.span(),
            "search.space",
            ConfigErrorKind::GridTooLarge {
                size: n,
                cap: MAX_GRID_POINTS,
            },
        )),
        Some(_) => Ok(()),
    }
}

fn trial_timeout(
    loc: &Locator<'_>,
    raw: Option<&toml::Spanned<String>>,
) -> Result<Option<std::time::Duration>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let invalid = |reason: String| {
        loc.at(
            &raw.span(),
            "search.trial_timeout",
            ConfigErrorKind::Invalid {
                value: format!("{:?}", raw.get_ref()),
                reason,
            },
        )
    };
    let timeout = humantime::parse_duration(raw.get_ref().trim()).map_err(|err| {
        invalid(format!(
            "give a duration such as \"90s\", \"30m\" or \"2h\" ({err})"
        ))
    })?;
    if timeout < std::time::Duration::from_secs(1)
        || timeout > std::time::Duration::from_secs(366 * 86_400)
    {
        return Err(invalid("give a duration from 1 s to a year".into()));
    }
    Ok(Some(timeout))
}

fn value_range(loc: &Locator<'_>, raw: &RawStudyFile) -> Result<Option<(f64, f64)>, ConfigError> {
    let Some(range) = &raw.study.value_range else {
        return Ok(None);
    };
    match range.get_ref().as_slice() {
        &[low, high] if low.is_finite() && high.is_finite() && low < high => Ok(Some((low, high))),
        _ => Err(loc.at(
            &range.span(),
            "study.value_range",
            ConfigErrorKind::Invalid {
                value: format!("{:?}", range.get_ref()),
                reason: "give [low, high]: two finite numbers, low below high".into(),
            },
        )),
    }
}

fn metric_and_direction(
    loc: &Locator<'_>,
    raw: &RawStudyFile,
    objective: &Objective,
) -> Result<(String, Direction), ConfigError> {
    let metric = match (&raw.study.metric, objective) {
        (Some(m), Objective::Function(_)) if m.get_ref() != "value" => {
            return Err(loc.at(
                &m.span(),
                "study.metric",
                ConfigErrorKind::Invalid {
                    value: m.get_ref().clone(),
                    reason: "a test function reports only `value`".into(),
                },
            ));
        }
        (Some(m), Objective::NnCore) if !NN_CORE_METRICS.contains(&m.get_ref().as_str()) => {
            return Err(loc.at(
                &m.span(),
                "study.metric",
                ConfigErrorKind::Invalid {
                    value: m.get_ref().clone(),
                    reason: format!("nn-core reports {}", NN_CORE_METRICS.join(", ")),
                },
            ));
        }
        (Some(m), _) if m.get_ref().trim().is_empty() => {
            return Err(loc.at(
                &m.span(),
                "study.metric",
                ConfigErrorKind::Invalid {
                    value: "\"\"".into(),
                    reason: "the metric name is empty".into(),
                },
            ));
        }
        (Some(m), _) => m.get_ref().clone(),
        (None, Objective::Function(_)) => "value".to_string(),
        (None, Objective::NnCore) => "val_loss".to_string(),
        (None, Objective::Command(_)) => {
            return Err(loc.nowhere(
                "study.metric",
                ConfigErrorKind::Missing(
                    "a command objective needs the metric it prints, e.g. `metric = \"val_loss\"`"
                        .into(),
                ),
            ));
        }
    };
    let direction = raw
        .study
        .direction
        .unwrap_or(if metric.contains("accuracy") {
            Direction::Maximize
        } else {
            Direction::Minimize
        });
    Ok((metric, direction))
}

fn max_epochs(space: &SearchSpace, raw: &RawStudyFile) -> Option<u32> {
    if let Some(p) = space.get("training.epochs") {
        let n = p.domain.count()?;
        let high = p.domain.value_at(n - 1)?;
        let max = match &p.domain {
            crate::space::Domain::Categorical(c) => c.iter().filter_map(|v| v.as_i64()).max()?,
            _ => high.as_i64()?,
        };
        return u32::try_from(max).ok();
    }
    let epochs = raw
        .training
        .as_ref()?
        .get("epochs")?
        .get_ref()
        .as_integer()?;
    u32::try_from(epochs).ok()
}

fn base_text(raw: &RawStudyFile) -> String {
    let mut table = toml::Table::new();
    if let Some(d) = &raw.data {
        table.insert("data".into(), toml::Value::Table(d.clone()));
    }
    for (name, t) in [("network", &raw.network), ("training", &raw.training)] {
        if let Some(t) = t {
            let inner: toml::Table = t
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect();
            table.insert(name.into(), toml::Value::Table(inner));
        }
    }
    toml::to_string(&table).unwrap_or_default()
}

#[cfg(test)]
mod tests;
