//! The statements behind the queries: filters are bound parameters, sort orders come from
//! an allow-list of static statements.

use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use tokio_stream::StreamExt;

use super::{
    AttemptSummary, EarlyStop, EpochMetrics, StudyRef, StudySummary, TrialDetail, TrialOrder,
    TrialSummary,
};
use crate::Error;
use crate::store::{TrialState, db_err};

pub(super) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Every study with its counts, in creation order.
pub async fn studies(conn: &mut AnyConnection) -> Result<Vec<StudySummary>, Error> {
    let rows = sqlx::query(
        "SELECT s.id, s.name, s.metric, s.direction, s.algorithm, s.state, s.budget, s.created_at, \
         sum(CASE WHEN t.state = 'queued' THEN 1 ELSE 0 END) AS queued, \
         sum(CASE WHEN t.state = 'running' THEN 1 ELSE 0 END) AS running, \
         sum(CASE WHEN t.state = 'complete' THEN 1 ELSE 0 END) AS complete, \
         sum(CASE WHEN t.state = 'pruned' THEN 1 ELSE 0 END) AS pruned, \
         sum(CASE WHEN t.state = 'failed' THEN 1 ELSE 0 END) AS failed \
         FROM studies s LEFT JOIN trials t ON t.study_id = s.id GROUP BY s.id ORDER BY s.id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("list studies"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let study = StudyRef {
            id: row.get("id"),
            name: row.get("name"),
            metric: row.get("metric"),
            maximize: row.get::<String, _>("direction") == "maximize",
        };
        let best = best(conn, &study, 1).await?.into_iter().next();
        let n = |name: &str| unsigned(row.get::<Option<i64>, _>(name).unwrap_or(0));
        out.push(StudySummary {
            study: study.name.clone(),
            metric: study.metric.clone(),
            direction: row.get("direction"),
            algorithm: row.get("algorithm"),
            state: row.get("state"),
            budget: unsigned(row.get("budget")),
            queued: n("queued"),
            running: n("running"),
            complete: n("complete"),
            pruned: n("pruned"),
            failed: n("failed"),
            best_trial: best.as_ref().map(|t| t.trial),
            best_value: best.and_then(|t| t.value),
            created_at: row.get("created_at"),
        });
    }
    Ok(out)
}

/// The study named `name`, or the only study when `name` is `None`. `database` (the file, or
/// the URL without its password) is for messages.
pub async fn resolve_study(
    conn: &mut AnyConnection,
    name: Option<&str>,
    database: &str,
) -> Result<StudyRef, Error> {
    let rows = sqlx::query("SELECT id, name, metric, direction FROM studies ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("list studies"))?;
    let studies: Vec<StudyRef> = rows
        .iter()
        .map(|row| StudyRef {
            id: row.get("id"),
            name: row.get("name"),
            metric: row.get("metric"),
            maximize: row.get::<String, _>("direction") == "maximize",
        })
        .collect();
    let names = || studies.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    match name {
        Some(name) => studies
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| Error::UnknownStudy {
                name: name.to_string(),
                database: database.to_string(),
                available: names(),
            }),
        None if studies.len() == 1 => Ok(studies[0].clone()),
        None if studies.is_empty() => Err(Error::UnknownStudy {
            name: "(none given)".to_string(),
            database: database.to_string(),
            available: Vec::new(),
        }),
        None => Err(Error::StudyNeeded {
            database: database.to_string(),
            available: names(),
        }),
    }
}

