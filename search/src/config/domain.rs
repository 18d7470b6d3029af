//! Checking one `{ float = [..] }` / `{ int = [..] }` / `{ choice = [..] }` table into a
//! [`Domain`].

use toml::Spanned;

use super::location::Locator;
use super::raw::RawDomain;
use crate::error::{ConfigError, ConfigErrorKind, shown};
use crate::params::ParamValue;
use crate::space::{Domain, FloatDomain, IntDomain};

/// Most points a float's `grid` may ask for.
const MAX_GRID_POINTS: i64 = 100_000;

/// Checks a raw domain written at `key`.
pub(super) fn check_domain(
    loc: &Locator<'_>,
    key: &str,
    raw: &Spanned<RawDomain>,
) -> Result<Domain, ConfigError> {
    let r = raw.get_ref();
    let kinds = [r.float.is_some(), r.int.is_some(), r.choice.is_some()];
    match kinds.iter().filter(|&&k| k).count() {
        0 => {
            return Err(loc.at(
                &raw.span(),
                key,
                ConfigErrorKind::Missing(
                    "give one of `float = [low, high]`, `int = [low, high]`, `choice = [...]`"
                        .into(),
                ),
            ));
        }
        1 => {}
        _ => {
            return Err(loc.at(
                &raw.span(),
                key,
                ConfigErrorKind::Invalid {
                    value: "several kinds".into(),
                    reason: "give only one of `float`, `int`, `choice`".into(),
                },
            ));
        }
    }
    if let Some(range) = &r.float {
        return check_float(loc, key, r, range);
    }
    if let Some(range) = &r.int {
        return check_int(loc, key, r, range);
    }
    match &r.choice {
        Some(choices) => check_choice(loc, key, r, choices),
        None => unreachable_kind(loc, key, raw),
    }
}

fn unreachable_kind(
    loc: &Locator<'_>,
    key: &str,
    raw: &Spanned<RawDomain>,
) -> Result<Domain, ConfigError> {
    Err(loc.at(
        &raw.span(),
        key,
        ConfigErrorKind::Missing("a domain".into()),
    ))
}

fn pair<T: Copy>(
    loc: &Locator<'_>,
    key: &str,
    range: &Spanned<Vec<Spanned<T>>>,
) -> Result<(Spanned<T>, Spanned<T>), ConfigError> {
    match range.get_ref().as_slice() {
        [low, high] => Ok((low.clone(), high.clone())),
        other => Err(loc.at(
            &range.span(),
            key,
            ConfigErrorKind::Invalid {
                value: format!("{} numbers", other.len()),
                reason: "a range is `[low, high]`".into(),
            },
        )),
    }
}

fn not_for(
    loc: &Locator<'_>,
    key: &str,
    span: std::ops::Range<usize>,
    what: &str,
    why: &str,
) -> ConfigError {
    loc.at(
        &span,
        key,
        ConfigErrorKind::Invalid {
            value: what.into(),
            reason: why.into(),
        },
    )
}

/// A range's bounds once checked: `low < high`, and `low > 0` on a log scale.
struct Bounds<T> {
    low: T,
    high: T,
    log: bool,
}

/// Checks that `low < high` (else an error at `range`) and, on a log scale (`r.log`), that
/// `low > 0` (else an error at `low`).
fn ordered<T: Copy + PartialOrd + Default + std::fmt::Display>(
    loc: &Locator<'_>,
    key: &str,
    r: &RawDomain,
    range: &Spanned<Vec<Spanned<T>>>,
    low: &Spanned<T>,
    high: &Spanned<T>,
) -> Result<Bounds<T>, ConfigError> {
    let (lo, hi) = (*low.get_ref(), *high.get_ref());
    if lo >= hi {
        return Err(loc.at(
            &range.span(),
            key,
            ConfigErrorKind::EmptyRange {
                low: shown(lo),
                high: shown(hi),
            },
        ));
    }
    let log = r.log.as_ref().is_some_and(|l| *l.get_ref());
    // `T::default()` is zero for both bound types (`f64`, `i64`).
    if log && lo <= T::default() {
        return Err(loc.at(
            &low.span(),
            key,
            ConfigErrorKind::NonPositiveLog { low: shown(lo) },
        ));
    }
    Ok(Bounds {
        low: lo,
        high: hi,
        log,
    })
}

/// The error for a `step` given on a log scale.
fn step_on_log(loc: &Locator<'_>, key: &str, step: std::ops::Range<usize>) -> ConfigError {
    not_for(loc, key, step, "step", "a log scale cannot have a step")
}

