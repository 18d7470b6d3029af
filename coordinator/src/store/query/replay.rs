//! What `hypersearch replay` reads besides the study's trials: every attempt with its event
//! numbers and times, its reports of the study metric (and `seconds`, and every objective in
//! a study with several), and the study's
//! config text (its early-stopping rule).

use std::collections::BTreeMap;

use hypersearch_insight::replay::{AttemptLog, Report};
use sqlx::AnyConnection;

use super::StudyRef;
use crate::Error;
use crate::store::cells::{Cells, Place};
use crate::store::db_err;

/// The metric whose values are an epoch's wall-clock seconds.
const SECONDS: &str = "seconds";

/// Every attempt of `study`, by trial number and attempt, with its reports of the study
/// metric and, for a study with several objectives, of each of the `objectives` metrics.
pub async fn attempt_logs(
    conn: &mut AnyConnection,
    study: &StudyRef,
    objectives: &[String],
) -> Result<Vec<AttemptLog>, Error> {
    let rows = sqlx::query(
        "SELECT t.number, a.attempt, a.started_at, a.finished_at, a.started_seq, \
         a.finished_seq FROM attempts a JOIN trials t ON t.id = a.trial_id \
         WHERE t.study_id = $1 ORDER BY t.number, a.attempt",
    )
    .bind(study.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load attempts"))?;
    let mut logs: BTreeMap<(u64, u32), AttemptLog> = BTreeMap::new();
    for row in &rows {
        let number = Cells::new(row, "trials", Place::Study(&study.name)).unsigned("number")?;
        let cells = Cells::new(row, "attempts", Place::Trial(&study.name, number));
        let attempt = cells.count("attempt")?;
        let cells = cells.at(Place::Attempt(&study.name, number, attempt));
        let started: String = cells.get("started_at")?;
        let finished: Option<String> = cells.get("finished_at")?;
        logs.insert(
            (number, attempt),
            AttemptLog {
                trial: number,
                attempt,
                started_seq: cells.get("started_seq")?,
                finished_seq: cells.get("finished_seq")?,
                started: Some(seconds(&cells, "started_at", &started)?),
                finished: finished
                    .map(|text| seconds(&cells, "finished_at", &text))
                    .transpose()?,
                reports: Vec::new(),
            },
        );
    }
    // The study metric, `seconds`, then the objectives: $2, $3, $4 …
    let names: Vec<&str> = [study.metric.as_str(), SECONDS]
        .into_iter()
        .chain(objectives.iter().map(String::as_str))
        .collect();
    let placeholders: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 2)).collect();
    let text = format!(
        "SELECT t.number, m.attempt, m.epoch, m.name, m.value, m.seq FROM epoch_metrics m \
         JOIN trials t ON t.id = m.trial_id WHERE t.study_id = $1 AND m.name IN ({}) \
         ORDER BY t.number, m.attempt, m.epoch",
        placeholders.join(", ")
    );
    // Only placeholders are formatted in: the names are bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(text)).bind(study.id);
    for name in &names {
        query = query.bind(*name);
    }
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("load epoch metrics"))?;
    let mut epochs: BTreeMap<(u64, u32, u32), EpochRow> = BTreeMap::new();
    for row in &rows {
        let number = Cells::new(row, "trials", Place::Study(&study.name)).unsigned("number")?;
        let cells = Cells::new(row, "epoch_metrics", Place::Trial(&study.name, number));
        let key = (number, cells.count("attempt")?, cells.count("epoch")?);
        let name: String = cells.get("name")?;
        let value: f64 = cells.get("value")?;
        let entry = epochs.entry(key).or_insert_with(|| EpochRow {
            objectives: vec![None; objectives.len()],
            ..EpochRow::default()
        });
        if name == study.metric {
            entry.metric = Some(value);
            entry.seq = cells.get("seq")?;
        }
        if name == SECONDS {
            entry.seconds = Some(value);
        }
        for (slot, objective) in entry.objectives.iter_mut().zip(objectives) {
            if name == *objective {
                *slot = Some(value);
            }
        }
    }
    for ((number, attempt, epoch), row) in epochs {
        if let (Some(value), Some(log)) = (row.metric, logs.get_mut(&(number, attempt))) {
            log.reports.push(Report {
                epoch,
                value,
                seconds: row.seconds,
                seq: row.seq,
                objectives: row.objectives,
            });
        }
    }
    Ok(logs.into_values().collect())
}

/// What one attempt's epoch recorded of the study metric, of `seconds` and of each
/// objective.
#[derive(Default)]
struct EpochRow {
    metric: Option<f64>,
    seq: Option<i64>,
    seconds: Option<f64>,
    objectives: Vec<Option<f64>>,
}

/// A stored timestamp in seconds since the Unix epoch.
fn seconds<R: crate::store::cells::Source>(
    cells: &Cells<'_, R>,
    column: &str,
    text: &str,
) -> Result<f64, Error> {
    humantime::parse_rfc3339(text)
        .ok()
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|since| since.as_secs_f64())
        .ok_or_else(|| cells.corrupt(column, format_args!("not a timestamp: `{text}`")))
}
