//! Reading the cells of a row, fallibly: a hand-edited or damaged database may hold a NULL
//! where a value belongs, text where a number belongs, a negative count. Each such cell is
//! an [`Error::Corrupt`] that says where it is (the study, the trial, the table and column)
//! and what it holds, never a panic and never a quiet 0.
//!
//! One [`Cells`] reads a row of sqlx's `Any` driver (loading and queries), of its Postgres
//! driver (the PostgreSQL writer) or of rusqlite (the SQLite listing and writer) alike.

use std::fmt;

use rusqlite::types::{FromSql, ValueRef as NativeValue};
use sqlx::any::{Any, AnyRow};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{ColumnIndex, Decode, Type, TypeInfo as _, ValueRef as _};

use crate::Error;

/// Where a row is, for messages: `trial 12 of study `x``.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place<'a> {
    /// A row of the study of this name (or the study's own row).
    Study(&'a str),
    /// A trial of the study.
    Trial(&'a str, u64),
    /// An attempt (its number) of a trial of the study.
    Attempt(&'a str, u64, u32),
    /// A worker (its id) of the study.
    Worker(&'a str, u64),
    /// Anything else, said in words ("a study", "the row `insert trial` returned").
    Other(&'static str),
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Study(study) => write!(f, "study `{study}`"),
            Place::Trial(study, number) => write!(f, "trial {number} of study `{study}`"),
            Place::Attempt(study, number, attempt) => {
                write!(f, "attempt {attempt} of trial {number} of study `{study}`")
            }
            Place::Worker(study, id) => write!(f, "worker {id} of study `{study}`"),
            Place::Other(words) => f.write_str(words),
        }
    }
}

/// A type a cell is read as, and how a message names it.
pub(crate) trait Cell:
    Sized
    + for<'r> Decode<'r, Any>
    + Type<Any>
    + for<'r> Decode<'r, Postgres>
    + Type<Postgres>
    + FromSql
{
    /// What the column should hold: "an integer".
    const EXPECTED: &'static str;
}

impl Cell for i64 {
    const EXPECTED: &'static str = "an integer";
}

impl Cell for f64 {
    const EXPECTED: &'static str = "a number";
}

impl Cell for String {
    const EXPECTED: &'static str = "text";
}

impl Cell for Vec<u8> {
    const EXPECTED: &'static str = "bytes";
}

/// A nullable column: NULL reads as `None`, a value of another type is still an error.
impl<T: Cell> Cell for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
}

/// Why a cell did not read.
pub(crate) enum Misread {
    /// The result has no such column (a statement and its reader disagree).
    Missing(String),
    /// The cell holds this (`NULL`, `text "abc"`, ...), not what was asked for.
    Found(String),
}

/// A row whose cells are read by column name.
pub(crate) trait Source {
    /// The cell of `column` as a `T`.
    fn read<T: Cell>(&self, column: &str) -> Result<T, Misread>;
}

impl Source for AnyRow {
    fn read<T: Cell>(&self, column: &str) -> Result<T, Misread> {
        read_sqlx(self, column)
    }
}

impl Source for PgRow {
    fn read<T: Cell>(&self, column: &str) -> Result<T, Misread> {
        read_sqlx(self, column)
    }
}

impl Source for rusqlite::Row<'_> {
    fn read<T: Cell>(&self, column: &str) -> Result<T, Misread> {
        match self.get::<_, T>(column) {
            Ok(value) => Ok(value),
            Err(
                err @ (rusqlite::Error::InvalidColumnName(_)
                | rusqlite::Error::InvalidColumnIndex(_)),
            ) => Err(Misread::Missing(err.to_string())),
            Err(_) => Err(Misread::Found(match self.get_ref(column) {
                Ok(value) => found_native(value),
                Err(err) => return Err(Misread::Missing(err.to_string())),
            })),
        }
    }
}

fn read_sqlx<R, T>(row: &R, column: &str) -> Result<T, Misread>
where
    R: sqlx::Row,
    for<'c> &'c str: ColumnIndex<R>,
    T: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    f64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    match row.try_get::<T, _>(column) {
        Ok(value) => Ok(value),
        Err(
            err @ (sqlx::Error::ColumnNotFound(_) | sqlx::Error::ColumnIndexOutOfBounds { .. }),
        ) => Err(Misread::Missing(err.to_string())),
        Err(_) => Err(Misread::Found(found_sqlx(row, column))),
    }
}

