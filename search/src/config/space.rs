//! Building the [`SearchSpace`] from `[search.space]` and `[search.architecture]`, and the
//! checks that tie it to the training config when the objective is nn-core.

use std::collections::BTreeMap;

use toml::Spanned;

use super::conditions::WrittenCondition;
use super::domain::check_domain;
use super::location::{Locator, OrderedMap, quoted};
use super::raw::{RawArchitecture, RawDomain};
use super::training_keys::{
    ACTIVATIONS, MAX_LAYERS, MAX_UNITS, MAX_WEIGHTS_BETWEEN_HIDDEN, TRAINING_KEYS, TrainingKeyKind,
    training_key,
};
use crate::error::{ConfigError, ConfigErrorKind, shown};
use crate::params::ParamValue;
use crate::space::architecture::{self, LAYERS};
use crate::space::{Condition, Domain, ParamSpec};

/// Checks `[search.space]`; with `nn_core`, every name must be a searchable training key.
/// Returns the parameters (unconditional as yet) and their `when` tables, which
/// [`super::conditions::apply`] checks once the whole space is known.
pub(super) fn space_params<'a>(
    loc: &Locator<'_>,
    raw: &'a OrderedMap<Spanned<RawDomain>>,
    nn_core: bool,
) -> Result<(Vec<ParamSpec>, Vec<WrittenCondition<'a>>), ConfigError> {
    let mut out = Vec::new();
    let mut conditions = Vec::new();
    for (name, domain) in &raw.0 {
        let key = format!("search.space.{}", quoted(name.get_ref()));
        if name.get_ref().starts_with(architecture::PREFIX) {
            return Err(loc.at(
                &name.span(),
                key,
                ConfigErrorKind::Invalid {
                    value: name.get_ref().clone(),
                    reason: "names starting with `arch.` belong to [search.architecture]".into(),
                },
            ));
        }
        let checked = check_domain(loc, &key, domain)?;
        if nn_core {
            check_training_domain(loc, &key, &name.span(), name.get_ref(), &checked)?;
        }
        if let Some(when) = &domain.get_ref().when {
            conditions.push(WrittenCondition {
                name: name.get_ref().clone(),
                when,
            });
        }
        out.push(ParamSpec {
            name: name.get_ref().clone(),
            domain: checked,
            condition: None,
        });
    }
    Ok((out, conditions))
}

/// Checks that `domain` only holds values the training key `name` accepts.
fn check_training_domain(
    loc: &Locator<'_>,
    key: &str,
    span: &std::ops::Range<usize>,
    name: &str,
    domain: &Domain,
) -> Result<(), ConfigError> {
    let Some(entry) = training_key(name) else {
        let known: Vec<&str> = TRAINING_KEYS
            .iter()
            .filter(|k| {
                !matches!(
                    k.kind,
                    TrainingKeyKind::Architecture | TrainingKeyKind::Table
                )
            })
            .map(|k| k.key)
            .collect();
        let hint = format!("searchable keys are {}", known.join(", "));
        return Err(loc.at(span, key, ConfigErrorKind::UnknownTrainingKey { hint }));
    };
    check_kind(loc, key, span, &entry.kind, domain)
}

fn check_kind(
    loc: &Locator<'_>,
    key: &str,
    span: &std::ops::Range<usize>,
    kind: &TrainingKeyKind,
    domain: &Domain,
) -> Result<(), ConfigError> {
    let out_of_range = |value: String| {
        loc.at(
            span,
            key,
            ConfigErrorKind::OutOfRange {
                value,
                range: kind.describe(),
            },
        )
    };
    match (kind, domain) {
        (TrainingKeyKind::Architecture, _) => Err(loc.at(
            span,
            key,
            ConfigErrorKind::UnknownTrainingKey {
                hint: "search the hidden layers with [search.architecture] (layers, units)".into(),
            },
        )),
        (TrainingKeyKind::Table, _) => Err(loc.at(
            span,
            key,
            ConfigErrorKind::UnknownTrainingKey {
                hint: "a table-valued key is fixed in the base config".into(),
            },
        )),
        (TrainingKeyKind::Float { .. }, Domain::Float(d)) => {
            for v in [d.low, d.high] {
                if !kind.allows_float(v) {
                    return Err(out_of_range(shown(v)));
                }
            }
            Ok(())
        }
        (TrainingKeyKind::Float { .. } | TrainingKeyKind::Int { .. }, Domain::Int(d)) => {
            for v in [d.low, d.high] {
                if !kind.allows_float(v as f64) {
                    return Err(out_of_range(shown(v)));
                }
            }
            Ok(())
        }
        (_, Domain::Categorical(choices)) => {
            for c in choices {
                let ok = match (kind, c) {
                    (TrainingKeyKind::Float { .. }, v) => {
                        v.as_f64().is_some_and(|x| kind.allows_float(x))
                    }
                    (TrainingKeyKind::Int { .. }, ParamValue::Int(i)) => {
                        kind.allows_float(*i as f64)
                    }
                    (TrainingKeyKind::Bool, ParamValue::Bool(_)) => true,
                    (TrainingKeyKind::Choice(list), ParamValue::Str(s)) => {
                        list.contains(&s.as_str())
                    }
                    _ => false,
                };
                if !ok {
                    return Err(out_of_range(c.to_string()));
                }
            }
            Ok(())
        }
        (_, _) => Err(out_of_range(format!("a {} range", domain_word(domain)))),
    }
}

