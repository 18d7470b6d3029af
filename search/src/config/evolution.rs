//! `[search.evolution]`: regularized evolution's population and tournament size, checked
//! against each other and against the study's budget.

use toml::Spanned;

use super::check::int_in;
use super::location::Locator;
use super::raw::RawSearch;
use super::{Algorithm, EvolutionSettings};
use crate::error::{ConfigError, ConfigErrorKind, shown};

/// The largest population `[search.evolution] population` accepts.
const MAX_POPULATION: i64 = 100_000;

/// `[search.evolution]`, defaults where absent. With `algorithm = "evolution"`, a population
/// larger than the study's `trials` is refused: the search would never leave its random
/// start.
pub(super) fn evolution_settings(
    loc: &Locator<'_>,
    search: &Spanned<RawSearch>,
    algorithm: Algorithm,
    trials: u64,
) -> Result<EvolutionSettings, ConfigError> {
    let mut settings = EvolutionSettings::default();
    let raw = search.get_ref().evolution.as_ref();
    let population = raw.and_then(|e| e.get_ref().population.as_ref());
    if let Some(p) = population {
        settings.population =
            int_in(loc, "search.evolution.population", p, 2, MAX_POPULATION)? as u32;
    }
    if let Some(s) = raw.and_then(|e| e.get_ref().sample_size.as_ref()) {
        let value = *s.get_ref();
        if value < 1 || value > i64::from(settings.population) {
            return Err(loc.at(
                &s.span(),
                "search.evolution.sample_size",
                ConfigErrorKind::OutOfRange {
                    value: shown(value),
                    range: format!(
                        "an integer in [1, {}] (at most the population)",
                        settings.population
                    ),
                },
            ));
        }
        settings.sample_size = value as u32;
    } else if settings.sample_size > settings.population {
        // A small population given without a sample size: the tournament is all of it.
        settings.sample_size = settings.population;
    }
    if algorithm == Algorithm::Evolution && u64::from(settings.population) > trials {
        let (span, given) = match population {
            Some(p) => (p.span(), ""),
            None => (search.span(), " (the default)"),
        };
        return Err(loc.at(
            &span,
            "search.evolution.population",
            ConfigErrorKind::Invalid {
                value: format!("{}{given}", settings.population),
                reason: format!(
                    "the population is larger than the study's {trials} trials, so evolution \
                     would never start: lower `population` or raise `trials`"
                ),
            },
        ));
    }
    Ok(settings)
}
