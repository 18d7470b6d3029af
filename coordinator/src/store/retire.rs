//! Setting aside a study none of whose trials succeeded, so that a fixed study file (a
//! misspelt metric, a wrong command) can start again under the same name while the failed
//! trials stay in the database, under a new name, for `show`.

use sqlx::AnyConnection;

use super::cells::{Cells, Place};
use super::db_err;
use crate::Error;

/// Whether the study named `name` has trials and none of them completed, was pruned or is
/// running: nothing in it is worth resuming.
pub async fn nothing_succeeded(conn: &mut AnyConnection, name: &str) -> Result<bool, Error> {
    let row = sqlx::query(
        "SELECT count(*) AS trials, \
           coalesce(sum(CASE WHEN t.state IN ('complete', 'pruned', 'running') THEN 1 ELSE 0 END), 0) \
             AS kept \
         FROM trials t JOIN studies s ON s.id = t.study_id WHERE s.name = $1",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err("count a study's trials"))?;
    let cells = Cells::new(&row, "trials", Place::Study(name));
    Ok(cells.unsigned("trials")? > 0 && cells.unsigned("kept")? == 0)
}

/// Renames the study `name` to the first free `NAME.failed`, `NAME.failed-2`, … and returns
/// the new name.
pub async fn set_aside(conn: &mut AnyConnection, name: &str) -> Result<String, Error> {
    for n in 1..=1000u32 {
        let candidate = if n == 1 {
            format!("{name}.failed")
        } else {
            format!("{name}.failed-{n}")
        };
        let taken = sqlx::query("SELECT 1 FROM studies WHERE name = $1")
            .bind(&candidate)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("look up study"))?
            .is_some();
        if taken {
            continue;
        }
        sqlx::query("UPDATE studies SET name = $1 WHERE name = $2")
            .bind(&candidate)
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_err("rename a failed study"))?;
        return Ok(candidate);
    }
    Err(Error::Corrupt {
        what: format!("studies named `{name}.failed-N`"),
        value: "1000 of them".into(),
    })
}
