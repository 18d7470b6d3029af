//! The changes themselves: what each [`WriteOp`] does in SQL, fenced on the lease where an
//! attempt is concerned.
//!
//! Every op checks its fence with its first statement, before it writes anything, so a
//! refused op leaves the transaction as it found it and the writer needs no savepoint per
//! op; a statement failing later (which the scheduler's own checks make unexpected) is
//! reported as [`Failure::Broken`] and the writer redoes the batch op by op.

use std::sync::{Arc, OnceLock};

use hypersearch_proto::{Epoch, FailureKind, LeaseId, StopDecision};
use sqlx::AssertSqlSafe;
use sqlx::sqlite::SqliteConnection;

use super::Task;
use super::now_sql;
use crate::Error;
use crate::store::{TrialState, db_err, token_to_sql};

/// How an attempt ended, as recorded in `attempts`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptEnd {
    /// `complete`, `pruned`, `failed` or `lost`.
    pub state: &'static str,
    /// For a failed or lost attempt: whose fault.
    pub failure: Option<FailureKind>,
    /// For a failed or lost attempt: what happened.
    pub error: Option<String>,
}

/// What an ended attempt does to its trial.
#[derive(Debug, Clone, PartialEq)]
pub enum TrialUpdate {
    /// The trial goes back to the queue for another attempt.
    Requeue {
        /// Attempts lost to infrastructure so far.
        infra_failures: u32,
        /// Attempts failed by the objective so far.
        user_failures: u32,
    },
    /// The trial is over.
    Terminal {
        /// `Complete`, `Pruned` or `Failed`.
        state: TrialState,
        /// The study metric's final (or, when pruned, last reported) value.
        value: Option<f64>,
        /// The final metrics as a JSON object.
        metrics: Option<String>,
        /// Why it failed.
        error: Option<String>,
        /// Attempts lost to infrastructure.
        infra_failures: u32,
        /// Attempts failed by the objective.
        user_failures: u32,
    },
}

/// One change to the database.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// A worker joined; the result is its id.
    RegisterWorker {
        /// Its label.
        name: String,
        /// Its machine.
        hostname: String,
        /// Its slots.
        slots: u32,
        /// Its version.
        version: String,
    },
    /// A new trial, queued; the result is its row id.
    InsertTrial {
        /// Its number within the study.
        number: u64,
        /// The sampled point (JSON object).
        params: String,
        /// The objective's overrides (JSON object).
        overrides: String,
    },
    /// A queued trial leased to a worker.
    StartAttempt {
        /// The trial's number.
        number: u64,
        /// The new lease.
        lease: LeaseId,
        /// The worker holding it.
        worker_id: u64,
    },
    /// Epoch metrics, and the stop decision they led to.
    RecordEpochs {
        /// The trial's number.
        number: u64,
        /// The attempt's lease (the write is fenced on it).
        lease: LeaseId,
        /// The epochs, in order.
        epochs: Vec<Epoch>,
        /// The stop decision taken at the last of them, with the metric it judged.
        stop: Option<(String, StopDecision)>,
    },
    /// An attempt ended (fenced on its lease).
    FinishAttempt {
        /// The trial's number.
        number: u64,
        /// The attempt's lease.
        lease: LeaseId,
        /// How the attempt ended.
        end: AttemptEnd,
        /// What that does to the trial.
        trial: TrialUpdate,
    },
    /// The study's budget is spent and every trial is over.
    FinishStudy,
}

fn worker_sql(worker_id: u64) -> i64 {
    i64::try_from(worker_id).unwrap_or(i64::MAX)
}

fn number_sql(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

fn failure_sql(failure: Option<FailureKind>) -> Option<&'static str> {
    failure.map(|kind| match kind {
        FailureKind::User => "user",
        FailureKind::Infrastructure => "infrastructure",
    })
}

fn lease_not_held(lease: LeaseId, worker: u64) -> Failure {
    Failure::Refused(Error::LeaseNotHeld {
        lease,
        worker,
        reason: "the database holds no running attempt with this lease".into(),
    })
}

/// Why an op was not applied.
#[derive(Debug)]
pub(super) enum Failure {
    /// Its fence did not hold; nothing was written.
    Refused(Error),
    /// A statement failed, possibly after another of the same op wrote.
    Broken(Error),
}

impl Failure {
    /// The error to report to the op's requester.
    pub fn into_error(self) -> Error {
        match self {
            Failure::Refused(err) | Failure::Broken(err) => err,
        }
    }
}

/// Maps a failed statement to [`Failure::Broken`] saying what the writer was doing.
fn broken(context: &'static str) -> impl Fn(sqlx::Error) -> Failure {
    move |err| Failure::Broken(db_err(context)(err))
}

/// Epoch metric rows written by one multi-row `INSERT`, at most.
const ROWS_PER_INSERT: usize = 64;

