//! The dotted keys a trial may override (`training.learning_rate`, `network.hidden`, …), the
//! kind of value each takes, and how an override is applied to the raw config.

use serde::de::DeserializeOwned;
use toml::Spanned;

use super::raw::{RawAugment, RawFile};
use crate::error::Error;

/// The kind of value a training key takes, as a JSON override must give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A number (`training.learning_rate`).
    Float,
    /// A whole number (`training.batch_size`).
    Int,
    /// `true` or `false` (`network.batch_norm`).
    Bool,
    /// One of a fixed set of names (`network.activation`).
    Choice(&'static [&'static str]),
    /// A list of whole numbers (`network.hidden`).
    IntList,
    /// One number or a list of numbers, one per layer (`network.dropout`).
    FloatOrFloatList,
    /// A learning-rate schedule: `"none"`, `{"exponential": 0.95}`, `{"step": [10, 0.5]}` or
    /// `{"cosine": true}`.
    Schedule,
}

/// The activations `network.activation` accepts.
pub const ACTIVATIONS: &[&str] = &[
    "relu",
    "leaky_relu",
    "elu",
    "sigmoid",
    "tanh",
    "swish",
    "gelu",
];
/// The initializations `network.init` accepts.
pub const INITS: &[&str] = &["he", "xavier", "small_random", "zeros"];
/// The optimizers `training.optimizer` accepts.
pub const OPTIMIZERS: &[&str] = &["sgd", "momentum", "adam", "adamw"];

/// Every key of `[network]` and `[training]`, and the augmentation keys of `[data]`, with
/// its kind: the keys an override may set. (The other `[data]` keys are not overridable: a
/// worker loads the data set once for many trials; augmentation does not change what is
/// loaded.)
pub const TRAINING_KEYS: &[(&str, KeyKind)] = &[
    ("data.augment.shift", KeyKind::Float),
    ("data.augment.rotate", KeyKind::Float),
    ("network.hidden", KeyKind::IntList),
    ("network.activation", KeyKind::Choice(ACTIVATIONS)),
    ("network.batch_norm", KeyKind::Bool),
    ("network.dropout", KeyKind::FloatOrFloatList),
    ("network.residual", KeyKind::Bool),
    ("network.init", KeyKind::Choice(INITS)),
    ("training.optimizer", KeyKind::Choice(OPTIMIZERS)),
    ("training.learning_rate", KeyKind::Float),
    ("training.momentum", KeyKind::Float),
    ("training.batch_size", KeyKind::Int),
    ("training.epochs", KeyKind::Int),
    ("training.l2", KeyKind::Float),
    ("training.lr_schedule", KeyKind::Schedule),
    ("training.clip_norm", KeyKind::Float),
    ("training.patience", KeyKind::Int),
    ("training.seed", KeyKind::Int),
    ("training.threads", KeyKind::Int),
];

/// Whether `key` is a dotted training key that an override may set.
pub fn is_training_key(key: &str) -> bool {
    key_kind(key).is_some()
}

/// The kind of value `key` takes, or `None` when it is not a training key.
pub fn key_kind(key: &str) -> Option<KeyKind> {
    TRAINING_KEYS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, kind)| *kind)
}

/// Sets one dotted key of the raw config from a JSON value. Values get an empty span: the
/// validator reports them as coming from an override rather than from a line of the file.
pub(crate) fn apply_override(
    raw: &mut RawFile,
    key: &str,
    value: &serde_json::Value,
    origin: &str,
) -> Result<(), Error> {
    let err = |problem: String| Error::Override {
        origin: origin.to_string(),
        key: key.to_string(),
        problem,
    };
    let Some(kind) = key_kind(key) else {
        let known: Vec<&str> = TRAINING_KEYS.iter().map(|(name, _)| *name).collect();
        return Err(err(format!(
            "not a training key; expected one of {}",
            known.join(", ")
        )));
    };
    let value = normalize_integers(kind, value);
    if let Some(field) = key.strip_prefix("data.augment.") {
        let Some(data) = raw.data.as_mut() else {
            return Err(err("the config has no [data] table to augment".to_string()));
        };
        let augment = data
            .get_mut()
            .augment
            .get_or_insert_with(|| Spanned::new(0..0, RawAugment::default()))
            .get_mut();
        let slot = if field == "shift" {
            &mut augment.shift
        } else {
            &mut augment.rotate
        };
        *slot = Some(parse(&value, kind, &err)?);
        return Ok(());
    }
    let n = &mut raw.network;
    let t = &mut raw.training;
    match key {
        "network.hidden" => n.hidden = Some(parse(&value, kind, &err)?),
        "network.activation" => n.activation = Some(parse(&value, kind, &err)?),
        "network.batch_norm" => n.batch_norm = Some(parse(&value, kind, &err)?),
        "network.dropout" => n.dropout = Some(parse(&value, kind, &err)?),
        "network.residual" => n.residual = Some(parse(&value, kind, &err)?),
        "network.init" => n.init = Some(parse(&value, kind, &err)?),
        "training.optimizer" => t.optimizer = Some(parse(&value, kind, &err)?),
        "training.learning_rate" => t.learning_rate = Some(parse(&value, kind, &err)?),
        "training.momentum" => t.momentum = Some(parse(&value, kind, &err)?),
        "training.batch_size" => t.batch_size = Some(parse(&value, kind, &err)?),
        "training.epochs" => t.epochs = Some(parse(&value, kind, &err)?),
        "training.l2" => t.l2 = Some(parse(&value, kind, &err)?),
        "training.lr_schedule" => t.lr_schedule = Some(parse(&value, kind, &err)?),
        "training.clip_norm" => t.clip_norm = Some(parse(&value, kind, &err)?),
        "training.patience" => t.patience = Some(parse(&value, kind, &err)?),
        "training.seed" => t.seed = Some(parse(&value, kind, &err)?),
        "training.threads" => t.threads = Some(parse(&value, kind, &err)?),
        _ => return Err(err("no setter for this key (a bug: report it)".to_string())),
    }
    Ok(())
}

