//! The study side's list of searchable training keys (`hypersearch_search::config::
//! training_keys`) and nn-core's own list describe the same keys: the same names, matching
//! kinds, and every bound a study may search is a value nn-core accepts, so no trial is
//! sampled that its training then refuses.

use hypersearch_search::config::training_keys::{TRAINING_KEYS, TrainingKeyKind};
use nn_core::config::KeyKind;

const BASE: &str = "[data]\nsource = \"digits\"\n[network]\nhidden = [8]\n";

/// Whether nn-core accepts `value` for `key` as an override of a small valid config.
fn accepts(key: &str, value: serde_json::Value) -> Result<(), String> {
    let mut overrides = serde_json::Map::new();
    overrides.insert(key.to_string(), value);
    nn_core::TrainConfig::from_toml_with_overrides(BASE, "probe.toml", &overrides)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn the_study_and_the_training_core_agree_on_the_training_keys() {
    let study: Vec<&str> = TRAINING_KEYS.iter().map(|k| k.key).collect();
    let core: Vec<&str> = nn_core::config::TRAINING_KEYS
        .iter()
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(study, core, "the two lists of training keys differ");

    for entry in TRAINING_KEYS {
        let core_kind = nn_core::config::key_kind(entry.key).expect("listed above");
        let matching = match (entry.kind, core_kind) {
            (TrainingKeyKind::Float { .. }, KeyKind::Float | KeyKind::FloatOrFloatList)
            | (TrainingKeyKind::Int { .. }, KeyKind::Int)
            | (TrainingKeyKind::Bool, KeyKind::Bool)
            | (TrainingKeyKind::Architecture, KeyKind::IntList)
            | (TrainingKeyKind::Table, KeyKind::Schedule) => true,
            (TrainingKeyKind::Choice(a), KeyKind::Choice(b)) => a == b,
            _ => false,
        };
        assert!(
            matching,
            "{}: {:?} against nn-core's {core_kind:?}",
            entry.key, entry.kind
        );
        let bounds: Vec<serde_json::Value> = match entry.kind {
            TrainingKeyKind::Float {
                min,
                max,
                max_exclusive,
            } => {
                let top = if max_exclusive {
                    max - max * f64::EPSILON
                } else {
                    max
                };
                vec![min.into(), top.into()]
            }
            TrainingKeyKind::Int { min, max } => vec![min.into(), max.into()],
            TrainingKeyKind::Bool => vec![true.into(), false.into()],
            TrainingKeyKind::Choice(names) => names.iter().map(|&n| n.into()).collect(),
            TrainingKeyKind::Architecture | TrainingKeyKind::Table => Vec::new(),
        };
        for value in bounds {
            if let Err(e) = accepts(entry.key, value.clone()) {
                panic!(
                    "a study may search {} = {value}, which nn-core refuses: {e}",
                    entry.key
                );
            }
        }
    }
}
