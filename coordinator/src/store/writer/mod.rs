//! The coordinator's one writer: a thread that owns the write connection and applies every
//! change to the trials database.
//!
//! Requests queue on a channel; each round takes everything queued (up to [`MAX_BATCH`]),
//! applies it inside one `BEGIN IMMEDIATE` transaction, commits once, and only then
//! acknowledges each request. While one round's commit waits on fsync, the next round's
//! requests accumulate: throughput is not bounded by one fsync per message.
//!
//! The connection is SQLite's own API (rusqlite) on a thread of its own: a round runs from
//! its first statement to its commit without a thread switch, its statements prepared once
//! and cached (an async driver hands every statement to its SQLite thread and back: two
//! thread switches each, the largest cost of a round on a loaded machine).
//!
//! A request whose fence does not hold is refused before it writes anything (see `apply`),
//! so requests need no savepoint of their own. Should a statement fail after its request
//! wrote something (unexpected: the scheduler checks first), the round is rolled back and
//! redone with one savepoint per request, so that request fails alone.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use sqlx::Connection as _;
use tokio::sync::{mpsc, oneshot};

mod apply;
mod checkpoints;
mod postgres;
mod postgres_batch;
mod postgres_checkpoints;
#[cfg(test)]
mod tests;

pub use apply::{AttemptEnd, ModelBytes, TrialUpdate, WriteOp};
use apply::{Failure, sql_error};

use crate::Error;
use crate::store::Location;
use crate::store::cells::{Cells, Place};

/// Most requests applied in one transaction.
pub const MAX_BATCH: usize = 1024;

/// Prepared statements kept per connection (the ops' statements and the 64 shapes of the
/// multi-row epoch insert).
const STATEMENT_CACHE: usize = 128;

/// `strftime` producing the timestamp every row is stamped with (UTC, ISO 8601, ms).
macro_rules! now_sql {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}
pub(crate) use now_sql;

struct Job {
    op: WriteOp,
    /// The op's place in the study's order of events, given as the writer takes it in: the
    /// order the scheduler queued it in (under its lock), which is the order its pruner saw.
    seq: i64,
    reply: oneshot::Sender<Result<i64, Error>>,
}

/// A handle to the writer thread; cheap to clone.
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

/// Opens the write connection on `path` (a database [`open_for_writing`] created and
/// migrated): busy timeout first, then WAL, full synchronous commits (an acknowledged
/// result survives power loss), foreign keys.
///
/// [`open_for_writing`]: crate::store::open_for_writing
fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection, Error> {
    let open_err = |err: rusqlite::Error| Error::Database {
        context: "open the write connection",
        message: format!("{}: {err}", path.display()),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| {
            Ok(Cells::new(row, "pragma", Place::Other("the journal mode")).get("journal_mode"))
        })
        .map_err(open_err)??;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Database {
            context: "open the write connection",
            message: format!("{}: journal mode is {mode}, not wal", path.display()),
        });
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

impl Writer {
    /// Starts the writer thread on the database at `path` for the study `study_id`, whose
    /// existing trials have the row ids `trial_ids` (by number). The thread ends when every
    /// handle is dropped, after the requests already queued.
    pub fn open(path: &Path, study_id: i64, trial_ids: HashMap<u64, i64>) -> Result<Writer, Error> {
        let conn = connect(path, super::BUSY_TIMEOUT)?;
        let last_seq = conn
            .query_row(LAST_SEQ_SQLITE, [study_id], |row| {
                row.get::<_, Option<i64>>(0)
            })
            .map_err(|err| sql_error("read the study's last event number", &err))?;
        let (jobs, queue) = mpsc::unbounded_channel();
        let task = Task::new(study_id, trial_ids, last_seq);
        std::thread::Builder::new()
            .name("trials-writer".into())
            .spawn(move || run(conn, task, queue))
            .map_err(|err| Error::Database {
                context: "start the writer thread",
                message: err.to_string(),
            })?;
        Ok(Writer { jobs })
    }