fn domain_word(domain: &Domain) -> &'static str {
    match domain {
        Domain::Float(_) => "float",
        Domain::Int(_) => "int",
        Domain::Categorical(_) => "choice",
    }
}

/// The largest integer a domain holds.
fn largest_int(domain: &Domain) -> Option<i64> {
    layer_bounds(domain).map(|(_, high)| high)
}

/// The smallest and largest integer of a `layers` domain.
fn layer_bounds(domain: &Domain) -> Option<(i64, i64)> {
    match domain {
        Domain::Int(d) => Some((d.low, d.effective_high())),
        Domain::Categorical(c) => {
            let ints: Option<Vec<i64>> = c
                .iter()
                .map(|v| match v {
                    ParamValue::Int(i) => Some(*i),
                    _ => None,
                })
                .collect();
            let ints = ints?;
            Some((*ints.iter().min()?, *ints.iter().max()?))
        }
        Domain::Float(_) => None,
    }
}

/// Checks `[search.architecture]` into parameters: `arch.layers` first, then the
/// network-wide ones, then per layer `k` the `arch.units_k`, `arch.dropout_k`, conditional on
/// `arch.layers ≥ k` where `k` exceeds the smallest layer count.
pub(super) fn architecture_params(
    loc: &Locator<'_>,
    raw: &Spanned<RawArchitecture>,
    nn_core: bool,
) -> Result<Vec<ParamSpec>, ConfigError> {
    let r = raw.get_ref();
    let key = |kind: &str| format!("search.architecture.{kind}");
    let written = [
        ("layers", &r.layers),
        ("units", &r.units),
        ("dropout", &r.dropout),
        ("activation", &r.activation),
        ("batch_norm", &r.batch_norm),
        ("residual", &r.residual),
    ];
    for (kind, domain) in written {
        if let Some(when) = domain.as_ref().and_then(|d| d.get_ref().when.as_ref()) {
            return Err(loc.at(
                &when.span(),
                format!("{}.when", key(kind)),
                ConfigErrorKind::Invalid {
                    value: "when".into(),
                    reason: "the architecture's own conditions are fixed (per-layer values exist while `layers` reaches them); `when` belongs to [search.space]".into(),
                },
            ));
        }
    }
    let mut out = Vec::new();
    let per_layer = [("units", &r.units), ("dropout", &r.dropout)];
    let mut bounds = None;
    match (&r.layers, &r.units) {
        (None, None) if r.dropout.is_none() => {}
        (Some(layers), Some(_)) => {
            let domain = check_domain(loc, &key("layers"), layers)?;
            let kind = TrainingKeyKind::Int {
                min: 0,
                max: MAX_LAYERS,
            };
            check_kind(loc, &key("layers"), &layers.span(), &kind, &domain)?;
            bounds = layer_bounds(&domain);
            out.push(ParamSpec {
                name: LAYERS.to_string(),
                domain,
                condition: None,
            });
        }
        (None, _) => {
            return Err(loc.at(
                &raw.span(),
                key("layers"),
                ConfigErrorKind::Missing(
                    "per-layer parameters need `layers`, e.g. `layers = { int = [1, 4] }`".into(),
                ),
            ));
        }
        (Some(layers), None) => {
            return Err(loc.at(
                &layers.span(),
                key("units"),
                ConfigErrorKind::Missing(
                    "`layers` needs `units`, e.g. `units = { choice = [64, 128, 256] }`".into(),
                ),
            ));
        }
    }
    for (kind, value) in [
        ("activation", &r.activation),
        ("batch_norm", &r.batch_norm),
        ("residual", &r.residual),
    ] {
        let Some(value) = value else { continue };
        let domain = check_domain(loc, &key(kind), value)?;
        if nn_core {
            let k = if kind == "activation" {
                TrainingKeyKind::Choice(ACTIVATIONS)
            } else {
                TrainingKeyKind::Bool
            };
            check_kind(loc, &key(kind), &value.span(), &k, &domain)?;
        }
        out.push(ParamSpec {
            name: architecture::network_wide_name(kind),
            domain,
            condition: None,
        });
    }
    let Some((min_layers, max_layers)) = bounds else {
        return Ok(out);
    };
    let mut layer_domains = Vec::new();
    for (kind, value) in per_layer {
        let Some(value) = value else { continue };
        let domain = check_domain(loc, &key(kind), value)?;
        let limit = if kind == "units" {
            TrainingKeyKind::Int {
                min: 1,
                max: MAX_UNITS,
            }
        } else {
            TrainingKeyKind::Float {
                min: 0.0,
                max: 1.0,
                max_exclusive: true,
            }
        };
        if nn_core || kind == "units" {
            check_kind(loc, &key(kind), &value.span(), &limit, &domain)?;
        }
        if kind == "units"
            && let Some(largest) = largest_int(&domain)
        {
            let between = (max_layers - 1)
                .max(0)
                .saturating_mul(largest.saturating_mul(largest));
            if between > MAX_WEIGHTS_BETWEEN_HIDDEN {
                return Err(loc.at(
                    &value.span(),
                    key(kind),
                    ConfigErrorKind::OutOfRange {
                        value: format!("{max_layers} layers of up to {largest} units ({between} weights between hidden layers)"),
                        range: format!("at most {MAX_WEIGHTS_BETWEEN_HIDDEN} weights between hidden layers"),
                    },
                ));
            }
        }
        layer_domains.push((kind, domain));
    }
    for layer in 1..=max_layers {
        let condition = (layer > min_layers).then(|| Condition::at_least(LAYERS, layer));
        for (kind, domain) in &layer_domains {
            out.push(ParamSpec {
                name: architecture::per_layer_name(kind, layer as usize),
                domain: domain.clone(),
                condition: condition.clone(),
            });
        }
    }
    Ok(out)
}

