//! `[[search.enqueue]]`: user configurations that run first (warm start).

use toml::Spanned;

use super::domain::scalar;
use super::location::{Locator, OrderedMap, quoted};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::params::Params;
use crate::space::SearchSpace;

/// Checks every enqueued configuration: known names, values in their domains, a
/// conditional parameter only with its parent given and its condition holding.
pub(super) fn check_enqueued(
    loc: &Locator<'_>,
    list: &[Spanned<OrderedMap<Spanned<toml::Value>>>],
    space: &SearchSpace,
) -> Result<Vec<Params>, ConfigError> {
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let mut params = Params::new();
        for (name, value) in &entry.get_ref().0 {
            let key = format!("search.enqueue[{i}].{}", quoted(name.get_ref()));
            let Some(spec) = space.get(name.get_ref()) else {
                return Err(loc.at(
                    &name.span(),
                    key,
                    ConfigErrorKind::Invalid {
                        value: name.get_ref().clone(),
                        reason: "not a parameter of the search space".into(),
                    },
                ));
            };
            let v = scalar(loc, &key, value)?;
            let Some(c) = spec.domain.canonical(&v) else {
                return Err(loc.at(
                    &value.span(),
                    key,
                    ConfigErrorKind::Invalid {
                        value: v.to_string(),
                        reason: "outside the parameter's domain".into(),
                    },
                ));
            };
            params.insert(name.get_ref().clone(), c);
        }
        for (name, _) in &entry.get_ref().0 {
            let Some(spec) = space.get(name.get_ref()) else {
                continue;
            };
            if let Some(cond) = &spec.condition
                && !space.is_active(spec, &params)
            {
                return Err(loc.at(
                    &name.span(),
                    format!("search.enqueue[{i}].{}", quoted(name.get_ref())),
                    ConfigErrorKind::Invalid {
                        value: name.get_ref().clone(),
                        reason: format!("exists only when {cond}"),
                    },
                ));
            }
        }
        out.push(params);
    }
    Ok(out)
}