/// What a cell that did not decode holds, in words.
fn found_sqlx<R>(row: &R, column: &str) -> String
where
    R: sqlx::Row,
    for<'c> &'c str: ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    f64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    let type_name = match row.try_get_raw(column) {
        Ok(raw) if raw.is_null() => return "NULL".into(),
        Ok(raw) => raw.type_info().name().to_string(),
        Err(err) => return format!("nothing readable ({err})"),
    };
    if let Ok(text) = row.try_get::<String, _>(column) {
        found_text(&text)
    } else if let Ok(integer) = row.try_get::<i64, _>(column) {
        format!("the integer {integer}")
    } else if let Ok(number) = row.try_get::<f64, _>(column) {
        format!("the number {number}")
    } else if let Ok(bytes) = row.try_get::<Vec<u8>, _>(column) {
        format!("a blob of {} bytes", bytes.len())
    } else {
        format!("a value of type {type_name}")
    }
}

fn found_native(value: NativeValue<'_>) -> String {
    match value {
        NativeValue::Null => "NULL".into(),
        NativeValue::Integer(integer) => format!("the integer {integer}"),
        NativeValue::Real(number) => format!("the number {number}"),
        NativeValue::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => found_text(text),
            Err(_) => format!(
                "text that is not UTF-8 ({})",
                found_text(&String::from_utf8_lossy(bytes))
            ),
        },
        NativeValue::Blob(bytes) => format!("a blob of {} bytes", bytes.len()),
    }
}

/// Stored text as a message shows it: quoted, its first 60 characters.
pub(crate) fn found_text(text: &str) -> String {
    const SHOWN: usize = 60;
    match text.char_indices().nth(SHOWN) {
        None => format!("text {text:?}"),
        Some((end, _)) => format!(
            "text {:?}… ({} characters)",
            &text[..end],
            text.chars().count()
        ),
    }
}

/// The cells of one row of `table` at `place`: each read is a value or an
/// [`Error::Corrupt`] naming the place, the column and what the cell holds.
pub(crate) struct Cells<'r, R> {
    row: &'r R,
    table: &'static str,
    place: Place<'r>,
}

