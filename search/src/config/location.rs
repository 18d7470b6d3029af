//! Turning byte offsets in the study file into lines and key paths for error messages, and
//! a map type that keeps the file's key order.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use crate::error::{ConfigError, ConfigErrorKind};

/// The study file's text and name, to locate errors.
pub(super) struct Locator<'a> {
    pub origin: &'a str,
    pub text: &'a str,
}

impl Locator<'_> {
    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// An error about `key` at the value or key spanning `span`.
    pub fn at(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        kind: ConfigErrorKind,
    ) -> ConfigError {
        ConfigError {
            origin: self.origin.to_string(),
            line: self.line(span.start),
            key: key.into(),
            kind: Box::new(kind),
        }
    }

    /// An error about `key` with no single place (e.g. a missing table).
    pub fn nowhere(&self, key: impl Into<String>, kind: ConfigErrorKind) -> ConfigError {
        ConfigError {
            origin: self.origin.to_string(),
            line: 0,
            key: key.into(),
            kind: Box::new(kind),
        }
    }

    /// A TOML parse or type error, located by its span.
    pub fn toml_error(&self, error: &toml::de::Error) -> ConfigError {
        let (line, key) = match error.span() {
            Some(span) => (self.line(span.start), self.key_around(span.start)),
            None => (0, String::new()),
        };
        ConfigError {
            origin: self.origin.to_string(),
            line,
            key,
            kind: Box::new(ConfigErrorKind::Syntax(error.message().trim().to_string())),
        }
    }

    /// Best-effort dotted key for an offset: the enclosing `[table]` header plus the key
    /// written at the start of the offset's line.
    fn key_around(&self, offset: usize) -> String {
        let end = offset.min(self.text.len());
        let before = &self.text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line = self.text[line_start..line_end].trim();
        let table = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(header_name)
            .unwrap_or_default();
        if line.starts_with('[') {
            return header_name(line);
        }
        let key = line.split('=').next().map(str::trim).unwrap_or_default();
        match (table.is_empty(), key.is_empty()) {
            (true, _) => key.to_string(),
            (false, true) => table,
            (false, false) => format!("{table}.{key}"),
        }
    }
}

fn header_name(line: &str) -> String {
    line.trim_start_matches('[')
        .split(']')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A TOML table read in file order, keys with their spans.
#[derive(Debug)]
pub(super) struct OrderedMap<V>(pub Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// Quotes a key for a dotted path when it holds dots (`search.space."training.l2"`).
pub(super) fn quoted(key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_and_keys() {
        let text =
            "[study]\nname = \"x\"\n\n[search.space]\n\"training.l2\" = { float = [1, 2] }\n";
        let loc = Locator {
            origin: "s.toml",
            text,
        };
        let offset = text.find("float").unwrap();
        assert_eq!(loc.line(offset), 5);
        assert_eq!(loc.key_around(offset), "search.space.\"training.l2\"");
        assert_eq!(loc.key_around(text.find("name").unwrap()), "study.name");
    }
}
