//! Rendering results: tables for people (comfy-table), CSV for spreadsheets, JSON for
//! scripts, and the compact forms of numbers and parameters the tables use.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets::UTF8_BORDERS_ONLY};
use hypersearch_proto::visible::{visible, visible_keeping_lines};
use serde::Serialize;

/// Writes one line to stdout. A closed stdout (piped into `head`) ends the output quietly
/// instead of failing the command. Control characters other than line feeds are shown as
/// escapes: text from workers (errors, metric and worker names) never acts on the
/// terminal, whichever way it reached the line.
pub fn line(text: std::fmt::Arguments<'_>) {
    let text = text.to_string();
    let _ = writeln!(std::io::stdout().lock(), "{}", visible_keeping_lines(&text));
}

/// Text a worker sent (an error, a metric or worker name) as a table cell or in a line: on
/// one line, its control characters shown as escapes.
pub fn remote(text: &str) -> String {
    visible(text).into_owned()
}

/// `println!` for command output: see [`line`](fn@line).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::commands::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

fn quiet_broken_pipe(result: std::io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// `result`, with a closed pipe (`| head`) counted as success, whatever the error's type.
pub fn quiet_broken_pipe_any(result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot write JSON")?;
    quiet_broken_pipe(writeln!(std::io::stdout().lock(), "{text}"))
}

/// A table with `header`, in the house style.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    // On a terminal, long cells wrap to fit its width; piped output keeps one line per row.
    table
        .load_style(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    table
}

/// Widest a column of words is kept so that it wraps between words, not inside them.
const MAX_WORD_COLUMN: u16 = 28;

/// Fits `table` (whose header is `header`) to the terminal it prints on: while its content is
/// wider than the terminal, hides the columns named in `expendable`, in that order; the
/// columns named in `words` stay as wide as their longest word (up to [`MAX_WORD_COLUMN`])
/// so that they wrap between words. Printed to a pipe, the table is left as it is. Returns
/// a line to print under the table naming the hidden columns, if any were hidden.
#[must_use]
pub fn fit(
    table: &mut Table,
    header: &[&str],
    expendable: &[&str],
    words: &[&str],
) -> Option<String> {
    let width = table.width()?;
    let index = |name: &str| header.iter().position(|h| *h == name);
    let content = table.column_max_content_widths();
    let mut hidden = vec![false; content.len()];
    // One space of padding each side of a cell, a (blank) separator between cells, and the
    // two outer borders.
    let needed = |hidden: &[bool]| -> usize {
        1 + content
            .iter()
            .zip(hidden)
            .filter(|(_, h)| !**h)
            .map(|(w, _)| usize::from(*w) + 3)
            .sum::<usize>()
    };
    let mut dropped = Vec::new();
    for name in expendable {
        if needed(&hidden) <= usize::from(width) {
            break;
        }
        if let Some(i) = index(name).filter(|&i| i < hidden.len()) {
            hidden[i] = true;
            dropped.push(*name);
            if let Some(column) = table.column_mut(i) {
                column.set_constraint(ColumnConstraint::Hidden);
            }
        }
    }
    for name in words {
        let Some(i) = index(name) else { continue };
        let longest = table
            .row_iter()
            .filter_map(|row| row.cell_iter().nth(i))
            .flat_map(|cell| {
                cell.content()
                    .split_whitespace()
                    .map(|w| w.chars().count())
                    .collect::<Vec<_>>()
            })
            .max()
            .unwrap_or(0);
        // comfy-table's widths count the cell's padding, one space each side.
        let lower = u16::try_from(longest)
            .unwrap_or(u16::MAX)
            .min(MAX_WORD_COLUMN)
            .saturating_add(2);
        if let Some(column) = table.column_mut(i) {
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(lower)));
        }
    }
    (!dropped.is_empty()).then(|| {
        format!(
            "(hidden to fit {width} columns: {}; --format json has all)",
            dropped.join(", ")
        )
    })
}