fn trial_summary(row: &AnyRow) -> Result<TrialSummary, Error> {
    summary_from(TrialColumns {
        number: row.get("number"),
        state: row.get("state"),
        value: row.get("value"),
        params: row.get("params"),
        overrides: row.get("overrides"),
        attempts: row.get("attempts"),
        worker: row.get("worker"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        error: row.get("error"),
        metrics: row.get("metrics"),
    })
}

/// The columns of [`trial_query!`] as read from either driver.
struct TrialColumns {
    number: i64,
    state: String,
    value: Option<f64>,
    params: Option<String>,
    overrides: Option<String>,
    attempts: i64,
    worker: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    error: Option<String>,
    metrics: Option<String>,
}

fn summary_from(c: TrialColumns) -> Result<TrialSummary, Error> {
    let json = |column: &str, text: Option<String>| -> Result<Option<serde_json::Value>, Error> {
        text.map(|text| {
            serde_json::from_str(&text).map_err(|_| Error::Corrupt {
                what: format!("trials.{column}"),
                value: text.clone(),
            })
        })
        .transpose()
    };
    Ok(TrialSummary {
        trial: unsigned(c.number),
        state: c.state,
        value: c.value,
        params: json("params", c.params)?.unwrap_or(serde_json::Value::Null),
        overrides: json("overrides", c.overrides)?.unwrap_or(serde_json::Value::Null),
        attempts: u32::try_from(c.attempts).unwrap_or(0),
        worker: c.worker,
        started_at: c.started_at,
        finished_at: c.finished_at,
        error: c.error,
        metrics: json("metrics", c.metrics)?,
    })
}

/// [`for_each_trial`] on a SQLite file through SQLite's own API on this thread: no thread
/// hand-over per row (sqlx's SQLite driver makes two), a listing of a million trials streams
/// several times faster.
pub fn for_each_trial_sqlite<E: From<Error>>(
    path: &std::path::Path,
    study: &StudyRef,
    state: Option<TrialState>,
    order: TrialOrder,
    mut each: impl FnMut(TrialSummary) -> Result<(), E>,
) -> Result<(), E> {
    let failed = |err: rusqlite::Error| {
        E::from(Error::Database {
            context: "list trials",
            message: err.to_string(),
        })
    };
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(failed)?;
    conn.execute_batch(crate::store::READ_PRAGMAS)
        .map_err(failed)?;
    let mut statement = conn.prepare(trials_sql(study, order)).map_err(failed)?;
    let mut rows = statement
        .query(rusqlite::params![study.id, state.map(TrialState::as_str)])
        .map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        let columns = (|| {
            Ok::<TrialColumns, rusqlite::Error>(TrialColumns {
                number: row.get("number")?,
                state: row.get("state")?,
                value: row.get("value")?,
                params: row.get("params")?,
                overrides: row.get("overrides")?,
                attempts: row.get("attempts")?,
                worker: row.get("worker")?,
                started_at: row.get("started_at")?,
                finished_at: row.get("finished_at")?,
                error: row.get("error")?,
                metrics: row.get("metrics")?,
            })
        })()
        .map_err(failed)?;
        each(summary_from(columns)?)?;
    }
    Ok(())
}

macro_rules! trial_query {
    ($tail:literal) => {
        concat!(
            "SELECT t.number, t.state, t.value, t.params, t.overrides, t.attempts, w.name AS worker, \
             t.started_at, t.finished_at, t.error, t.metrics \
             FROM trials t LEFT JOIN workers w ON w.id = t.worker_id ",
            $tail
        )
    };
}

/// The `top` best complete trials, best first (ties: lower number first).
pub async fn best(
    conn: &mut AnyConnection,
    study: &StudyRef,
    top: u64,
) -> Result<Vec<TrialSummary>, Error> {
    let sql = if study.maximize {
        trial_query!(
            "WHERE t.study_id = $1 AND t.state = 'complete' AND t.value IS NOT NULL \
             ORDER BY t.value DESC, t.number LIMIT $2"
        )
    } else {
        trial_query!(
            "WHERE t.study_id = $1 AND t.state = 'complete' AND t.value IS NOT NULL \
             ORDER BY t.value ASC, t.number LIMIT $2"
        )
    };
    let rows = sqlx::query(sql)
        .bind(study.id)
        .bind(i64::try_from(top).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("best trials"))?;
    rows.iter().map(trial_summary).collect()
}

/// The statement listing a study's trials (optionally in one state) in `order`.
fn trials_sql(study: &StudyRef, order: TrialOrder) -> &'static str {
    match (order, study.maximize) {
        (TrialOrder::Number, _) => {
            trial_query!(
                "WHERE t.study_id = $1 AND (CAST($2 AS TEXT) IS NULL OR t.state = $2) \
                 ORDER BY t.number"
            )
        }
        (TrialOrder::Value, true) => trial_query!(
            "WHERE t.study_id = $1 AND (CAST($2 AS TEXT) IS NULL OR t.state = $2) \
             ORDER BY t.value IS NULL, t.value DESC, t.number"
        ),
        (TrialOrder::Value, false) => trial_query!(
            "WHERE t.study_id = $1 AND (CAST($2 AS TEXT) IS NULL OR t.state = $2) \
             ORDER BY t.value IS NULL, t.value ASC, t.number"
        ),
    }
}