impl<'r, R: Source> Cells<'r, R> {
    /// The row `row` of `table`, at `place`.
    pub fn new(row: &'r R, table: &'static str, place: Place<'r>) -> Cells<'r, R> {
        Cells { row, table, place }
    }

    /// The same row, placed more exactly (once its key is read).
    pub fn at(self, place: Place<'r>) -> Cells<'r, R> {
        Cells { place, ..self }
    }

    /// The cell of `column` as a `T` (an `Option` for a nullable column).
    pub fn get<T: Cell>(&self, column: &str) -> Result<T, Error> {
        self.row
            .read(column)
            .map_err(|misread| self.misread::<T>(column, None, misread))
    }

    /// [`Cells::get`] of a column the statement renamed (`w.name AS worker`): messages name
    /// the stored column, `source` (`workers.name`).
    pub fn get_as<T: Cell>(&self, column: &str, source: &'static str) -> Result<T, Error> {
        self.row
            .read(column)
            .map_err(|misread| self.misread::<T>(column, Some(source), misread))
    }

    fn misread<T: Cell>(&self, column: &str, source: Option<&str>, misread: Misread) -> Error {
        let named = match source {
            Some(source) => source.to_string(),
            None => format!("{}.{column}", self.table),
        };
        match misread {
            Misread::Found(found) => Error::Corrupt {
                what: format!("{}, column {named}", self.place),
                value: format!("expected {}, found {found}", T::EXPECTED),
            },
            Misread::Missing(message) => Error::Database {
                context: "read a row",
                message: format!(
                    "{}: no column {named} in the result ({message})",
                    self.place
                ),
            },
        }
    }

    /// A count (attempts, an epoch, slots): an integer from 0 to `u32::MAX`.
    pub fn count(&self, column: &str) -> Result<u32, Error> {
        let value: i64 = self.get(column)?;
        u32::try_from(value).map_err(|_| {
            self.corrupt(
                column,
                format_args!(
                    "expected a count (0 to {}), found the integer {value}",
                    u32::MAX
                ),
            )
        })
    }

    /// An integer that is never negative (a number, an id, a budget).
    pub fn unsigned(&self, column: &str) -> Result<u64, Error> {
        let value: i64 = self.get(column)?;
        self.non_negative(column, value)
    }

    /// [`Cells::unsigned`] of a nullable column (a sum over no rows).
    pub fn maybe_unsigned(&self, column: &str) -> Result<Option<u64>, Error> {
        self.get::<Option<i64>>(column)?
            .map(|value| self.non_negative(column, value))
            .transpose()
    }

    fn non_negative(&self, column: &str, value: i64) -> Result<u64, Error> {
        u64::try_from(value).map_err(|_| {
            self.corrupt(
                column,
                format_args!("expected an integer of at least 0, found the integer {value}"),
            )
        })
    }

    /// The error for `column` of this row holding something it should not: `problem` says
    /// what was expected and what was found.
    pub fn corrupt(&self, column: &str, problem: impl fmt::Display) -> Error {
        Error::Corrupt {
            what: format!("{}, column {}.{column}", self.place, self.table),
            value: problem.to_string(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{Location, StudyDefinition, create_or_resume, open_for_writing, query};
    use hypersearch_proto::Direction;

    /// A temporary SQLite file with a table `cells` of an integer, a real and a text column
    /// (`n`, `x`, `s`), filled by `insert`, through sqlx's `Any` driver as the store opens it.
    async fn table(insert: &'static str) -> (tempfile::TempDir, Location, sqlx::AnyConnection) {
        let dir = tempfile::tempdir().unwrap();
        let db = Location::from(dir.path().join("t.db"));
        let mut conn = open_for_writing(&db).await.unwrap();
        sqlx::query("CREATE TABLE cells (n INTEGER, x REAL, s TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(insert).execute(&mut conn).await.unwrap();
        (dir, db, conn)
    }

    async fn first_row(conn: &mut sqlx::AnyConnection) -> AnyRow {
        sqlx::query("SELECT n, x, s FROM cells")
            .fetch_one(conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_null_or_mistyped_cell_is_an_error_naming_the_place_the_column_and_the_value() {
        let (_dir, _db, mut conn) =
            table("INSERT INTO cells (n, x, s) VALUES (NULL, 'abc', 'x')").await;
        let row = first_row(&mut conn).await;
        let cells = Cells::new(&row, "cells", Place::Trial("s", 12));

        let err = cells.get::<i64>("n").unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the trials database is damaged at trial 12 of study `s`, column cells.n: \
             expected an integer, found NULL"
        );
        let err = cells.get::<f64>("x").unwrap_err().to_string();
        assert_eq!(
            err,
            "the trials database is damaged at trial 12 of study `s`, column cells.x: \
             expected a number, found text \"abc\""
        );
        // Nullable: NULL is fine, text is still not a number.
        assert_eq!(cells.get::<Option<i64>>("n").unwrap(), None);
        let err = cells.get::<Option<f64>>("x").unwrap_err().to_string();
        assert!(err.ends_with("column cells.x: expected a number, found text \"abc\""));
        assert_eq!(cells.get::<String>("s").unwrap(), "x");
        // A column the statement does not have is not the database's damage.
        let err = cells.get::<String>("nope").unwrap_err();
        assert!(
            matches!(&err, Error::Database { message, .. } if message.contains("cells.nope")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn counts_and_unsigned_integers_refuse_negative_and_oversized_values() {
        let (_dir, _db, mut conn) =
            table("INSERT INTO cells (n, x, s) VALUES (-3, 1.5, '7')").await;
        let row = first_row(&mut conn).await;
        let cells = Cells::new(&row, "cells", Place::Study("s"));
        assert_eq!(
            cells.count("n").unwrap_err().to_string(),
            "the trials database is damaged at study `s`, column cells.n: expected a count \
             (0 to 4294967295), found the integer -3"
        );
        let err = cells.unsigned("n").unwrap_err().to_string();
        assert!(err.ends_with("found the integer -3"), "{err}");
        let err = cells.maybe_unsigned("n").unwrap_err().to_string();
        assert!(err.ends_with("found the integer -3"), "{err}");
        // A REAL is not an integer; TEXT that looks like one is not either.
        let err = cells.count("x").unwrap_err().to_string();
        assert!(
            err.ends_with("expected an integer, found the number 1.5"),
            "{err}"
        );
        let err = cells.unsigned("s").unwrap_err().to_string();
        assert!(
            err.ends_with("expected an integer, found text \"7\""),
            "{err}"
        );

        sqlx::query("UPDATE cells SET n = 4294967296")
            .execute(&mut conn)
            .await
            .unwrap();
        let row = first_row(&mut conn).await;
        let cells = Cells::new(&row, "cells", Place::Study("s"));
        assert!(
            cells
                .count("n")
                .unwrap_err()
                .to_string()
                .ends_with("found the integer 4294967296")
        );
        assert_eq!(cells.unsigned("n").unwrap(), 4_294_967_296);
    }

    #[tokio::test]
    async fn rusqlite_rows_read_the_same_way() {
        let (_dir, db, conn) =
            table("INSERT INTO cells (n, x, s) VALUES (NULL, 'abc', x'0102')").await;
        drop(conn);
        let Location::Sqlite(path) = &db else {
            unreachable!()
        };
        let native = rusqlite::Connection::open(path).unwrap();
        let errors = native
            .query_row("SELECT n, x, s FROM cells", [], |row| {
                let cells = Cells::new(row, "cells", Place::Attempt("s", 3, 2));
                Ok([
                    cells.get::<i64>("n").unwrap_err().to_string(),
                    cells.get::<Option<f64>>("x").unwrap_err().to_string(),
                    cells.get::<String>("s").unwrap_err().to_string(),
                ])
            })
            .unwrap();
        assert_eq!(
            errors,
            [
                "the trials database is damaged at attempt 2 of trial 3 of study `s`, \
                 column cells.n: expected an integer, found NULL",
                "the trials database is damaged at attempt 2 of trial 3 of study `s`, \
                 column cells.x: expected a number, found text \"abc\"",
                "the trials database is damaged at attempt 2 of trial 3 of study `s`, \
                 column cells.s: expected text, found a blob of 2 bytes",
            ]
        );
    }

    #[test]
    fn long_text_is_cut_in_messages() {
        assert_eq!(found_text("abc"), "text \"abc\"");
        let long = "é".repeat(100);
        assert_eq!(
            found_text(&long),
            format!("text {:?}… (100 characters)", "é".repeat(60))
        );
    }

    /// A study of two complete trials, created as the coordinator creates it, its rows
    /// written as the writer writes them.
    async fn study() -> (tempfile::TempDir, Location, StudyDefinition) {
        let dir = tempfile::tempdir().unwrap();
        let db = Location::from(dir.path().join("t.db"));
        let definition = StudyDefinition {
            name: "s".into(),
            metric: "loss".into(),
            direction: Direction::Minimize,
            algorithm: "random".into(),
            budget: 2,
            config: "[study]\nname = \"s\"\n".into(),
            objective_metrics: Vec::new(),
        };
        let mut conn = open_for_writing(&db).await.unwrap();
        let stored = create_or_resume(&mut conn, &definition, &db.to_string())
            .await
            .unwrap();
        for number in 0..2 {
            sqlx::query(
                "INSERT INTO trials (study_id, number, state, params, overrides, value, \
                 created_at) VALUES ($1, $2, 'complete', '{\"x\": 1}', '{}', 0.5, 'now')",
            )
            .bind(stored.id)
            .bind(number)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        (dir, db, definition)
    }

    #[tokio::test]
    async fn a_damaged_trial_is_named_by_loading_and_by_every_query() {
        let (_dir, db, definition) = study().await;
        let mut conn = open_for_writing(&db).await.unwrap();
        sqlx::query("UPDATE trials SET value = 'abc' WHERE number = 1")
            .execute(&mut conn)
            .await
            .unwrap();
        let expected = "the trials database is damaged at trial 1 of study `s`, column \
                        trials.value: expected a number, found text \"abc\"";
        let err = create_or_resume(&mut conn, &definition, &db.to_string())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), expected);

        let mut reader = query::Reader::open(&db).await.unwrap();
        let study = reader.study(None).await.unwrap();
        let err = reader.trial(&study, 1).await.unwrap_err();
        assert_eq!(err.to_string(), expected);
        assert_eq!(reader.trial(&study, 0).await.unwrap().summary.trial, 0);
        let err = reader
            .for_each_trial(&study, None, query::TrialOrder::Number, |_| {
                Ok::<(), Error>(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), expected);
        // The listing through sqlx (PostgreSQL's way) says the same as rusqlite's.
        let err = query::trials(&mut conn, &study, None, query::TrialOrder::Number)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), expected);
    }

    #[tokio::test]
    async fn a_negative_count_is_named_not_read_as_zero() {
        let (_dir, db, definition) = study().await;
        let mut conn = open_for_writing(&db).await.unwrap();
        sqlx::query("UPDATE trials SET attempts = -1 WHERE number = 0")
            .execute(&mut conn)
            .await
            .unwrap();
        let err = create_or_resume(&mut conn, &definition, &db.to_string())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the trials database is damaged at trial 0 of study `s`, column trials.attempts: \
             expected a count (0 to 4294967295), found the integer -1"
        );
        let mut reader = query::Reader::open(&db).await.unwrap();
        let study = reader.study(None).await.unwrap();
        let err = reader.best(&study, 5).await.unwrap_err().to_string();
        assert!(
            err.contains("trial 0 of study `s`, column trials.attempts"),
            "{err}"
        );
    }
}
