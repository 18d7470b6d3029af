//! A trial as a training config: the study's `[data]`, `[network]` and `[training]` tables
//! with the trial's overrides applied, as TOML that `hypersearch train` re-runs.

use anyhow::{Context, bail};

/// What a stored study runs, read back from its config text.
pub enum StoredObjective {
    /// nn-core training.
    Training,
    /// A command.
    Command(String),
    /// A test function.
    Function(String),
}

/// The objective of a study, from its stored config text.
pub fn objective(study_config: &str) -> anyhow::Result<StoredObjective> {
    let table: toml::Table =
        toml::from_str(study_config).context("the stored study config is not valid TOML")?;
    let Some(objective) = table.get("objective").and_then(toml::Value::as_table) else {
        return Ok(StoredObjective::Training);
    };
    let text = |key: &str| {
        objective
            .get(key)
            .and_then(toml::Value::as_str)
            .map(str::to_string)
    };
    Ok(match (text("command"), text("function")) {
        (Some(command), _) => StoredObjective::Command(command),
        (None, Some(function)) => StoredObjective::Function(function),
        (None, None) => StoredObjective::Training,
    })
}

fn toml_value(key: &str, value: &serde_json::Value) -> anyhow::Result<Option<toml::Value>> {
    Ok(Some(match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Array(items) => toml::Value::Array(
            items
                .iter()
                .map(|item| toml_value(key, item))
                .collect::<anyhow::Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect(),
        ),
        serde_json::Value::Object(_) => {
            bail!("override `{key}` is an object, which no training key takes")
        }
    }))
}

/// The training part of `study_config` with `overrides` (dotted keys) applied, as TOML.
pub fn render(study_config: &str, overrides: &serde_json::Value) -> anyhow::Result<String> {
    let study: toml::Table =
        toml::from_str(study_config).context("the stored study config is not valid TOML")?;
    let mut config = toml::Table::new();
    for section in ["data", "network", "training"] {
        if let Some(table) = study.get(section) {
            config.insert(section.to_string(), table.clone());
        }
    }
    for (key, value) in overrides.as_object().into_iter().flatten() {
        // `data.augment.shift` is the table `data`, its table `augment`, its key `shift`.
        let Some((tables, field)) = key.rsplit_once('.') else {
            bail!("override `{key}` is not a dotted training key");
        };
        let Some(value) = toml_value(key, value)? else {
            continue;
        };
        let mut table = &mut config;
        for section in tables.split('.') {
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(inner) = entry.as_table_mut() else {
                bail!("`{section}` of override `{key}` is not a table in the study config");
            };
            table = inner;
        }
        table.insert(field.to_string(), value);
    }
    toml::to_string(&config).context("cannot write the training config")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nested_overrides_reach_their_inner_table() {
        let study = "[data]\nsource = \"digits\"\naugment = { rotate = 5 }\n";
        let overrides = serde_json::json!({"data.augment.shift": 2.0});
        let text = render(study, &overrides).unwrap();
        let config = nn_core::TrainConfig::from_toml(&text, "rendered").unwrap();
        assert_eq!(
            (config.augment().shift, config.augment().rotate),
            (2.0, 5.0)
        );
    }

    #[test]
    fn overrides_replace_the_base_values_and_study_tables_are_dropped() {
        let study = "[study]\nname = \"s\"\n[search]\ntrials = 3\n[data]\nsource = \"digits\"\n\
                     [network]\nhidden = [64]\n[training]\nepochs = 5\nlearning_rate = 0.1\n";
        let overrides = serde_json::json!({
            "training.learning_rate": 0.003, "network.hidden": [128, 32], "network.batch_norm": true
        });
        let text = render(study, &overrides).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert!(table.get("study").is_none() && table.get("search").is_none());
        assert_eq!(table["training"]["learning_rate"].as_float(), Some(0.003));
        assert_eq!(table["training"]["epochs"].as_integer(), Some(5));
        assert_eq!(table["network"]["hidden"].as_array().unwrap().len(), 2);
        assert_eq!(table["network"]["batch_norm"].as_bool(), Some(true));
    }
}
