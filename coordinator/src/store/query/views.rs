//! A study's trials for the views (`plot`, `importance`, `replay`, the dashboard): every
//! trial with its parameters, times and the study metric's learning curve, in two passes
//! (trials, then the metric's epochs), as [`StudyTrials`].

use std::collections::HashMap;

use hypersearch_insight::timeline::{AttemptEnd, AttemptSpan};
use hypersearch_insight::{Outcome, StudyTrials, TrialRow};
use hypersearch_search::Params;
use sqlx::AnyConnection;
use tokio_stream::StreamExt;

use super::{StudyRef, TrialOrder, TrialSummary};
use crate::Error;
use crate::store::cells::{Cells, Place, Source};
use crate::store::{Location, db_err};

/// The study metric of each trial's latest attempt, by epoch.
const CURVES: &str = "SELECT t.number, m.epoch, m.value FROM trials t \
     JOIN epoch_metrics m ON m.trial_id = t.id \
     AND m.attempt >= COALESCE(t.curve_from, t.attempts) \
     WHERE t.study_id = $1 AND m.name = $2 ORDER BY t.number, m.epoch";

/// Every trial of `study` with its curve of the study metric.
pub async fn study_trials(
    conn: &mut AnyConnection,
    location: &Location,
    study: &StudyRef,
) -> Result<StudyTrials, Error> {
    let mut rows = Vec::new();
    let mut add = |trial: TrialSummary| -> Result<(), Error> {
        rows.push(row(trial, &study.name)?);
        Ok(())
    };
    match location {
        Location::Sqlite(path) => {
            super::sql::for_each_trial_sqlite(path, study, None, TrialOrder::Number, &mut add)?;
        }
        Location::Postgres(_) => {
            super::sql::for_each_trial(conn, study, None, TrialOrder::Number, &mut add).await?;
        }
    }
    let index: HashMap<u64, usize> = rows
        .iter()
        .enumerate()
        .map(|(at, row)| (row.number, at))
        .collect();
    let mut point = |source: &dyn Fn() -> Result<(u64, u32, f64), Error>| -> Result<(), Error> {
        let (number, epoch, value) = source()?;
        if let Some(&at) = index.get(&number) {
            rows[at].curve.push((epoch, value));
        }
        Ok(())
    };
    match location {
        Location::Sqlite(path) => {
            let conn = super::sql::open_sqlite(path, "load learning curves")?;
            let failed = super::sql::sqlite_err("load learning curves");
            let mut statement = conn.prepare(CURVES).map_err(&failed)?;
            let mut found = statement
                .query(rusqlite::params![study.id, study.metric])
                .map_err(&failed)?;
            while let Some(row) = found.next().map_err(&failed)? {
                point(&|| curve_point(row, &study.name))?;
            }
        }
        Location::Postgres(_) => {
            let mut found = sqlx::query(CURVES)
                .bind(study.id)
                .bind(&study.metric)
                .fetch(&mut *conn);
            while let Some(row) = found.next().await {
                let row = row.map_err(db_err("load learning curves"))?;
                point(&|| curve_point(&row, &study.name))?;
            }
        }
    }
    Ok(StudyTrials {
        study: study.name.clone(),
        metric: study.metric.clone(),
        maximize: study.maximize,
        rows,
    })
}

/// The config text the study was created with.
pub async fn study_config(conn: &mut AnyConnection, study: &StudyRef) -> Result<String, Error> {
    let row = sqlx::query("SELECT config FROM studies WHERE id = $1")
        .bind(study.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("read the study's config"))?;
    Cells::new(&row, "studies", Place::Study(&study.name)).get("config")
}

/// Every attempt of the study's trials, with its worker.
const ATTEMPTS: &str = "SELECT t.number, a.attempt, w.name AS worker, a.state, a.started_at, \
     a.finished_at FROM attempts a JOIN trials t ON t.id = a.trial_id \
     LEFT JOIN workers w ON w.id = a.worker_id WHERE t.study_id = $1 ORDER BY t.number, a.attempt";

