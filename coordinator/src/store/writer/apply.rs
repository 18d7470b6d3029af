//! The changes themselves: what each [`WriteOp`] does in SQL, fenced on the lease where an
//! attempt is concerned.
//!
//! Every op checks its fence with its first statement, before it writes anything, so a
//! refused op leaves the transaction as it found it and the writer needs no savepoint per
//! op; a statement failing later (which the scheduler's own checks make unexpected) is
//! reported as [`Failure::Broken`] and the writer redoes the batch op by op. Statements are
//! prepared once and cached on the connection.

use hypersearch_proto::{Epoch, FailureKind, LeaseId, StopDecision};
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

use super::Task;
use super::now_sql;
use crate::Error;
use crate::store::{TrialState, token_to_sql};

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

/// A trained network's bytes as the writer carries them (shared, not copied; `Debug` shows
/// the length only).
#[derive(Clone, PartialEq, Eq)]
pub struct ModelBytes(pub std::sync::Arc<[u8]>);

impl std::fmt::Debug for ModelBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelBytes({} bytes)", self.0.len())
    }
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
        /// SHA-256 (hex) of the credential it was handed.
        credential_sha256: String,
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
    /// The trained network of a running attempt, kept in `kept_models` (replacing an
    /// earlier attempt's); fenced on the attempt's lease.
    StoreModel {
        /// The trial's number.
        number: u64,
        /// The attempt's lease.
        lease: LeaseId,
        /// SHA-256 of `model` (hex).
        sha256: String,
        /// The model, in nn-core's `model::file` format.
        model: ModelBytes,
    },
    /// The kept models of these trials are dropped (they left the best `keep_models`, or
    /// ended other than complete); trials without one are skipped.
    DropModels {
        /// The trials' numbers.
        numbers: Vec<u64>,
    },
    /// A running attempt's checkpoint after `epoch`, in `checkpoints` (replacing the trial's
    /// earlier one); fenced on the attempt's lease.
    StoreCheckpoint {
        /// The trial's number.
        number: u64,
        /// The attempt's lease.
        lease: LeaseId,
        /// The last epoch it includes.
        epoch: u32,
        /// SHA-256 of `checkpoint` (hex).
        sha256: String,
        /// The checkpoint, in nn-core's `train::Checkpoint` format.
        checkpoint: ModelBytes,
    },
    /// The checkpoints of these trials are deleted (the trial ended, or an attempt of it
    /// failed with a user error); trials without one are skipped.
    DropCheckpoints {
        /// The trials' numbers.
        numbers: Vec<u64>,
    },
    /// How a retry's curve goes on (written after its `StartAttempt`): with `resumed_from`,
    /// from the checkpoint taken after that epoch (the epochs earlier attempts recorded past
    /// it are deleted: they run again) and the curve starts at attempt `curve_from`;
    /// without, the attempt starts from scratch and its curve is its own.
    ContinueCurve {
        /// The trial's number.
        number: u64,
        /// The new attempt's lease.
        lease: LeaseId,
        /// The checkpoint's epoch, when it resumes.
        resumed_from: Option<u32>,
        /// The first attempt of its curve, when it resumes.
        curve_from: Option<u32>,
    },
    /// The worker of a resumed attempt cannot use its checkpoint: `reason` is recorded on
    /// the attempt, the checkpoint deleted, and the attempt's curve is its own (it starts
    /// from scratch); fenced on the lease.
    RefuseCheckpoint {
        /// The trial's number.
        number: u64,
        /// The attempt's lease.
        lease: LeaseId,
        /// Why.
        reason: String,
    },
    /// The study's budget is spent and every trial is over.
    FinishStudy,
    /// A worker may lease no more trials, for `reason`; or, with `None`, may again.
    QuarantineWorker {
        /// The worker's id.
        worker_id: u64,
        /// Why, or `None` when it was resumed.
        reason: Option<String>,
    },
}

fn worker_sql(worker_id: u64) -> i64 {
    i64::try_from(worker_id).unwrap_or(i64::MAX)
}

fn number_sql(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

pub(super) fn failure_sql(failure: Option<FailureKind>) -> Option<&'static str> {
    failure.and_then(|kind| match kind {
        FailureKind::User => Some("user"),
        FailureKind::Infrastructure => Some("infrastructure"),
        FailureKind::Preempted => None,
    })
}

