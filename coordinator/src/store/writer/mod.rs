//! The coordinator's one writer: a task that owns the write connection and applies every
//! change to the trials database.
//!
//! Requests queue on a channel; each round takes everything queued (up to [`MAX_BATCH`]),
//! applies it inside one `BEGIN IMMEDIATE` transaction, each request under its own savepoint
//! (so a fenced or invalid request fails alone), commits once, and only then acknowledges
//! each request. While one round's commit waits on fsync, the next round's requests
//! accumulate: throughput is not bounded by one fsync per message.

use std::collections::HashMap;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Acquire, Connection};
use tokio::sync::{mpsc, oneshot};

mod apply;
#[cfg(test)]
mod tests;

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
        let result = apply::apply(&mut savepoint, task, &job.op).await;
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
