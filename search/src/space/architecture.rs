//! Architecture parameters (`[search.architecture]`): their names in [`Params`] and how a
//! point becomes `network.*` overrides.
//!
//! Names: `arch.layers`; per layer `k` (1-based) `arch.units_k` and `arch.dropout_k`, which
//! exist only while `arch.layers ≥ k`; network-wide `arch.activation`, `arch.batch_norm`,
//! `arch.residual`.

use crate::params::{ParamValue, Params};

/// Name of the number-of-hidden-layers parameter.
pub const LAYERS: &str = "arch.layers";
/// Prefix of every architecture parameter name.
pub const PREFIX: &str = "arch.";
/// Per-layer parameter kinds, as written in `[search.architecture]`.
pub const PER_LAYER: [&str; 2] = ["units", "dropout"];
/// Network-wide parameter kinds, as written in `[search.architecture]`.
pub const NETWORK_WIDE: [&str; 3] = ["activation", "batch_norm", "residual"];

/// The name of per-layer parameter `kind` (`units`, `dropout`) for hidden layer `layer` (1-based).
pub fn per_layer_name(kind: &str, layer: usize) -> String {
    format!("{PREFIX}{kind}_{layer}")
}

/// The name of network-wide parameter `kind` (`activation`, …).
pub fn network_wide_name(kind: &str) -> String {
    format!("{PREFIX}{kind}")
}

/// The training key that a network-wide or per-layer kind overrides.
pub fn training_key(kind: &str) -> &'static str {
    match kind {
        "units" => "network.hidden",
        "dropout" => "network.dropout",
        "activation" => "network.activation",
        "batch_norm" => "network.batch_norm",
        "residual" => "network.residual",
        _ => "",
    }
}

/// Splits `arch.units_3` into (`units`, 3).
fn parse_per_layer(name: &str) -> Option<(&str, usize)> {
    let rest = name.strip_prefix(PREFIX)?;
    let (kind, index) = rest.rsplit_once('_')?;
    if !PER_LAYER.contains(&kind) {
        return None;
    }
    Some((kind, index.parse().ok()?))
}

/// Overrides for the nn-core objective: non-architecture params keep their dotted names;
/// per-layer params become lists (`network.hidden = [units_1, …]`), network-wide ones
/// `network.<kind>`.
pub fn training_overrides(params: &Params) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let layers = params
        .get(LAYERS)
        .and_then(ParamValue::as_i64)
        .map_or(0, |l| l.max(0) as usize);
    let mut lists: Vec<(&str, Vec<serde_json::Value>)> = Vec::new();
    if params.contains_key(LAYERS) {
        // Even with zero hidden layers the depth must reach the training config.
        lists.push(("units", vec![serde_json::Value::Null; layers]));
    }
    for (name, value) in params {
        if name == LAYERS {
            continue;
        }
        if let Some((kind, layer)) = parse_per_layer(name) {
            if layer == 0 || layer > layers {
                continue;
            }
            let slot = match lists.iter().position(|(k, _)| *k == kind) {
                Some(i) => i,
                None => {
                    lists.push((kind, vec![serde_json::Value::Null; layers]));
                    lists.len() - 1
                }
            };
            lists[slot].1[layer - 1] = value.to_json();
        } else if let Some(kind) = name.strip_prefix(PREFIX) {
            out.insert(training_key(kind).to_string(), value.to_json());
        } else {
            out.insert(name.clone(), value.to_json());
        }
    }
    for (kind, list) in lists {
        out.insert(
            training_key(kind).to_string(),
            serde_json::Value::Array(list),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_layers_still_override_hidden() {
        let mut p = Params::new();
        p.insert(LAYERS.into(), ParamValue::Int(0));
        let o = serde_json::Value::Object(training_overrides(&p));
        assert_eq!(o, serde_json::json!({ "network.hidden": [] }));
    }

    #[test]
    fn architecture_becomes_network_lists() {
        let mut p = Params::new();
        p.insert(LAYERS.into(), ParamValue::Int(2));
        p.insert("arch.units_1".into(), ParamValue::Int(128));
        p.insert("arch.units_2".into(), ParamValue::Int(64));
        p.insert("arch.dropout_1".into(), ParamValue::Float(0.2));
        p.insert("arch.dropout_2".into(), ParamValue::Float(0.1));
        p.insert("arch.activation".into(), ParamValue::Str("elu".into()));
        p.insert("arch.batch_norm".into(), ParamValue::Bool(true));
        p.insert("training.learning_rate".into(), ParamValue::Float(0.003));
        let o = serde_json::Value::Object(training_overrides(&p));
        assert_eq!(
            o,
            serde_json::json!({
                "training.learning_rate": 0.003,
                "network.hidden": [128, 64],
                "network.dropout": [0.2, 0.1],
                "network.activation": "elu",
                "network.batch_norm": true,
            })
        );
    }
}
