//! What the dashboard watches: a cheap [`Signature`] of the database that changes whenever a
//! study or trial is added, a trial changes state or ends, or a running trial reports an
//! epoch; and a study's [`Pace`] (trials ended over the time they took).

use sqlx::AnyConnection;

use super::StudyRef;
use super::views::timestamp;
use crate::Error;
use crate::store::cells::{Cells, Place};
use crate::store::db_err;

/// Counts that change whenever anything the dashboard shows changes. One scan of the trials
/// (a few milliseconds at 100,000 trials) and an index lookup per running trial.
const SIGNATURE: &str = "SELECT \
     (SELECT count(*) FROM studies) AS studies, \
     (SELECT count(*) FROM studies WHERE state = 'finished') AS finished_studies, \
     t.trials, t.running, t.ended, t.last_finished, \
     (SELECT count(*) FROM epoch_metrics m JOIN trials r ON r.id = m.trial_id \
      WHERE r.state = 'running') AS epochs_running \
     FROM (SELECT count(*) AS trials, \
       coalesce(sum(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0) AS running, \
       coalesce(sum(CASE WHEN finished_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS ended, \
       coalesce(max(finished_at), '') AS last_finished FROM trials) t";

/// A signature of the whole database: equal signatures, nothing the dashboard shows changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signature {
    /// Studies.
    pub studies: i64,
    /// Studies finished.
    pub finished_studies: i64,
    /// Trials of every study.
    pub trials: i64,
    /// Trials running.
    pub running: i64,
    /// Trials ended.
    pub ended: i64,
    /// The latest end.
    pub last_finished: String,
    /// Epochs reported by the running trials.
    pub epochs_running: i64,
}

/// How fast a study's trials end.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pace {
    /// Trials ended.
    pub ended: u64,
    /// When the first of them started, in seconds since the Unix epoch.
    pub first_started: Option<f64>,
    /// When the last of them ended.
    pub last_finished: Option<f64>,
}

impl Pace {
    /// Trials ended per minute over the span from the first start to the last end.
    pub fn per_minute(&self) -> Option<f64> {
        let span = self.last_finished? - self.first_started?;
        (span > 0.0).then(|| self.ended as f64 * 60.0 / span)
    }
}

/// The database's signature now.
pub async fn signature(conn: &mut AnyConnection) -> Result<Signature, Error> {
    let row = sqlx::query(SIGNATURE)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("read the database's signature"))?;
    let cells = Cells::new(&row, "trials", Place::Other("the database's signature"));
    Ok(Signature {
        studies: cells.get("studies")?,
        finished_studies: cells.get("finished_studies")?,
        trials: cells.get("trials")?,
        running: cells.get("running")?,
        ended: cells.get("ended")?,
        last_finished: cells.get("last_finished")?,
        epochs_running: cells.get("epochs_running")?,
    })
}

/// `study`'s pace.
pub async fn pace(conn: &mut AnyConnection, study: &StudyRef) -> Result<Pace, Error> {
    let row = sqlx::query(
        "SELECT count(*) AS ended, min(started_at) AS first_started, \
         max(finished_at) AS last_finished FROM trials \
         WHERE study_id = $1 AND finished_at IS NOT NULL",
    )
    .bind(study.id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err("read the study's pace"))?;
    let cells = Cells::new(&row, "trials", Place::Study(&study.name));
    let time = |column: &str| -> Result<Option<f64>, Error> {
        Ok(cells
            .get::<Option<String>>(column)?
            .and_then(|text| timestamp(&text)))
    };
    Ok(Pace {
        ended: cells.unsigned("ended")?,
        first_started: time("first_started")?,
        last_finished: time("last_finished")?,
    })
}
