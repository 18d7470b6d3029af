//! Creating a study at start, or loading it back to resume it after a restart.

use std::collections::HashMap;

use hypersearch_proto::{Direction, Metrics, StopDecision};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::cells::{Cells, Place};
use super::db_err;
use super::{TrialState, token_from_sql, utc_now_text};
use crate::Error;

/// What the database records about a study when it is created.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyDefinition {
    /// Unique within the database.
    pub name: String,
    /// The metric optimized.
    pub metric: String,
    /// Minimized or maximized.
    pub direction: Direction,
    /// The search algorithm's name.
    pub algorithm: String,
    /// How many trials the study runs in total.
    pub budget: u64,
    /// The study file's text: a resumed study must have the same.
    pub config: String,
    /// A study with several objectives: their metrics, whose per-epoch values a resumed
    /// study loads for early stopping. Empty otherwise.
    pub objective_metrics: Vec<String>,
}

/// The latest attempt of a trial, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAttempt {
    /// Its number (from 1).
    pub attempt: u32,
    /// Its worker.
    pub worker_id: u64,
    /// Its lease token.
    pub token: u64,
    /// `running`, `complete`, `pruned`, `failed` or `lost`.
    pub state: String,
    /// For a failed or lost attempt: `user` or `infrastructure`.
    pub failure: Option<String>,
    /// Its last recorded epoch and that epoch's metrics (running attempts only).
    pub last_epoch: Option<(u32, Metrics)>,
    /// The stop decision it received, if any.
    pub stop: Option<StopDecision>,
    /// The epoch of the checkpoint it resumed from, if it did.
    pub resumed_from: Option<u32>,
}

/// The latest checkpoint a trial's running training sent (its bytes stay in the database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The attempt that sent it.
    pub attempt: u32,
    /// The last epoch it includes.
    pub epoch: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// A trial as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTrial {
    /// Its row id.
    pub id: i64,
    /// Its number within the study.
    pub number: u64,
    /// Where it is.
    pub state: TrialState,
    /// The sampled point (JSON object text).
    pub params: String,
    /// The objective's overrides (JSON object text).
    pub overrides: String,
    /// The study metric's final value.
    pub value: Option<f64>,
    /// Every metric of the final report (a JSON object; complete trials only).
    pub metrics: Option<String>,
    /// Attempts started.
    pub attempts: u32,
    /// Attempts lost to infrastructure.
    pub infra_failures: u32,
    /// Attempts failed by the objective.
    pub user_failures: u32,
    /// The latest attempt.
    pub latest: Option<StoredAttempt>,
    /// The study metric per epoch of its curve (the latest attempt's, with those of the
    /// attempts it resumed from).
    pub intermediate: Vec<(u32, f64)>,
    /// In a study with several objectives, each objective's values per epoch over the same
    /// attempts as `intermediate`, in the order of [`StudyDefinition::objective_metrics`].
    pub objective_curves: Vec<Vec<(u32, f64)>>,
    /// The first attempt of its curve when the latest resumed from a checkpoint.
    pub curve_from: Option<u32>,
    /// Its latest checkpoint, if one is stored.
    pub checkpoint: Option<StoredCheckpoint>,
}

/// A study created or loaded at start.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStudy {
    /// Its row id.
    pub id: i64,
    /// Whether it existed before (a resume).
    pub resumed: bool,
    /// Its trials by number.
    pub trials: Vec<StoredTrial>,
    /// The workers that ever joined it.
    pub workers: Vec<StoredWorker>,
    /// Metric values (rows of `epoch_metrics`) it holds.
    pub stored_values: u64,
}

/// A worker of a stored study, as a restarted coordinator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWorker {
    /// Its id.
    pub id: u64,
    /// The slots it declared.
    pub slots: u32,
    /// SHA-256 (hex) of its credential; `None` for a worker of a version without
    /// credentials (it must join again).
    pub credential_sha256: Option<String>,
    /// Why it may lease no more trials, if it may not.
    pub quarantined: Option<String>,
}

fn direction_sql(direction: Direction) -> &'static str {
    match direction {
        Direction::Minimize => "minimize",
        Direction::Maximize => "maximize",
    }
}