pub(super) fn lease_not_held(lease: LeaseId, worker: u64) -> Failure {
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

/// An [`Error::Database`] saying what the writer was doing when SQLite said `err`.
pub(super) fn sql_error(context: &'static str, err: &rusqlite::Error) -> Error {
    Error::Database {
        context,
        message: err.to_string(),
    }
}

/// Maps a failed statement to [`Failure::Broken`] saying what the writer was doing.
pub(super) fn broken(context: &'static str) -> impl Fn(rusqlite::Error) -> Failure {
    move |err| Failure::Broken(sql_error(context, &err))
}

/// Epoch metric rows written by one multi-row `INSERT`, at most.
const ROWS_PER_INSERT: usize = 64;

/// `INSERT INTO epoch_metrics ... VALUES (?, ?, ?, ?, ?, ?), ...` for `rows` rows (1 ..=
/// [`ROWS_PER_INSERT`]): only placeholders vary (every value is bound), so each of the 64
/// texts is prepared once and cached.
fn epoch_insert(rows: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?, ?)"; rows.clamp(1, ROWS_PER_INSERT)].join(", ");
    format!(
        "INSERT INTO epoch_metrics (trial_id, attempt, epoch, name, value, seq) VALUES {values}"
    )
}

pub(super) fn apply(conn: &Connection, task: &mut Task, op: &WriteOp) -> Result<i64, Failure> {
    let study_id = task.study_id;
    match op {
        WriteOp::RegisterWorker {
            name,
            hostname,
            slots,
            version,
            credential_sha256,
        } => {
            conn.prepare_cached(concat!(
                "INSERT INTO workers (study_id, name, hostname, slots, version, \
                 credential_sha256, registered_at) VALUES (?, ?, ?, ?, ?, ?, ",
                now_sql!(),
                ")"
            ))
            .and_then(|mut insert| {
                insert.execute(params![
                    study_id,
                    name,
                    hostname,
                    i64::from(*slots),
                    version,
                    credential_sha256
                ])
            })
            .map_err(broken("register worker"))?;
            Ok(conn.last_insert_rowid())
        }
        WriteOp::InsertTrial {
            number,
            params,
            overrides,
        } => {
            conn.prepare_cached(concat!(
                "INSERT INTO trials (study_id, number, state, params, overrides, created_at) \
                 VALUES (?, ?, 'queued', ?, ?, ",
                now_sql!(),
                ")"
            ))
            .and_then(|mut insert| {
                insert.execute(params![study_id, number_sql(*number), params, overrides])
            })
            .map_err(broken("insert trial"))?;
            let id = conn.last_insert_rowid();
            task.trial_ids.insert(*number, id);
            Ok(id)
        }
        WriteOp::StartAttempt {
            number,
            lease,
            worker_id,
        } => start_attempt(
            conn,
            task.trial_id(*number)?,
            *lease,
            *worker_id,
            task.seq(0),
        ),
        WriteOp::RecordEpochs {
            number,
            lease,
            epochs,
            stop,
        } => record_epochs(
            conn,
            (task.trial_id(*number)?, *lease, task.seq(0)),
            epochs,
            stop.as_ref(),
        ),
        WriteOp::FinishAttempt {
            number,
            lease,
            end,
            trial,
        } => finish_attempt(
            conn,
            (task.trial_id(*number)?, *lease, task.seq(0)),
            end,
            trial,
        ),
        WriteOp::StoreModel {
            number,
            lease,
            sha256,
            model,
        } => store_model(conn, task.trial_id(*number)?, *lease, sha256, &model.0),
        WriteOp::DropModels { numbers } => {
            for number in numbers {
                let Some(&trial_id) = task.trial_ids.get(number) else {
                    continue;
                };
                conn.prepare_cached("DELETE FROM kept_models WHERE trial_id = ?")
                    .and_then(|mut delete| delete.execute([trial_id]))
                    .map_err(broken("drop a kept model"))?;
            }
            Ok(0)
        }
        WriteOp::StoreCheckpoint {
            number,
            lease,
            epoch,
            sha256,
            checkpoint,
        } => super::checkpoints::store(
            conn,
            task.trial_id(*number)?,
            *lease,
            *epoch,
            sha256,
            &checkpoint.0,
        ),
        WriteOp::DropCheckpoints { numbers } => {
            let ids: Vec<i64> = numbers
                .iter()
                .filter_map(|number| task.trial_ids.get(number).copied())
                .collect();
            super::checkpoints::drop_all(conn, &ids)
        }
        WriteOp::ContinueCurve {
            number,
            lease,
            resumed_from,
            curve_from,
        } => super::checkpoints::continue_curve(
            conn,
            task.trial_id(*number)?,
            *lease,
            *resumed_from,
            *curve_from,
        ),
        WriteOp::RefuseCheckpoint {
            number,
            lease,
            reason,
        } => super::checkpoints::refuse(conn, task.trial_id(*number)?, *lease, reason),
        WriteOp::FinishStudy => {
            conn.prepare_cached(concat!(
                "UPDATE studies SET state = 'finished', finished_at = ",
                now_sql!(),
                " WHERE id = ? AND state = 'running'"
            ))
            .and_then(|mut update| update.execute([study_id]))
            .map_err(broken("finish study"))?;
            Ok(0)
        }
        WriteOp::QuarantineWorker { worker_id, reason } => {
            conn.prepare_cached("UPDATE workers SET quarantined = ? WHERE id = ? AND study_id = ?")
                .and_then(|mut update| {
                    update.execute(rusqlite::params![reason, worker_sql(*worker_id), study_id])
                })
                .map_err(broken("record a worker's quarantine"))?;
            Ok(0)
        }
    }
}

