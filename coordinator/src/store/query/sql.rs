//! The statements behind the queries: filters are bound parameters, sort orders come from
//! an allow-list of static statements.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use tokio_stream::StreamExt;

use super::{
    AttemptSummary, EarlyStop, EpochMetrics, StudyRef, StudySummary, TrialDetail, TrialOrder,
    TrialSummary,
};
use crate::Error;
use crate::store::cells::{Cells, Place, Source, found_text};
use crate::store::{TrialState, db_err};

/// A study's row (id, name, metric, direction) as a [`StudyRef`].
fn study_ref(row: &AnyRow) -> Result<StudyRef, Error> {
    let name: String = Cells::new(row, "studies", Place::Other("a study")).get("name")?;
    let cells = Cells::new(row, "studies", Place::Study(&name));
    Ok(StudyRef {
        id: cells.get("id")?,
        metric: cells.get("metric")?,
        maximize: cells.get::<String>("direction")? == "maximize",
        name,
    })
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
    for row in &rows {
        let study = study_ref(row)?;
        let best = best(conn, &study, 1).await?.into_iter().next();
        let cells = Cells::new(row, "studies", Place::Study(&study.name));
        // Trials per state: sums, NULL for none.
        let n = |name: &str| -> Result<u64, Error> {
            Ok(cells.maybe_unsigned(name)?.unwrap_or_default())
        };
        out.push(StudySummary {
            study: study.name.clone(),
            metric: study.metric.clone(),
            direction: cells.get("direction")?,
            algorithm: cells.get("algorithm")?,
            state: cells.get("state")?,
            budget: cells.unsigned("budget")?,
            queued: n("queued")?,
            running: n("running")?,
            complete: n("complete")?,
            pruned: n("pruned")?,
            failed: n("failed")?,
            best_trial: best.as_ref().map(|t| t.trial),
            best_value: best.and_then(|t| t.value),
            created_at: cells.get("created_at")?,
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
    let studies = rows.iter().map(study_ref).collect::<Result<Vec<_>, _>>()?;
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

/// A row of [`trial_query!`] of a trial of `study`, from either driver.
fn trial_summary<R: Source>(row: &R, study: &str) -> Result<TrialSummary, Error> {
    let cells = Cells::new(row, "trials", Place::Study(study));
    let number = cells.unsigned("number")?;
    let cells = cells.at(Place::Trial(study, number));
    let json = |column: &str| -> Result<Option<serde_json::Value>, Error> {
        cells
            .get::<Option<String>>(column)?
            .map(|text| {
                serde_json::from_str(&text).map_err(|_| {
                    cells.corrupt(
                        column,
                        format_args!("expected JSON, found {}", found_text(&text)),
                    )
                })
            })
            .transpose()
    };
    Ok(TrialSummary {
        trial: number,
        state: cells.get("state")?,
        value: cells.get("value")?,
        params: json("params")?.unwrap_or(serde_json::Value::Null),
        overrides: json("overrides")?.unwrap_or(serde_json::Value::Null),
        attempts: cells.count("attempts")?,
        worker: cells.get_as("worker", "workers.name")?,
        started_at: cells.get("started_at")?,
        finished_at: cells.get("finished_at")?,
        error: cells.get("error")?,
        metrics: json("metrics")?,
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
    let failed = |err: rusqlite::Error| E::from(sqlite_err("list trials")(err));
    let conn = open_sqlite(path, "list trials")?;
    let mut statement = conn.prepare(trials_sql(study, order)).map_err(failed)?;
    let mut rows = statement
        .query(rusqlite::params![study.id, state.map(TrialState::as_str)])
        .map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        each(trial_summary(row, &study.name)?)?;
    }
    Ok(())
}

/// Maps a failed rusqlite call to [`Error::Database`] saying what was being done.
pub(super) fn sqlite_err(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |err| Error::Database {
        context,
        message: err.to_string(),
    }
}

/// The SQLite file at `path` opened read-only through SQLite's own API, for `context`.
pub(super) fn open_sqlite(
    path: &std::path::Path,
    context: &'static str,
) -> Result<rusqlite::Connection, Error> {
    let failed = sqlite_err(context);
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&failed)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(&failed)?;
    conn.execute_batch(crate::store::READ_PRAGMAS)
        .map_err(&failed)?;
    Ok(conn)
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
    rows.iter()
        .map(|row| trial_summary(row, &study.name))
        .collect()
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
        each(trial_summary(
            &row.map_err(db_err("list trials"))?,
            &study.name,
        )?)?;
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
    let summary = trial_summary(&row, &study.name)?;
    let extra = sqlx::query(
        "SELECT t.id, t.overrides, s.config FROM trials t JOIN studies s ON s.id = t.study_id \
         WHERE t.study_id = $1 AND t.number = $2",
    )
    .bind(study.id)
    .bind(i64::try_from(number).unwrap_or(i64::MAX))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err("load trial"))?;
    let place = Place::Trial(&study.name, number);
    let cells = Cells::new(&extra, "trials", place);
    let trial_id: i64 = cells.get("id")?;
    let overrides_text: String = cells.get("overrides")?;
    let overrides = serde_json::from_str(&overrides_text).map_err(|_| {
        cells.corrupt(
            "overrides",
            format_args!("expected JSON, found {}", found_text(&overrides_text)),
        )
    })?;
    let study_config = Cells::new(&extra, "studies", Place::Study(&study.name)).get("config")?;

    let attempt_history = sqlx::query(
        "SELECT a.attempt, w.name AS worker, a.state, a.failure, a.error, a.started_at, \
         a.finished_at, a.resumed_from, a.checkpoint_note FROM attempts a \
         LEFT JOIN workers w ON w.id = a.worker_id WHERE a.trial_id = $1 ORDER BY a.attempt",
    )
    .bind(trial_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load attempts"))?
    .iter()
    .map(|row| {
        let cells = Cells::new(row, "attempts", place);
        let attempt = cells.count("attempt")?;
        let cells = cells.at(Place::Attempt(&study.name, number, attempt));
        Ok(AttemptSummary {
            attempt,
            worker: cells.get_as("worker", "workers.name")?,
            state: cells.get("state")?,
            failure: cells.get("failure")?,
            error: cells.get("error")?,
            started_at: cells.get("started_at")?,
            finished_at: cells.get("finished_at")?,
            resumed_from: cells.maybe_unsigned("resumed_from")?,
            checkpoint_note: cells.get("checkpoint_note")?,
        })
    })
    .collect::<Result<_, Error>>()?;

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
        add_metric(&mut history, &Cells::new(row, "epoch_metrics", place))?;
    }

    let early_stop = sqlx::query(
        "SELECT attempt, epoch, rule, metric, value, threshold, explanation FROM early_stops \
         WHERE trial_id = $1 ORDER BY attempt DESC LIMIT 1",
    )
    .bind(trial_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err("load early stop"))?
    .map(|row| early_stop(&Cells::new(&row, "early_stops", place)))
    .transpose()?;

    Ok(TrialDetail {
        study: study.name.clone(),
        metric: study.metric.clone(),
        summary,
        overrides,
        attempt_history,
        history,
        early_stop,
        study_config,
    })
}

/// A row of `early_stops` (attempt, epoch, rule, metric, value, threshold, explanation).
pub(super) fn early_stop(cells: &Cells<'_, AnyRow>) -> Result<EarlyStop, Error> {
    Ok(EarlyStop {
        attempt: cells.count("attempt")?,
        epoch: cells.count("epoch")?,
        rule: cells.get("rule")?,
        metric: cells.get("metric")?,
        value: cells.get("value")?,
        threshold: cells.get("threshold")?,
        explanation: cells.get("explanation")?,
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
        let number = Cells::new(row, "trials", Place::Study(&study.name)).unsigned("number")?;
        let cells = Cells::new(row, "epoch_metrics", Place::Trial(&study.name, number));
        add_metric(out.entry(number).or_default(), &cells)?;
    }
    Ok(out)
}

/// Adds one `epoch_metrics` row (attempt, epoch, name, value; rows ordered by attempt and
/// epoch) to `history`, opening the epoch's entry when it is the first of its metrics.
fn add_metric(history: &mut Vec<EpochMetrics>, cells: &Cells<'_, AnyRow>) -> Result<(), Error> {
    let attempt = cells.count("attempt")?;
    let epoch = cells.count("epoch")?;
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
        last.metrics.insert(cells.get("name")?, cells.get("value")?);
    }
    Ok(())
}
