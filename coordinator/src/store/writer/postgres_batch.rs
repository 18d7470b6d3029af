//! A PostgreSQL round in a few statements instead of one or two per op: the round is cut
//! into phases, the k-th op of each trial in phase k (so no trial appears twice in a phase
//! and the ops of one trial keep their order), and within a phase all trial inserts go in one
//! statement, all attempt
//! starts in another, all epoch rows in a third and all terminal completions in a fourth,
//! each fed with arrays (`unnest`) and telling with `RETURNING` which ops' fences held.
//! The rarer ops (registrations, requeues, stop decisions, empty reports, the study's end)
//! run one by one in their phase. A statement that fails makes the caller roll the round
//! back and redo it op by op, exactly as a failing single op does.

use std::collections::{HashMap, HashSet};

use sqlx::postgres::PgConnection;

use super::Task;
use super::apply::{Failure, TrialUpdate, WriteOp, failure_sql, lease_not_held};
use super::postgres::{apply, broken, now_pg};
use crate::Error;
use crate::store::cells::{Cells, Place};
use crate::store::token_to_sql;

/// The trial an op is about, if any.
fn trial_of(op: &WriteOp) -> Option<u64> {
    match op {
        WriteOp::InsertTrial { number, .. }
        | WriteOp::StartAttempt { number, .. }
        | WriteOp::RecordEpochs { number, .. }
        | WriteOp::FinishAttempt { number, .. }
        | WriteOp::StoreModel { number, .. }
        | WriteOp::StoreCheckpoint { number, .. }
        | WriteOp::ContinueCurve { number, .. }
        | WriteOp::RefuseCheckpoint { number, .. } => Some(*number),
        WriteOp::RegisterWorker { .. }
        | WriteOp::DropModels { .. }
        | WriteOp::DropCheckpoints { .. }
        | WriteOp::FinishStudy
        | WriteOp::QuarantineWorker { .. } => None,
    }
}

/// Applies `ops` in phases; one result per op. `Err(Failure::Broken)`: a statement failed
/// (the transaction is unusable; the caller rolls back and redoes the round op by op).
pub(super) async fn apply_phased(
    conn: &mut PgConnection,
    task: &mut Task,
    ops: &[&WriteOp],
) -> Result<Vec<Result<i64, Error>>, Failure> {
    let mut results: Vec<Option<Result<i64, Error>>> = (0..ops.len()).map(|_| None).collect();
    // Ops without a trial (registrations, the study's end) are barriers; between them, the
    // k-th op of each trial goes to phase k.
    let mut start = 0;
    for end in 0..=ops.len() {
        let barrier = ops.get(end).map(|op| trial_of(op).is_none());
        if barrier == Some(false) {
            continue;
        }
        let mut phases: Vec<Vec<usize>> = Vec::new();
        let mut seen: HashMap<u64, usize> = HashMap::new();
        for (i, op) in ops.iter().enumerate().take(end).skip(start) {
            let k = seen.entry(trial_of(op).unwrap_or(u64::MAX)).or_insert(0);
            if phases.len() <= *k {
                phases.push(Vec::new());
            }
            phases[*k].push(i);
            *k += 1;
        }
        for phase in &phases {
            flush(conn, task, ops, phase, &mut results).await?;
        }
        if let Some(op) = ops.get(end) {
            results[end] = Some(lone(conn, task, op, end).await?);
        }
        start = end + 1;
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Error::Database {
                    context: "write round",
                    message: "an op was not applied".into(),
                })
            })
        })
        .collect())
}

