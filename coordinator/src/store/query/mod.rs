//! The read-only queries behind `hypersearch studies`, `best`, `trials`, `show` and `export`.
//! Filters are bound parameters; sort orders come from an allow-list of static statements.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::AnyConnection;

mod changes;
mod replay;
mod sql;
mod views;
mod workers;

pub use sql::{
    all_histories, best, for_each_trial, resolve_study, studies, trial, trial_keys, trials,
};

use super::cells::{Cells, Place};
use super::{Location, TrialState, db_err};
use crate::Error;
pub use changes::{Pace, Signature};
pub use workers::WorkerSummary;

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

/// One trial, as the query commands print it (the JSON field names of `--format json`).
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
    /// What the objective was given for it: for a training, the training keys the point
    /// sets (`hypersearch train STUDY --params` takes either).
    pub overrides: serde_json::Value,
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
    /// The epoch of the checkpoint it went on from, when it resumed a lost attempt's
    /// training (its first epoch is the one after).
    pub resumed_from: Option<u64>,
    /// Why the checkpoint it was to resume from could not be used (it started over).
    pub checkpoint_note: Option<String>,
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

/// A trained network the coordinator kept (`[study] keep_models`).
#[derive(Clone, PartialEq)]
pub struct KeptModel {
    /// The attempt whose training produced it.
    pub attempt: u32,
    /// Its SHA-256, as sent and checked on arrival (hex).
    pub sha256: String,
    /// The model, in nn-core's `model::file` format.
    pub model: Vec<u8>,
}

impl std::fmt::Debug for KeptModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptModel")
            .field("attempt", &self.attempt)
            .field("sha256", &self.sha256)
            .field("bytes", &self.model.len())
            .finish()
    }
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

/// The trials database opened read-only (a SQLite file, or PostgreSQL in a read-only
/// transaction mode): what the query commands use.
pub struct Reader {
    conn: AnyConnection,
    /// Where it is.
    location: Location,
    /// The file, or the URL without its password, for messages.
    database: String,
}

impl Reader {
    /// Opens the existing database at `db` read-only.
    pub async fn open(db: &Location) -> Result<Reader, Error> {
        Ok(Reader {
            conn: super::open_read_only(db).await?,
            location: db.clone(),
            database: db.to_string(),
        })
    }

    /// Every study with its counts.
    pub async fn studies(&mut self) -> Result<Vec<StudySummary>, Error> {
        studies(&mut self.conn).await
    }

    /// The study named `name`, or the only one when `name` is `None`.
    pub async fn study(&mut self, name: Option<&str>) -> Result<StudyRef, Error> {
        resolve_study(&mut self.conn, name, &self.database).await
    }

