//! Checking the `[search]` table: the search space (`[search.space]`,
//! `[search.architecture]`, conditions, a test function's inputs, a grid's size) and the
//! sampler's settings (`trials`, `parallel`, `seed`, `[search.tpe]`, …), each error naming the
//! key and its line.

use std::collections::BTreeMap;

use toml::Spanned;

use super::check::int_in;
use super::location::{self, Locator, OrderedMap};
use super::raw::{RawSearch, RawTpe};
use super::{
    Algorithm, DEFAULT_MAX_EPOCHS, MAX_GRID_POINTS, MAX_PARALLEL, MAX_REPORTED_EPOCHS, MAX_TRIALS,
    Objective, SearchSettings, TpeSettings, conditions, evolution, space,
};
use crate::error::{ConfigError, ConfigErrorKind, shown};
use crate::space::{OverrideStyle, SearchSpace};

/// `[search.space]` and `[search.architecture]` into the study's [`SearchSpace`], with the
/// conditions applied and the checks that tie it to the objective.
pub(super) fn search_space(
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
pub(super) fn search_settings(
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
