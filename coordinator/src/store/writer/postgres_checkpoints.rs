//! The PostgreSQL side of the checkpoint ops: the same statements as SQLite's
//! (`checkpoints`), each op's fence checked by its first statement.

use hypersearch_proto::LeaseId;
use sqlx::postgres::PgConnection;

use super::apply::{Failure, lease_not_held};
use super::postgres::{broken, now_pg};
use crate::store::token_to_sql;

/// Keeps a running attempt's checkpoint, replacing the trial's earlier one, in one statement
/// whose condition is the fence.
pub(super) async fn store(
    conn: &mut PgConnection,
    trial_id: i64,
    lease: LeaseId,
    epoch: u32,
    sha256: &str,
    checkpoint: &[u8],
) -> Result<i64, Failure> {
    let stored = sqlx::query(concat!(
        "INSERT INTO checkpoints (trial_id, attempt, epoch, size, sha256, checkpoint, \
         stored_at) SELECT $1, $2, $3, $4, $5, $6, ",
        now_pg!(),
        " WHERE EXISTS (SELECT 1 FROM attempts WHERE trial_id = $1 AND attempt = $2 \
         AND lease_token = $7 AND state = 'running') \
         ON CONFLICT (trial_id) DO UPDATE SET attempt = EXCLUDED.attempt, \
         epoch = EXCLUDED.epoch, size = EXCLUDED.size, sha256 = EXCLUDED.sha256, \
         checkpoint = EXCLUDED.checkpoint, stored_at = EXCLUDED.stored_at"
    ))
    .bind(trial_id)
    .bind(i64::from(lease.attempt))
    .bind(i64::from(epoch))
    .bind(i64::try_from(checkpoint.len()).unwrap_or(i64::MAX))
    .bind(sha256)
    .bind(checkpoint)
    .bind(token_to_sql(lease.token))
    .execute(&mut *conn)
    .await
    .map_err(broken("store a checkpoint"))?
    .rows_affected();
    if stored != 1 {
        return Err(lease_not_held(lease, 0));
    }
    Ok(0)
}

/// Deletes the checkpoints of the trials with row ids `ids`.
pub(super) async fn drop_all(conn: &mut PgConnection, ids: &[i64]) -> Result<i64, Failure> {
    sqlx::query("DELETE FROM checkpoints WHERE trial_id = ANY($1)")
        .bind(ids)
        .execute(&mut *conn)
        .await
        .map_err(broken("drop checkpoints"))?;
    Ok(0)
}

/// Where a new attempt's curve starts (see `WriteOp::ContinueCurve`).
pub(super) async fn continue_curve(
    conn: &mut PgConnection,
    trial_id: i64,
    lease: LeaseId,
    resumed_from: Option<u32>,
    curve_from: Option<u32>,
) -> Result<i64, Failure> {
    let marked = sqlx::query(
        "UPDATE attempts SET resumed_from = $1 WHERE trial_id = $2 AND attempt = $3 \
         AND lease_token = $4 AND state = 'running'",
    )
    .bind(resumed_from.map(i64::from))
    .bind(trial_id)
    .bind(i64::from(lease.attempt))
    .bind(token_to_sql(lease.token))
    .execute(&mut *conn)
    .await
    .map_err(broken("mark a resumed attempt"))?
    .rows_affected();
    if marked != 1 {
        return Err(lease_not_held(lease, 0));
    }
    if let Some(epoch) = resumed_from {
        sqlx::query(
            "DELETE FROM epoch_metrics WHERE trial_id = $1 AND attempt < $2 AND epoch > $3",
        )
        .bind(trial_id)
        .bind(i64::from(lease.attempt))
        .bind(i64::from(epoch))
        .execute(&mut *conn)
        .await
        .map_err(broken("drop the epochs past a checkpoint"))?;
    }
    sqlx::query("UPDATE trials SET curve_from = $1 WHERE id = $2")
        .bind(curve_from.map(i64::from))
        .bind(trial_id)
        .execute(&mut *conn)
        .await
        .map_err(broken("set where a trial's curve starts"))?;
    Ok(0)
}

/// Records why a resumed attempt's checkpoint could not be used; the checkpoint goes and the
/// attempt's curve is its own.
pub(super) async fn refuse(
    conn: &mut PgConnection,
    trial_id: i64,
    lease: LeaseId,
    reason: &str,
) -> Result<i64, Failure> {
    let noted = sqlx::query(
        "UPDATE attempts SET checkpoint_note = $1, resumed_from = NULL WHERE trial_id = $2 \
         AND attempt = $3 AND lease_token = $4 AND state = 'running'",
    )
    .bind(reason)
    .bind(trial_id)
    .bind(i64::from(lease.attempt))
    .bind(token_to_sql(lease.token))
    .execute(&mut *conn)
    .await
    .map_err(broken("record a refused checkpoint"))?
    .rows_affected();
    if noted != 1 {
        return Err(lease_not_held(lease, 0));
    }
    drop_all(conn, &[trial_id]).await?;
    sqlx::query("UPDATE trials SET curve_from = NULL WHERE id = $1")
        .bind(trial_id)
        .execute(&mut *conn)
        .await
        .map_err(broken("set where a trial's curve starts"))?;
    Ok(0)
}
