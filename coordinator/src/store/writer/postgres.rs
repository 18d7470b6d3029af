//! The writer on PostgreSQL: the same rounds as on SQLite (everything queued, up to
//! [`MAX_BATCH`], in one transaction, one commit, then every acknowledgement), on a task of
//! its own holding the one write connection (sqlx's Postgres driver, statements prepared
//! once per connection). A round runs in phases of array statements (`postgres_batch`); the
//! rarer ops (registrations, requeues, stop decisions, empty reports, the study's end) are
//! written here one by one, each with its lease fence inside its first statement (a
//! data-modifying `WITH`), so a refused op writes nothing. A statement failing after its op
//! wrote has the round redone op by op under savepoints, as on SQLite; there the common ops
//! go through the same array statements, one op at a time.

use hypersearch_proto::{Epoch, LeaseId, StopDecision};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::mpsc;

use super::apply::{AttemptEnd, Failure, TrialUpdate, WriteOp, failure_sql, lease_not_held};
use super::{Job, MAX_BATCH, Task};
use crate::Error;
use crate::store::cells::{Cells, Place};
use crate::store::token_to_sql;

/// The timestamp every row is stamped with (UTC, ISO 8601, ms), as on SQLite.
macro_rules! now_pg {
    () => {
        "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    };
}
pub(super) use now_pg;

pub(super) fn broken(context: &'static str) -> impl Fn(sqlx::Error) -> Failure {
    move |err| Failure::Broken(Error::database(context, err))
}

/// Runs rounds until every handle to the writer is dropped.
pub(super) async fn run(
    mut conn: PgConnection,
    mut task: Task,
    mut queue: mpsc::UnboundedReceiver<Job>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(mut first) = queue.recv().await {
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
        let results = apply_batch(&mut conn, &mut task, &batch).await;
        for (job, result) in batch.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
    if let Err(err) = conn.close().await {
        tracing::warn!(%err, "closing the trials database failed");
    }
}

async fn apply_batch(
    conn: &mut PgConnection,
    task: &mut Task,
    batch: &[Job],
) -> Vec<Result<i64, Error>> {
    let started = std::time::Instant::now();
    let results = apply_batch_timed(conn, task, batch).await;
    crate::observe::commit_took(started.elapsed());
    results
}

async fn apply_batch_timed(
    conn: &mut PgConnection,
    task: &mut Task,
    batch: &[Job],
) -> Vec<Result<i64, Error>> {
    match apply_round(conn, task, batch, false).await {
        Ok(Some(results)) => results,
        Ok(None) => match apply_round(conn, task, batch, true).await {
            Ok(Some(results)) => results,
            Ok(None) => failed_all(batch, "write round"),
            Err(err) => {
                tracing::error!(%err, "trials database write failed");
                batch.iter().map(|_| Err(clone_error(&err))).collect()
            }
        },
        Err(err) => {
            tracing::error!(%err, "trials database write failed");
            batch.iter().map(|_| Err(clone_error(&err))).collect()
        }
    }
}

fn failed_all(batch: &[Job], context: &'static str) -> Vec<Result<i64, Error>> {
    batch
        .iter()
        .map(|_| {
            Err(Error::Database {
                context,
                message: "the round could not be applied".into(),
            })
        })
        .collect()
}

fn clone_error(err: &Error) -> Error {
    Error::Database {
        context: "write round",
        message: err.to_string(),
    }
}

/// One round in one transaction: in phases of a few statements (`postgres_batch`), or, when
/// `isolated`, op by op under savepoints. `Ok(None)`: a statement failed and the round was
/// rolled back (to be redone `isolated`).
async fn apply_round(
    conn: &mut PgConnection,
    task: &mut Task,
    batch: &[Job],
    isolated: bool,
) -> Result<Option<Vec<Result<i64, Error>>>, Error> {
    let mut tx = conn
        .begin()
        .await
        .map_err(|err| Error::database("begin", err))?;
    if !isolated {
        let ops: Vec<&WriteOp> = batch.iter().map(|job| &job.op).collect();
        task.seqs = batch.iter().map(|job| job.seq).collect();
        return match super::postgres_batch::apply_phased(&mut tx, task, &ops).await {
            Ok(results) => {
                if let Err(err) = tx.commit().await {
                    forget_inserts(task, batch);
                    return Err(Error::database("commit", err));
                }
                Ok(Some(results))
            }
            Err(failure) => {
                let err = failure.into_error();
                tracing::warn!(%err, "a write failed halfway; redoing its round write by write");
                forget_inserts(task, batch);
                tx.rollback()
                    .await
                    .map_err(|err| Error::database("rollback", err))?;
                Ok(None)
            }
        };
    }
    // The redo: op by op, each under its own savepoint, so a broken op fails alone.
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let mut savepoint = tx
            .begin()
            .await
            .map_err(|err| Error::database("savepoint", err))?;
        task.seqs = vec![job.seq];
        match apply(&mut savepoint, task, &job.op).await {
            Ok(id) => {
                savepoint
                    .commit()
                    .await
                    .map_err(|err| Error::database("savepoint", err))?;
                results.push(Ok(id));
            }
            Err(failure) => {
                if let WriteOp::InsertTrial { number, .. } = &job.op {
                    task.trial_ids.remove(number);
                }
                savepoint
                    .rollback()
                    .await
                    .map_err(|err| Error::database("savepoint", err))?;
                results.push(Err(failure.into_error()));
            }
        }
    }
    if let Err(err) = tx.commit().await {
        forget_inserts(task, batch);
        return Err(Error::database("commit", err));
    }
    Ok(Some(results))
}

fn forget_inserts(task: &mut Task, batch: &[Job]) {
    for job in batch {
        if let WriteOp::InsertTrial { number, .. } = &job.op {
            task.trial_ids.remove(number);
        }
    }
}

pub(super) async fn apply(
    conn: &mut PgConnection,
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
            credential_sha256,
        } => {
            let row = sqlx::query(concat!(
                "INSERT INTO workers (study_id, name, hostname, slots, version, \
                 credential_sha256, registered_at) VALUES ($1, $2, $3, $4, $5, $6, ",
                now_pg!(),
                ") RETURNING id"
            ))
            .bind(study_id)
            .bind(name)
            .bind(hostname)
            .bind(i64::from(*slots))
            .bind(version)
            .bind(credential_sha256)
            .fetch_one(&mut *conn)
            .await
            .map_err(broken("register worker"))?;
            Cells::new(&row, "workers", Place::Other("a worker just registered"))
                .get("id")
                .map_err(Failure::Broken)
        }
        // The common ops run through the array statements of a phase, here of one op.
        WriteOp::InsertTrial { .. }
        | WriteOp::StartAttempt { .. }
        | WriteOp::FinishAttempt {
            trial: TrialUpdate::Terminal { .. },
            ..
        } => super::postgres_batch::apply_one(conn, task, op).await,
        WriteOp::RecordEpochs { epochs, stop, .. }
            if stop.is_none() && epochs.iter().any(|e| !e.metrics.is_empty()) =>
        {
            super::postgres_batch::apply_one(conn, task, op).await
        }
        WriteOp::RecordEpochs {
            number,
            lease,
            epochs,
            stop,
        } => {
            let fenced = (task.trial_id(*number)?, *lease, task.seq(0));
            record_epochs(conn, fenced, epochs, stop.as_ref()).await
        }
        WriteOp::FinishAttempt {
            number,
            lease,
            end,
            trial:
                TrialUpdate::Requeue {
                    infra_failures,
                    user_failures,
                },
        } => {
            let failures = (*infra_failures, *user_failures);
            let fenced = (task.trial_id(*number)?, *lease, task.seq(0));
            requeue(conn, fenced, end, failures).await
        }
        WriteOp::StoreModel {
            number,
            lease,
            sha256,
            model,
        } => store_model(conn, task.trial_id(*number)?, *lease, sha256, &model.0).await,
        WriteOp::DropModels { numbers } => {
            let ids: Vec<i64> = numbers
                .iter()
                .filter_map(|number| task.trial_ids.get(number).copied())
                .collect();
            sqlx::query("DELETE FROM kept_models WHERE trial_id = ANY($1)")
                .bind(&ids)
                .execute(&mut *conn)
                .await
                .map_err(broken("drop kept models"))?;
            Ok(0)
        }
        WriteOp::StoreCheckpoint {
            number,
            lease,
            epoch,
            sha256,
            checkpoint,
        } => {
            let trial_id = task.trial_id(*number)?;
            super::postgres_checkpoints::store(
                conn,
                trial_id,
                *lease,
                *epoch,
                sha256,
                &checkpoint.0,
            )
            .await
        }
        WriteOp::DropCheckpoints { numbers } => {
            let ids: Vec<i64> = numbers
                .iter()
                .filter_map(|number| task.trial_ids.get(number).copied())
                .collect();
            super::postgres_checkpoints::drop_all(conn, &ids).await
        }
        WriteOp::ContinueCurve {
            number,
            lease,
            resumed_from,
            curve_from,
        } => {
            let trial_id = task.trial_id(*number)?;
            super::postgres_checkpoints::continue_curve(
                conn,
                trial_id,
                *lease,
                *resumed_from,
                *curve_from,
            )
            .await
        }
        WriteOp::RefuseCheckpoint {
            number,
            lease,
            reason,
        } => {
            let trial_id = task.trial_id(*number)?;
            super::postgres_checkpoints::refuse(conn, trial_id, *lease, reason).await
        }
        WriteOp::FinishStudy => {
            sqlx::query(concat!(
                "UPDATE studies SET state = 'finished', finished_at = ",
                now_pg!(),
                " WHERE id = $1 AND state = 'running'"
            ))
            .bind(study_id)
            .execute(&mut *conn)
            .await
            .map_err(broken("finish study"))?;
            Ok(0)
        }
        WriteOp::QuarantineWorker { worker_id, reason } => {
            sqlx::query("UPDATE workers SET quarantined = $1 WHERE id = $2 AND study_id = $3")
                .bind(reason.as_deref())
                .bind(i64::try_from(*worker_id).unwrap_or(i64::MAX))
                .bind(study_id)
                .execute(&mut *conn)
                .await
                .map_err(broken("record a worker's quarantine"))?;
            Ok(0)
        }
    }
}