    /// Starts the writer on `db`: the SQLite thread of [`Writer::open`], or a task holding
    /// one PostgreSQL connection.
    pub async fn open_at(
        db: &Location,
        study_id: i64,
        trial_ids: HashMap<u64, i64>,
    ) -> Result<Writer, Error> {
        match db {
            Location::Sqlite(path) => Writer::open(path, study_id, trial_ids),
            Location::Postgres(url) => {
                let mut conn = sqlx::postgres::PgConnection::connect_with(url.options())
                    .await
                    .map_err(|reason| Error::OpenDatabase {
                        database: db.to_string(),
                        reason,
                    })?;
                let last_seq: Option<i64> = sqlx::query_scalar(LAST_SEQ_POSTGRES)
                    .bind(study_id)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|err| Error::database("read the study's last event number", err))?;
                let (jobs, queue) = mpsc::unbounded_channel();
                let task = Task::new(study_id, trial_ids, last_seq);
                tokio::spawn(postgres::run(conn, task, queue));
                Ok(Writer { jobs })
            }
        }
    }

    /// Queues `op` without waiting; the returned [`Ack`] resolves after its commit.
    pub fn enqueue(&self, op: WriteOp) -> Ack {
        let (reply, done) = oneshot::channel();
        Ack(self
            .jobs
            .send(Job { op, seq: 0, reply })
            .map(|()| done)
            .map_err(|_| Error::ShuttingDown))
    }

    /// Applies `op` and waits for its commit. Returns the new row id for inserts, else 0.
    pub async fn submit(&self, op: WriteOp) -> Result<i64, Error> {
        self.enqueue(op).wait().await
    }
}

/// The study's last event number (`epoch_metrics.seq`, `attempts.started_seq`,
/// `attempts.finished_seq`), so a resumed study's numbers go on increasing.
const LAST_SEQ_SQLITE: &str = "SELECT max(s) FROM (\
     SELECT max(m.seq) AS s FROM epoch_metrics m JOIN trials t ON t.id = m.trial_id \
     WHERE t.study_id = ?1 UNION ALL \
     SELECT max(max(coalesce(a.started_seq, 0), coalesce(a.finished_seq, 0))) FROM attempts a \
     JOIN trials t ON t.id = a.trial_id WHERE t.study_id = ?1)";

/// [`LAST_SEQ_SQLITE`] in PostgreSQL's words.
const LAST_SEQ_POSTGRES: &str = "SELECT max(s)::bigint FROM (\
     SELECT max(m.seq) AS s FROM epoch_metrics m JOIN trials t ON t.id = m.trial_id \
     WHERE t.study_id = $1 UNION ALL \
     SELECT max(greatest(a.started_seq, a.finished_seq)) FROM attempts a \
     JOIN trials t ON t.id = a.trial_id WHERE t.study_id = $1) AS seqs";

/// What the writer thread knows besides its connection.
struct Task {
    study_id: i64,
    /// Trial number to row id. Writes name trials by number, so a trial can be leased as
    /// soon as its insert is queued: the insert is committed no later than the lease.
    trial_ids: HashMap<u64, i64>,
    /// The event number the next op taken in gets.
    next_seq: i64,
    /// The event numbers of the ops being applied, by their index in the slice of ops at
    /// hand (one op: index 0).
    seqs: Vec<i64>,
}

impl Task {
    fn new(study_id: i64, trial_ids: HashMap<u64, i64>, last_seq: Option<i64>) -> Task {
        Task {
            study_id,
            trial_ids,
            next_seq: last_seq.unwrap_or(0).saturating_add(1),
            seqs: Vec::new(),
        }
    }

    /// Numbers `job` in the order ops are taken in.
    fn number(&mut self, job: &mut Job) {
        job.seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
    }

    /// The event number of op `index` of the ops being applied.
    fn seq(&self, index: usize) -> Option<i64> {
        self.seqs.get(index).copied()
    }

    fn trial_id(&self, number: u64) -> Result<i64, Failure> {
        self.trial_ids.get(&number).copied().ok_or_else(|| {
            Failure::Refused(Error::Database {
                context: "look up trial",
                message: format!("no trial number {number} was inserted"),
            })
        })
    }
}