fn start_attempt(
    conn: &Connection,
    trial_id: i64,
    lease: LeaseId,
    worker_id: u64,
    seq: Option<i64>,
) -> Result<i64, Failure> {
    // The fence: the trial is queued and this is its next attempt.
    let attempt = i64::from(lease.attempt);
    let updated = conn
        .prepare_cached(concat!(
            "UPDATE trials SET state = 'running', attempts = ?1, worker_id = ?2, started_at = ",
            now_sql!(),
            " WHERE id = ?3 AND state = 'queued' AND attempts = ?1 - 1"
        ))
        .and_then(|mut update| update.execute(params![attempt, worker_sql(worker_id), trial_id]))
        .map_err(broken("start attempt"))?;
    if updated != 1 {
        return Err(Failure::Refused(Error::Protocol {
            lease,
            problem: "the trial is not queued for this attempt".into(),
        }));
    }
    conn.prepare_cached(concat!(
        "INSERT INTO attempts (trial_id, attempt, worker_id, lease_token, state, started_seq, \
         started_at) VALUES (?, ?, ?, ?, 'running', ?, ",
        now_sql!(),
        ")"
    ))
    .and_then(|mut insert| {
        insert.execute(params![
            trial_id,
            attempt,
            worker_sql(worker_id),
            token_to_sql(lease.token),
            seq
        ])
    })
    .map_err(broken("start attempt"))?;
    Ok(0)
}

/// Keeps a running attempt's model, replacing the trial's earlier one: the fence (the
/// attempt holds its lease and is running) is the insert's own condition.
fn store_model(
    conn: &Connection,
    trial_id: i64,
    lease: LeaseId,
    sha256: &str,
    model: &[u8],
) -> Result<i64, Failure> {
    let stored = conn
        .prepare_cached(concat!(
            "INSERT INTO kept_models (trial_id, attempt, size, sha256, model, stored_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ",
            now_sql!(),
            " WHERE EXISTS (SELECT 1 FROM attempts WHERE trial_id = ?1 AND attempt = ?2 \
             AND lease_token = ?6 AND state = 'running') \
             ON CONFLICT (trial_id) DO UPDATE SET attempt = excluded.attempt, \
             size = excluded.size, sha256 = excluded.sha256, model = excluded.model, \
             stored_at = excluded.stored_at"
        ))
        .and_then(|mut insert| {
            insert.execute(params![
                trial_id,
                i64::from(lease.attempt),
                i64::try_from(model.len()).unwrap_or(i64::MAX),
                sha256,
                model,
                token_to_sql(lease.token)
            ])
        })
        .map_err(broken("keep a model"))?;
    if stored != 1 {
        return Err(lease_not_held(lease, 0));
    }
    Ok(0)
}

/// The attempt an op writes for: its trial's row id, its lease and the op's event number.
type Fenced = (i64, LeaseId, Option<i64>);