/// Keeps a running attempt's model, replacing the trial's earlier one, in one statement
/// whose condition is the fence.
async fn store_model(
    conn: &mut PgConnection,
    trial_id: i64,
    lease: LeaseId,
    sha256: &str,
    model: &[u8],
) -> Result<i64, Failure> {
    let stored = sqlx::query(concat!(
        "INSERT INTO kept_models (trial_id, attempt, size, sha256, model, stored_at) \
         SELECT $1, $2, $3, $4, $5, ",
        now_pg!(),
        " WHERE EXISTS (SELECT 1 FROM attempts WHERE trial_id = $1 AND attempt = $2 \
         AND lease_token = $6 AND state = 'running') \
         ON CONFLICT (trial_id) DO UPDATE SET attempt = EXCLUDED.attempt, \
         size = EXCLUDED.size, sha256 = EXCLUDED.sha256, model = EXCLUDED.model, \
         stored_at = EXCLUDED.stored_at"
    ))
    .bind(trial_id)
    .bind(i64::from(lease.attempt))
    .bind(i64::try_from(model.len()).unwrap_or(i64::MAX))
    .bind(sha256)
    .bind(model)
    .bind(token_to_sql(lease.token))
    .execute(&mut *conn)
    .await
    .map_err(broken("keep a model"))?
    .rows_affected();
    if stored != 1 {
        return Err(lease_not_held(lease, 0));
    }
    Ok(0)
}

