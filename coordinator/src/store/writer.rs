//! The coordinator's one writer: a task that owns the write connection and applies every
//! change to the trials database.
//!
//! Requests queue on a channel; each round takes everything queued (up to [`MAX_BATCH`]),
//! applies it inside one `BEGIN IMMEDIATE` transaction, each request under its own savepoint
//! (so a fenced or invalid request fails alone), commits once, and only then acknowledges
//! each request. While one round's commit waits on fsync, the next round's requests
//! accumulate: throughput is not bounded by one fsync per message.

use std::collections::HashMap;

use hypersearch_proto::{Epoch, FailureKind, LeaseId, StopDecision};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Acquire, Connection};
use tokio::sync::{mpsc, oneshot};

use super::db_err;
use super::{TrialState, token_to_sql};
use crate::Error;

/// Most requests applied in one transaction.
pub const MAX_BATCH: usize = 1024;

/// `strftime` producing the timestamp every row is stamped with (UTC, ISO 8601, ms).
macro_rules! now_sql {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}
pub(crate) use now_sql;

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

struct Job {
    op: WriteOp,
    reply: oneshot::Sender<Result<i64, Error>>,
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    // Unbounded so that a write can be queued synchronously while the scheduler's lock is
    // held (keeping the database's order of changes that of the scheduler); what waits in it
    // is bounded by the requests in flight, each of which queues a few writes at most.
    jobs: mpsc::UnboundedSender<Job>,
}

/// The acknowledgement of a queued write: resolves once it is committed (or failed).
pub struct Ack(Result<oneshot::Receiver<Result<i64, Error>>, Error>);

impl Ack {
    /// Waits for the commit. Returns the new row id for inserts, else 0.
    pub async fn wait(self) -> Result<i64, Error> {
        self.0?.await.map_err(|_| Error::ShuttingDown)?
    }
}

impl Writer {
    /// Starts the writer task on `conn` for the study `study_id`, whose existing trials have
    /// the row ids `trial_ids` (by number). The task ends when every handle is dropped.
    pub fn spawn(conn: SqliteConnection, study_id: i64, trial_ids: HashMap<u64, i64>) -> Writer {
        let (jobs, queue) = mpsc::unbounded_channel();
        let task = Task {
            study_id,
            trial_ids,
        };
        tokio::spawn(run(conn, task, queue));
        Writer { jobs }
    }

    /// Queues `op` without waiting; the returned [`Ack`] resolves after its commit.
    pub fn enqueue(&self, op: WriteOp) -> Ack {
        let (reply, done) = oneshot::channel();
        Ack(self
            .jobs
            .send(Job { op, reply })
            .map(|()| done)
            .map_err(|_| Error::ShuttingDown))
    }

    /// Applies `op` and waits for its commit. Returns the new row id for inserts, else 0.
    pub async fn submit(&self, op: WriteOp) -> Result<i64, Error> {
        self.enqueue(op).wait().await
    }
}

/// What the writer task knows besides its connection.
struct Task {
    study_id: i64,
    /// Trial number to row id. Writes name trials by number, so a trial can be leased as
    /// soon as its insert is queued: the insert is committed no later than the lease.
    trial_ids: HashMap<u64, i64>,
}

impl Task {
    fn trial_id(&self, number: u64) -> Result<i64, Error> {
        self.trial_ids
            .get(&number)
            .copied()
            .ok_or_else(|| Error::Database {
                context: "look up trial",
                message: format!("no trial number {number} was inserted"),
            })
    }
}

async fn run(mut conn: SqliteConnection, mut task: Task, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results = apply_batch(&mut conn, &mut task, &batch).await;
        for (job, result) in batch.drain(..).zip(results) {
            // A requester that went away (cancelled RPC) no longer needs the answer.
            let _ = job.reply.send(result);
        }
    }
    let _ = conn.close().await;
}

async fn apply_batch(
    conn: &mut SqliteConnection,
    task: &mut Task,
    batch: &[Job],
) -> Vec<Result<i64, Error>> {
    let all_failed = |context: &'static str, err: sqlx::Error| {
        let message = err.to_string();
        tracing::error!(%message, context, "trials database write failed");
        batch
            .iter()
            .map(|_| {
                Err(Error::Database {
                    context,
                    message: message.clone(),
                })
            })
            .collect()
    };
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(err) => return all_failed("begin", err),
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let mut savepoint = match tx.begin().await {
            Ok(sp) => sp,
            Err(err) => return all_failed("savepoint", err),
        };
        let result = apply(&mut savepoint, task, &job.op).await;
        let closed = if result.is_ok() {
            savepoint.commit().await
        } else {
            savepoint.rollback().await
        };
        if let Err(err) = closed {
            return all_failed("savepoint", err);
        }
        results.push(result);
    }
    match tx.commit().await {
        Ok(()) => results,
        Err(err) => all_failed("commit", err),
    }
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