/// Samplers may hand an integer parameter over as `128.0`: accept whole floats where an
/// integer is expected, so the override keeps its meaning.
fn normalize_integers(kind: KeyKind, value: &serde_json::Value) -> serde_json::Value {
    let whole = |v: &serde_json::Value| match v.as_f64() {
        Some(x) if v.is_f64() && x.fract() == 0.0 && x.abs() < 9.0e15 => {
            serde_json::Value::from(x as i64)
        }
        _ => v.clone(),
    };
    match (kind, value) {
        (KeyKind::Int, v) => whole(v),
        (KeyKind::IntList, serde_json::Value::Array(items)) => {
            serde_json::Value::Array(items.iter().map(whole).collect())
        }
        _ => value.clone(),
    }
}

fn parse<T: DeserializeOwned>(
    value: &serde_json::Value,
    kind: KeyKind,
    err: &impl Fn(String) -> Error,
) -> Result<Spanned<T>, Error> {
    serde_json::from_value::<T>(value.clone())
        .map(|parsed| Spanned::new(0..0, parsed))
        .map_err(|e| err(format!("{value} is not {}: {e}", describe(kind))))
}

/// How a key's kind reads in an error message.
pub(crate) fn describe(kind: KeyKind) -> String {
    match kind {
        KeyKind::Float => "a number".to_string(),
        KeyKind::Int => "a whole number".to_string(),
        KeyKind::Bool => "true or false".to_string(),
        KeyKind::Choice(names) => format!("one of {}", names.join(", ")),
        KeyKind::IntList => "a list of whole numbers".to_string(),
        KeyKind::FloatOrFloatList => "a number or a list of numbers".to_string(),
        KeyKind::Schedule => {
            "a schedule (\"none\", {\"exponential\": r}, {\"step\": [n, f]}, {\"cosine\": true})"
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_key_has_a_setter() {
        for (key, kind) in TRAINING_KEYS {
            let mut raw: RawFile =
                toml::from_str("[data]\nsource = \"digits\"\n").unwrap_or_else(|e| panic!("{e}"));
            let value = match kind {
                KeyKind::Float => serde_json::json!(0.5),
                KeyKind::Int => serde_json::json!(3),
                KeyKind::Bool => serde_json::json!(true),
                KeyKind::Choice(names) => serde_json::json!(names[0]),
                KeyKind::IntList => serde_json::json!([8, 4]),
                KeyKind::FloatOrFloatList => serde_json::json!([0.1, 0.2]),
                KeyKind::Schedule => serde_json::json!({"exponential": 0.9}),
            };
            apply_override(&mut raw, key, &value, "t").unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn unknown_key_and_wrong_type_name_the_key() {
        let mut raw: RawFile =
            toml::from_str("[data]\nsource = \"digits\"\n").unwrap_or_else(|e| panic!("{e}"));
        let e = apply_override(&mut raw, "training.lr", &serde_json::json!(0.1), "f.toml");
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("`training.lr`") && msg.contains("not a training key"),
            "{msg}"
        );
        let e = apply_override(
            &mut raw,
            "training.epochs",
            &serde_json::json!("ten"),
            "f.toml",
        );
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("`training.epochs`") && msg.contains("whole number"),
            "{msg}"
        );
    }

    #[test]
    fn whole_floats_are_accepted_for_integers() {
        let mut raw: RawFile =
            toml::from_str("[data]\nsource = \"digits\"\n").unwrap_or_else(|e| panic!("{e}"));
        apply_override(
            &mut raw,
            "training.batch_size",
            &serde_json::json!(64.0),
            "t",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            raw.training.batch_size.as_ref().map(|s| *s.get_ref()),
            Some(64)
        );
        let e = apply_override(
            &mut raw,
            "training.batch_size",
            &serde_json::json!(64.5),
            "t",
        );
        assert!(e.is_err());
    }
}
