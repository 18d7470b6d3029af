//! The read-only queries behind `hypersearch studies`, `best`, `trials`, `show` and `export`.
//! Filters are bound parameters; sort orders come from an allow-list of static statements.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use super::{TrialState, db_err};
use crate::Error;

/// A study with its trial counts and best value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudySummary {
    /// The study's name.
    pub study: String,
    /// The metric it optimizes.
    pub metric: String,
    /// `minimize` or `maximize`.
    pub direction: String,
    /// The search algorithm.
    pub algorithm: String,
    /// `running` or `finished`.
    pub state: String,
    /// Total trials the study runs.
    pub budget: u64,
    /// Trials per state.
    pub queued: u64,
    /// Trials running.
    pub running: u64,
    /// Trials complete.
    pub complete: u64,
    /// Trials pruned.
    pub pruned: u64,
    /// Trials failed.
    pub failed: u64,
    /// The best complete trial's number.
    pub best_trial: Option<u64>,
    /// Its value.
    pub best_value: Option<f64>,
    /// When the study was created.
    pub created_at: String,
}

/// One trial, as the query commands print it (SPEC §4.4 field names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialSummary {
    /// The trial's number within its study.
    pub trial: u64,
    /// `queued`, `running`, `complete`, `pruned` or `failed`.
    pub state: String,
    /// The study metric's final (pruned: last reported) value.
    pub value: Option<f64>,
    /// The sampled point.
    pub params: serde_json::Value,
    /// Attempts started.
    pub attempts: u32,
    /// The worker of the latest attempt.
    pub worker: Option<String>,
    /// When the latest attempt started.
    pub started_at: Option<String>,
    /// When the trial ended.
    pub finished_at: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The final metrics reported.
    pub metrics: Option<serde_json::Value>,
}

/// One epoch's metrics of one attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochMetrics {
    /// The attempt.
    pub attempt: u32,
    /// The epoch.
    pub epoch: u32,
    /// Metric name to value.
    pub metrics: BTreeMap<String, f64>,
}

/// An early-stopping decision as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EarlyStop {
    /// The attempt stopped.
    pub attempt: u32,
    /// The epoch it was stopped at.
    pub epoch: u32,
    /// The rule.
    pub rule: String,
    /// The metric judged.
    pub metric: String,
    /// The trial's value of that metric.
    pub value: f64,
    /// What the rule compared it with.
    pub threshold: f64,
    /// The rule's sentence.
    pub explanation: String,
}

/// One attempt of a trial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptSummary {
    /// From 1.
    pub attempt: u32,
    /// The worker that ran it.
    pub worker: Option<String>,
    /// `running`, `complete`, `pruned`, `failed` or `lost`.
    pub state: String,
    /// `user` or `infrastructure` for failed and lost attempts.
    pub failure: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
}

/// Everything about one trial (`hypersearch show`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialDetail {
    /// The study's name.
    pub study: String,
    /// The metric the study optimizes.
    pub metric: String,
    /// The trial.
    #[serde(flatten)]
    pub summary: TrialSummary,
    /// What the objective applied (dotted config key to value).
    pub overrides: serde_json::Value,
    /// Every attempt.
    pub attempt_history: Vec<AttemptSummary>,
    /// Per-epoch metrics of every attempt, in order.
    pub history: Vec<EpochMetrics>,
    /// The early-stopping decision, when the trial was pruned.
    pub early_stop: Option<EarlyStop>,
    /// The study's config file text (the base of `hypersearch train`).
    #[serde(skip)]
    pub study_config: String,
}

/// A study picked by name for a query.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRef {
    /// Its row id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its metric.
    pub metric: String,
    /// Whether higher is better.
    pub maximize: bool,
}

