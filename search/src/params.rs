//! A trial's parameters: the sampled point, name → number / string / boolean.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One parameter value. Serializes to a plain JSON number, string or boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A boolean (categorical choice).
    Bool(bool),
    /// An integer (int parameter or integer choice).
    Int(i64),
    /// A float (float parameter or float choice).
    Float(f64),
    /// A string (categorical choice).
    Str(String),
}

impl ParamValue {
    /// The value as a float if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(v) => Some(*v as f64),
            ParamValue::Float(v) => Some(*v),
            ParamValue::Bool(_) | ParamValue::Str(_) => None,
        }
    }

    /// The value as an integer if it is an integer (or a float with an integral value).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ParamValue::Int(v) => Some(*v),
            ParamValue::Float(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Some(*v as i64),
            _ => None,
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Bool(b) => serde_json::Value::Bool(*b),
            ParamValue::Int(i) => serde_json::Value::from(*i),
            ParamValue::Float(f) => serde_json::Value::from(*f),
            ParamValue::Str(s) => serde_json::Value::String(s.clone()),
        }
    }

    /// Equality as choices: numbers compare by value (`2` equals `2.0`), the rest exactly.
    pub fn same_as(&self, other: &ParamValue) -> bool {
        match (self.as_f64(), other.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x:?}"),
            ParamValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::Float(v)
    }
}

impl From<i64> for ParamValue {
    fn from(v: i64) -> Self {
        ParamValue::Int(v)
    }
}

impl From<bool> for ParamValue {
    fn from(v: bool) -> Self {
        ParamValue::Bool(v)
    }
}

impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Str(v.to_string())
    }
}

/// A trial's parameters: name → value, serialized as a JSON object (names sorted).
///
/// Names are those of `[search.space]` plus the architecture parameters
/// (`arch.layers`, `arch.units_1`, …); inactive conditional parameters are absent.
pub type Params = BTreeMap<String, ParamValue>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_kinds() {
        let mut p = Params::new();
        p.insert("a".into(), ParamValue::Int(3));
        p.insert("b".into(), ParamValue::Float(3.0));
        p.insert("c".into(), ParamValue::Float(0.1));
        p.insert("d".into(), ParamValue::Bool(true));
        p.insert("e".into(), ParamValue::Str("relu".into()));
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(text, r#"{"a":3,"b":3.0,"c":0.1,"d":true,"e":"relu"}"#);
        let back: Params = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn floats_come_back_from_json_bit_for_bit() {
        // Without serde_json's exact float parsing, this one came back one unit in the last
        // place off: a resumed study's parameters and a replay's thresholds drifted.
        for value in [
            0.218_175_500_000_000_02,
            0.1 + 0.2,
            1.0 / 3.0,
            5e-324,
            1.7976931348623157e308,
        ] {
            let mut p = Params::new();
            p.insert("x".into(), ParamValue::Float(value));
            let back: Params = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
            assert_eq!(back.get("x"), Some(&ParamValue::Float(value)), "{value:?}");
        }
    }

    #[test]
    fn numbers_compare_by_value_as_choices() {
        assert!(ParamValue::Int(2).same_as(&ParamValue::Float(2.0)));
        assert!(!ParamValue::Int(2).same_as(&ParamValue::Str("2".into())));
    }
}