fn record_epochs(
    conn: &Connection,
    (trial_id, lease, seq): Fenced,
    epochs: &[Epoch],
    stop: Option<&(String, StopDecision)>,
) -> Result<i64, Failure> {
    let held = conn
        .prepare_cached(
            "SELECT 1 FROM attempts \
             WHERE trial_id = ? AND attempt = ? AND lease_token = ? AND state = 'running'",
        )
        .and_then(|mut select| {
            select.exists(params![
                trial_id,
                i64::from(lease.attempt),
                token_to_sql(lease.token)
            ])
        })
        .map_err(broken("record epoch"))?;
    if !held {
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
        let mut values = Vec::with_capacity(chunk.len() * 6);
        for &(epoch, name, value) in chunk {
            values.extend([
                Value::Integer(trial_id),
                Value::Integer(i64::from(lease.attempt)),
                Value::Integer(i64::from(epoch)),
                Value::Text(name.clone()),
                Value::Real(value),
                seq.map_or(Value::Null, Value::Integer),
            ]);
        }
        conn.prepare_cached(&epoch_insert(chunk.len()))
            .and_then(|mut insert| insert.execute(params_from_iter(values)))
            .map_err(broken("record epoch"))?;
    }
    if let Some((metric, decision)) = stop {
        conn.prepare_cached(concat!(
            "INSERT INTO early_stops (trial_id, attempt, epoch, rule, metric, value, \
             threshold, explanation, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ",
            now_sql!(),
            ")"
        ))
        .and_then(|mut insert| {
            insert.execute(params![
                trial_id,
                i64::from(lease.attempt),
                i64::from(decision.epoch),
                decision.rule,
                metric,
                decision.value,
                decision.threshold,
                decision.explanation,
            ])
        })
        .map_err(broken("record stop decision"))?;
    }
    Ok(0)
}

fn finish_attempt(
    conn: &Connection,
    (trial_id, lease, seq): Fenced,
    end: &AttemptEnd,
    trial: &TrialUpdate,
) -> Result<i64, Failure> {
    let attempt = i64::from(lease.attempt);
    let token = token_to_sql(lease.token);
    // The trial first, fenced on the attempt's lease: a refused completion writes nothing.
    let updated = match trial {
        TrialUpdate::Requeue {
            infra_failures,
            user_failures,
        } => conn
            .prepare_cached(
                "UPDATE trials SET state = 'queued', infra_failures = ?, user_failures = ? \
                 WHERE id = ?3 AND state = 'running' AND attempts = ?4 AND EXISTS (SELECT 1 \
                 FROM attempts WHERE trial_id = ?3 AND attempt = ?4 AND lease_token = ?5 \
                 AND state = 'running')",
            )
            .and_then(|mut update| {
                update.execute(params![
                    i64::from(*infra_failures),
                    i64::from(*user_failures),
                    trial_id,
                    attempt,
                    token
                ])
            })
            .map_err(broken("requeue trial"))?,
        TrialUpdate::Terminal {
            state,
            value,
            metrics,
            error,
            infra_failures,
            user_failures,
        } => conn
            .prepare_cached(concat!(
                "UPDATE trials SET state = ?, value = ?, metrics = ?, error = ?, \
                 infra_failures = ?, user_failures = ?, finished_at = ",
                now_sql!(),
                " WHERE id = ?7 AND state = 'running' AND attempts = ?8 AND EXISTS (SELECT 1 \
                 FROM attempts WHERE trial_id = ?7 AND attempt = ?8 AND lease_token = ?9 \
                 AND state = 'running')"
            ))
            .and_then(|mut update| {
                update.execute(params![
                    state.as_str(),
                    value,
                    metrics,
                    error,
                    i64::from(*infra_failures),
                    i64::from(*user_failures),
                    trial_id,
                    attempt,
                    token
                ])
            })
            .map_err(broken("finish trial"))?,
    };
    if updated != 1 {
        return Err(lease_not_held(lease, 0));
    }
    let done = conn
        .prepare_cached(concat!(
            "UPDATE attempts SET state = ?, failure = ?, error = ?, finished_seq = ?, \
             finished_at = ",
            now_sql!(),
            " WHERE trial_id = ? AND attempt = ? AND lease_token = ? AND state = 'running'"
        ))
        .and_then(|mut update| {
            update.execute(params![
                end.state,
                failure_sql(end.failure),
                end.error,
                seq,
                trial_id,
                attempt,
                token
            ])
        })
        .map_err(broken("finish attempt"))?;
    if done != 1 {
        return Err(Failure::Broken(Error::Database {
            context: "finish attempt",
            message: format!("{lease}: the attempt row changed under the trial's"),
        }));
    }
    Ok(0)
}
