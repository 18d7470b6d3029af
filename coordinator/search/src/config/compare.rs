//! What tells two versions of a study file apart: a study is resumed when only settings
//! that do not change what the trials mean differ (comments, layout, key order, the trial
//! budget and how the trials are run).

use serde_json::Value;

use super::StudyConfig;

/// The fields a resumed study may change: where the file is, the budget and how trials are
/// run. Everything else (the objective, metric, space, sampler, seed, early stopping and the
/// base training config) defines the study.
const MAY_CHANGE: [&str; 9] = [
    "origin",
    "name",
    "storage",
    "search.trials",
    "search.parallel",
    "search.trial_timeout",
    "search.max_attempts",
    "search.failure_retries",
    "search.quarantine_after",
];

/// Values longer than this are cut in a difference's description.
const SHOWN: usize = 120;

impl StudyConfig {
    /// How this study file differs from `stored` in what defines the study, one line per
    /// field (`search.seed: 7 -> 8`); empty when the study can be resumed with it.
    pub fn differences_from(&self, stored: &StudyConfig) -> Vec<String> {
        let (Ok(new), Ok(old)) = (serde_json::to_value(self), serde_json::to_value(stored)) else {
            return vec!["the configuration cannot be compared".into()];
        };
        let mut out = Vec::new();
        differences("", &old, &new, &mut out);
        out
    }
}

fn differences(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    if MAY_CHANGE.contains(&path) || old == new {
        return;
    }
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                differences(
                    &inner,
                    old.get(key).unwrap_or(&Value::Null),
                    new.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(old), Value::Array(new)) if old.len() == new.len() => {
            for (index, (old, new)) in old.iter().zip(new).enumerate() {
                // Parameters and the like are named: `space.params[x2]` reads better than [1].
                let label = match (old.get("name"), new.get("name")) {
                    (Some(Value::String(a)), Some(Value::String(b))) if a == b => a.clone(),
                    _ => index.to_string(),
                };
                differences(&format!("{path}[{label}]"), old, new, out);
            }
        }
        _ => out.push(format!("{path}: {} -> {}", shown(old), shown(new))),
    }
}

fn shown(value: &Value) -> String {
    let text = match value {
        Value::Null => "(none)".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > SHOWN {
        let cut: String = text.chars().take(SHOWN).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUDY: &str = r#"
[objective]
function = "branin"

[search]
algorithm = "random"
trials = 6
seed = 3

[search.space]
x1 = { float = [-5, 10] }
x2 = { float = [0, 15] }
"#;

    fn parse(text: &str) -> StudyConfig {
        StudyConfig::from_toml_str(text, "dir/study.toml").expect("a valid study")
    }

    #[test]
    fn comments_layout_budget_and_parallelism_may_change() {
        let stored = parse(STUDY);
        let edited = STUDY
            .replace("trials = 6", "trials = 12 # more\nparallel = 4")
            .replace("[search.space]", "# the space\n[search.space]");
        assert_eq!(
            parse(&edited).differences_from(&stored),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_space_seed_and_objective_may_not() {
        let stored = parse(STUDY);
        let edited = STUDY
            .replace("x2 = { float = [0, 15] }", "x2 = { float = [0, 14] }")
            .replace("seed = 3", "seed = 4");
        let differences = parse(&edited).differences_from(&stored);
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(
            differences[0].starts_with("search.seed: 3 -> 4"),
            "{differences:?}"
        );
        assert_eq!(
            differences[1],
            "space.params[x2].domain.Float.high: 15.0 -> 14.0"
        );
    }
}
