//! `[study]` `metric` / `direction`, or `metrics` / `directions` for several objectives,
//! and `constraints`: checked into the study's [`Objectives`].

use toml::Spanned;

use super::location::Locator;
use super::raw::RawStudyFile;
use super::{NN_CORE_METRICS, Objective};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::multi::{Constraint, Goal, Objectives, Operator};
use crate::trial::Direction;

/// The metrics the objective is known to report: `None` for a command (anything it prints).
fn known_metrics(objective: &Objective) -> Option<Vec<&'static str>> {
    match objective {
        Objective::NnCore => Some(NN_CORE_METRICS.to_vec()),
        Objective::Function(f) => hypersearch_testfns::metric_names(f).ok().map(<[_]>::to_vec),
        Objective::Command(_) => None,
    }
}

/// Checks that `name` is one the objective reports.
fn check_known(
    loc: &Locator<'_>,
    objective: &Objective,
    span: &std::ops::Range<usize>,
    key: &str,
    name: &str,
) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(loc.at(
            span,
            key,
            ConfigErrorKind::Invalid {
                value: "\"\"".into(),
                reason: "the metric name is empty".into(),
            },
        ));
    }
    if let Some(known) = known_metrics(objective)
        && !known.contains(&name)
    {
        let who = match objective {
            Objective::Function(f) => format!("the test function `{f}`"),
            _ => "nn-core".to_string(),
        };
        return Err(loc.at(
            span,
            key,
            ConfigErrorKind::Invalid {
                value: name.to_string(),
                reason: format!("{who} reports only {}", known.join(", ")),
            },
        ));
    }
    Ok(())
}

/// The default direction of a metric: maximize `*accuracy*`, else minimize.
fn default_direction(metric: &str) -> Direction {
    if metric.contains("accuracy") {
        Direction::Maximize
    } else {
        Direction::Minimize
    }
}

/// `metrics` / `directions` (several objectives) when given, else the single `metric`
/// (already checked by the caller), plus `constraints`.
pub(super) fn objectives(
    loc: &Locator<'_>,
    raw: &RawStudyFile,
    objective: &Objective,
    single: (String, Direction),
) -> Result<Objectives, ConfigError> {
    let study = &raw.study;
    let goals = match (&study.metrics, &study.directions) {
        (Some(metrics), _) => several(loc, raw, objective, metrics)?,
        (None, Some(d)) => {
            return Err(loc.at(
                &d.span(),
                "study.directions",
                ConfigErrorKind::Invalid {
                    value: "directions".into(),
                    reason: "`directions` goes with `metrics`; one objective takes `direction`"
                        .into(),
                },
            ));
        }
        (None, None) => match objective {
            // A test function with several objectives needs no `metrics`: all minimized.
            Objective::Function(f) if study.metric.is_none() => {
                match hypersearch_testfns::find_multi(f) {
                    Some(multi) => multi
                        .metrics
                        .iter()
                        .map(|m| Goal {
                            metric: (*m).to_string(),
                            direction: Direction::Minimize,
                        })
                        .collect(),
                    None => vec![Goal {
                        metric: single.0,
                        direction: single.1,
                    }],
                }
            }
            _ => vec![Goal {
                metric: single.0,
                direction: single.1,
            }],
        },
    };
    let constraints = match &study.constraints {
        Some(list) => list
            .get_ref()
            .iter()
            .map(|c| constraint(loc, objective, c))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(Objectives { goals, constraints })
}

/// `metrics` with `directions`.
fn several(
    loc: &Locator<'_>,
    raw: &RawStudyFile,
    objective: &Objective,
    metrics: &Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<Goal>, ConfigError> {
    let study = &raw.study;
    if study.metric.is_some() {
        return Err(loc.at(
            &metrics.span(),
            "study.metrics",
            ConfigErrorKind::Conflict {
                other: "study.metric".into(),
            },
        ));
    }
    if let Some(d) = &study.direction {
        return Err(loc.at(
            &d.span(),
            "study.direction",
            ConfigErrorKind::Invalid {
                value: "direction".into(),
                reason: "with `metrics`, give one of `directions` per metric".into(),
            },
        ));
    }
    if metrics.get_ref().is_empty() {
        return Err(loc.at(
            &metrics.span(),
            "study.metrics",
            ConfigErrorKind::Invalid {
                value: "[]".into(),
                reason: "name at least one metric".into(),
            },
        ));
    }
    let mut goals: Vec<Goal> = Vec::new();
    for m in metrics.get_ref() {
        check_known(loc, objective, &m.span(), "study.metrics", m.get_ref())?;
        if goals.iter().any(|g| &g.metric == m.get_ref()) {
            return Err(loc.at(
                &m.span(),
                "study.metrics",
                ConfigErrorKind::Invalid {
                    value: m.get_ref().clone(),
                    reason: "the metric is named twice".into(),
                },
            ));
        }
        goals.push(Goal {
            metric: m.get_ref().clone(),
            direction: default_direction(m.get_ref()),
        });
    }
    if let Some(directions) = &study.directions {
        let (n, d) = (metrics.get_ref().len(), directions.get_ref().len());
        if n != d {
            return Err(loc.at(
                &directions.span(),
                "study.directions",
                ConfigErrorKind::Invalid {
                    value: format!("{d} direction{}", if d == 1 { "" } else { "s" }),
                    reason: format!("`metrics` names {n}: give one direction per metric"),
                },
            ));
        }
        for (goal, direction) in goals.iter_mut().zip(directions.get_ref()) {
            goal.direction = *direction.get_ref();
        }
    }
    Ok(goals)
}

/// One `constraints` entry, `metric OP number`.
fn constraint(
    loc: &Locator<'_>,
    objective: &Objective,
    text: &Spanned<String>,
) -> Result<Constraint, ConfigError> {
    let key = "study.constraints";
    let raw = text.get_ref();
    let invalid = |reason: String| {
        loc.at(
            &text.span(),
            key,
            ConfigErrorKind::Invalid {
                value: format!("\"{raw}\""),
                reason,
            },
        )
    };
    let Some(at) = raw.find(['<', '>', '=', '!']) else {
        return Err(invalid(
            "not a constraint: write `metric OP number`, OP one of <=, >=, <, > \
             (e.g. \"parameters <= 100000\")"
                .into(),
        ));
    };
    let (metric, rest) = raw.split_at(at);
    let op_len = rest
        .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
        .unwrap_or(rest.len());
    let (op, bound) = rest.split_at(op_len);
    let operator = match op {
        "<=" => Operator::AtMost,
        ">=" => Operator::AtLeast,
        "<" => Operator::Below,
        ">" => Operator::Above,
        other => {
            return Err(invalid(format!(
                "unknown operator `{other}`: use <=, >=, < or >"
            )));
        }
    };
    let metric = metric.trim();
    if metric.is_empty() {
        return Err(invalid("no metric before the operator".into()));
    }
    check_known(loc, objective, &text.span(), key, metric)?;
    let bound = bound.trim();
    let bound = match bound.replace('_', "").parse::<f64>() {
        Ok(b) if b.is_finite() => b,
        _ => {
            return Err(invalid(format!(
                "`{bound}` after `{op}` is not a finite number"
            )));
        }
    };
    Ok(Constraint {
        metric: metric.to_string(),
        operator,
        bound,
    })
}
