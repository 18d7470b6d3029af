//! The SQLite side of the checkpoint ops (`checkpoints`, `attempts.resumed_from` and
//! `checkpoint_note`, `trials.curve_from`). Each checks its fence with its first statement,
//! so a refused op writes nothing.

use hypersearch_proto::LeaseId;
use rusqlite::{Connection, params};

use super::apply::{Failure, broken, lease_not_held};
use super::now_sql;
use crate::store::token_to_sql;

/// Keeps a running attempt's checkpoint, replacing the trial's earlier one: the fence (the
/// attempt holds its lease and is running) is the insert's own condition.
pub(super) fn store(
    conn: &Connection,
    trial_id: i64,
    lease: LeaseId,
    epoch: u32,
    sha256: &str,
    checkpoint: &[u8],
) -> Result<i64, Failure> {
    let stored = conn
        .prepare_cached(concat!(
            "INSERT INTO checkpoints (trial_id, attempt, epoch, size, sha256, checkpoint, \
             stored_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ",
            now_sql!(),
            " WHERE EXISTS (SELECT 1 FROM attempts WHERE trial_id = ?1 AND attempt = ?2 \
             AND lease_token = ?7 AND state = 'running') \
             ON CONFLICT (trial_id) DO UPDATE SET attempt = excluded.attempt, \
             epoch = excluded.epoch, size = excluded.size, sha256 = excluded.sha256, \
             checkpoint = excluded.checkpoint, stored_at = excluded.stored_at"
        ))
        .and_then(|mut insert| {
            insert.execute(params![
                trial_id,
                i64::from(lease.attempt),
                i64::from(epoch),
                i64::try_from(checkpoint.len()).unwrap_or(i64::MAX),
                sha256,
                checkpoint,
                token_to_sql(lease.token)
            ])
        })
        .map_err(broken("store a checkpoint"))?;
    if stored != 1 {
        return Err(lease_not_held(lease, 0));
    }
    Ok(0)
}

/// Deletes the checkpoints of the trials with row ids `ids`.
pub(super) fn drop_all(conn: &Connection, ids: &[i64]) -> Result<i64, Failure> {
    for &trial_id in ids {
        conn.prepare_cached("DELETE FROM checkpoints WHERE trial_id = ?")
            .and_then(|mut delete| delete.execute([trial_id]))
            .map_err(broken("drop a checkpoint"))?;
    }
    Ok(0)
}

/// Where a new attempt's curve starts (see `WriteOp::ContinueCurve`).
pub(super) fn continue_curve(
    conn: &Connection,
    trial_id: i64,
    lease: LeaseId,
    resumed_from: Option<u32>,
    curve_from: Option<u32>,
) -> Result<i64, Failure> {
    let marked = conn
        .prepare_cached(
            "UPDATE attempts SET resumed_from = ?1 WHERE trial_id = ?2 AND attempt = ?3 \
             AND lease_token = ?4 AND state = 'running'",
        )
        .and_then(|mut update| {
            update.execute(params![
                resumed_from.map(i64::from),
                trial_id,
                i64::from(lease.attempt),
                token_to_sql(lease.token)
            ])
        })
        .map_err(broken("mark a resumed attempt"))?;
    if marked != 1 {
        return Err(lease_not_held(lease, 0));
    }
    if let Some(epoch) = resumed_from {
        conn.prepare_cached(
            "DELETE FROM epoch_metrics WHERE trial_id = ?1 AND attempt < ?2 AND epoch > ?3",
        )
        .and_then(|mut delete| {
            delete.execute(params![
                trial_id,
                i64::from(lease.attempt),
                i64::from(epoch)
            ])
        })
        .map_err(broken("drop the epochs past a checkpoint"))?;
    }
    conn.prepare_cached("UPDATE trials SET curve_from = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute(params![curve_from.map(i64::from), trial_id]))
        .map_err(broken("set where a trial's curve starts"))?;
    Ok(0)
}

/// Records why a resumed attempt's checkpoint could not be used; the checkpoint goes and the
/// attempt's curve is its own.
pub(super) fn refuse(
    conn: &Connection,
    trial_id: i64,
    lease: LeaseId,
    reason: &str,
) -> Result<i64, Failure> {
    let noted = conn
        .prepare_cached(
            "UPDATE attempts SET checkpoint_note = ?1, resumed_from = NULL WHERE trial_id = ?2 \
             AND attempt = ?3 AND lease_token = ?4 AND state = 'running'",
        )
        .and_then(|mut update| {
            update.execute(params![
                reason,
                trial_id,
                i64::from(lease.attempt),
                token_to_sql(lease.token)
            ])
        })
        .map_err(broken("record a refused checkpoint"))?;
    if noted != 1 {
        return Err(lease_not_held(lease, 0));
    }
    drop_all(conn, &[trial_id])?;
    conn.prepare_cached("UPDATE trials SET curve_from = NULL WHERE id = ?1")
        .and_then(|mut update| update.execute([trial_id]))
        .map_err(broken("set where a trial's curve starts"))?;
    Ok(0)
}
