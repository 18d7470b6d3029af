//! The workers of a study as `hypersearch workers` lists them: what each declared, what it
//! ran and how that ended, and when it was last heard from.

use serde::Serialize;
use sqlx::AnyConnection;

use super::StudyRef;
use crate::Error;
use crate::store::cells::{Cells, Place};
use crate::store::db_err;

/// One worker of a study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerSummary {
    /// Its id.
    pub worker: u64,
    /// Its label (`host:pid` unless given).
    pub name: String,
    /// Its machine.
    pub hostname: String,
    /// Trials it runs at once.
    pub slots: u64,
    /// Its hypersearch version.
    pub version: String,
    /// When it joined.
    pub registered_at: String,
    /// Attempts it ran.
    pub attempts: u64,
    /// Of them, complete or pruned.
    pub succeeded: u64,
    /// Of them, failed (its objective) or lost (the worker went silent).
    pub failed: u64,
    /// Of them, handed back when it was shut down.
    pub preempted: u64,
    /// Of them, running now.
    pub running: u64,
    /// The last time it started or ended an attempt (or joined).
    pub last_seen: String,
    /// Why it may lease no more trials, if it was quarantined (and not resumed since).
    pub quarantined: Option<String>,
}

/// Every worker that joined `study`, by id.
pub async fn workers(
    conn: &mut AnyConnection,
    study: &StudyRef,
) -> Result<Vec<WorkerSummary>, Error> {
    let rows = sqlx::query(
        "SELECT w.id, w.name, w.hostname, w.slots, w.version, w.registered_at, w.quarantined, \
           count(a.trial_id) AS attempts, \
           sum(CASE WHEN a.state IN ('complete', 'pruned') THEN 1 ELSE 0 END) AS succeeded, \
           sum(CASE WHEN a.state IN ('failed', 'lost') THEN 1 ELSE 0 END) AS failed, \
           sum(CASE WHEN a.state = 'preempted' THEN 1 ELSE 0 END) AS preempted, \
           sum(CASE WHEN a.state = 'running' THEN 1 ELSE 0 END) AS running, \
           max(coalesce(a.finished_at, a.started_at)) AS last_attempt \
         FROM workers w LEFT JOIN attempts a ON a.worker_id = w.id \
         WHERE w.study_id = $1 GROUP BY w.id ORDER BY w.id",
    )
    .bind(study.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("list workers"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let cells = Cells::new(row, "workers", Place::Study(&study.name));
        let worker = cells.unsigned("id")?;
        let cells = cells.at(Place::Worker(&study.name, worker));
        // What it ran: counts and sums over its attempts (a sum over none may be NULL).
        let attempts = Cells::new(row, "attempts", Place::Worker(&study.name, worker));
        let n = |name: &str| -> Result<u64, Error> {
            Ok(attempts.maybe_unsigned(name)?.unwrap_or_default())
        };
        let registered_at: String = cells.get("registered_at")?;
        let last_attempt: Option<String> = attempts.get("last_attempt")?;
        out.push(WorkerSummary {
            worker,
            name: cells.get("name")?,
            hostname: cells.get("hostname")?,
            slots: cells.unsigned("slots")?,
            version: cells.get("version")?,
            attempts: n("attempts")?,
            succeeded: n("succeeded")?,
            failed: n("failed")?,
            preempted: n("preempted")?,
            running: n("running")?,
            last_seen: last_attempt
                .filter(|at| *at > registered_at)
                .unwrap_or_else(|| registered_at.clone()),
            registered_at,
            quarantined: cells.get("quarantined")?,
        });
    }
    Ok(out)
}