/// How `trials` orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialOrder {
    /// By trial number.
    Number,
    /// Best value first (trials without a value last).
    Value,
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Every study with its counts, in creation order.
pub async fn studies(conn: &mut SqliteConnection) -> Result<Vec<StudySummary>, Error> {
    let rows = sqlx::query(
        "SELECT s.id, s.name, s.metric, s.direction, s.algorithm, s.state, s.budget, s.created_at, \
         sum(t.state = 'queued') AS queued, sum(t.state = 'running') AS running, \
         sum(t.state = 'complete') AS complete, sum(t.state = 'pruned') AS pruned, \
         sum(t.state = 'failed') AS failed \
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

/// The study named `name`, or the only study when `name` is `None`. `path` is for messages.
pub async fn resolve_study(
    conn: &mut SqliteConnection,
    name: Option<&str>,
    path: &Path,
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
                path: path.to_path_buf(),
                available: names(),
            }),
        None if studies.len() == 1 => Ok(studies[0].clone()),
        None => Err(Error::UnknownStudy {
            name: "(none given: use --study)".to_string(),
            path: path.to_path_buf(),
            available: names(),
        }),
    }
}

fn trial_summary(row: &SqliteRow) -> Result<TrialSummary, Error> {
    let json = |column: &str| -> Result<Option<serde_json::Value>, Error> {
        let text: Option<String> = row.get(column);
        text.map(|text| {
            serde_json::from_str(&text).map_err(|_| Error::Corrupt {
                what: format!("trials.{column}"),
                value: text.clone(),
            })
        })
        .transpose()
    };
    Ok(TrialSummary {
        trial: unsigned(row.get("number")),
        state: row.get("state"),
        value: row.get("value"),
        params: json("params")?.unwrap_or(serde_json::Value::Null),
        attempts: u32::try_from(row.get::<i64, _>("attempts")).unwrap_or(0),
        worker: row.get("worker"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        error: row.get("error"),
        metrics: json("metrics")?,
    })
}

macro_rules! trial_query {
    ($tail:literal) => {
        concat!(
            "SELECT t.number, t.state, t.value, t.params, t.attempts, w.name AS worker, \
             t.started_at, t.finished_at, t.error, t.metrics \
             FROM trials t LEFT JOIN workers w ON w.id = t.worker_id ",
            $tail
        )
    };
}

/// The `top` best complete trials, best first (ties: lower number first).
pub async fn best(
    conn: &mut SqliteConnection,
    study: &StudyRef,
    top: u64,
) -> Result<Vec<TrialSummary>, Error> {
    let sql = if study.maximize {
        trial_query!(
            "WHERE t.study_id = ? AND t.state = 'complete' AND t.value IS NOT NULL \
             ORDER BY t.value DESC, t.number LIMIT ?"
        )
    } else {
        trial_query!(
            "WHERE t.study_id = ? AND t.state = 'complete' AND t.value IS NOT NULL \
             ORDER BY t.value ASC, t.number LIMIT ?"
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

/// Every trial of the study, optionally only those in `state`, in `order`.
pub async fn trials(
    conn: &mut SqliteConnection,
    study: &StudyRef,
    state: Option<TrialState>,
    order: TrialOrder,
) -> Result<Vec<TrialSummary>, Error> {
    let sql = match (order, study.maximize) {
        (TrialOrder::Number, _) => {
            trial_query!("WHERE t.study_id = ?1 AND (?2 IS NULL OR t.state = ?2) ORDER BY t.number")
        }
        (TrialOrder::Value, true) => trial_query!(
            "WHERE t.study_id = ?1 AND (?2 IS NULL OR t.state = ?2) \
             ORDER BY t.value IS NULL, t.value DESC, t.number"
        ),
        (TrialOrder::Value, false) => trial_query!(
            "WHERE t.study_id = ?1 AND (?2 IS NULL OR t.state = ?2) \
             ORDER BY t.value IS NULL, t.value ASC, t.number"
        ),
    };
    let rows = sqlx::query(sql)
        .bind(study.id)
        .bind(state.map(TrialState::as_str))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("list trials"))?;
    rows.iter().map(trial_summary).collect()
}

/// Everything about trial `number` of the study.
pub async fn trial(
    conn: &mut SqliteConnection,
    study: &StudyRef,
    number: u64,
) -> Result<TrialDetail, Error> {
    let row = sqlx::query(trial_query!(
        ", studies s WHERE s.id = t.study_id AND t.study_id = ? AND t.number = ?"
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
         WHERE t.study_id = ? AND t.number = ?",
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
         WHERE a.trial_id = ? ORDER BY a.attempt",
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
        "SELECT attempt, epoch, name, value FROM epoch_metrics WHERE trial_id = ? \
         ORDER BY attempt, epoch, name",
    )
    .bind(trial_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load epoch metrics"))?;
    for row in metric_rows {
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

    let early_stop = sqlx::query(
        "SELECT attempt, epoch, rule, metric, value, threshold, explanation FROM early_stops \
         WHERE trial_id = ? ORDER BY attempt DESC LIMIT 1",
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
    conn: &mut SqliteConnection,
    study: &StudyRef,
) -> Result<BTreeMap<u64, Vec<EpochMetrics>>, Error> {
    let rows = sqlx::query(
        "SELECT t.number, m.attempt, m.epoch, m.name, m.value FROM epoch_metrics m \
         JOIN trials t ON t.id = m.trial_id WHERE t.study_id = ? \
         ORDER BY t.number, m.attempt, m.epoch, m.name",
    )
    .bind(study.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("export epoch metrics"))?;
    let mut out: BTreeMap<u64, Vec<EpochMetrics>> = BTreeMap::new();
    for row in rows {
        let number = unsigned(row.get("number"));
        let attempt = u32::try_from(row.get::<i64, _>("attempt")).unwrap_or(0);
        let epoch = u32::try_from(row.get::<i64, _>("epoch")).unwrap_or(0);
        let history = out.entry(number).or_default();
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
    Ok(out)
}

/// The trials database opened read-only: what the query commands use.
pub struct Reader {
    conn: SqliteConnection,
    path: std::path::PathBuf,
}

impl Reader {
    /// Opens the existing database at `path` read-only.
    pub async fn open(path: &Path) -> Result<Reader, Error> {
        Ok(Reader {
            conn: super::open_read_only(path).await?,
            path: path.to_path_buf(),
        })
    }

    /// Every study with its counts.
    pub async fn studies(&mut self) -> Result<Vec<StudySummary>, Error> {
        studies(&mut self.conn).await
    }

    /// The study named `name`, or the only one when `name` is `None`.
    pub async fn study(&mut self, name: Option<&str>) -> Result<StudyRef, Error> {
        resolve_study(&mut self.conn, name, &self.path).await
    }

    /// The `top` best complete trials.
    pub async fn best(&mut self, study: &StudyRef, top: u64) -> Result<Vec<TrialSummary>, Error> {
        best(&mut self.conn, study, top).await
    }

    /// Every trial, optionally in one state, in `order`.
    pub async fn trials(
        &mut self,
        study: &StudyRef,
        state: Option<TrialState>,
        order: TrialOrder,
    ) -> Result<Vec<TrialSummary>, Error> {
        trials(&mut self.conn, study, state, order).await
    }

    /// Everything about one trial.
    pub async fn trial(&mut self, study: &StudyRef, number: u64) -> Result<TrialDetail, Error> {
        trial(&mut self.conn, study, number).await
    }

    /// Every trial's per-epoch history.
    pub async fn histories(
        &mut self,
        study: &StudyRef,
    ) -> Result<BTreeMap<u64, Vec<EpochMetrics>>, Error> {
        all_histories(&mut self.conn, study).await
    }

    /// Every early-stopping decision of the study, by trial number.
    pub async fn early_stops(
        &mut self,
        study: &StudyRef,
    ) -> Result<BTreeMap<u64, EarlyStop>, Error> {
        let rows = sqlx::query(
            "SELECT t.number, s.attempt, s.epoch, s.rule, s.metric, s.value, s.threshold, \
             s.explanation FROM early_stops s JOIN trials t ON t.id = s.trial_id \
             WHERE t.study_id = ? ORDER BY t.number, s.attempt",
        )
        .bind(study.id)
        .fetch_all(&mut self.conn)
        .await
        .map_err(db_err("export early stops"))?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    unsigned(row.get("number")),
                    EarlyStop {
                        attempt: u32::try_from(row.get::<i64, _>("attempt")).unwrap_or(0),
                        epoch: u32::try_from(row.get::<i64, _>("epoch")).unwrap_or(0),
                        rule: row.get("rule"),
                        metric: row.get("metric"),
                        value: row.get("value"),
                        threshold: row.get("threshold"),
                        explanation: row.get("explanation"),
                    },
                )
            })
            .collect())
    }
}
