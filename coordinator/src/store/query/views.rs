//! A study's trials for the views (`plot`, `importance`, `replay`, the dashboard): every
//! trial with its parameters, times and the study metric's learning curve, in two passes
//! (trials, then the metric's epochs), as [`StudyTrials`].

use std::collections::HashMap;

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
     JOIN epoch_metrics m ON m.trial_id = t.id AND m.attempt = t.attempts \
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
            humantime::parse_rfc3339(&text)
                .ok()
                .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|since| since.as_secs_f64())
                .ok_or_else(|| corrupt(column, format!("not a timestamp: `{text}`")))
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