fn lease_not_held(lease: LeaseId, worker: u64) -> Error {
    Error::LeaseNotHeld {
        lease,
        worker,
        reason: "the database holds no running attempt with this lease".into(),
    }
}

async fn apply(conn: &mut SqliteConnection, task: &mut Task, op: &WriteOp) -> Result<i64, Error> {
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
            .map_err(db_err("register worker"))?;
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
            .map_err(db_err("insert trial"))?;
            task.trial_ids.insert(*number, done.last_insert_rowid());
            Ok(done.last_insert_rowid())
        }
        WriteOp::StartAttempt {
            number,
            lease,
            worker_id,
        } => {
            let trial_id = task.trial_id(*number)?;
            let done = sqlx::query(concat!(
                "UPDATE trials SET state = 'running', attempts = ?, worker_id = ?, started_at = ",
                now_sql!(),
                " WHERE id = ? AND state = 'queued' AND attempts = ? - 1"
            ))
            .bind(i64::from(lease.attempt))
            .bind(worker_sql(*worker_id))
            .bind(trial_id)
            .bind(i64::from(lease.attempt))
            .execute(&mut *conn)
            .await
            .map_err(db_err("start attempt"))?;
            if done.rows_affected() != 1 {
                return Err(Error::Protocol {
                    lease: *lease,
                    problem: "the trial is not queued for this attempt".into(),
                });
            }
            sqlx::query(concat!(
                "INSERT INTO attempts (trial_id, attempt, worker_id, lease_token, state, started_at) \
                 VALUES (?, ?, ?, ?, 'running', ",
                now_sql!(),
                ")"
            ))
            .bind(trial_id)
            .bind(i64::from(lease.attempt))
            .bind(worker_sql(*worker_id))
            .bind(token_to_sql(lease.token))
            .execute(&mut *conn)
            .await
            .map_err(db_err("start attempt"))?;
            Ok(0)
        }
        WriteOp::RecordEpochs {
            number,
            lease,
            epochs,
            stop,
        } => {
            let trial_id = task.trial_id(*number)?;
            let held: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM attempts \
                 WHERE trial_id = ? AND attempt = ? AND lease_token = ? AND state = 'running'",
            )
            .bind(trial_id)
            .bind(i64::from(lease.attempt))
            .bind(token_to_sql(lease.token))
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("record epoch"))?;
            if held.is_none() {
                return Err(lease_not_held(*lease, 0));
            }
            for epoch in epochs {
                for (name, value) in &epoch.metrics {
                    sqlx::query(
                        "INSERT INTO epoch_metrics (trial_id, attempt, epoch, name, value) \
                         VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(trial_id)
                    .bind(i64::from(lease.attempt))
                    .bind(i64::from(epoch.epoch))
                    .bind(name)
                    .bind(value)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err("record epoch"))?;
                }
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
                .map_err(db_err("record stop decision"))?;
            }
            Ok(0)
        }
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
            .map_err(db_err("finish study"))?;
            Ok(0)
        }
    }
}

