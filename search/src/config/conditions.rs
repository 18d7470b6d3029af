//! `when = { parent = value, … }` on a `[search.space]` parameter: checked against the whole
//! space (parents exist, are enumerable, can take the values named; no cycles), then the
//! parameters reordered so every parent comes before the parameters that read it.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::Spanned;

use super::domain::scalar_value;
use super::location::{Locator, OrderedMap, quoted};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::params::ParamValue;
use crate::space::{Clause, Condition, Domain, ParamSpec, Requirement};

/// Most values a condition's parent may take (it splits the space into one block per value).
const MAX_PARENT_VALUES: u128 = 1_000;
/// Most combinations of the parents' values (grid search enumerates them).
const MAX_BLOCKS: u128 = 10_000;

/// A `when` table as written, for the parameter `name`.
pub(super) struct WrittenCondition<'a> {
    /// The conditional parameter.
    pub name: String,
    /// Its `when` table: parent name → one value or a list of values.
    pub when: &'a Spanned<OrderedMap<Spanned<toml::Value>>>,
}

/// Adds the written conditions to `params` and orders them parents first.
pub(super) fn apply(
    loc: &Locator<'_>,
    mut params: Vec<ParamSpec>,
    written: &[WrittenCondition<'_>],
) -> Result<Vec<ParamSpec>, ConfigError> {
    for w in written {
        let condition = check_one(loc, &params, w)?;
        if let Some(spec) = params.iter_mut().find(|p| p.name == w.name) {
            spec.condition = Some(condition);
        }
    }
    let ordered = parents_first(loc, params, written)?;
    check_block_count(loc, &ordered, written)?;
    Ok(ordered)
}

fn when_key(name: &str) -> String {
    format!("search.space.{}.when", quoted(name))
}

fn check_one(
    loc: &Locator<'_>,
    params: &[ParamSpec],
    w: &WrittenCondition<'_>,
) -> Result<Condition, ConfigError> {
    let entries = &w.when.get_ref().0;
    if entries.is_empty() {
        return Err(loc.at(
            &w.when.span(),
            when_key(&w.name),
            ConfigErrorKind::Missing(
                "name the parameter it depends on, e.g. `when = { \"training.optimizer\" = \"momentum\" }`".into(),
            ),
        ));
    }
    let mut clauses = Vec::new();
    for (parent, value) in entries {
        let key = format!("{}.{}", when_key(&w.name), quoted(parent.get_ref()));
        let invalid = |span: &Range<usize>, value: String, reason: String| {
            loc.at(
                span,
                key.clone(),
                ConfigErrorKind::Invalid { value, reason },
            )
        };
        if parent.get_ref() == &w.name {
            return Err(invalid(
                &parent.span(),
                parent.get_ref().clone(),
                "a parameter cannot depend on itself".into(),
            ));
        }
        let Some(spec) = params.iter().find(|p| &p.name == parent.get_ref()) else {
            let names: Vec<&str> = params
                .iter()
                .map(|p| p.name.as_str())
                .filter(|n| *n != w.name)
                .collect();
            let reason = if names.is_empty() {
                "not a searched parameter; a condition reads another parameter of the space, and there is none".to_string()
            } else {
                format!(
                    "not a searched parameter; a condition reads one of {}",
                    names.join(", ")
                )
            };
            return Err(invalid(&parent.span(), parent.get_ref().clone(), reason));
        };
        let enumerable = match &spec.domain {
            Domain::Categorical(_) => true,
            Domain::Int(_) => spec.domain.count().is_some_and(|n| n <= MAX_PARENT_VALUES),
            Domain::Float(_) => false,
        };
        if !enumerable {
            return Err(invalid(
                &parent.span(),
                parent.get_ref().clone(),
                format!(
                    "a condition's parameter must be a `choice` or an `int` with at most {MAX_PARENT_VALUES} values"
                ),
            ));
        }
        let written: Vec<&toml::Value> = match value.get_ref() {
            toml::Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        if written.is_empty() {
            return Err(invalid(
                &value.span(),
                "[]".into(),
                "give the value (or values) the parameter must have".into(),
            ));
        }
        let mut values = Vec::new();
        for item in written {
            let canonical = scalar_value(item).and_then(|v| spec.domain.canonical(&v));
            let Some(v) = canonical else {
                return Err(invalid(
                    &value.span(),
                    item.to_string(),
                    format!(
                        "`{}` never takes this value; it takes {}",
                        spec.name,
                        takes(&spec.domain)
                    ),
                ));
            };
            if !values.iter().any(|known: &ParamValue| known.same_as(&v)) {
                values.push(v);
            }
        }
        clauses.push(Clause {
            parent: spec.name.clone(),
            requirement: Requirement::OneOf(values),
        });
    }
    Ok(Condition { clauses })
}

/// The values of an enumerable domain, in words.
fn takes(domain: &Domain) -> String {
    match domain {
        Domain::Categorical(choices) => {
            let list: Vec<String> = choices.iter().map(ToString::to_string).collect();
            list.join(", ")
        }
        Domain::Int(d) if d.step == 1 => format!("integers {} to {}", d.low, d.effective_high()),
        Domain::Int(d) => format!(
            "integers {} to {} in steps of {}",
            d.low,
            d.effective_high(),
            d.step
        ),
        Domain::Float(_) => "any number in its range".into(),
    }
}

/// `params` reordered (stably) so that every parameter comes after the parameters its
/// condition reads; a cycle is an error naming it.
fn parents_first(
    loc: &Locator<'_>,
    params: Vec<ParamSpec>,
    written: &[WrittenCondition<'_>],
) -> Result<Vec<ParamSpec>, ConfigError> {
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut pending = params;
    let mut out = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending.iter().position(|p| {
            p.condition
                .as_ref()
                .is_none_or(|c| c.parents().all(|parent| placed.contains(parent)))
        });
        let Some(i) = ready else {
            return Err(cycle_error(loc, &pending, written));
        };
        let spec = pending.remove(i);
        placed.insert(spec.name.clone());
        out.push(spec);
    }
    Ok(out)
}

fn cycle_error(
    loc: &Locator<'_>,
    pending: &[ParamSpec],
    written: &[WrittenCondition<'_>],
) -> ConfigError {
    // Every pending parameter waits on another pending one: walk until a name repeats.
    let parent_of = |name: &str| {
        pending
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.condition.as_ref())
            .and_then(|c| {
                c.parents()
                    .find(|parent| pending.iter().any(|q| q.name == *parent))
            })
            .map(str::to_string)
    };
    let mut path: Vec<String> = vec![pending[0].name.clone()];
    while let Some(next) = parent_of(&path[path.len() - 1]) {
        if let Some(start) = path.iter().position(|n| *n == next) {
            path.drain(..start);
            path.push(next);
            break;
        }
        path.push(next);
    }
    let first = &path[0];
    let span = written
        .iter()
        .find(|w| &w.name == first)
        .map_or(0..0, |w| w.when.span());
    loc.at(
        &span,
        when_key(first),
        ConfigErrorKind::Invalid {
            value: path.join(" → "),
            reason: "the conditions form a cycle: each parameter exists only when the next does"
                .into(),
        },
    )
}

fn check_block_count(
    loc: &Locator<'_>,
    params: &[ParamSpec],
    written: &[WrittenCondition<'_>],
) -> Result<(), ConfigError> {
    let parents: BTreeSet<&str> = params
        .iter()
        .filter_map(|p| p.condition.as_ref())
        .flat_map(Condition::parents)
        .collect();
    let combinations = params
        .iter()
        .filter(|p| parents.contains(p.name.as_str()))
        .map(|p| p.domain.count().unwrap_or(u128::MAX))
        .fold(1u128, u128::saturating_mul);
    match written.first() {
        Some(w) if combinations > MAX_BLOCKS => Err(loc.at(
            &w.when.span(),
            when_key(&w.name),
            ConfigErrorKind::OutOfRange {
                value: format!("{combinations} combinations of the conditions' parameters"),
                range: format!("at most {MAX_BLOCKS}"),
            },
        )),
        _ => Ok(()),
    }
}