    /// Every worker that joined `study`, with what it ran.
    pub async fn workers(&mut self, study: &StudyRef) -> Result<Vec<WorkerSummary>, Error> {
        workers::workers(&mut self.conn, study).await
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

    /// Every trial, optionally in one state, in `order`, handed to `each` as it arrives.
    pub async fn for_each_trial<E: From<Error>>(
        &mut self,
        study: &StudyRef,
        state: Option<TrialState>,
        order: TrialOrder,
        each: impl FnMut(TrialSummary) -> Result<(), E>,
    ) -> Result<(), E> {
        match &self.location {
            Location::Sqlite(path) => sql::for_each_trial_sqlite(path, study, state, order, each),
            Location::Postgres(_) => {
                for_each_trial(&mut self.conn, study, state, order, each).await
            }
        }
    }

    /// The parameter and final-metric names of the trials (optionally in one state).
    pub async fn trial_keys(
        &mut self,
        study: &StudyRef,
        state: Option<TrialState>,
    ) -> Result<(Vec<String>, Vec<String>), Error> {
        trial_keys(&mut self.conn, study, state).await
    }

    /// Everything about one trial.
    pub async fn trial(&mut self, study: &StudyRef, number: u64) -> Result<TrialDetail, Error> {
        trial(&mut self.conn, study, number).await
    }

    /// Every trial with its parameters, times and learning curve of the study metric: what
    /// the views (`plot`, `importance`, `replay`, the dashboard) draw from.
    pub async fn study_trials(
        &mut self,
        study: &StudyRef,
    ) -> Result<hypersearch_insight::StudyTrials, Error> {
        views::study_trials(&mut self.conn, &self.location, study).await
    }

    /// The config file text the study was created with (its search space, its rules).
    pub async fn study_config(&mut self, study: &StudyRef) -> Result<String, Error> {
        views::study_config(&mut self.conn, study).await
    }

    /// Every attempt of the study's trials with its worker and times: the worker timeline.
    pub async fn attempt_spans(
        &mut self,
        study: &StudyRef,
    ) -> Result<Vec<hypersearch_insight::timeline::AttemptSpan>, Error> {
        views::attempt_spans(&mut self.conn, &self.location, study).await
    }

    /// Every attempt with its event numbers, times and reports of the study metric (and of
    /// each of the `objectives` metrics of a study with several; empty otherwise): what
    /// `replay` feeds a rule.
    pub async fn attempt_logs(
        &mut self,
        study: &StudyRef,
        objectives: &[String],
    ) -> Result<Vec<hypersearch_insight::replay::AttemptLog>, Error> {
        replay::attempt_logs(&mut self.conn, study, objectives).await
    }

    /// Every trial's per-epoch history.
    pub async fn histories(
        &mut self,
        study: &StudyRef,
    ) -> Result<BTreeMap<u64, Vec<EpochMetrics>>, Error> {
        all_histories(&mut self.conn, study).await
    }

    /// A signature of the whole database that changes whenever anything the dashboard
    /// shows does (a trial added, started, ended, an epoch of a running trial).
    pub async fn signature(&mut self) -> Result<Signature, Error> {
        changes::signature(&mut self.conn).await
    }

    /// How fast `study`'s trials end.
    pub async fn pace(&mut self, study: &StudyRef) -> Result<Pace, Error> {
        changes::pace(&mut self.conn, study).await
    }

    /// The kept model of trial `number`, if the coordinator kept one.
    pub async fn kept_model(
        &mut self,
        study: &StudyRef,
        number: u64,
    ) -> Result<Option<KeptModel>, Error> {
        let row = sqlx::query(
            "SELECT k.attempt, k.sha256, k.model FROM kept_models k \
             JOIN trials t ON t.id = k.trial_id WHERE t.study_id = $1 AND t.number = $2",
        )
        .bind(study.id)
        .bind(i64::try_from(number).unwrap_or(i64::MAX))
        .fetch_optional(&mut self.conn)
        .await
        .map_err(db_err("load a kept model"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let cells = Cells::new(&row, "kept_models", Place::Trial(&study.name, number));
        Ok(Some(KeptModel {
            attempt: cells.count("attempt")?,
            sha256: cells.get("sha256")?,
            model: cells.get("model")?,
        }))
    }

    /// The trials whose models are kept, by number.
    pub async fn kept_model_trials(&mut self, study: &StudyRef) -> Result<Vec<u64>, Error> {
        let rows = sqlx::query(
            "SELECT t.number FROM kept_models k JOIN trials t ON t.id = k.trial_id \
             WHERE t.study_id = $1 ORDER BY t.number",
        )
        .bind(study.id)
        .fetch_all(&mut self.conn)
        .await
        .map_err(db_err("list the kept models"))?;
        rows.iter()
            .map(|row| Cells::new(row, "trials", Place::Study(&study.name)).unsigned("number"))
            .collect()
    }

    /// The database, as messages name it (the file, or the URL without its password).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Every early-stopping decision of the study, by trial number.
    pub async fn early_stops(
        &mut self,
        study: &StudyRef,
    ) -> Result<BTreeMap<u64, EarlyStop>, Error> {
        let rows = sqlx::query(
            "SELECT t.number, s.attempt, s.epoch, s.rule, s.metric, s.value, s.threshold, \
             s.explanation FROM early_stops s JOIN trials t ON t.id = s.trial_id \
             WHERE t.study_id = $1 ORDER BY t.number, s.attempt",
        )
        .bind(study.id)
        .fetch_all(&mut self.conn)
        .await
        .map_err(db_err("export early stops"))?;
        rows.iter()
            .map(|row| {
                let number =
                    Cells::new(row, "trials", Place::Study(&study.name)).unsigned("number")?;
                let cells = Cells::new(row, "early_stops", Place::Trial(&study.name, number));
                Ok((number, sql::early_stop(&cells)?))
            })
            .collect()
    }

    /// The recorded early-stopping decisions as `replay` compares with them.
    pub async fn recorded_stops(
        &mut self,
        study: &StudyRef,
    ) -> Result<Vec<hypersearch_insight::replay::RecordedStop>, Error> {
        Ok(self
            .early_stops(study)
            .await?
            .into_iter()
            .map(|(trial, stop)| hypersearch_insight::replay::RecordedStop {
                trial,
                attempt: stop.attempt,
                epoch: stop.epoch,
                rule: stop.rule,
                value: stop.value,
                threshold: stop.threshold,
            })
            .collect())
    }
}
