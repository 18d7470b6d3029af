//! What tells two versions of a study file apart: a study is resumed when only settings
//! that do not change what the trials mean differ (comments, layout, key order, the trial
//! budget and how the trials are run).

use serde_json::Value;

use super::StudyConfig;

/// The fields a resumed study may change: where the file is, the budget and how trials are
/// run. Everything else (the objective, metric, space, sampler, seed, early stopping and the
/// base training config) defines the study.
const MAY_CHANGE: [&str; 11] = [
    "origin",
    "keep_models",
    "checkpoints",
    "name",
    "storage",
    "search.trials",
    "search.parallel",
    "search.trial_timeout",
    "search.max_attempts",
    "search.failure_retries",
    "search.quarantine_after",
];

/// Fields derived from others that already show as differences (the override style follows
/// the objective; the epoch bound follows the training config or the space).
const DERIVED: [&str; 2] = ["space.style", "max_epochs"];

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
    if MAY_CHANGE.contains(&path) || DERIVED.contains(&path) || old == new {
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
        (Value::Array(old), Value::Array(new)) if named(old) && named(new) => {
            // Parameters are named: `search.space.x2` reads better than an index, and one
            // added or removed says so instead of shifting every other.
            let name = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_string);
            for item in old {
                let label = name(item).unwrap_or_default();
                let inner = format!("{path}[{label}]");
                match new.iter().find(|n| name(n) == name(item)) {
                    Some(other) => differences(&inner, item, other, out),
                    None => out.push(format!("{}: removed", readable(&inner))),
                }
            }
            for item in new
                .iter()
                .filter(|n| !old.iter().any(|o| name(o) == name(n)))
            {
                let label = name(item).unwrap_or_default();
                out.push(format!("{}: added", readable(&format!("{path}[{label}]"))));
            }
        }
        (Value::Array(old), Value::Array(new)) if old.len() == new.len() => {
            for (index, (old, new)) in old.iter().zip(new).enumerate() {
                differences(&format!("{path}[{index}]"), old, new, out);
            }
        }
        _ => out.push(format!(
            "{}: {} -> {}",
            readable(path),
            shown(old),
            shown(new)
        )),
    }
}

/// Whether every item of `items` is an object with a `name`.
fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|v| v.get("name").is_some_and(Value::is_string))
}

/// A field's path as the study file spells it: `search.space.x2.float high` for
/// `space.params[x2].domain.Float.high`, `objective.command`, `study.metric`, …
fn readable(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("space.params[")
        && let Some((name, tail)) = rest.split_once(']')
    {
        let tail = tail.trim_start_matches('.');
        let detail = if let Some(domain) = tail.strip_prefix("domain.") {
            let (kind, field) = domain.split_once('.').unwrap_or((domain, ""));
            format!(".{} {}", kind.to_lowercase(), field.replace('.', " "))
                .trim_end()
                .to_string()
        } else if tail.starts_with("condition") {
            ".when".to_string()
        } else if tail.is_empty() {
            String::new()
        } else {
            format!(".{tail}")
        };
        return format!("search.space.{name}{detail}");
    }
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<String> = parts
        .map(|p| p.to_lowercase())
        .filter(|p| !matches!(p.as_str(), "median" | "percentile" | "asha" | "hyperband"))
        .collect();
    let head = match first {
        "metric" | "direction" | "value_range" => format!("study.{first}"),
        "enqueued" => "search.enqueue".to_string(),
        "base_training_config" => "the [data], [network] or [training] tables".to_string(),
        other => other.to_string(),
    };
    std::iter::once(head)
        .chain(rest)
        .collect::<Vec<_>>()
        .join(".")
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
        assert_eq!(differences[1], "search.space.x2.float high: 15.0 -> 14.0");
    }

    #[test]
    fn a_parameter_added_or_removed_is_named_as_such() {
        let stored = parse(STUDY);
        let edited = STUDY.replace("x2 = { float = [0, 15] }", "x3 = { float = [0, 15] }");
        assert_eq!(
            parse(&edited).differences_from(&stored),
            vec!["search.space.x2: removed", "search.space.x3: added"]
        );
        let command = |c: &str| {
            STUDY.replace(
                "function = \"branin\"",
                &format!("command = \"{c}\"\n[study]\nmetric = \"value\""),
            )
        };
        assert_eq!(
            parse(&command("./a")).differences_from(&parse(&command("./b"))),
            vec!["objective.command: \"./b\" -> \"./a\""]
        );
    }
}