/// Every attempt of `study`'s trials: what the worker timeline draws.
pub async fn attempt_spans(
    conn: &mut AnyConnection,
    location: &Location,
    study: &StudyRef,
) -> Result<Vec<AttemptSpan>, Error> {
    let mut spans = Vec::new();
    match location {
        Location::Sqlite(path) => {
            let conn = super::sql::open_sqlite(path, "load attempts")?;
            let failed = super::sql::sqlite_err("load attempts");
            let mut statement = conn.prepare(ATTEMPTS).map_err(&failed)?;
            let mut found = statement
                .query(rusqlite::params![study.id])
                .map_err(&failed)?;
            while let Some(row) = found.next().map_err(&failed)? {
                spans.push(attempt_span(row, &study.name)?);
            }
        }
        Location::Postgres(_) => {
            let mut found = sqlx::query(ATTEMPTS).bind(study.id).fetch(&mut *conn);
            while let Some(row) = found.next().await {
                let row = row.map_err(db_err("load attempts"))?;
                spans.push(attempt_span(&row, &study.name)?);
            }
        }
    }
    Ok(spans)
}

/// One row of [`ATTEMPTS`].
fn attempt_span<R: Source>(row: &R, study: &str) -> Result<AttemptSpan, Error> {
    let number = Cells::new(row, "trials", Place::Study(study)).unsigned("number")?;
    let attempt = Cells::new(row, "attempts", Place::Trial(study, number)).count("attempt")?;
    let cells = Cells::new(row, "attempts", Place::Attempt(study, number, attempt));
    let state: String = cells.get("state")?;
    let end = AttemptEnd::from_name(&state)
        .ok_or_else(|| cells.corrupt("state", format_args!("unknown state `{state}`")))?;
    let time = |column: &str, text: String| {
        timestamp(&text)
            .ok_or_else(|| cells.corrupt(column, format_args!("not a timestamp: `{text}`")))
    };
    Ok(AttemptSpan {
        number,
        attempt,
        worker: cells
            .get_as::<Option<String>>("worker", "workers.name")?
            .unwrap_or_else(|| "(unknown)".to_string()),
        end,
        started: time("started_at", cells.get("started_at")?)?,
        finished: cells
            .get::<Option<String>>("finished_at")?
            .map(|text| time("finished_at", text))
            .transpose()?,
    })
}

/// A stored timestamp in seconds since the Unix epoch.
pub(super) fn timestamp(text: &str) -> Option<f64> {
    humantime::parse_rfc3339(text)
        .ok()
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|since| since.as_secs_f64())
}

/// One row of [`CURVES`]: trial number, epoch, value.
fn curve_point<R: Source>(row: &R, study: &str) -> Result<(u64, u32, f64), Error> {
    let number = Cells::new(row, "trials", Place::Study(study)).unsigned("number")?;
    let cells = Cells::new(row, "epoch_metrics", Place::Trial(study, number));
    Ok((number, cells.count("epoch")?, cells.get("value")?))
}

/// A listed trial as a view's row.
fn row(trial: TrialSummary, study: &str) -> Result<TrialRow, Error> {
    let place = Place::Trial(study, trial.trial);
    let corrupt = |column: &str, problem: String| Error::Corrupt {
        what: format!("{place}, column trials.{column}"),
        value: problem,
    };
    let outcome = Outcome::from_name(&trial.state)
        .ok_or_else(|| corrupt("state", format!("unknown state `{}`", trial.state)))?;
    let params: Params = serde_json::from_value(trial.params)
        .map_err(|err| corrupt("params", format!("not a parameter object: {err}")))?;
    let time = |column: &str, text: Option<String>| -> Result<Option<f64>, Error> {
        text.map(|text| {
            timestamp(&text).ok_or_else(|| corrupt(column, format!("not a timestamp: `{text}`")))
        })
        .transpose()
    };
    Ok(TrialRow {
        number: trial.trial,
        outcome,
        value: trial.value,
        params,
        worker: trial.worker,
        attempts: trial.attempts,
        started: time("started_at", trial.started_at)?,
        finished: time("finished_at", trial.finished_at)?,
        curve: Vec::new(),
    })
}
