//! A trials database damaged by hand (text in a number column, a NULL where a value
//! belongs): every command that reads the damaged trial (`best`, `trials`, `show`, and `run`
//! resuming the study) fails with one clear message naming the study, the trial, the column
//! and what it holds, never a panic and never a quiet 0; and the failed commands leave the
//! file as it was.

use std::time::Duration;

use sqlx::Row;

use crate::harness::{
    Scratch, assert_integrity, assert_ok, assert_one_clear_error, branin_study, path, sql,
    sql_write,
};

/// Runs the study to its end in a fresh directory, damages its database with `damage`
/// (statements run one connection each, in order), then runs each reading command on it:
/// each must fail with one line holding every one of `parts`, and leave the file's bytes
/// unchanged. Returns the directory and the database for further checks.
fn damage_then_read(damage: &[&'static str], parts: &[&str]) -> (Scratch, std::path::PathBuf) {
    let dir = Scratch::new();
    let config = dir.write("study.toml", &branin_study("damaged", 3, 1, 2));
    let db = dir.path("trials.db");
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(60),
    ));
    for statements in damage {
        sql_write(&db, statements);
    }
    let before = std::fs::read(&db).expect("read the database");

    let commands: [&[&str]; 4] = [
        &["best", "--db", path(&db)],
        &["trials", "--db", path(&db)],
        &["show", "1", "--db", path(&db)],
        &["run", path(&config), "--db", path(&db)],
    ];
    for args in commands {
        let output = dir.hs(args, Duration::from_secs(60));
        assert_one_clear_error(&output, parts);
        assert!(
            std::fs::read(&db).expect("read the database") == before,
            "`hypersearch {}` changed the database",
            args.join(" ")
        );
    }
    assert_integrity(&db);
    (dir, db)
}

#[test]
fn a_damaged_database_is_named_not_panicked_on() {
    let (_dir, db) = damage_then_read(
        // SQLite keeps text it cannot read as a number in a REAL column.
        &["UPDATE trials SET value = 'abc' WHERE number = 1"],
        &[
            "the trials database is damaged at trial 1 of study `damaged`, \
             column trials.value: expected a number, found text \"abc\"",
        ],
    );
    let stored = sql(
        &db,
        "SELECT typeof(value), value FROM trials WHERE number = 1",
        |r| (r.get::<String, _>(0), r.get::<String, _>(1)),
    );
    assert_eq!(stored, vec![("text".to_string(), "abc".to_string())]);
}

#[test]
fn a_null_in_a_hand_edited_schema_is_named_not_panicked_on() {
    // The schema forbids a NULL attempt count: a table edited by hand may not.
    let (_dir, db) = damage_then_read(
        &[
            "PRAGMA writable_schema = ON; \
             UPDATE sqlite_master SET sql = replace(sql, \
               'attempts       INTEGER NOT NULL DEFAULT 0', 'attempts       INTEGER') \
             WHERE type = 'table' AND name = 'trials'; \
             PRAGMA writable_schema = OFF",
            "UPDATE trials SET attempts = NULL WHERE number = 1",
        ],
        &[
            "the trials database is damaged at trial 1 of study `damaged`, \
             column trials.attempts: expected an integer, found NULL",
        ],
    );
    let nulls = sql(
        &db,
        "SELECT count(*) FROM trials WHERE number = 1 AND attempts IS NULL",
        |r| r.get::<i64, _>(0),
    );
    assert_eq!(nulls, vec![1]);
}
