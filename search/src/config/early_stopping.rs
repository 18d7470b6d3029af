//! `[early_stopping]`: which rule stops trials early, with its parameters.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::location::Locator;
use super::raw::RawEarlyStopping;
use crate::error::{ConfigError, ConfigErrorKind, shown};

/// The rule names `[early_stopping] rule` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleName {
    /// No early stopping.
    None,
    /// Median stopping rule (percentile 50).
    Median,
    /// Percentile rule.
    Percentile,
    /// Asynchronous successive halving.
    Asha,
    /// Hyperband (brackets of successive halving).
    Hyperband,
}

/// A resource amount (epochs) or `"auto"`: derived from the config's epochs when fixed,
/// else from the completed trials (Optuna's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Resource {
    /// Derived (see the rule).
    Auto,
    /// This many epochs.
    Epochs(u32),
}

/// Percentile (and median) rule: Optuna's `PercentilePruner` semantics.
///
/// With several objectives the same rule judges by Pareto dominance
/// ([`crate::pruner::DominancePruner`]): a trial is stopped at an epoch when at least
/// ⌈(100 − `percentile`)% · n⌉ of the n completed trials that reached it dominate it there, so
/// a trial on their front is never stopped (ASHA and Hyperband are refused then).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PercentileRule {
    /// Percentile of the completed trials' values to compare with (50 = median); with several
    /// objectives, `100 − percentile` is the share of them that must dominate a trial.
    pub percentile: f64,
    /// Completed trials needed before anything is stopped (default 5).
    pub startup_trials: u32,
    /// Epochs `1..=warmup_epochs` are never judged (default 0).
    pub warmup_epochs: u32,
    /// Judge every this many epochs after the warm-up (default 1).
    pub interval_epochs: u32,
    /// Completed trials that must have reached the epoch for a judgement (default 1).
    pub min_trials: u32,
}

/// Asynchronous successive halving: Optuna's `SuccessiveHalvingPruner` semantics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HalvingRule {
    /// η: a rung keeps the best 1/η (default 4).
    pub reduction_factor: u32,
    /// Epochs before the first rung; `Auto` = max(1, max epochs / 100) (default auto).
    pub min_resource: Resource,
    /// s: rung k is at `min_resource · η^(s+k)` epochs (default 0).
    pub min_early_stopping_rate: u32,
    /// A rung with at most this many values stops the trial (default 0).
    pub bootstrap_count: u32,
}

/// Hyperband over successive-halving brackets: Optuna's `HyperbandPruner` semantics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HyperbandRule {
    /// η (default 3).
    pub reduction_factor: u32,
    /// Epochs of the first rung of the most aggressive bracket (default 1).
    pub min_resource: u32,
    /// The full training length; `Auto` = the configured epochs, else the longest completed
    /// trial (default auto).
    pub max_resource: Resource,
    /// As in [`HalvingRule::bootstrap_count`] (default 0).
    pub bootstrap_count: u32,
}

/// The checked `[early_stopping]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EarlyStopping {
    /// No early stopping across trials.
    None,
    /// Median or percentile rule.
    Percentile(PercentileRule),
    /// ASHA.
    Asha(HalvingRule),
    /// Hyperband.
    Hyperband(HyperbandRule),
}

/// Reads the keys a rule allows, refusing the others.
struct Keys<'a, 'b> {
    loc: &'a Locator<'b>,
    raw: &'a RawEarlyStopping,
    rule: &'static str,
}

impl Keys<'_, '_> {
    fn int(
        &self,
        name: &str,
        value: &Option<Spanned<i64>>,
        min: i64,
        max: i64,
        default: u32,
    ) -> Result<u32, ConfigError> {
        let Some(v) = value else { return Ok(default) };
        let x = *v.get_ref();
        if x < min || x > max {
            return Err(self.loc.at(
                &v.span(),
                format!("early_stopping.{name}"),
                ConfigErrorKind::OutOfRange {
                    value: shown(x),
                    range: format!("an integer in [{min}, {max}]"),
                },
            ));
        }
        Ok(x as u32)
    }

    fn resource(
        &self,
        name: &str,
        value: &Option<Spanned<toml::Value>>,
    ) -> Result<Resource, ConfigError> {
        let Some(v) = value else {
            return Ok(Resource::Auto);
        };
        match v.get_ref() {
            toml::Value::String(s) if s == "auto" => Ok(Resource::Auto),
            toml::Value::Integer(i) if (1..=i64::from(u32::MAX)).contains(i) => {
                Ok(Resource::Epochs(*i as u32))
            }
            other => Err(self.loc.at(
                &v.span(),
                format!("early_stopping.{name}"),
                ConfigErrorKind::Invalid {
                    value: other.to_string(),
                    reason: "give a positive number of epochs or \"auto\"".into(),
                },
            )),
        }
    }

    /// Fails if a key that `rule` does not use is set.
    fn refuse(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        let r = self.raw;
        let spans = [
            ("warmup_epochs", r.warmup_epochs.as_ref().map(Spanned::span)),
            (
                "startup_trials",
                r.startup_trials.as_ref().map(Spanned::span),
            ),
            ("min_trials", r.min_trials.as_ref().map(Spanned::span)),
            (
                "interval_epochs",
                r.interval_epochs.as_ref().map(Spanned::span),
            ),
            ("percentile", r.percentile.as_ref().map(Spanned::span)),
            (
                "reduction_factor",
                r.reduction_factor.as_ref().map(Spanned::span),
            ),
            ("min_resource", r.min_resource.as_ref().map(Spanned::span)),
            ("max_resource", r.max_resource.as_ref().map(Spanned::span)),
            (
                "min_early_stopping_rate",
                r.min_early_stopping_rate.as_ref().map(Spanned::span),
            ),
            (
                "bootstrap_count",
                r.bootstrap_count.as_ref().map(Spanned::span),
            ),
        ];
        for (name, span) in spans {
            if let Some(span) = span
                && !allowed.contains(&name)
            {
                return Err(self.loc.at(
                    &span,
                    format!("early_stopping.{name}"),
                    ConfigErrorKind::Invalid {
                        value: name.to_string(),
                        reason: format!(
                            "rule \"{}\" does not use it; it takes {}",
                            self.rule,
                            allowed.join(", ")
                        ),
                    },
                ));
            }
        }
        Ok(())
    }
}