/// `INSERT INTO epoch_metrics ... VALUES (?, ?, ?, ?, ?), ...` for 1 ..= [`ROWS_PER_INSERT`]
/// rows: built once, only placeholders vary (every value is bound).
fn epoch_insert(rows: usize) -> AssertSqlSafe<Arc<str>> {
    static STATEMENTS: OnceLock<Vec<Arc<str>>> = OnceLock::new();
    let statements = STATEMENTS.get_or_init(|| {
        (1..=ROWS_PER_INSERT)
            .map(|n| {
                let values = vec!["(?, ?, ?, ?, ?)"; n].join(", ");
                Arc::from(format!(
                    "INSERT INTO epoch_metrics (trial_id, attempt, epoch, name, value) VALUES {values}"
                ))
            })
            .collect()
    });
    AssertSqlSafe(statements[rows.clamp(1, ROWS_PER_INSERT) - 1].clone())
}

pub(super) async fn apply(
    conn: &mut SqliteConnection,
    task: &mut Task,
    op: &WriteOp,
) -> Result<i64, Failure> {
    let study_id = task.study_id;
    match op {
        WriteOp::RegisterWorker {
            name,
            hostname,
            slots,
            version,
        } => {
            let done = sqlx::query(concat!(
                "INSERT INTO workers (study_id, name, hostname, slots, version, registered_at) \
                 VALUES (?, ?, ?, ?, ?, ",
                now_sql!(),
                ")"
            ))
            .bind(study_id)
            .bind(name)
            .bind(hostname)
            .bind(i64::from(*slots))
            .bind(version)
            .execute(&mut *conn)
            .await
            .map_err(broken("register worker"))?;
            Ok(done.last_insert_rowid())
        }
        WriteOp::InsertTrial {
            number,
            params,
            overrides,
        } => {
            let done = sqlx::query(concat!(
                "INSERT INTO trials (study_id, number, state, params, overrides, created_at) \
                 VALUES (?, ?, 'queued', ?, ?, ",
                now_sql!(),
                ")"
            ))
            .bind(study_id)
            .bind(number_sql(*number))
            .bind(params)
            .bind(overrides)
            .execute(&mut *conn)
            .await
            .map_err(broken("insert trial"))?;
            task.trial_ids.insert(*number, done.last_insert_rowid());
            Ok(done.last_insert_rowid())
        }
        WriteOp::StartAttempt {
            number,
            lease,
            worker_id,
        } => start_attempt(conn, task.trial_id(*number)?, *lease, *worker_id).await,
        WriteOp::RecordEpochs {
            number,
            lease,
            epochs,
            stop,
        } => record_epochs(conn, task.trial_id(*number)?, *lease, epochs, stop.as_ref()).await,
        WriteOp::FinishAttempt {
            number,
            lease,
            end,
            trial,
        } => finish_attempt(conn, task.trial_id(*number)?, *lease, end, trial).await,
        WriteOp::FinishStudy => {
            sqlx::query(concat!(
                "UPDATE studies SET state = 'finished', finished_at = ",
                now_sql!(),
                " WHERE id = ? AND state = 'running'"
            ))
            .bind(study_id)
            .execute(&mut *conn)
            .await
            .map_err(broken("finish study"))?;
            Ok(0)
        }
    }
}

async fn start_attempt(
    conn: &mut SqliteConnection,
    trial_id: i64,
    lease: LeaseId,
    worker_id: u64,
) -> Result<i64, Failure> {
    // The fence: the trial is queued and this is its next attempt.
    let done = sqlx::query(concat!(
        "UPDATE trials SET state = 'running', attempts = ?, worker_id = ?, started_at = ",
        now_sql!(),
        " WHERE id = ? AND state = 'queued' AND attempts = ? - 1"
    ))
    .bind(i64::from(lease.attempt))
    .bind(worker_sql(worker_id))
    .bind(trial_id)
    .bind(i64::from(lease.attempt))
    .execute(&mut *conn)
    .await
    .map_err(broken("start attempt"))?;
    if done.rows_affected() != 1 {
        return Err(Failure::Refused(Error::Protocol {
            lease,
            problem: "the trial is not queued for this attempt".into(),
        }));
    }
    sqlx::query(concat!(
        "INSERT INTO attempts (trial_id, attempt, worker_id, lease_token, state, started_at) \
         VALUES (?, ?, ?, ?, 'running', ",
        now_sql!(),
        ")"
    ))
    .bind(trial_id)
    .bind(i64::from(lease.attempt))
    .bind(worker_sql(worker_id))
    .bind(token_to_sql(lease.token))
    .execute(&mut *conn)
    .await
    .map_err(broken("start attempt"))?;
    Ok(0)
}