/// One CSV record, quoting fields that need it (RFC 4180).
pub fn csv_record(fields: &[String]) -> String {
    fields
        .iter()
        .map(|field| {
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Prints CSV records on stdout (buffered: a million rows are a few writes, not a million).
pub fn print_csv(header: &[String], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    quiet_broken_pipe((|| {
        writeln!(out, "{}", csv_record(header))?;
        for row in rows {
            writeln!(out, "{}", csv_record(row))?;
        }
        out.flush()
    })())
}

/// A number for a table: four significant figures, scientific when very small or large.
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 || (1e-3..1e5).contains(&magnitude) {
        let digits = if magnitude >= 1.0 {
            (4 - (magnitude.log10().floor() as i32 + 1)).max(0)
        } else {
            4
        };
        format!("{value:.prec$}", prec = digits as usize)
    } else {
        format!("{value:.3e}")
    }
}

/// An optional number for a table (`-` when absent).
pub fn maybe_number(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), number)
}

/// A JSON value for a table cell: numbers compact, strings bare.
pub fn json_cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            n.as_f64().map_or_else(|| n.to_string(), number)
        }
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(json_cell).collect::<Vec<_>>().join(", ")
            )
        }
        other => other.to_string(),
    }
}

/// A JSON value for a CSV field: exact numbers, bare strings, JSON for the rest.
pub fn json_field(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A trained network's cost from its final metrics, compactly (`109386 params, 2.18e5 flops,
/// 0.0412 ms`); `None` when the trial reported none (not a training, or not finished).
pub fn cost(metrics: Option<&serde_json::Value>) -> Option<String> {
    let metric = |name: &str| metrics?.get(name)?.as_f64();
    let parameters = metric("parameters")?;
    let mut parts = vec![format!("{parameters:.0} params")];
    if let Some(flops) = metric("flops") {
        parts.push(format!("{} flops", number(flops)));
    }
    if let Some(ms) = metric("inference_ms") {
        parts.push(format!("{} ms", number(ms)));
    }
    Some(parts.join(", "))
}

/// The architecture part of a trial's parameters (`arch.*`), compactly:
/// `layers=3 units=[128, 64, 32] activation=relu`.
pub fn architecture(params: &serde_json::Value) -> String {
    let Some(params) = params.as_object() else {
        return String::new();
    };
    let mut per_layer: BTreeMap<&str, BTreeMap<u32, &serde_json::Value>> = BTreeMap::new();
    let mut parts = Vec::new();
    for (name, value) in params {
        let Some(rest) = name.strip_prefix("arch.") else {
            continue;
        };
        match rest
            .rsplit_once('_')
            .and_then(|(kind, k)| Some((kind, k.parse::<u32>().ok()?)))
        {
            Some((kind, layer)) => {
                per_layer.entry(kind).or_default().insert(layer, value);
            }
            None => parts.push(format!("{rest}={}", json_cell(value))),
        }
    }
    for (kind, layers) in per_layer {
        let values: Vec<String> = layers.values().map(|v| json_cell(v)).collect();
        parts.push(format!("{kind}=[{}]", values.join(", ")));
    }
    parts.join(" ")
}

/// The other parameters, compactly (`learning_rate=0.003 batch_size=64`); the `training.`
/// prefix is left out.
pub fn hyperparameters(params: &serde_json::Value) -> String {
    let Some(params) = params.as_object() else {
        return String::new();
    };
    params
        .iter()
        .filter(|(name, _)| !name.starts_with("arch."))
        .map(|(name, value)| {
            let short = name.strip_prefix("training.").unwrap_or(name);
            format!("{short}={}", json_cell(value))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_four_significant_figures() {
        assert_eq!(number(0.97234), "0.9723");
        assert_eq!(number(12.3456), "12.35");
        assert_eq!(number(0.0), "0.0000");
        assert_eq!(number(1.5e-6), "1.500e-6");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let record = csv_record(&["a".into(), "b,c".into(), "say \"hi\"".into()]);
        assert_eq!(record, "a,\"b,c\",\"say \"\"hi\"\"\"");
    }

    #[test]
    fn parameters_split_into_architecture_and_hyperparameters() {
        let params = serde_json::json!({
            "arch.layers": 2, "arch.units_1": 128, "arch.units_2": 64, "arch.activation": "elu",
            "training.learning_rate": 0.0031, "training.batch_size": 64
        });
        assert_eq!(
            architecture(&params),
            "activation=elu layers=2 units=[128, 64]"
        );
        assert_eq!(
            hyperparameters(&params),
            "batch_size=64 learning_rate=0.0031"
        );
    }
}