fn check_float(
    loc: &Locator<'_>,
    key: &str,
    r: &RawDomain,
    range: &Spanned<Vec<Spanned<f64>>>,
) -> Result<Domain, ConfigError> {
    let (low, high) = pair(loc, key, range)?;
    for v in [&low, &high] {
        if !v.get_ref().is_finite() {
            return Err(loc.at(
                &v.span(),
                key,
                ConfigErrorKind::NotFinite {
                    value: *v.get_ref(),
                },
            ));
        }
    }
    let Bounds {
        low: lo,
        high: hi,
        log,
    } = ordered(loc, key, r, range, &low, &high)?;
    let step = match &r.step {
        None => None,
        Some(s) => {
            let v = *s.get_ref();
            if log {
                return Err(step_on_log(loc, key, s.span()));
            }
            if !v.is_finite() {
                return Err(loc.at(&s.span(), key, ConfigErrorKind::NotFinite { value: v }));
            }
            if v <= 0.0 || v > hi - lo {
                return Err(loc.at(
                    &s.span(),
                    key,
                    ConfigErrorKind::OutOfRange {
                        value: shown(v),
                        range: format!("a step in (0, {}]", hi - lo),
                    },
                ));
            }
            Some(v)
        }
    };
    let grid_points = match &r.grid {
        None => None,
        Some(g) => {
            if step.is_some() {
                return Err(not_for(
                    loc,
                    key,
                    g.span(),
                    "grid",
                    "give either `step` or `grid`, not both",
                ));
            }
            let n = *g.get_ref();
            if !(2..=MAX_GRID_POINTS).contains(&n) {
                return Err(loc.at(
                    &g.span(),
                    key,
                    ConfigErrorKind::OutOfRange {
                        value: shown(n),
                        range: format!("grid points in [2, {MAX_GRID_POINTS}]"),
                    },
                ));
            }
            Some(n as u32)
        }
    };
    Ok(Domain::Float(FloatDomain {
        low: lo,
        high: hi,
        log,
        step,
        grid_points,
    }))
}

fn check_int(
    loc: &Locator<'_>,
    key: &str,
    r: &RawDomain,
    range: &Spanned<Vec<Spanned<i64>>>,
) -> Result<Domain, ConfigError> {
    let (low, high) = pair(loc, key, range)?;
    let Bounds {
        low: lo,
        high: hi,
        log,
    } = ordered(loc, key, r, range, &low, &high)?;
    if let Some(g) = &r.grid {
        return Err(not_for(
            loc,
            key,
            g.span(),
            "grid",
            "an int range enumerates its values; use `step` to thin them",
        ));
    }
    let step = match &r.step {
        None => 1,
        Some(s) => {
            let v = *s.get_ref();
            if log && v != 1.0 {
                return Err(step_on_log(loc, key, s.span()));
            }
            if v.fract() != 0.0 || v < 1.0 || v > (hi - lo) as f64 {
                return Err(loc.at(
                    &s.span(),
                    key,
                    ConfigErrorKind::OutOfRange {
                        value: shown(v),
                        range: format!("an integer step in [1, {}]", hi - lo),
                    },
                ));
            }
            v as i64
        }
    };
    Ok(Domain::Int(IntDomain {
        low: lo,
        high: hi,
        log,
        step,
    }))
}

fn check_choice(
    loc: &Locator<'_>,
    key: &str,
    r: &RawDomain,
    choices: &Spanned<Vec<Spanned<toml::Value>>>,
) -> Result<Domain, ConfigError> {
    for (name, span) in [
        ("log", r.log.as_ref().map(Spanned::span)),
        ("step", r.step.as_ref().map(Spanned::span)),
        ("grid", r.grid.as_ref().map(Spanned::span)),
    ] {
        if let Some(span) = span {
            return Err(not_for(
                loc,
                key,
                span,
                name,
                "a choice list takes no modifiers",
            ));
        }
    }
    if choices.get_ref().is_empty() {
        return Err(loc.at(&choices.span(), key, ConfigErrorKind::EmptyChoice));
    }
    let mut out: Vec<ParamValue> = Vec::new();
    for c in choices.get_ref() {
        let v = scalar(loc, key, c)?;
        if out.iter().any(|o| o.same_as(&v)) {
            return Err(loc.at(
                &c.span(),
                key,
                ConfigErrorKind::DuplicateChoice {
                    value: v.to_string(),
                },
            ));
        }
        out.push(v);
    }
    Ok(Domain::Categorical(out))
}

/// A TOML scalar written at `key` as a parameter value; an error naming it if it is none
/// (see [`scalar_value`]).
pub(super) fn scalar(
    loc: &Locator<'_>,
    key: &str,
    v: &Spanned<toml::Value>,
) -> Result<ParamValue, ConfigError> {
    scalar_value(v.get_ref()).ok_or_else(|| match v.get_ref() {
        toml::Value::Float(f) => loc.at(&v.span(), key, ConfigErrorKind::NotFinite { value: *f }),
        other => loc.at(
            &v.span(),
            key,
            ConfigErrorKind::Invalid {
                value: other.to_string(),
                reason: "a value is a number, a string or a boolean".into(),
            },
        ),
    })
}

/// A TOML scalar as a parameter value (no arrays, tables or dates; numbers finite).
pub(super) fn scalar_value(value: &toml::Value) -> Option<ParamValue> {
    match value {
        toml::Value::Integer(i) => Some(ParamValue::Int(*i)),
        toml::Value::Float(f) if f.is_finite() => Some(ParamValue::Float(*f)),
        toml::Value::Boolean(b) => Some(ParamValue::Bool(*b)),
        toml::Value::String(s) => Some(ParamValue::Str(s.clone())),
        _ => None,
    }
}
