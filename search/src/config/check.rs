//! Checking a parsed study file into a [`StudyConfig`]: one function per table
//! (`objective`, `search_space`, `search_settings`, `tpe_settings`, `study_name`, …), each
//! error naming the key and its line.

use std::collections::BTreeMap;

use toml::Spanned;

use super::location::{self, Locator, OrderedMap};
use super::raw::{RawObjective, RawSearch, RawStudyFile, RawTpe};
use super::{
    Algorithm, DEFAULT_MAX_EPOCHS, EarlyStopping, MAX_GRID_POINTS, MAX_PARALLEL,
    MAX_REPORTED_EPOCHS, MAX_TRIALS, NN_CORE_METRICS, Objective, SearchSettings, StudyConfig,
    TpeSettings, conditions, early_stopping, enqueue, evolution, objectives, space,
};
use crate::error::{ConfigError, ConfigErrorKind, shown};
use crate::space::{OverrideStyle, SearchSpace};
use crate::trial::Direction;

pub(super) fn int_in(
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

/// Checks a parsed study file into a [`StudyConfig`], table by table.
pub(super) fn study(loc: &Locator<'_>, raw: RawStudyFile) -> Result<StudyConfig, ConfigError> {
    let objective = objective(loc, raw.objective.as_ref())?;
    let Some(search) = &raw.search else {
        return Err(loc.nowhere(
            "search",
            ConfigErrorKind::Missing("a study needs a [search] table".into()),
        ));
    };
    let space = search_space(loc, search, &objective, raw.network.as_ref())?;
    let derived_max_epochs = max_epochs(&space, &raw);
    let settings = search_settings(loc, search, &space, derived_max_epochs)?;
    let enqueued = match &search.get_ref().enqueue {
        Some(list) => enqueue::check_enqueued(loc, list, &space)?,
        None => Vec::new(),
    };
    if objective == Objective::NnCore {
        if let Some(n) = &raw.network {
            space::check_base_table(loc, "network", n)?;
        }
        if let Some(t) = &raw.training {
            space::check_base_table(loc, "training", t)?;
        }
    }
    let single = metric_and_direction(loc, &raw, &objective)?;
    let objectives = objectives::objectives(loc, &raw, &objective, single)?;
    let (metric, direction) = (
        objectives.goals[0].metric.clone(),
        objectives.goals[0].direction,
    );
    let name = study_name(loc, &raw)?;
    let early_stopping = early_stopping::check_early_stopping(loc, raw.early_stopping.as_ref())?;
    if objectives.is_multi()
        && let EarlyStopping::Asha(_) | EarlyStopping::Hyperband(_) = early_stopping
        && let Some(table) = &raw.early_stopping
    {
        // Successive halving ranks one metric at each rung; a study with several objectives
        // stops trials by Pareto dominance instead.
        return Err(loc.at(
            &table.span(),
            "early_stopping.rule",
            ConfigErrorKind::Invalid {
                value: if matches!(early_stopping, EarlyStopping::Asha(_)) {
                    "asha".into()
                } else {
                    "hyperband".into()
                },
                reason: "successive halving ranks one metric; a study with several objectives \
                         stops trials by Pareto dominance: use rule = \"median\" or \
                         \"percentile\" (or \"none\")"
                    .into(),
            },
        ));
    }
    if let Some(flag) = search.get_ref().deterministic.as_ref()
        && *flag.get_ref()
        && early_stopping != EarlyStopping::None
    {
        return Err(loc.at(
            &flag.span(),
            "search.deterministic",
            ConfigErrorKind::Invalid {
                value: "true".into(),
                reason: "a deterministic search cannot stop trials early yet (a stop depends on \
                         which other trials had ended): set [early_stopping] rule = \"none\" or \
                         drop `deterministic`"
                    .into(),
            },
        ));
    }
    Ok(StudyConfig {
        origin: loc.origin.to_string(),
        name,
        metric,
        direction,
        objectives,
        storage: raw.study.storage.clone(),
        value_range: value_range(loc, &raw)?,
        keep_models: keep_models(loc, &raw)?,
        checkpoints: raw.study.checkpoints.unwrap_or(true),
        objective,
        search: settings,
        space,
        enqueued,
        early_stopping,
        base_training_config: base_text(&raw),
        max_epochs: derived_max_epochs,
    })
}

/// `[objective]`: nn-core training when absent, else exactly one of `command`, `function`.
fn objective(
    loc: &Locator<'_>,
    raw: Option<&Spanned<RawObjective>>,
) -> Result<Objective, ConfigError> {
    let Some(o) = raw else {
        return Ok(Objective::NnCore);
    };
    match (&o.get_ref().command, &o.get_ref().function) {
        (Some(c), None) if !c.get_ref().trim().is_empty() => {
            Ok(Objective::Command(c.get_ref().clone()))
        }
        (Some(c), None) => Err(loc.at(
            &c.span(),
            "objective.command",
            ConfigErrorKind::Invalid {
                value: "\"\"".into(),
                reason: "the command is empty".into(),
            },
        )),
        (None, Some(f)) => {
            hypersearch_testfns::metric_names(f.get_ref()).map_err(|e| {
                loc.at(
                    &f.span(),
                    "objective.function",
                    ConfigErrorKind::Invalid {
                        value: f.get_ref().clone(),
                        reason: e.to_string(),
                    },
                )
            })?;
            Ok(Objective::Function(f.get_ref().clone()))
        }
        _ => Err(loc.at(
            &o.span(),
            "objective",
            ConfigErrorKind::Invalid {
                value: "the table".into(),
                reason: "give exactly one of `command` or `function`".into(),
            },
        )),
    }
}

/// `[search.space]` and `[search.architecture]` into the study's [`SearchSpace`], with the
/// conditions applied and the checks that tie it to the objective.
fn search_space(
    loc: &Locator<'_>,
    search: &Spanned<RawSearch>,
    objective: &Objective,
    network: Option<&BTreeMap<String, Spanned<toml::Value>>>,
) -> Result<SearchSpace, ConfigError> {
    let s = search.get_ref();
    let nn_core = *objective == Objective::NnCore;
    let (mut params, conditions) = match &s.space {
        Some(space) => space::space_params(loc, space, nn_core)?,
        None => (Vec::new(), Vec::new()),
    };
    if let (Objective::Function(_), Some(first)) = (objective, conditions.first()) {
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
            space::check_no_conflicts(loc, s.space.as_ref().unwrap_or(&empty), arch, network)?;
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
    if let Objective::Function(name) = objective {
        check_function_space(loc, search, name, &space)?;
    }
    Ok(space)
}

/// An optional integer key in `[min, max]`, `default` when absent.
fn int_or(
    loc: &Locator<'_>,
    key: &str,
    v: Option<&Spanned<i64>>,
    min: i64,
    max: i64,
    default: i64,
) -> Result<i64, ConfigError> {
    v.map_or(Ok(default), |v| int_in(loc, key, v, min, max))
}

/// The rest of `[search]`: algorithm, budget, parallelism, seeds, retries, limits.
fn search_settings(
    loc: &Locator<'_>,
    search: &Spanned<RawSearch>,
    space: &SearchSpace,
    derived_max_epochs: Option<u32>,
) -> Result<SearchSettings, ConfigError> {
    let s = search.get_ref();
    let algorithm = s.algorithm.unwrap_or(Algorithm::Bayes);
    let grid_size = space.grid_size();
    if algorithm == Algorithm::Grid {
        check_grid(loc, search, space, grid_size)?;
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
    let int = |key: &str, v: &Option<Spanned<i64>>, min: i64, max: i64, default: i64| {
        int_or(loc, key, v.as_ref(), min, max, default)
    };
    let settings = SearchSettings {
        algorithm,
        trials,
        parallel: int("search.parallel", &s.parallel, 1, MAX_PARALLEL, 1)? as u32,
        seed: int("search.seed", &s.seed, 0, i64::MAX, 0)? as u64,
        n_startup_trials: int(
            "search.n_startup_trials",
            &s.n_startup_trials,
            0,
            1_000_000,
            10,
        )? as u32,
        max_attempts: int("search.max_attempts", &s.max_attempts, 1, 100, 3)? as u32,
        failure_retries: int("search.failure_retries", &s.failure_retries, 0, 100, 0)? as u32,
        max_epochs: int(
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
        tpe: tpe_settings(loc, s.tpe.as_ref())?,
        deterministic: s.deterministic.as_ref().is_some_and(|d| *d.get_ref()),
        evolution: evolution::evolution_settings(loc, search, algorithm, trials)?,
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
    Ok(settings)
}

/// `[search.tpe]`, defaults where absent.
fn tpe_settings(loc: &Locator<'_>, raw: Option<&RawTpe>) -> Result<TpeSettings, ConfigError> {
    let mut tpe = TpeSettings::default();
    let Some(t) = raw else {
        return Ok(tpe);
    };
    tpe.multivariate = t.multivariate.unwrap_or(tpe.multivariate);
    tpe.group = t.group.unwrap_or(tpe.group);
    tpe.constant_liar = t.constant_liar.unwrap_or(tpe.constant_liar);
    tpe.consider_endpoints = t.consider_endpoints.unwrap_or(tpe.consider_endpoints);
    tpe.bandwidth = t.bandwidth.unwrap_or(tpe.bandwidth);
    tpe.n_ei_candidates = int_or(
        loc,
        "search.tpe.n_ei_candidates",
        t.n_ei_candidates.as_ref(),
        1,
        100_000,
        128,
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
    if let Some(f) = &t.bandwidth_floor {
        let v = *f.get_ref();
        if !(v.is_finite() && (1.0..=100.0).contains(&v)) {
            return Err(loc.at(
                &f.span(),
                "search.tpe.bandwidth_floor",
                ConfigErrorKind::OutOfRange {
                    value: shown(v),
                    range: "1.0 to 100.0".into(),
                },
            ));
        }
        tpe.bandwidth_floor = v;
    }
    Ok(tpe)
}

/// `[study] name`: non-empty, default the file's stem.
fn study_name(loc: &Locator<'_>, raw: &RawStudyFile) -> Result<String, ConfigError> {
    Ok(match &raw.study.name {
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
    })
}

fn check_function_space(
    loc: &Locator<'_>,
    search: &toml::Spanned<RawSearch>,
    name: &str,
    space: &SearchSpace,
) -> Result<(), ConfigError> {
    let dimension = match (
        hypersearch_testfns::find(name),
        hypersearch_testfns::find_multi(name),
    ) {
        (Ok(f), _) => f.dimension,
        (_, Some(f)) => f.dimension,
        _ => return Ok(()),
    };
    let d = space.params().len();
    if !dimension.accepts(d) {
        let expected = match dimension {
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

/// `[study] keep_models`: 0 ..= [`MAX_KEEP_MODELS`], default [`DEFAULT_KEEP_MODELS`].
fn keep_models(loc: &Locator<'_>, raw: &RawStudyFile) -> Result<u32, ConfigError> {
    let Some(keep) = &raw.study.keep_models else {
        return Ok(crate::config::DEFAULT_KEEP_MODELS);
    };
    match u32::try_from(*keep.get_ref()) {
        Ok(k) if i64::from(k) <= crate::config::MAX_KEEP_MODELS => Ok(k),
        _ => Err(loc.at(
            &keep.span(),
            "study.keep_models",
            ConfigErrorKind::Invalid {
                value: keep.get_ref().to_string(),
                reason: format!(
                    "give 0 to {} trained networks to keep (0 keeps none)",
                    crate::config::MAX_KEEP_MODELS
                ),
            },
        )),
    }
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
        (Some(m), Objective::Function(f))
            if !hypersearch_testfns::metric_names(f)
                .is_ok_and(|names| names.contains(&m.get_ref().as_str())) =>
        {
            let names = hypersearch_testfns::metric_names(f).unwrap_or(&["value"]);
            return Err(loc.at(
                &m.span(),
                "study.metric",
                ConfigErrorKind::Invalid {
                    value: m.get_ref().clone(),
                    reason: format!("a test function reports only `{}`", names.join("`, `")),
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
        // Several objectives name the metrics; the first becomes the study metric.
        (None, Objective::Command(_)) if raw.study.metrics.is_some() => String::new(),
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
        .as_ref()
        .map(|d| *d.get_ref())
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
