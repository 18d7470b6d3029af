//! One coordinator at a time: a lock held for the coordinator's whole life and released by
//! the operating system (or the database server) when its process ends, so that a
//! coordinator killed with `kill -9` can be started again at once while a second one on the
//! same database refuses to start.
//!
//! - SQLite: an exclusive `flock` on `DB.lock` next to the database file (one coordinator per
//!   file); the file names the holder (process, host, study) for the refusal.
//! - PostgreSQL: a session advisory lock keyed on the study's name (`hashtext`), on a
//!   connection of its own (one coordinator per study; several studies share a server).
//!
//! Either lock is taken before the coordinator reads or changes anything of its study, so a
//! refused coordinator has written nothing (no raised budget, no study set aside).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use sqlx::{Connection as _, PgConnection};

use super::Location;
use crate::Error;

/// The first key of the advisory locks this program takes ("hs").
const ADVISORY_CLASS: i32 = 0x6873;

/// The lock of a running coordinator: released when dropped (or when the process dies).
#[derive(Debug)]
pub enum CoordinatorLock {
    /// The locked file next to a SQLite database.
    File(HeldFile),
    /// The connection holding the study's advisory lock.
    Postgres(PgConnection),
}

/// A locked lock file naming its holder; emptied when dropped, so that a file left behind
/// names no process that has gone.
#[derive(Debug)]
pub struct HeldFile(File);

impl Drop for HeldFile {
    fn drop(&mut self) {
        let _ = self.0.set_len(0);
    }
}

/// The lock file of the SQLite database at `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the coordinator lock of `db` for the study named `study`, or says who holds it.
pub async fn lock(db: &Location, study: &str) -> Result<CoordinatorLock, Error> {
    match db {
        Location::Sqlite(path) => lock_file(path, study),
        Location::Postgres(url) => {
            let mut conn = PgConnection::connect_with(url.options())
                .await
                .map_err(|err| Error::database("connect for the coordinator lock", err))?;
            let (locked, key): (bool, i32) =
                sqlx::query_as("SELECT pg_try_advisory_lock($1, hashtext($2)), hashtext($2)")
                    .bind(ADVISORY_CLASS)
                    .bind(study)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|err| Error::database("take the coordinator lock", err))?;
            if !locked {
                return Err(Error::AlreadyServed {
                    database: db.to_string(),
                    holder: format!(
                        "another coordinator holds study `{study}` (advisory lock \
                         ({ADVISORY_CLASS}, {key}) on the study's name, see pg_locks)"
                    ),
                });
            }
            Ok(CoordinatorLock::Postgres(conn))
        }
    }
}

fn lock_file(path: &Path, study: &str) -> Result<CoordinatorLock, Error> {
    let lock = lock_path(path);
    let failed = |what: &str, err: std::io::Error| Error::OpenDatabase {
        database: path.display().to_string(),
        reason: sqlx::Error::Io(std::io::Error::new(
            err.kind(),
            format!("{what} {}: {err}", lock.display()),
        )),
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .map_err(|err| failed("cannot open the lock file", err))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(Error::AlreadyServed {
                database: path.display().to_string(),
                holder: match holder.trim() {
                    "" => "another coordinator holds it".to_string(),
                    who => who.to_string(),
                },
            });
        }
        Err(TryLockError::Error(err)) => return Err(failed("cannot lock", err)),
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let holder = format!(
        "process {} on {} serves study `{study}`",
        std::process::id(),
        host.trim()
    );
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(holder.as_bytes()));
    written.map_err(|err| failed("cannot write", err))?;
    Ok(CoordinatorLock::File(HeldFile(file)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_naming_the_holder_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("trials.db");
        let first = lock_file(&db, "s").unwrap();
        let refused = lock_file(&db, "t").unwrap_err().to_string();
        assert!(refused.contains("already has a coordinator"), "{refused}");
        assert!(
            refused.contains(&format!("process {}", std::process::id())),
            "{refused}"
        );
        assert!(refused.contains("study `s`"), "{refused}");
        drop(first);
        let left = std::fs::read_to_string(lock_path(&db)).unwrap();
        assert_eq!(left, "", "a released lock names no holder");
        assert!(lock_file(&db, "t").is_ok());
    }
}