/// Every trial of the study, optionally only those in `state`, in `order`.
pub async fn trials(
    conn: &mut AnyConnection,
    study: &StudyRef,
    state: Option<TrialState>,
    order: TrialOrder,
) -> Result<Vec<TrialSummary>, Error> {
    let mut out = Vec::new();
    for_each_trial(conn, study, state, order, |trial| {
        out.push(trial);
        Ok::<(), Error>(())
    })
    .await?;
    Ok(out)
}

/// [`trials`], one at a time as the rows arrive: memory does not grow with the study. The
/// first error `each` returns ends the listing.
pub async fn for_each_trial<E: From<Error>>(
    conn: &mut AnyConnection,
    study: &StudyRef,
    state: Option<TrialState>,
    order: TrialOrder,
    mut each: impl FnMut(TrialSummary) -> Result<(), E>,
) -> Result<(), E> {
    let mut rows = sqlx::query(trials_sql(study, order))
        .bind(study.id)
        .bind(state.map(TrialState::as_str))
        .fetch(&mut *conn);
    while let Some(row) = rows.next().await {
        each(trial_summary(&row.map_err(db_err("list trials"))?)?)?;
    }
    Ok(())
}

/// The names of the parameters and of the final metrics the study's trials (optionally only
/// those in `state`) have, each sorted: the columns of a CSV listing, found by the database
/// (its JSON functions) without sending the rows.
pub async fn trial_keys(
    conn: &mut AnyConnection,
    study: &StudyRef,
    state: Option<TrialState>,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let postgres = conn.backend_name().eq_ignore_ascii_case("postgresql");
    let (params_sql, metrics_sql) = if postgres {
        (
            "SELECT DISTINCT jsonb_object_keys(t.params::jsonb) AS k FROM trials t \
             WHERE t.study_id = $1 AND (CAST($2 AS TEXT) IS NULL OR t.state = $2) ORDER BY k",
            "SELECT DISTINCT jsonb_object_keys(t.metrics::jsonb) AS k FROM trials t \
             WHERE t.study_id = $1 AND (CAST($2 AS TEXT) IS NULL OR t.state = $2) \
             AND t.metrics IS NOT NULL ORDER BY k",
        )
    } else {
        (
            // A plain pass over the table (no index, so no seek per row).
            "SELECT DISTINCT j.key AS k FROM trials t NOT INDEXED, json_each(t.params) j \
             WHERE t.study_id = $1 AND (CAST($2 AS TEXT) IS NULL OR t.state = $2) ORDER BY k",
            "SELECT DISTINCT j.key AS k FROM trials t NOT INDEXED, json_each(t.metrics) j \
             WHERE t.study_id = $1 AND (CAST($2 AS TEXT) IS NULL OR t.state = $2) \
             AND t.metrics IS NOT NULL ORDER BY k",
        )
    };
    let mut names = Vec::with_capacity(2);
    for sql in [params_sql, metrics_sql] {
        let mut keys: Vec<String> = sqlx::query_scalar(sql)
            .bind(study.id)
            .bind(state.map(TrialState::as_str))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("list trial columns"))?;
        // The same order on both databases, whatever their collation.
        keys.sort();
        names.push(keys);
    }
    let metrics = names.pop().unwrap_or_default();
    let params = names.pop().unwrap_or_default();
    Ok((params, metrics))
}

