//! CSV samples: a Kaggle-style file (optionally gzipped) whose header names a `label` column,
//! every other column a feature; or the built-in digits text, label in the last column and no
//! header. Every cell must be a number; labels are whole numbers ≥ 0.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::Samples;
use crate::error::Error;

/// Where the label is.
pub(super) enum Label {
    /// In the column the header names `label`.
    HeaderNamed,
    /// In the last column; the file has no header.
    LastColumn,
}

/// Loads a CSV file with a header row holding a `label` column.
pub(super) fn load_file(path: &Path) -> Result<Samples, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut text)
            .map_err(io)?;
        bytes = text;
    }
    parse(&bytes[..], path, Label::HeaderNamed)
}

/// Parses CSV text; `path` names it in errors.
pub(super) fn parse(text: impl Read, path: &Path, label: Label) -> Result<Samples, Error> {
    let bad = |problem: String| Error::Data {
        path: path.to_path_buf(),
        problem,
    };
    let mut lines = BufReader::new(text).lines().enumerate();
    let mut header: Option<Vec<String>> = None;
    let mut label_col = None;
    if let Label::HeaderNamed = label {
        let Some((_, first)) = lines.next() else {
            return Err(bad(
                "the file is empty; expected a header row with a `label` column".into(),
            ));
        };
        let first = first.map_err(|e| bad(format!("line 1: {e}")))?;
        let names: Vec<String> = first
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect();
        label_col = names.iter().position(|c| c == "label");
        if label_col.is_none() {
            let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
            return Err(bad(format!(
                "no `label` column in the header (it starts: {}{})",
                shown.join(","),
                if names.len() > 5 { ",…" } else { "" }
            )));
        }
        header = Some(names);
    }
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut width = header.as_ref().map(Vec::len);
    for (i, line) in lines {
        let line_no = i + 1;
        let line = line.map_err(|e| bad(format!("line {line_no}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let cells = line.split(',').count();
        match width {
            None => width = Some(cells),
            Some(w) if w != cells => {
                return Err(bad(format!(
                    "line {line_no} has {cells} cells, expected {w} like {}",
                    if header.is_some() {
                        "the header"
                    } else {
                        "line 1"
                    }
                )));
            }
            Some(_) => {}
        }
        let label_at = label_col.unwrap_or(cells - 1);
        for (col, cell) in line.split(',').enumerate() {
            let cell = cell.trim();
            let column = || match &header {
                Some(names) => format!("column {} (`{}`)", col + 1, names[col]),
                None => format!("column {}", col + 1),
            };
            if col == label_at {
                let value: u32 = cell.parse().map_err(|_| {
                    bad(format!(
                        "line {line_no}, {}: label {cell:?} is not a whole number ≥ 0",
                        column()
                    ))
                })?;
                y.push(value);
            } else {
                let value: f32 = cell
                    .parse()
                    .ok()
                    .filter(|v: &f32| v.is_finite())
                    .ok_or_else(|| {
                        bad(format!(
                            "line {line_no}, {}: {cell:?} is not a number",
                            column()
                        ))
                    })?;
                x.push(value);
            }
        }
    }
    let features = width.unwrap_or(0).saturating_sub(1);
    if y.is_empty() || features == 0 {
        return Err(bad(
            "no samples: expected rows of features and a label".into()
        ));
    }
    Samples::from_flat(x, y, features, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Samples, Error> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("train.csv");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        load_file(&path)
    }

    fn message(r: Result<Samples, Error>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn reads_kaggle_layout_with_label_anywhere() {
        let s = load_text("pixel0,label,pixel1\n1,3,2\n4,0,5\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                s.x.ncols(),
                s.x.iter().copied().collect::<Vec<_>>(),
                s.y.clone()
            ),
            (2, vec![1.0, 2.0, 4.0, 5.0], vec![3, 0])
        );
    }

    #[test]
    fn bad_csv_errors_name_file_line_and_column() {
        let msg = message(load_text("a,b\n1,2\n"));
        assert!(msg.contains("train.csv: no `label` column"), "{msg}");
        let msg = message(load_text("label,p0,p1\n1,2,3\n0,x,3\n"));
        assert!(
            msg.contains("line 3, column 2 (`p0`): \"x\" is not a number"),
            "{msg}"
        );
        let msg = message(load_text("label,p0\n1.5,2\n"));
        assert!(
            msg.contains("line 2, column 1 (`label`): label \"1.5\" is not a whole number"),
            "{msg}"
        );
        let msg = message(load_text("label,p0\n1,2,3\n"));
        assert!(msg.contains("line 2 has 3 cells, expected 2"), "{msg}");
        assert!(message(load_text("")).contains("empty"));
        assert!(message(load_text("label,p0\n")).contains("no samples"));
    }

    #[test]
    fn missing_file_names_the_path() {
        let msg = message(load_file(Path::new("/nonexistent/train.csv")));
        assert!(msg.starts_with("/nonexistent/train.csv:"), "{msg}");
    }
}