/// One insert, start, plain epoch report or terminal completion through the array statement
/// of its kind (the savepoint redo runs ops one at a time): the same SQL as a phase of many.
pub(super) async fn apply_one(
    conn: &mut PgConnection,
    task: &mut Task,
    op: &WriteOp,
) -> Result<i64, Failure> {
    let (ops, one) = ([op], [0]);
    let mut results = [None];
    match op {
        WriteOp::InsertTrial { .. } => insert_trials(conn, task, &ops, &one, &mut results).await?,
        WriteOp::StartAttempt { .. } => {
            start_attempts(conn, task, &ops, &one, &mut results).await?
        }
        WriteOp::RecordEpochs { .. } => record_epochs(conn, task, &ops, &one, &mut results).await?,
        WriteOp::FinishAttempt { .. } => {
            finish_attempts(conn, task, &ops, &one, &mut results).await?;
        }
        WriteOp::RegisterWorker { .. }
        | WriteOp::StoreModel { .. }
        | WriteOp::DropModels { .. }
        | WriteOp::StoreCheckpoint { .. }
        | WriteOp::DropCheckpoints { .. }
        | WriteOp::ContinueCurve { .. }
        | WriteOp::RefuseCheckpoint { .. }
        | WriteOp::FinishStudy
        | WriteOp::QuarantineWorker { .. } => {}
    }
    match results[0].take() {
        Some(Ok(id)) => Ok(id),
        Some(Err(err)) => Err(Failure::Refused(err)),
        None => Err(Failure::Broken(Error::Database {
            context: "write",
            message: "the op has no array statement".into(),
        })),
    }
}

/// Op `index` of the round on its own: a refusal is its result, a broken statement the
/// round's.
async fn lone(
    conn: &mut PgConnection,
    task: &mut Task,
    op: &WriteOp,
    index: usize,
) -> Result<Result<i64, Error>, Failure> {
    // `apply` reads the event number of the one op it is given at index 0.
    let own: Vec<i64> = task.seq(index).into_iter().collect();
    let round = std::mem::replace(&mut task.seqs, own);
    let applied = apply(conn, task, op).await;
    task.seqs = round;
    match applied {
        Ok(id) => Ok(Ok(id)),
        Err(Failure::Refused(err)) => Ok(Err(err)),
        Err(broken) => Err(broken),
    }
}