/// What a study's row says of its definition, for the comparison a resume starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDefinition {
    /// The study file's text as last run.
    pub config: String,
    /// Its trial budget.
    pub budget: u64,
    /// The trials it has created so far.
    pub trials: u64,
}

/// The stored definition of the study named `name`, if the database has one.
pub async fn stored_definition(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<StoredDefinition>, Error> {
    let row = sqlx::query(
        "SELECT config, budget, (SELECT count(*) FROM trials t WHERE t.study_id = s.id) AS trials \
         FROM studies s WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err("look up study"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let cells = Cells::new(&row, "studies", Place::Study(name));
    Ok(Some(StoredDefinition {
        config: cells.get("config")?,
        budget: cells.unsigned("budget")?,
        trials: cells.unsigned("trials")?,
    }))
}

/// Stores `def`'s text and budget for its study (a resume that changed only what may
/// change); a study given trials to run again is running again.
pub async fn redefine(conn: &mut AnyConnection, def: &StudyDefinition) -> Result<(), Error> {
    let budget = i64::try_from(def.budget).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE studies SET config = $1, budget = $2, \
           state = CASE WHEN $2 > (SELECT count(*) FROM trials t WHERE t.study_id = studies.id) \
             THEN 'running' ELSE state END, \
           finished_at = CASE WHEN $2 > (SELECT count(*) FROM trials t WHERE t.study_id = studies.id) \
             THEN NULL ELSE finished_at END \
         WHERE name = $3",
    )
    .bind(&def.config)
    .bind(budget)
    .bind(&def.name)
    .execute(&mut *conn)
    .await
    .map_err(db_err("update the study's definition"))?;
    Ok(())
}

/// Creates the study `def` in the database, or loads it back if a study of that name exists
/// with the same configuration text. `path` is only for messages.
pub async fn create_or_resume(
    conn: &mut AnyConnection,
    def: &StudyDefinition,
    database: &str,
) -> Result<StoredStudy, Error> {
    let existing = sqlx::query("SELECT id, config FROM studies WHERE name = $1")
        .bind(&def.name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err("look up study"))?;
    let Some(row) = existing else {
        let created = sqlx::query(
            "INSERT INTO studies (name, metric, direction, algorithm, budget, config, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&def.name)
        .bind(&def.metric)
        .bind(direction_sql(def.direction))
        .bind(&def.algorithm)
        .bind(i64::try_from(def.budget).unwrap_or(i64::MAX))
        .bind(&def.config)
        .bind(utc_now_text())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("create study"))?;
        return Ok(StoredStudy {
            id: Cells::new(&created, "studies", Place::Study(&def.name)).get("id")?,
            resumed: false,
            trials: Vec::new(),
            workers: Vec::new(),
            stored_values: 0,
        });
    };
    let cells = Cells::new(&row, "studies", Place::Study(&def.name));
    let id: i64 = cells.get("id")?;
    let config: String = cells.get("config")?;
    if config != def.config {
        return Err(Error::StudyChanged {
            name: def.name.clone(),
            database: database.to_string(),
            differences: vec!["the study file's text".into()],
        });
    }
    let trials = load_trials(conn, id, &def.name, &def.metric, &def.objective_metrics).await?;
    let workers = sqlx::query(
        "SELECT id, slots, credential_sha256, quarantined FROM workers WHERE study_id = $1",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load workers"))?
    .iter()
    .map(|row| {
        let cells = Cells::new(row, "workers", Place::Study(&def.name));
        let id = cells.unsigned("id")?;
        let cells = cells.at(Place::Worker(&def.name, id));
        Ok(StoredWorker {
            id,
            slots: cells.count("slots")?,
            credential_sha256: cells.get("credential_sha256")?,
            quarantined: cells.get("quarantined")?,
        })
    })
    .collect::<Result<_, Error>>()?;
    let stored_values: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM epoch_metrics m JOIN trials t ON t.id = m.trial_id \
         WHERE t.study_id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err("count stored metric values"))?;
    Ok(StoredStudy {
        id,
        resumed: true,
        trials,
        workers,
        stored_values: u64::try_from(stored_values).map_err(|_| Error::Database {
            context: "count stored metric values",
            message: format!("count(*) is {stored_values}"),
        })?,
    })
}

async fn load_trials(
    conn: &mut AnyConnection,
    study_id: i64,
    study: &str,
    metric: &str,
    objective_metrics: &[String],
) -> Result<Vec<StoredTrial>, Error> {
    let rows = sqlx::query(
        "SELECT id, number, state, params, overrides, value, metrics, attempts, infra_failures, \
         user_failures, curve_from FROM trials WHERE study_id = $1 ORDER BY number",
    )
    .bind(study_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load trials"))?;
    let mut trials = Vec::with_capacity(rows.len());
    // Trial row id to its index in `trials`, and its number.
    let mut index = HashMap::with_capacity(rows.len());
    for row in &rows {
        let cells = Cells::new(row, "trials", Place::Study(study));
        let number = cells.unsigned("number")?;
        let cells = cells.at(Place::Trial(study, number));
        let state_text: String = cells.get("state")?;
        let state = state_text
            .parse()
            .map_err(|err| cells.corrupt("state", err))?;
        let id: i64 = cells.get("id")?;
        index.insert(id, (trials.len(), number));
        trials.push(StoredTrial {
            id,
            number,
            state,
            params: cells.get("params")?,
            overrides: cells.get("overrides")?,
            value: cells.get("value")?,
            metrics: cells.get("metrics")?,
            attempts: cells.count("attempts")?,
            infra_failures: cells.count("infra_failures")?,
            user_failures: cells.count("user_failures")?,
            latest: None,
            intermediate: Vec::new(),
            objective_curves: vec![Vec::new(); objective_metrics.len()],
            curve_from: cells
                .maybe_unsigned("curve_from")?
                .map(|n| u32::try_from(n).map_err(|err| cells.corrupt("curve_from", err)))
                .transpose()?,
            checkpoint: None,
        });
    }

    let attempts = sqlx::query(
        "SELECT a.trial_id, a.attempt, a.worker_id, a.lease_token, a.state, a.failure, \
         a.resumed_from FROM attempts a \
         JOIN trials t ON t.id = a.trial_id AND a.attempt = t.attempts WHERE t.study_id = $1",
    )
    .bind(study_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load attempts"))?;
    for row in &attempts {
        let Some((at, cells)) = of_trial(
            &index,
            study,
            Cells::new(row, "attempts", Place::Study(study)),
        )?
        else {
            continue;
        };
        let attempt = cells.count("attempt")?;
        let cells = cells.at(Place::Attempt(study, trials[at].number, attempt));
        trials[at].latest = Some(StoredAttempt {
            attempt,
            worker_id: cells.unsigned("worker_id")?,
            token: token_from_sql(cells.get("lease_token")?),
            state: cells.get("state")?,
            failure: cells.get("failure")?,
            last_epoch: None,
            stop: None,
            resumed_from: cells
                .maybe_unsigned("resumed_from")?
                .map(|n| u32::try_from(n).map_err(|err| cells.corrupt("resumed_from", err)))
                .transpose()?,
        });
    }

    for (at, curve) in load_curves(conn, study_id, study, &index, metric).await? {
        trials[at].intermediate = curve;
    }
    for (k, objective) in objective_metrics.iter().enumerate() {
        for (at, curve) in load_curves(conn, study_id, study, &index, objective).await? {
            trials[at].objective_curves[k] = curve;
        }
    }

    // The last epoch of each running attempt, so an identical retry of that report is
    // recognized after a restart.
    let last_epochs = sqlx::query(
        "SELECT m.trial_id, m.epoch, m.name, m.value FROM epoch_metrics m \
         JOIN trials t ON t.id = m.trial_id AND m.attempt = t.attempts \
         WHERE t.study_id = $1 AND t.state = 'running' AND m.epoch = \
         (SELECT max(epoch) FROM epoch_metrics e WHERE e.trial_id = m.trial_id AND e.attempt = m.attempt)",
    )
    .bind(study_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load last epochs"))?;
    for row in &last_epochs {
        let cells = Cells::new(row, "epoch_metrics", Place::Study(study));
        let Some((at, cells)) = of_trial(&index, study, cells)? else {
            continue;
        };
        if let Some(latest) = trials[at].latest.as_mut() {
            let epoch = cells.count("epoch")?;
            let (_, metrics) = latest
                .last_epoch
                .get_or_insert_with(|| (epoch, Metrics::new()));
            metrics.insert(cells.get("name")?, cells.get("value")?);
        }
    }

    let stops = sqlx::query(
        "SELECT s.trial_id, s.epoch, s.rule, s.value, s.threshold, s.explanation \
         FROM early_stops s JOIN trials t ON t.id = s.trial_id AND s.attempt = t.attempts \
         WHERE t.study_id = $1",
    )
    .bind(study_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load stop decisions"))?;
    for row in &stops {
        let cells = Cells::new(row, "early_stops", Place::Study(study));
        let Some((at, cells)) = of_trial(&index, study, cells)? else {
            continue;
        };
        if let Some(latest) = trials[at].latest.as_mut() {
            latest.stop = Some(StopDecision {
                rule: cells.get("rule")?,
                epoch: cells.count("epoch")?,
                value: cells.get("value")?,
                threshold: cells.get("threshold")?,
                explanation: cells.get("explanation")?,
            });
        }
    }

    // The checkpoints of trials still to run (their bytes are read when a retry asks).
    let checkpoints = sqlx::query(
        "SELECT c.trial_id, c.attempt, c.epoch, c.size, c.sha256 FROM checkpoints c \
         JOIN trials t ON t.id = c.trial_id WHERE t.study_id = $1",
    )
    .bind(study_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load checkpoints"))?;
    for row in &checkpoints {
        let cells = Cells::new(row, "checkpoints", Place::Study(study));
        let Some((at, cells)) = of_trial(&index, study, cells)? else {
            continue;
        };
        trials[at].checkpoint = Some(StoredCheckpoint {
            attempt: cells.count("attempt")?,
            epoch: cells.count("epoch")?,
            size: cells.unsigned("size")?,
            sha256: cells.get("sha256")?,
        });
    }
    Ok(trials)
}

/// Every trial's values of `metric` per epoch, over the attempts of its curve: (index in
/// the trials, curve) for each trial that has any.
async fn load_curves(
    conn: &mut AnyConnection,
    study_id: i64,
    study: &str,
    index: &HashMap<i64, (usize, u64)>,
    metric: &str,
) -> Result<Vec<(usize, Vec<(u32, f64)>)>, Error> {
    let rows = sqlx::query(
        "SELECT m.trial_id, m.epoch, m.value FROM epoch_metrics m \
         JOIN trials t ON t.id = m.trial_id AND m.attempt >= COALESCE(t.curve_from, t.attempts) \
         WHERE t.study_id = $1 AND m.name = $2 ORDER BY m.trial_id, m.epoch",
    )
    .bind(study_id)
    .bind(metric)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("load intermediate values"))?;
    let mut curves: Vec<(usize, Vec<(u32, f64)>)> = Vec::new();
    for row in &rows {
        let cells = Cells::new(row, "epoch_metrics", Place::Study(study));
        if let Some((at, cells)) = of_trial(index, study, cells)? {
            let point = (cells.count("epoch")?, cells.get("value")?);
            match curves.last_mut() {
                Some((last, curve)) if *last == at => curve.push(point),
                _ => curves.push((at, vec![point])),
            }
        }
    }
    Ok(curves)
}

/// The trial a row of another table belongs to (its `trial_id`): the trial's index in the
/// loaded trials and `cells` placed at it; `None` for a row of a trial not loaded.
fn of_trial<'r>(
    index: &HashMap<i64, (usize, u64)>,
    study: &'r str,
    cells: Cells<'r, AnyRow>,
) -> Result<Option<(usize, Cells<'r, AnyRow>)>, Error> {
    let trial_id: i64 = cells.get("trial_id")?;
    Ok(index
        .get(&trial_id)
        .map(|&(at, number)| (at, cells.at(Place::Trial(study, number)))))
}