/// Checks the architecture against `[search.space]` and the base `[network]`: nothing set in
/// two places, no fixed per-layer list when the depth is searched.
pub(super) fn check_no_conflicts(
    loc: &Locator<'_>,
    space: &OrderedMap<Spanned<RawDomain>>,
    arch: &Spanned<RawArchitecture>,
    network: Option<&BTreeMap<String, Spanned<toml::Value>>>,
) -> Result<(), ConfigError> {
    let r = arch.get_ref();
    let present = [
        ("dropout", r.dropout.is_some()),
        ("activation", r.activation.is_some()),
        ("batch_norm", r.batch_norm.is_some()),
        ("residual", r.residual.is_some()),
    ];
    for (kind, is_set) in present {
        let target = architecture::training_key(kind);
        if let Some((name, _)) = space
            .0
            .iter()
            .find(|(n, _)| is_set && n.get_ref() == target)
        {
            return Err(loc.at(
                &name.span(),
                format!("search.space.{}", quoted(target)),
                ConfigErrorKind::Conflict {
                    other: format!("search.architecture.{kind}"),
                },
            ));
        }
    }
    if r.layers.is_some()
        && r.dropout.is_none()
        && let Some(dropout) = network.and_then(|n| n.get("dropout"))
        && dropout.get_ref().is_array()
    {
        return Err(loc.at(
            &dropout.span(),
            "network.dropout",
            ConfigErrorKind::Invalid {
                value: dropout.get_ref().to_string(),
                reason: "a per-layer list cannot follow a searched number of layers; give one number or search `dropout` in [search.architecture]".into(),
            },
        ));
    }
    Ok(())
}

/// Checks the numeric keys of the base `[network]` and `[training]` tables against their
/// caps (`training.epochs`, `training.batch_size`, `network.hidden` …).
pub(super) fn check_base_table(
    loc: &Locator<'_>,
    table: &str,
    entries: &BTreeMap<String, Spanned<toml::Value>>,
) -> Result<(), ConfigError> {
    for (name, value) in entries {
        let dotted = format!("{table}.{name}");
        let Some(entry) = training_key(&dotted) else {
            continue;
        };
        let range_err = |v: String, range: String| {
            loc.at(
                &value.span(),
                dotted.clone(),
                ConfigErrorKind::OutOfRange { value: v, range },
            )
        };
        match (entry.kind, value.get_ref()) {
            (TrainingKeyKind::Architecture, toml::Value::Array(units)) => {
                if units.len() as i64 > MAX_LAYERS {
                    return Err(range_err(
                        format!("{} layers", units.len()),
                        format!("at most {MAX_LAYERS} layers"),
                    ));
                }
                for u in units {
                    let ok = u.as_integer().is_some_and(|u| (1..=MAX_UNITS).contains(&u));
                    if !ok {
                        return Err(range_err(
                            u.to_string(),
                            format!("units in [1, {MAX_UNITS}]"),
                        ));
                    }
                }
            }
            (kind @ (TrainingKeyKind::Int { .. } | TrainingKeyKind::Float { .. }), v) => {
                let x = v.as_integer().map(|i| i as f64).or_else(|| v.as_float());
                if let Some(x) = x
                    && !kind.allows_float(x)
                {
                    return Err(range_err(v.to_string(), kind.describe()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
