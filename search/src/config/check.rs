//! Checking a parsed study file into a [`StudyConfig`]: one function per table
//! (`objective`, `study_name`, `keep_models`, …; `[search]` in `search_table`), each error
//! naming the key and its line.

use toml::Spanned;

use super::location::Locator;
use super::raw::{RawObjective, RawStudyFile};
use super::search_table::{search_settings, search_space};
use super::{
    EarlyStopping, NN_CORE_METRICS, Objective, StudyConfig, early_stopping, enqueue, objectives,
    space,
};
use crate::error::{ConfigError, ConfigErrorKind, shown};
use crate::space::SearchSpace;
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
    let mut settings = search_settings(loc, search, &space, derived_max_epochs)?;
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
    // With several objectives, TPE models each parameter on its own unless the file says
    // otherwise (as Optuna does): the good trials spread along a front, and one kernel per
    // good trial over all parameters at once ties each to its own corner of it.
    if objectives.is_multi()
        && search
            .get_ref()
            .tpe
            .as_ref()
            .and_then(|t| t.multivariate)
            .is_none()
    {
        settings.tpe.multivariate = false;
    }
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