async fn finish_attempt(
    conn: &mut SqliteConnection,
    trial_id: i64,
    lease: LeaseId,
    end: &AttemptEnd,
    trial: &TrialUpdate,
) -> Result<i64, Error> {
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
    .map_err(db_err("finish attempt"))?;
    if done.rows_affected() != 1 {
        return Err(lease_not_held(lease, 0));
    }
    let updated = match trial {
        TrialUpdate::Requeue {
            infra_failures,
            user_failures,
        } => sqlx::query(
            "UPDATE trials SET state = 'queued', infra_failures = ?, user_failures = ? \
             WHERE id = ? AND state = 'running' AND attempts = ?",
        )
        .bind(i64::from(*infra_failures))
        .bind(i64::from(*user_failures))
        .bind(trial_id)
        .bind(i64::from(lease.attempt))
        .execute(&mut *conn)
        .await
        .map_err(db_err("requeue trial"))?,
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
            " WHERE id = ? AND state = 'running' AND attempts = ?"
        ))
        .bind(state.as_str())
        .bind(value)
        .bind(metrics)
        .bind(error)
        .bind(i64::from(*infra_failures))
        .bind(i64::from(*user_failures))
        .bind(trial_id)
        .bind(i64::from(lease.attempt))
        .execute(&mut *conn)
        .await
        .map_err(db_err("finish trial"))?,
    };
    if updated.rows_affected() != 1 {
        return Err(Error::Protocol {
            lease,
            problem: "the trial is not running this attempt".into(),
        });
    }
    Ok(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{
        StudyDefinition, create_or_resume, open_for_writing, open_read_only, query,
    };
    use hypersearch_proto::Direction;

    fn definition() -> StudyDefinition {
        StudyDefinition {
            name: "s".into(),
            metric: "loss".into(),
            direction: Direction::Minimize,
            algorithm: "random".into(),
            budget: 3,
            config: "[study]\nname = \"s\"\n".into(),
        }
    }

    #[tokio::test]
    async fn writes_are_fenced_on_the_lease_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = open_for_writing(&path).await.unwrap();
        let study = create_or_resume(&mut conn, &definition(), &path)
            .await
            .unwrap();
        assert!(!study.resumed);
        let writer = Writer::spawn(conn, study.id, HashMap::new());
        let worker = writer
            .submit(WriteOp::RegisterWorker {
                name: "w".into(),
                hostname: "h".into(),
                slots: 1,
                version: "0".into(),
            })
            .await
            .unwrap() as u64;
        // Many concurrent inserts land in a few grouped transactions, each acknowledged.
        let inserts = (0..200u64).map(|number| {
            let writer = writer.clone();
            async move {
                writer
                    .submit(WriteOp::InsertTrial {
                        number,
                        params: format!("{{\"x\": {number}}}"),
                        overrides: "{}".into(),
                    })
                    .await
            }
        });
        let ids: Vec<i64> = futures_join(inserts).await;
        assert_eq!(ids.len(), 200);
        assert!(ids.iter().all(|&id| id > 0));
        let number = 0;
        let lease = LeaseId {
            trial: 0,
            attempt: 1,
            token: u64::MAX - 5,
        };
        writer
            .submit(WriteOp::StartAttempt {
                number,
                lease,
                worker_id: worker,
            })
            .await
            .unwrap();
        let forged = LeaseId { token: 7, ..lease };
        let epoch = |lease, epoch| WriteOp::RecordEpochs {
            number,
            lease,
            epochs: vec![Epoch {
                epoch,
                metrics: hypersearch_proto::Metrics::from([(
                    "loss".into(),
                    1.0 / f64::from(epoch),
                )]),
            }],
            stop: None,
        };
        assert!(matches!(
            writer.submit(epoch(forged, 1)).await,
            Err(Error::LeaseNotHeld { .. })
        ));
        writer.submit(epoch(lease, 1)).await.unwrap();
        writer.submit(epoch(lease, 2)).await.unwrap();
        // The same epoch twice is refused by the primary key, and refused alone.
        assert!(writer.submit(epoch(lease, 2)).await.is_err());
        let finish = |lease| WriteOp::FinishAttempt {
            number,
            lease,
            end: AttemptEnd {
                state: "complete",
                failure: None,
                error: None,
            },
            trial: TrialUpdate::Terminal {
                state: TrialState::Complete,
                value: Some(0.5),
                metrics: Some("{\"loss\": 0.5}".into()),
                error: None,
                infra_failures: 0,
                user_failures: 0,
            },
        };
        assert!(writer.submit(finish(forged)).await.is_err());
        writer.submit(finish(lease)).await.unwrap();
        // A duplicate completion finds no running attempt.
        assert!(matches!(
            writer.submit(finish(lease)).await,
            Err(Error::LeaseNotHeld { .. })
        ));
        drop(writer);

        let mut conn = open_for_writing(&path).await.unwrap();
        let again = create_or_resume(&mut conn, &definition(), &path)
            .await
            .unwrap();
        assert!(again.resumed);
        assert_eq!(again.trials.len(), 200);
        let first = &again.trials[0];
        assert_eq!(first.state, TrialState::Complete);
        assert_eq!(first.value, Some(0.5));
        assert_eq!(first.intermediate, vec![(1, 1.0), (2, 0.5)]);
        assert_eq!(first.latest.as_ref().unwrap().token, lease.token);
        assert_eq!(again.workers, vec![(worker, 1)]);

        let changed = StudyDefinition {
            config: "[study]\nname = \"other\"\n".into(),
            ..definition()
        };
        assert!(matches!(
            create_or_resume(&mut conn, &changed, &path).await,
            Err(Error::StudyChanged { .. })
        ));

        let mut reader = open_read_only(&path).await.unwrap();
        let study = query::resolve_study(&mut reader, None, &path)
            .await
            .unwrap();
        let best = query::best(&mut reader, &study, 5).await.unwrap();
        assert_eq!(best.len(), 1);
        assert_eq!(best[0].trial, 0);
        assert_eq!(best[0].worker.as_deref(), Some("w"));
        let detail = query::trial(&mut reader, &study, 0).await.unwrap();
        assert_eq!(detail.history.len(), 2);
        assert_eq!(detail.attempt_history[0].state, "complete");
        let queued = query::trials(
            &mut reader,
            &study,
            Some(TrialState::Queued),
            query::TrialOrder::Number,
        )
        .await
        .unwrap();
        assert_eq!(queued.len(), 199);
        let summary = query::studies(&mut reader).await.unwrap();
        assert_eq!(summary[0].complete, 1);
        assert_eq!(summary[0].best_value, Some(0.5));
        let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut reader)
            .await
            .unwrap();
        assert_eq!(ok, "ok");
    }

    async fn futures_join(
        futures: impl Iterator<Item = impl Future<Output = Result<i64, Error>> + Send + 'static>,
    ) -> Vec<i64> {
        let handles: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap().unwrap());
        }
        out
    }
}