async fn flush(
    conn: &mut PgConnection,
    task: &mut Task,
    ops: &[&WriteOp],
    phase: &[usize],
    results: &mut [Option<Result<i64, Error>>],
) -> Result<(), Failure> {
    let (mut inserts, mut starts, mut records, mut finishes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &i in phase {
        match ops[i] {
            WriteOp::InsertTrial { .. } => inserts.push(i),
            WriteOp::StartAttempt { .. } => starts.push(i),
            WriteOp::RecordEpochs { epochs, stop, .. }
                if stop.is_none() && epochs.iter().any(|e| !e.metrics.is_empty()) =>
            {
                records.push(i);
            }
            WriteOp::FinishAttempt {
                trial: TrialUpdate::Terminal { .. },
                ..
            } => finishes.push(i),
            op => results[i] = Some(lone(conn, task, op, i).await?),
        }
    }
    insert_trials(conn, task, ops, &inserts, results).await?;
    start_attempts(conn, task, ops, &starts, results).await?;
    record_epochs(conn, task, ops, &records, results).await?;
    finish_attempts(conn, task, ops, &finishes, results).await?;
    Ok(())
}

/// The trial's row id, or the refusal as the op's result (then `None`).
fn trial_id(
    task: &Task,
    number: u64,
    i: usize,
    results: &mut [Option<Result<i64, Error>>],
) -> Option<i64> {
    match task.trial_id(number) {
        Ok(id) => Some(id),
        Err(failure) => {
            results[i] = Some(Err(failure.into_error()));
            None
        }
    }
}

async fn insert_trials(
    conn: &mut PgConnection,
    task: &mut Task,
    ops: &[&WriteOp],
    which: &[usize],
    results: &mut [Option<Result<i64, Error>>],
) -> Result<(), Failure> {
    if which.is_empty() {
        return Ok(());
    }
    let (mut numbers, mut params, mut overrides) = (Vec::new(), Vec::new(), Vec::new());
    for &i in which {
        if let WriteOp::InsertTrial {
            number,
            params: p,
            overrides: o,
        } = ops[i]
        {
            numbers.push(i64::try_from(*number).unwrap_or(i64::MAX));
            params.push(p.as_str());
            overrides.push(o.as_str());
        }
    }
    let rows = sqlx::query(concat!(
        "INSERT INTO trials (study_id, number, state, params, overrides, created_at) \
         SELECT $1, u.number, 'queued', u.params, u.overrides, ",
        now_pg!(),
        " FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(number, params, overrides) \
         RETURNING id, number"
    ))
    .bind(task.study_id)
    .bind(&numbers)
    .bind(&params)
    .bind(&overrides)
    .fetch_all(&mut *conn)
    .await
    .map_err(broken("insert trial"))?;
    let ids: HashMap<i64, i64> = rows
        .iter()
        .map(|row| {
            let cells = Cells::new(row, "trials", Place::Other("a trial just inserted"));
            Ok((cells.get("number")?, cells.get("id")?))
        })
        .collect::<Result<_, Error>>()
        .map_err(Failure::Broken)?;
    for (&i, number) in which.iter().zip(&numbers) {
        let Some(&id) = ids.get(number) else {
            return Err(Failure::Broken(Error::Database {
                context: "insert trial",
                message: format!("trial {number} was not inserted"),
            }));
        };
        task.trial_ids
            .insert(u64::try_from(*number).unwrap_or(0), id);
        results[i] = Some(Ok(id));
    }
    Ok(())
}

async fn start_attempts(
    conn: &mut PgConnection,
    task: &mut Task,
    ops: &[&WriteOp],
    which: &[usize],
    results: &mut [Option<Result<i64, Error>>],
) -> Result<(), Failure> {
    let (mut ids, mut attempts, mut workers, mut tokens, mut index) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut seqs: Vec<Option<i64>> = Vec::new();
    for &i in which {
        if let WriteOp::StartAttempt {
            number,
            lease,
            worker_id,
        } = ops[i]
            && let Some(id) = trial_id(task, *number, i, results)
        {
            ids.push(id);
            attempts.push(i64::from(lease.attempt));
            workers.push(i64::try_from(*worker_id).unwrap_or(i64::MAX));
            tokens.push(token_to_sql(lease.token));
            seqs.push(task.seq(i));
            index.push(i);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    // The fence (each trial queued for exactly this attempt) and both writes, for all.
    let started: HashSet<i64> = sqlx::query(concat!(
        "WITH u AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], \
         $4::bigint[], $5::bigint[]) AS u(trial_id, attempt, worker_id, token, seq)), \
         t AS (UPDATE trials SET state = 'running', attempts = u.attempt, \
         worker_id = u.worker_id, started_at = ",
        now_pg!(),
        " FROM u WHERE trials.id = u.trial_id AND trials.state = 'queued' \
         AND trials.attempts = u.attempt - 1 RETURNING trials.id) \
         INSERT INTO attempts (trial_id, attempt, worker_id, lease_token, state, started_seq, \
         started_at) SELECT u.trial_id, u.attempt, u.worker_id, u.token, 'running', u.seq, ",
        now_pg!(),
        " FROM u JOIN t ON t.id = u.trial_id RETURNING trial_id"
    ))
    .bind(&ids)
    .bind(&attempts)
    .bind(&workers)
    .bind(&tokens)
    .bind(&seqs)
    .fetch_all(&mut *conn)
    .await
    .map_err(broken("start attempt"))?
    .iter()
    .map(|row| Cells::new(row, "attempts", Place::Other("an attempt just started")).get("trial_id"))
    .collect::<Result<_, Error>>()
    .map_err(Failure::Broken)?;
    for (&i, id) in index.iter().zip(&ids) {
        results[i] = Some(if started.contains(id) {
            Ok(0)
        } else if let WriteOp::StartAttempt { lease, .. } = ops[i] {
            Err(Error::Protocol {
                lease: *lease,
                problem: "the trial is not queued for this attempt".into(),
            })
        } else {
            Ok(0)
        });
    }
    Ok(())
}

async fn record_epochs(
    conn: &mut PgConnection,
    task: &mut Task,
    ops: &[&WriteOp],
    which: &[usize],
    results: &mut [Option<Result<i64, Error>>],
) -> Result<(), Failure> {
    /// The epoch rows of every op, as columns.
    #[derive(Default)]
    struct Rows<'a>(
        Vec<i64>,
        Vec<i64>,
        Vec<i64>,
        Vec<i64>,
        Vec<&'a str>,
        Vec<f64>,
        Vec<Option<i64>>,
    );
    let mut rows = Rows::default();
    let mut index: Vec<(usize, i64)> = Vec::new();
    for &i in which {
        if let WriteOp::RecordEpochs {
            number,
            lease,
            epochs,
            ..
        } = ops[i]
            && let Some(id) = trial_id(task, *number, i, results)
        {
            index.push((i, id));
            for e in epochs {
                for (name, &value) in &e.metrics {
                    rows.0.push(id);
                    rows.1.push(i64::from(lease.attempt));
                    rows.2.push(token_to_sql(lease.token));
                    rows.3.push(i64::from(e.epoch));
                    rows.4.push(name.as_str());
                    rows.5.push(value);
                    rows.6.push(task.seq(i));
                }
            }
        }
    }
    if index.is_empty() {
        return Ok(());
    }
    // Each op's rows go in only if its attempt is running under its lease.
    let held: HashSet<i64> = sqlx::query(
        "WITH u AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], \
         $4::bigint[], $5::text[], $6::float8[], $7::bigint[]) AS u(trial_id, attempt, token, \
         epoch, name, value, seq)), \
         ok AS (SELECT DISTINCT a.trial_id FROM attempts a JOIN u ON a.trial_id = u.trial_id \
         AND a.attempt = u.attempt AND a.lease_token = u.token AND a.state = 'running') \
         INSERT INTO epoch_metrics (trial_id, attempt, epoch, name, value, seq) \
         SELECT u.trial_id, u.attempt, u.epoch, u.name, u.value, u.seq FROM u \
         WHERE u.trial_id IN (SELECT trial_id FROM ok) RETURNING trial_id",
    )
    .bind(&rows.0)
    .bind(&rows.1)
    .bind(&rows.2)
    .bind(&rows.3)
    .bind(&rows.4)
    .bind(&rows.5)
    .bind(&rows.6)
    .fetch_all(&mut *conn)
    .await
    .map_err(broken("record epoch"))?
    .iter()
    .map(|row| {
        Cells::new(row, "epoch_metrics", Place::Other("an epoch just recorded")).get("trial_id")
    })
    .collect::<Result<_, Error>>()
    .map_err(Failure::Broken)?;
    settle(ops, &index, &held, results);
    Ok(())
}

/// Each op of `index` (op, trial row id) succeeded if its trial is in `held`, else its
/// lease was not held.
fn settle(
    ops: &[&WriteOp],
    index: &[(usize, i64)],
    held: &HashSet<i64>,
    results: &mut [Option<Result<i64, Error>>],
) {
    for &(i, id) in index {
        let lease = match ops[i] {
            WriteOp::RecordEpochs { lease, .. } | WriteOp::FinishAttempt { lease, .. } => *lease,
            _ => continue,
        };
        results[i] = Some(if held.contains(&id) {
            Ok(0)
        } else {
            Err(lease_not_held(lease, 0).into_error())
        });
    }
}

async fn finish_attempts(
    conn: &mut PgConnection,
    task: &mut Task,
    ops: &[&WriteOp],
    which: &[usize],
    results: &mut [Option<Result<i64, Error>>],
) -> Result<(), Failure> {
    #[derive(Default)]
    struct Columns<'a> {
        id: Vec<i64>,
        attempt: Vec<i64>,
        token: Vec<i64>,
        state: Vec<&'static str>,
        value: Vec<Option<f64>>,
        metrics: Vec<Option<&'a str>>,
        error: Vec<Option<&'a str>>,
        infra: Vec<i64>,
        user: Vec<i64>,
        attempt_state: Vec<&'static str>,
        failure: Vec<Option<&'static str>>,
        attempt_error: Vec<Option<&'a str>>,
        seq: Vec<Option<i64>>,
    }
    let mut c = Columns::default();
    let mut index: Vec<(usize, i64)> = Vec::new();
    for &i in which {
        if let WriteOp::FinishAttempt {
            number,
            lease,
            end,
            trial:
                TrialUpdate::Terminal {
                    state,
                    value,
                    metrics,
                    error,
                    infra_failures,
                    user_failures,
                },
        } = ops[i]
            && let Some(id) = trial_id(task, *number, i, results)
        {
            index.push((i, id));
            c.id.push(id);
            c.attempt.push(i64::from(lease.attempt));
            c.token.push(token_to_sql(lease.token));
            c.state.push(state.as_str());
            c.value.push(*value);
            c.metrics.push(metrics.as_deref());
            c.error.push(error.as_deref());
            c.infra.push(i64::from(*infra_failures));
            c.user.push(i64::from(*user_failures));
            c.attempt_state.push(end.state);
            c.failure.push(failure_sql(end.failure));
            c.attempt_error.push(end.error.as_deref());
            c.seq.push(task.seq(i));
        }
    }
    if index.is_empty() {
        return Ok(());
    }
    // The trials, fenced on their attempts' leases, then those attempts: one statement.
    let done: HashSet<i64> = sqlx::query(concat!(
        "WITH u AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], \
         $5::float8[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::text[], \
         $11::text[], $12::text[], $13::bigint[]) AS u(trial_id, attempt, token, state, value, \
         metrics, error, infra, usr, attempt_state, failure, attempt_error, seq)), \
         t AS (UPDATE trials SET state = u.state, value = u.value, metrics = u.metrics, \
         error = u.error, infra_failures = u.infra, user_failures = u.usr, finished_at = ",
        now_pg!(),
        " FROM u WHERE trials.id = u.trial_id AND trials.state = 'running' \
         AND trials.attempts = u.attempt AND EXISTS (SELECT 1 FROM attempts a \
         WHERE a.trial_id = u.trial_id AND a.attempt = u.attempt AND a.lease_token = u.token \
         AND a.state = 'running') RETURNING trials.id) \
         UPDATE attempts a SET state = u.attempt_state, failure = u.failure, \
         error = u.attempt_error, finished_seq = u.seq, finished_at = ",
        now_pg!(),
        " FROM u JOIN t ON t.id = u.trial_id WHERE a.trial_id = u.trial_id \
         AND a.attempt = u.attempt AND a.lease_token = u.token AND a.state = 'running' \
         RETURNING a.trial_id"
    ))
    .bind(&c.id)
    .bind(&c.attempt)
    .bind(&c.token)
    .bind(&c.state)
    .bind(&c.value)
    .bind(&c.metrics)
    .bind(&c.error)
    .bind(&c.infra)
    .bind(&c.user)
    .bind(&c.attempt_state)
    .bind(&c.failure)
    .bind(&c.attempt_error)
    .bind(&c.seq)
    .fetch_all(&mut *conn)
    .await
    .map_err(broken("finish trial"))?
    .iter()
    .map(|row| {
        Cells::new(row, "attempts", Place::Other("an attempt just finished")).get("trial_id")
    })
    .collect::<Result<_, Error>>()
    .map_err(Failure::Broken)?;
    settle(ops, &index, &done, results);
    Ok(())
}
