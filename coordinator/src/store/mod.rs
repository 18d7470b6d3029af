//! The SQLite trials database: opening it, the coordinator's single writer, loading a study
//! at start, and the read-only queries behind `studies`, `best`, `trials`, `show`, `export`.
//!
//! Only the coordinator writes, through one [`Writer`] task that groups concurrent requests
//! into one `BEGIN IMMEDIATE` transaction and acknowledges each only after its commit.
//! The schema is in `migrations/` and documented for SQL users in `docs/SCHEMA.md`.

mod load;
pub mod query;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

pub use load::{StoredAttempt, StoredStudy, StoredTrial, StudyDefinition, create_or_resume};
pub use writer::{Ack, AttemptEnd, TrialUpdate, WriteOp, Writer};

use crate::Error;

/// The schema migrations, embedded at compile time from `migrations/`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How long a statement waits for a lock held by another connection (a reader checkpointing,
/// a second coordinator by mistake) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Maps a failed statement to [`Error::Database`] saying what the coordinator was doing.
pub(crate) fn db_err(context: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |err| Error::database(context, err)
}

/// Opens (creating if needed) the database for writing: busy timeout first, then WAL,
/// full synchronous commits (an acknowledged result survives power loss), foreign keys, and
/// the schema migrations applied.
pub async fn open_for_writing(path: &Path) -> Result<SqliteConnection, Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(BUSY_TIMEOUT)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true);
    let mut conn = options
        .connect()
        .await
        .map_err(|source| Error::OpenDatabase {
            path: path.to_path_buf(),
            source,
        })?;
    MIGRATOR
        .run(&mut conn)
        .await
        .map_err(|source| Error::Migrate {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(conn)
}

/// Opens an existing database read-only, for the query commands: they never write, and
/// they work while a coordinator is writing.
pub async fn open_read_only(path: &Path) -> Result<SqliteConnection, Error> {
    if !path.exists() {
        return Err(Error::OpenDatabase {
            path: path.to_path_buf(),
            source: sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            )),
        });
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT);
    options
        .connect()
        .await
        .map_err(|source| Error::OpenDatabase {
            path: path.to_path_buf(),
            source,
        })
}

/// Where a trial is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrialState {
    /// Sampled, waiting for a worker.
    Queued,
    /// Leased to a worker.
    Running,
    /// Finished with a value.
    Complete,
    /// Stopped early by a rule.
    Pruned,
    /// Failed for good (the reason is stored).
    Failed,
}

impl TrialState {
    /// The name stored in the database and printed by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Queued => "queued",
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        }
    }

    /// Whether the trial is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TrialState::Complete | TrialState::Pruned | TrialState::Failed
        )
    }
}

impl FromStr for TrialState {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "queued" => TrialState::Queued,
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "pruned" => TrialState::Pruned,
            "failed" => TrialState::Failed,
            other => {
                return Err(format!(
                    "unknown trial state `{other}` (expected queued, running, complete, pruned or failed)"
                ));
            }
        })
    }
}

/// A lease token as SQLite stores it (a signed 64-bit integer with the same bits).
pub(crate) fn token_to_sql(token: u64) -> i64 {
    i64::from_ne_bytes(token.to_ne_bytes())
}

/// A lease token back from SQLite.
pub(crate) fn token_from_sql(token: i64) -> u64 {
    u64::from_ne_bytes(token.to_ne_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_survive_the_round_trip_through_sqlite_integers() {
        for token in [0, 1, u64::MAX, 1 << 63, 0xdead_beef_dead_beef] {
            assert_eq!(token_from_sql(token_to_sql(token)), token);
        }
    }

    #[test]
    fn trial_states_parse_what_they_print() {
        for state in [
            TrialState::Queued,
            TrialState::Running,
            TrialState::Complete,
            TrialState::Pruned,
            TrialState::Failed,
        ] {
            assert_eq!(state.as_str().parse::<TrialState>().unwrap(), state);
        }
        assert!("done".parse::<TrialState>().is_err());
    }

    #[tokio::test]
    async fn opening_sets_wal_and_applies_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = open_for_writing(&path).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN \
             ('studies', 'trials', 'attempts', 'epoch_metrics', 'early_stops', 'workers')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(tables, 6);
        drop(conn);
        // Opening again (a restart) applies nothing twice.
        open_for_writing(&path).await.unwrap();
        let mut reader = open_read_only(&path).await.unwrap();
        let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut reader)
            .await
            .unwrap();
        assert_eq!(ok, "ok");
    }

    #[tokio::test]
    async fn read_only_open_of_a_missing_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.db");
        let err = open_read_only(&path).await.unwrap_err().to_string();
        assert!(err.contains("nope.db"), "{err}");
        assert!(!path.exists());
    }
}
