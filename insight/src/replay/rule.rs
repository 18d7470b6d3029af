//! The rule a replay feeds: the study's own (from its stored config), or one given by name
//! with options named as the `[early_stopping]` keys, checked by the same code that checks a
//! study file.

use hypersearch_search::{EarlyStopping, StudyConfig};

use crate::Error;

/// The rules a replay takes by name.
pub const RULES: [&str; 4] = ["median", "percentile", "asha", "hyperband"];

/// The `[early_stopping]` keys a replayed rule may take (which ones a rule accepts is
/// checked with the study file's own rules).
pub const OPTIONS: [&str; 10] = [
    "warmup_epochs",
    "startup_trials",
    "min_trials",
    "interval_epochs",
    "percentile",
    "reduction_factor",
    "min_resource",
    "max_resource",
    "min_early_stopping_rate",
    "bootstrap_count",
];

/// A rule to replay: `rule = None` is the study's own; `options` are `(key, value)` pairs of
/// [`OPTIONS`] as text (`"3"`, `"0.5"`, `"auto"`), as a command line or a URL gives them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleChoice {
    /// One of [`RULES`], or `None` for the study's own.
    pub rule: Option<String>,
    /// The rule's options, each a key of [`OPTIONS`].
    pub options: Vec<(String, String)>,
}

/// The config of study `study` (stored as `config_text`) with the rule of `choice`.
///
/// # Errors
/// [`Error::Rule`] naming the option and what is wrong with it; an option without a rule; a
/// study without early stopping and no rule given; a stored config that no longer parses.
pub fn rule_config(
    study: &str,
    config_text: &str,
    choice: &RuleChoice,
) -> Result<StudyConfig, Error> {
    let origin = format!("the stored config of study `{study}`");
    let stored = |problem: String| Error::Rule {
        option: None,
        problem: format!("cannot read {origin}: {problem}"),
    };
    let Some(rule) = &choice.rule else {
        if let Some((key, _)) = choice.options.first() {
            return Err(Error::Rule {
                option: Some(key.clone()),
                problem: "is an option of a rule: give the rule too".into(),
            });
        }
        let config = StudyConfig::from_toml_str(config_text, &origin)
            .map_err(|err| stored(err.to_string()))?;
        if config.early_stopping == EarlyStopping::None {
            return Err(Error::Rule {
                option: None,
                problem: format!(
                    "study `{study}` ran without early stopping: give the rule to replay, e.g. median"
                ),
            });
        }
        return Ok(config);
    };
    if !RULES.contains(&rule.as_str()) {
        return Err(Error::Rule {
            option: Some("rule".into()),
            problem: format!("`{rule}` is not a rule; the rules are {}", RULES.join(", ")),
        });
    }
    let mut table: toml::Table = config_text
        .parse()
        .map_err(|err: toml::de::Error| stored(err.to_string()))?;
    let mut early = toml::Table::new();
    early.insert("rule".into(), toml::Value::String(rule.clone()));
    for (key, text) in &choice.options {
        if !OPTIONS.contains(&key.as_str()) {
            return Err(Error::Rule {
                option: Some(key.clone()),
                problem: format!("is not an option; the options are {}", OPTIONS.join(", ")),
            });
        }
        early.insert(key.clone(), option_value(text));
    }
    table.insert("early_stopping".into(), toml::Value::Table(early));
    let text = toml::to_string(&table).map_err(|err| stored(err.to_string()))?;
    StudyConfig::from_toml_str(&text, "the rule's options").map_err(|err| {
        let key = err.key.strip_prefix("early_stopping.").unwrap_or(&err.key);
        Error::Rule {
            option: Some(key.to_string()),
            problem: err.kind.to_string(),
        }
    })
}

/// An option's text as the TOML value a study file would hold: an integer, a number, else
/// text (`auto`).
fn option_value(text: &str) -> toml::Value {
    if let Ok(n) = text.parse::<i64>() {
        toml::Value::Integer(n)
    } else if let Ok(x) = text.parse::<f64>() {
        toml::Value::Float(x)
    } else {
        toml::Value::String(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUDY: &str = "[study]\nmetric = \"loss\"\n[objective]\ncommand = \"true\"\n\
        [search]\nalgorithm = \"random\"\ntrials = 4\n[search.space]\nx = { float = [0, 1] }\n\
        [early_stopping]\nrule = \"median\"\nwarmup_epochs = 3\n";

    fn choice(rule: Option<&str>, options: &[(&str, &str)]) -> RuleChoice {
        RuleChoice {
            rule: rule.map(String::from),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn no_rule_is_the_studys_own_and_a_named_rule_takes_its_options() {
        let own = rule_config("s", STUDY, &RuleChoice::default()).unwrap();
        assert!(matches!(own.early_stopping, EarlyStopping::Percentile(_)));
        let asha = rule_config(
            "s",
            STUDY,
            &choice(Some("asha"), &[("reduction_factor", "2")]),
        )
        .unwrap();
        assert!(
            matches!(asha.early_stopping, EarlyStopping::Asha(_)),
            "{:?}",
            asha.early_stopping
        );
    }

    #[test]
    fn bad_rules_and_options_name_what_is_wrong() {
        let err = |c: RuleChoice| rule_config("s", STUDY, &c).unwrap_err().to_string();
        assert!(err(choice(None, &[("percentile", "5")])).contains("give the rule too"));
        assert!(err(choice(Some("nope"), &[])).contains("`nope` is not a rule"));
        assert!(err(choice(Some("median"), &[("speed", "5")])).contains("speed"));
        let percentile = err(choice(Some("percentile"), &[("percentile", "150")]));
        assert!(percentile.contains("percentile"), "{percentile}");
    }
}
