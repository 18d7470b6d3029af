//! The coordinator's one writer: a task that owns the write connection and applies every
//! change to the trials database.
//!
//! Requests queue on a channel; each round takes everything queued (up to [`MAX_BATCH`]),
//! applies it inside one `BEGIN IMMEDIATE` transaction, commits once, and only then
//! acknowledges each request. While one round's commit waits on fsync, the next round's
//! requests accumulate: throughput is not bounded by one fsync per message.
//!
//! A request whose fence does not hold is refused before it writes anything (see `apply`),
//! so requests need no savepoint of their own: each statement is a round trip to SQLite's
//! thread, and savepoints would double them. Should a statement fail after its request
//! wrote something (unexpected: the scheduler checks first), the round is rolled back and
//! redone with one savepoint per request, so that request fails alone.

use std::collections::HashMap;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Acquire, Connection};
use tokio::sync::{mpsc, oneshot};

mod apply;
#[cfg(test)]
mod tests;

use apply::Failure;
pub use apply::{AttemptEnd, TrialUpdate, WriteOp};

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
    fn trial_id(&self, number: u64) -> Result<i64, Failure> {
        self.trial_ids.get(&number).copied().ok_or_else(|| {
            Failure::Refused(Error::Database {
                context: "look up trial",
                message: format!("no trial number {number} was inserted"),
            })
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

/// How a round went without savepoints.
enum Grouped {
    /// Committed: one result per request.
    Committed(Vec<Result<i64, Error>>),
    /// A request broke after writing: rolled back, to be redone request by request.
    Redo,
    /// The transaction itself failed.
    Failed(&'static str, sqlx::Error),
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
    match apply_grouped(conn, task, batch).await {
        Grouped::Committed(results) => results,
        Grouped::Failed(context, err) => all_failed(context, err),
        Grouped::Redo => match apply_isolated(conn, task, batch).await {
            Ok(results) => results,
            Err((context, err)) => all_failed(context, err),
        },
    }
}

/// The round in one transaction, no savepoints.
async fn apply_grouped(conn: &mut SqliteConnection, task: &mut Task, batch: &[Job]) -> Grouped {
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(err) => return Grouped::Failed("begin", err),
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        match apply::apply(&mut tx, task, &job.op).await {
            Ok(id) => results.push(Ok(id)),
            Err(Failure::Refused(err)) => results.push(Err(err)),
            Err(Failure::Broken(err)) => {
                tracing::warn!(%err, "a write failed halfway; redoing its round write by write");
                return match tx.rollback().await {
                    Ok(()) => Grouped::Redo,
                    Err(err) => Grouped::Failed("rollback", err),
                };
            }
        }
    }
    match tx.commit().await {
        Ok(()) => Grouped::Committed(results),
        Err(err) => Grouped::Failed("commit", err),
    }
}

/// The round in one transaction, each request under its own savepoint.
async fn apply_isolated(
    conn: &mut SqliteConnection,
    task: &mut Task,
    batch: &[Job],
) -> Result<Vec<Result<i64, Error>>, (&'static str, sqlx::Error)> {
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|err| ("begin", err))?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let mut savepoint = tx.begin().await.map_err(|err| ("savepoint", err))?;
        let result = apply::apply(&mut savepoint, task, &job.op)
            .await
            .map_err(Failure::into_error);
        let closed = if result.is_ok() {
            savepoint.commit().await
        } else {
            if let WriteOp::InsertTrial { number, .. } = &job.op {
                task.trial_ids.remove(number);
            }
            savepoint.rollback().await
        };
        closed.map_err(|err| ("savepoint", err))?;
        results.push(result);
    }
    tx.commit().await.map_err(|err| ("commit", err))?;
    Ok(results)
}