/// Everything about trial `number` of the study.
pub async fn trial(
    conn: &mut AnyConnection,
    study: &StudyRef,
    number: u64,
) -> Result<TrialDetail, Error> {
    let row = sqlx::query(trial_query!(
        ", studies s WHERE s.id = t.study_id AND t.study_id = $1 AND t.number = $2"
    ))
    .bind(study.id)
    .bind(i64::try_from(number).unwrap_or(i64::MAX))
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err("load trial"))?
    .ok_or_else(|| Error::UnknownTrial {
        study: study.name.clone(),
        number,
    })?;
    let summary = trial_summary(&row)?;
    let extra = sqlx::query(
        "SELECT t.id, t.overrides, s.config FROM trials t JOIN studies s ON s.id = t.study_id \
         WHERE t.study_id = $1 AND t.number = $2",
    )
    .bind(study.id)
    .bind(i64::try_from(number).unwrap_or(i64::MAX))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err("load trial"))?;
    let trial_id: i64 = extra.get("id");
    let overrides_text: String = extra.get("overrides");
    let overrides = serde_json::from_str(&overrides_text).map_err(|_| Error::Corrupt {
        what: "trials.overrides".into(),
        value: overrides_text.clone(),
    })?;

    let attempt_history = sqlx::query(
        "SELECT a.attempt, w.name AS worker, a.state, a.failure, a.error, a.started_at, \
         a.finished_at FROM attempts a LEFT JOIN workers w ON w.id = a.worker_id \
         WHERE a.trial_id = $1 ORDER BY a.attempt",
    )
    .bind(trial_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load attempts"))?
    .iter()
    .map(|row| AttemptSummary {
        attempt: u32::try_from(row.get::<i64, _>("attempt")).unwrap_or(0),
        worker: row.get("worker"),
        state: row.get("state"),
        failure: row.get("failure"),
        error: row.get("error"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
    })
    .collect();

    let mut history: Vec<EpochMetrics> = Vec::new();
    let metric_rows = sqlx::query(
        "SELECT attempt, epoch, name, value FROM epoch_metrics WHERE trial_id = $1 \
         ORDER BY attempt, epoch, name",
    )
    .bind(trial_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load epoch metrics"))?;
    for row in &metric_rows {
        add_metric(&mut history, row);
    }

    let early_stop = sqlx::query(
        "SELECT attempt, epoch, rule, metric, value, threshold, explanation FROM early_stops \
         WHERE trial_id = $1 ORDER BY attempt DESC LIMIT 1",
    )
    .bind(trial_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err("load early stop"))?
    .map(|row| EarlyStop {
        attempt: u32::try_from(row.get::<i64, _>("attempt")).unwrap_or(0),
        epoch: u32::try_from(row.get::<i64, _>("epoch")).unwrap_or(0),
        rule: row.get("rule"),
        metric: row.get("metric"),
        value: row.get("value"),
        threshold: row.get("threshold"),
        explanation: row.get("explanation"),
    });

    Ok(TrialDetail {
        study: study.name.clone(),
        metric: study.metric.clone(),
        summary,
        overrides,
        attempt_history,
        history,
        early_stop,
        study_config: extra.get("config"),
    })
}

/// The per-epoch metrics of every trial of the study, for `export`: trial number to its
/// history (every attempt).
pub async fn all_histories(
    conn: &mut AnyConnection,
    study: &StudyRef,
) -> Result<BTreeMap<u64, Vec<EpochMetrics>>, Error> {
    let rows = sqlx::query(
        "SELECT t.number, m.attempt, m.epoch, m.name, m.value FROM epoch_metrics m \
         JOIN trials t ON t.id = m.trial_id WHERE t.study_id = $1 \
         ORDER BY t.number, m.attempt, m.epoch, m.name",
    )
    .bind(study.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("export epoch metrics"))?;
    let mut out: BTreeMap<u64, Vec<EpochMetrics>> = BTreeMap::new();
    for row in &rows {
        add_metric(out.entry(unsigned(row.get("number"))).or_default(), row);
    }
    Ok(out)
}

/// Adds one `epoch_metrics` row (attempt, epoch, name, value; rows ordered by attempt and
/// epoch) to `history`, opening the epoch's entry when it is the first of its metrics.
fn add_metric(history: &mut Vec<EpochMetrics>, row: &AnyRow) {
    let attempt = u32::try_from(row.get::<i64, _>("attempt")).unwrap_or(0);
    let epoch = u32::try_from(row.get::<i64, _>("epoch")).unwrap_or(0);
    let same = history
        .last()
        .is_some_and(|last| last.attempt == attempt && last.epoch == epoch);
    if !same {
        history.push(EpochMetrics {
            attempt,
            epoch,
            metrics: BTreeMap::new(),
        });
    }
    if let Some(last) = history.last_mut() {
        last.metrics.insert(row.get("name"), row.get("value"));
    }
}