async fn record_epochs(
    conn: &mut SqliteConnection,
    trial_id: i64,
    lease: LeaseId,
    epochs: &[Epoch],
    stop: Option<&(String, StopDecision)>,
) -> Result<i64, Failure> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM attempts \
         WHERE trial_id = ? AND attempt = ? AND lease_token = ? AND state = 'running'",
    )
    .bind(trial_id)
    .bind(i64::from(lease.attempt))
    .bind(token_to_sql(lease.token))
    .fetch_optional(&mut *conn)
    .await
    .map_err(broken("record epoch"))?;
    if held.is_none() {
        return Err(lease_not_held(lease, 0));
    }
    let rows: Vec<(u32, &String, f64)> = epochs
        .iter()
        .flat_map(|e| {
            e.metrics
                .iter()
                .map(move |(name, &value)| (e.epoch, name, value))
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::query(epoch_insert(chunk.len()));
        for &(epoch, name, value) in chunk {
            insert = insert
                .bind(trial_id)
                .bind(i64::from(lease.attempt))
                .bind(i64::from(epoch))
                .bind(name)
                .bind(value);
        }
        insert
            .execute(&mut *conn)
            .await
            .map_err(broken("record epoch"))?;
    }
    if let Some((metric, decision)) = stop {
        sqlx::query(concat!(
            "INSERT INTO early_stops (trial_id, attempt, epoch, rule, metric, value, \
             threshold, explanation, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ",
            now_sql!(),
            ")"
        ))
        .bind(trial_id)
        .bind(i64::from(lease.attempt))
        .bind(i64::from(decision.epoch))
        .bind(&decision.rule)
        .bind(metric)
        .bind(decision.value)
        .bind(decision.threshold)
        .bind(&decision.explanation)
        .execute(&mut *conn)
        .await
        .map_err(broken("record stop decision"))?;
    }
    Ok(0)
}

async fn finish_attempt(
    conn: &mut SqliteConnection,
    trial_id: i64,
    lease: LeaseId,
    end: &AttemptEnd,
    trial: &TrialUpdate,
) -> Result<i64, Failure> {
    // The trial first, fenced on the attempt's lease: a refused completion writes nothing.
    let updated = match trial {
        TrialUpdate::Requeue {
            infra_failures,
            user_failures,
        } => sqlx::query(
            "UPDATE trials SET state = 'queued', infra_failures = ?, user_failures = ? \
             WHERE id = ? AND state = 'running' AND attempts = ? AND EXISTS (SELECT 1 FROM \
             attempts WHERE trial_id = ? AND attempt = ? AND lease_token = ? AND state = 'running')",
        )
        .bind(i64::from(*infra_failures))
        .bind(i64::from(*user_failures))
        .bind(trial_id)
        .bind(i64::from(lease.attempt))
        .bind(trial_id)
        .bind(i64::from(lease.attempt))
        .bind(token_to_sql(lease.token))
        .execute(&mut *conn)
        .await
        .map_err(broken("requeue trial"))?,
        TrialUpdate::Terminal {
            state,
            value,
            metrics,
            error,
            infra_failures,
            user_failures,
        } => sqlx::query(concat!(
            "UPDATE trials SET state = ?, value = ?, metrics = ?, error = ?, \
             infra_failures = ?, user_failures = ?, finished_at = ",
            now_sql!(),
            " WHERE id = ? AND state = 'running' AND attempts = ? AND EXISTS (SELECT 1 FROM \
             attempts WHERE trial_id = ? AND attempt = ? AND lease_token = ? AND state = 'running')"
        ))
        .bind(state.as_str())
        .bind(value)
        .bind(metrics)
        .bind(error)
        .bind(i64::from(*infra_failures))
        .bind(i64::from(*user_failures))
        .bind(trial_id)
        .bind(i64::from(lease.attempt))
        .bind(trial_id)
        .bind(i64::from(lease.attempt))
        .bind(token_to_sql(lease.token))
        .execute(&mut *conn)
        .await
        .map_err(broken("finish trial"))?,
    };
    if updated.rows_affected() != 1 {
        return Err(lease_not_held(lease, 0));
    }
    let done = sqlx::query(concat!(
        "UPDATE attempts SET state = ?, failure = ?, error = ?, finished_at = ",
        now_sql!(),
        " WHERE trial_id = ? AND attempt = ? AND lease_token = ? AND state = 'running'"
    ))
    .bind(end.state)
    .bind(failure_sql(end.failure))
    .bind(&end.error)
    .bind(trial_id)
    .bind(i64::from(lease.attempt))
    .bind(token_to_sql(lease.token))
    .execute(&mut *conn)
    .await
    .map_err(broken("finish attempt"))?;
    if done.rows_affected() != 1 {
        return Err(Failure::Broken(Error::Database {
            context: "finish attempt",
            message: format!("{lease}: the attempt row changed under the trial's"),
        }));
    }
    Ok(0)
}