const PERCENTILE_KEYS: [&str; 5] = [
    "warmup_epochs",
    "startup_trials",
    "min_trials",
    "interval_epochs",
    "percentile",
];
const ASHA_KEYS: [&str; 4] = [
    "reduction_factor",
    "min_resource",
    "min_early_stopping_rate",
    "bootstrap_count",
];
const HYPERBAND_KEYS: [&str; 4] = [
    "reduction_factor",
    "min_resource",
    "max_resource",
    "bootstrap_count",
];

/// Checks the `[early_stopping]` table.
pub(super) fn check_early_stopping(
    loc: &Locator<'_>,
    raw: Option<&Spanned<RawEarlyStopping>>,
) -> Result<EarlyStopping, ConfigError> {
    let Some(raw) = raw else {
        return Ok(EarlyStopping::None);
    };
    let r = raw.get_ref();
    let Some(rule) = r.rule else {
        return Err(loc.at(
            &raw.span(),
            "early_stopping.rule",
            ConfigErrorKind::Missing(
                "give `rule = \"none\" | \"median\" | \"percentile\" | \"asha\" | \"hyperband\"`"
                    .into(),
            ),
        ));
    };
    let name = match rule {
        RuleName::None => "none",
        RuleName::Median => "median",
        RuleName::Percentile => "percentile",
        RuleName::Asha => "asha",
        RuleName::Hyperband => "hyperband",
    };
    let keys = Keys {
        loc,
        raw: r,
        rule: name,
    };
    const MANY: i64 = 1_000_000;
    match rule {
        RuleName::None => {
            keys.refuse(&[])?;
            Ok(EarlyStopping::None)
        }
        RuleName::Median | RuleName::Percentile => {
            let allowed: &[&str] = if rule == RuleName::Median {
                &PERCENTILE_KEYS[..4]
            } else {
                &PERCENTILE_KEYS
            };
            keys.refuse(allowed)?;
            let percentile = match &r.percentile {
                None if rule == RuleName::Percentile => {
                    return Err(loc.at(
                        &raw.span(),
                        "early_stopping.percentile",
                        ConfigErrorKind::Missing(
                            "the percentile rule needs `percentile` in (0, 100)".into(),
                        ),
                    ));
                }
                None => 50.0,
                Some(p) => {
                    let v = *p.get_ref();
                    if !(v > 0.0 && v < 100.0) {
                        return Err(loc.at(
                            &p.span(),
                            "early_stopping.percentile",
                            ConfigErrorKind::OutOfRange {
                                value: shown(v),
                                range: "(0, 100)".into(),
                            },
                        ));
                    }
                    v
                }
            };
            Ok(EarlyStopping::Percentile(PercentileRule {
                percentile,
                startup_trials: keys.int("startup_trials", &r.startup_trials, 0, MANY, 5)?,
                warmup_epochs: keys.int("warmup_epochs", &r.warmup_epochs, 0, MANY, 0)?,
                interval_epochs: keys.int("interval_epochs", &r.interval_epochs, 1, MANY, 1)?,
                min_trials: keys.int("min_trials", &r.min_trials, 1, MANY, 1)?,
            }))
        }
        RuleName::Asha => {
            keys.refuse(&ASHA_KEYS)?;
            Ok(EarlyStopping::Asha(HalvingRule {
                reduction_factor: keys.int("reduction_factor", &r.reduction_factor, 2, 1000, 4)?,
                min_resource: keys.resource("min_resource", &r.min_resource)?,
                min_early_stopping_rate: keys.int(
                    "min_early_stopping_rate",
                    &r.min_early_stopping_rate,
                    0,
                    30,
                    0,
                )?,
                bootstrap_count: keys.int("bootstrap_count", &r.bootstrap_count, 0, MANY, 0)?,
            }))
        }
        RuleName::Hyperband => {
            keys.refuse(&HYPERBAND_KEYS)?;
            let min_resource = match keys.resource("min_resource", &r.min_resource)? {
                Resource::Auto => 1,
                Resource::Epochs(e) => e,
            };
            let max_resource = keys.resource("max_resource", &r.max_resource)?;
            if let (Resource::Epochs(max), Some(span)) =
                (max_resource, r.max_resource.as_ref().map(Spanned::span))
                && max < min_resource
            {
                return Err(loc.at(
                    &span,
                    "early_stopping.max_resource",
                    ConfigErrorKind::EmptyRange {
                        low: shown(min_resource),
                        high: shown(max),
                    },
                ));
            }
            Ok(EarlyStopping::Hyperband(HyperbandRule {
                reduction_factor: keys.int("reduction_factor", &r.reduction_factor, 2, 1000, 3)?,
                min_resource,
                max_resource,
                bootstrap_count: keys.int("bootstrap_count", &r.bootstrap_count, 0, MANY, 0)?,
            }))
        }
    }
}