fn run(mut conn: Connection, mut task: Task, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(mut first) = queue.blocking_recv() {
        task.number(&mut first);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(mut job) => {
                    task.number(&mut job);
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let results = apply_batch(&mut conn, &mut task, &batch);
        for (job, result) in batch.drain(..).zip(results) {
            // A requester that went away (cancelled RPC) no longer needs the answer.
            let _ = job.reply.send(result);
        }
    }
    if let Err((_, err)) = conn.close() {
        tracing::warn!(%err, "closing the trials database failed");
    }
}

/// How a round went without savepoints.
enum Grouped {
    /// Committed: one result per request.
    Committed(Vec<Result<i64, Error>>),
    /// A request broke after writing: rolled back, to be redone request by request.
    Redo,
    /// The transaction itself failed.
    Failed(&'static str, rusqlite::Error),
}

fn apply_batch(conn: &mut Connection, task: &mut Task, batch: &[Job]) -> Vec<Result<i64, Error>> {
    let all_failed = |context: &'static str, err: rusqlite::Error| {
        let message = err.to_string();
        tracing::error!(%message, context, "trials database write failed");
        batch
            .iter()
            .map(|_| Err(sql_error(context, &err)))
            .collect()
    };
    let started = std::time::Instant::now();
    let grouped = apply_grouped(conn, task, batch);
    crate::observe::commit_took(started.elapsed());
    match grouped {
        Grouped::Committed(results) => results,
        Grouped::Failed(context, err) => all_failed(context, err),
        Grouped::Redo => match apply_isolated(conn, task, batch) {
            Ok(results) => results,
            Err((context, err)) => all_failed(context, err),
        },
    }
}

/// The round in one transaction, no savepoints.
fn apply_grouped(conn: &mut Connection, task: &mut Task, batch: &[Job]) -> Grouped {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(err) => return Grouped::Failed("begin", err),
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        task.seqs = vec![job.seq];
        match apply::apply(&tx, task, &job.op) {
            Ok(id) => results.push(Ok(id)),
            Err(Failure::Refused(err)) => results.push(Err(err)),
            Err(Failure::Broken(err)) => {
                tracing::warn!(%err, "a write failed halfway; redoing its round write by write");
                forget_inserts(task, batch);
                return match tx.rollback() {
                    Ok(()) => Grouped::Redo,
                    Err(err) => Grouped::Failed("rollback", err),
                };
            }
        }
    }
    match tx.commit() {
        Ok(()) => Grouped::Committed(results),
        Err(err) => {
            forget_inserts(task, batch);
            Grouped::Failed("commit", err)
        }
    }
}

/// Forgets the row ids of the round's trial inserts, which were rolled back.
fn forget_inserts(task: &mut Task, batch: &[Job]) {
    for job in batch {
        if let WriteOp::InsertTrial { number, .. } = &job.op {
            task.trial_ids.remove(number);
        }
    }
}

/// The round in one transaction, each request under its own savepoint.
fn apply_isolated(
    conn: &mut Connection,
    task: &mut Task,
    batch: &[Job],
) -> Result<Vec<Result<i64, Error>>, (&'static str, rusqlite::Error)> {
    let mut tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|err| ("begin", err))?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let mut savepoint = tx.savepoint().map_err(|err| ("savepoint", err))?;
        task.seqs = vec![job.seq];
        let result = apply::apply(&savepoint, task, &job.op).map_err(Failure::into_error);
        let closed = if result.is_ok() {
            savepoint.commit()
        } else {
            if let WriteOp::InsertTrial { number, .. } = &job.op {
                task.trial_ids.remove(number);
            }
            savepoint.rollback().and_then(|()| savepoint.finish())
        };
        closed.map_err(|err| ("savepoint", err))?;
        results.push(result);
    }
    if let Err(err) = tx.commit() {
        forget_inserts(task, batch);
        return Err(("commit", err));
    }
    Ok(results)
}