/// The attempt an op writes for: its trial's row id, its lease and the op's event number.
type Fenced = (i64, LeaseId, Option<i64>);

async fn record_epochs(
    conn: &mut PgConnection,
    (trial_id, lease, seq): Fenced,
    epochs: &[Epoch],
    stop: Option<&(String, StopDecision)>,
) -> Result<i64, Failure> {
    let (mut epoch_of, mut names, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for e in epochs {
        for (name, &value) in &e.metrics {
            epoch_of.push(i64::from(e.epoch));
            names.push(name.as_str());
            values.push(value);
        }
    }
    let attempt = i64::from(lease.attempt);
    let token = token_to_sql(lease.token);
    let held = if names.is_empty() {
        sqlx::query(
            "SELECT 1 FROM attempts WHERE trial_id = $1 AND attempt = $2 AND lease_token = $3 \
             AND state = 'running'",
        )
        .bind(trial_id)
        .bind(attempt)
        .bind(token)
        .fetch_optional(&mut *conn)
        .await
        .map_err(broken("record epoch"))?
        .is_some()
    } else {
        // The fence and the rows in one statement.
        let inserted = sqlx::query(
            "INSERT INTO epoch_metrics (trial_id, attempt, epoch, name, value, seq) \
             SELECT $1, $2, u.epoch, u.name, u.value, $7 \
             FROM unnest($3::bigint[], $4::text[], $5::float8[]) AS u(epoch, name, value) \
             WHERE EXISTS (SELECT 1 FROM attempts WHERE trial_id = $1 AND attempt = $2 \
             AND lease_token = $6 AND state = 'running')",
        )
        .bind(trial_id)
        .bind(attempt)
        .bind(&epoch_of)
        .bind(&names)
        .bind(&values)
        .bind(token)
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(broken("record epoch"))?
        .rows_affected();
        inserted > 0
    };
    if !held {
        return Err(lease_not_held(lease, 0));
    }
    if let Some((metric, decision)) = stop {
        sqlx::query(concat!(
            "INSERT INTO early_stops (trial_id, attempt, epoch, rule, metric, value, \
             threshold, explanation, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ",
            now_pg!(),
            ")"
        ))
        .bind(trial_id)
        .bind(attempt)
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

/// A lost or failed attempt whose trial goes back to the queue: the trial, fenced on the
/// attempt's lease, then the attempt, in one statement, so a refused completion writes
/// nothing.
async fn requeue(
    conn: &mut PgConnection,
    (trial_id, lease, seq): Fenced,
    end: &AttemptEnd,
    (infra_failures, user_failures): (u32, u32),
) -> Result<i64, Failure> {
    let done = sqlx::query(concat!(
        "WITH t AS (UPDATE trials SET state = 'queued', infra_failures = $1, \
         user_failures = $2 WHERE id = $3 AND state = 'running' AND attempts = $4 \
         AND EXISTS (SELECT 1 FROM attempts WHERE trial_id = $3 AND attempt = $4 \
         AND lease_token = $5 AND state = 'running') RETURNING id) \
         UPDATE attempts SET state = $6, failure = $7, error = $8, finished_seq = $9, \
         finished_at = ",
        now_pg!(),
        " WHERE trial_id IN (SELECT id FROM t) AND attempt = $4 AND lease_token = $5 \
         AND state = 'running'"
    ))
    .bind(i64::from(infra_failures))
    .bind(i64::from(user_failures))
    .bind(trial_id)
    .bind(i64::from(lease.attempt))
    .bind(token_to_sql(lease.token))
    .bind(end.state)
    .bind(failure_sql(end.failure))
    .bind(end.error.as_deref())
    .bind(seq)
    .execute(&mut *conn)
    .await
    .map_err(broken("requeue trial"))?
    .rows_affected();
    if done != 1 {
        return Err(lease_not_held(lease, 0));
    }
    Ok(0)
}
