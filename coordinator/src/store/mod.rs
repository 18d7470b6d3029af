//! The trials database, a SQLite file or PostgreSQL ([`Location`]): opening it, the
//! coordinator's single writer, loading a study at start, and the read-only queries behind
//! `studies`, `best`, `trials`, `show`, `export`.
//!
//! Only the coordinator writes, through one [`Writer`] that groups concurrent requests into
//! one transaction and acknowledges each only after its commit; its SQLite side runs on
//! rusqlite, its PostgreSQL side on sqlx's Postgres driver. Loading and queries run the same
//! statements on both through sqlx's `Any` driver. The schema is in `migrations/sqlite/` and
//! `migrations/postgres/` (the same versions) and documented in `docs/SCHEMA.md`.

pub(crate) mod cells;
mod load;
pub mod location;
pub mod lock;
pub mod query;
pub mod retire;
mod writer;

use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyConnectOptions;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;

pub(crate) use cells::found_text;
pub use load::{
    StoredAttempt, StoredCheckpoint, StoredDefinition, StoredStudy, StoredTrial, StoredWorker,
    StudyDefinition, create_or_resume, redefine, stored_definition,
};
pub use location::Location;
pub use writer::{Ack, AttemptEnd, ModelBytes, TrialUpdate, WriteOp, Writer};

use crate::Error;

/// The SQLite schema migrations, embedded at compile time from `migrations/sqlite/`.
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
/// The PostgreSQL schema migrations (the same versions), from `migrations/postgres/`.
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// How long a statement waits for a lock held by another connection (a reader checkpointing,
/// a second coordinator by mistake) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a reading connection to a SQLite file sets: the file memory-mapped (pages read
/// without a system call each) and a larger page cache, so listing a million trials streams.
pub(crate) const READ_PRAGMAS: &str = "PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -65536";

/// Maps a failed statement to [`Error::Database`] saying what the coordinator was doing.
pub(crate) fn db_err(context: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |err| Error::database(context, err)
}

fn open_err(db: &Location) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |reason| Error::OpenDatabase {
        database: db.to_string(),
        reason,
    }
}

/// A connection through sqlx's `Any` driver, which runs the same statements (with `$1`
/// placeholders) on SQLite and PostgreSQL.
async fn connect_any(db: &Location, sqlite: SqliteConnectOptions) -> Result<AnyConnection, Error> {
    sqlx::any::install_default_drivers();
    let options = match db {
        Location::Sqlite(_) => AnyConnectOptions::from_url(&sqlite.to_url_lossy()),
        Location::Postgres(url) => url.any_options(),
    }
    .map_err(open_err(db))?;
    options.connect().await.map_err(open_err(db))
}

/// Opens (creating it if needed) the database for writing, with the schema migrations
/// applied, and returns a connection to create or load the study with. A SQLite file gets a
/// busy timeout first, then WAL, full synchronous commits and foreign keys.
pub async fn open_for_writing(db: &Location) -> Result<AnyConnection, Error> {
    let migrate_err = |reason| Error::Migrate {
        database: db.to_string(),
        reason,
    };
    match db {
        Location::Sqlite(path) => {
            let options = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .busy_timeout(BUSY_TIMEOUT)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true);
            let mut conn = options.connect().await.map_err(open_err(db))?;
            SQLITE_MIGRATOR.run(&mut conn).await.map_err(migrate_err)?;
            conn.close().await.map_err(open_err(db))?;
            connect_any(db, SqliteConnectOptions::new().filename(path)).await
        }
        Location::Postgres(url) => {
            let mut conn = PgConnection::connect_with(url.options())
                .await
                .map_err(open_err(db))?;
            POSTGRES_MIGRATOR
                .run(&mut conn)
                .await
                .map_err(migrate_err)?;
            conn.close().await.map_err(open_err(db))?;
            connect_any(db, SqliteConnectOptions::new()).await
        }
    }
}

/// Opens an existing database read-only, for the query commands: they never write, and
/// they work while a coordinator is writing.
pub async fn open_read_only(db: &Location) -> Result<AnyConnection, Error> {
    match db {
        Location::Sqlite(path) => {
            if !path.exists() {
                return Err(Error::OpenDatabase {
                    database: db.to_string(),
                    reason: sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such file",
                    )),
                });
            }
            let options = SqliteConnectOptions::new().filename(path).read_only(true);
            let mut conn = connect_any(db, options).await?;
            sqlx::query(READ_PRAGMAS)
                .execute(&mut conn)
                .await
                .map_err(open_err(db))?;
            Ok(conn)
        }
        Location::Postgres(_) => {
            let mut conn = connect_any(db, SqliteConnectOptions::new()).await?;
            sqlx::query("SET default_transaction_read_only = on")
                .execute(&mut conn)
                .await
                .map_err(open_err(db))?;
            Ok(conn)
        }
    }
}

/// The time now as the database stores it: UTC, ISO 8601 with milliseconds
/// (`2026-11-05T14:03:22.117Z`).
pub(crate) fn utc_now_text() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        since.subsec_millis()
    )
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
        let db = Location::from(&path);
        let mut conn = open_for_writing(&db).await.unwrap();
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
        open_for_writing(&db).await.unwrap();
        let mut reader = open_read_only(&db).await.unwrap();
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
        let err = open_read_only(&Location::from(&path))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.db"), "{err}");
        assert!(!path.exists());
    }
}
