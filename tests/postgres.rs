//! The PostgreSQL store end to end, on a throwaway cluster: a study run with `--db
//! postgres://…` and early stopping, every query command reading it back (equal to plain SQL),
//! a resume, and the ways a database URL goes wrong, each one clear message that never shows
//! the password and writes nothing. (The fault tests of `faults/` run on both stores too.)

use std::path::Path;
use std::time::Duration;

use hypersearch_testpg::Cluster;
use sqlx::Row;

use crate::harness::{
    Scratch, assert_integrity, assert_ok, assert_one_clear_error, heavy, sql, sql_count, stderr,
    stdout,
};

/// A command objective whose loss is `(1 + 4x) / epoch` over 6 epochs, so the median rule
/// has curves to judge.
const STUDY: &str = r#"
[study]
name = "pg-study"
metric = "loss"
direction = "minimize"

[objective]
command = "x=$(printf '%s' \"$HYPERSEARCH_PARAMS\" | sed 's/.*\"x\":\\([-0-9.eE+]*\\).*/\\1/'); for e in 1 2 3 4 5 6; do awk -v x=$x -v e=$e 'BEGIN { printf \"epoch=%d loss=%.6f\\n\", e, (1 + 4 * x) / e }'; done"

[search]
algorithm = "tpe"
trials = 24
parallel = 2
seed = 5

[search.space]
x = { float = [0, 1] }

[early_stopping]
rule = "median"
warmup_epochs = 2
"#;

#[test]
fn a_study_runs_on_postgres_and_every_query_reads_it_back() {
    let _heavy = heavy();
    let cluster = Cluster::start();
    let url = cluster.database();
    let db = Path::new(&url);
    let dir = Scratch::new();
    let config = dir.write("pg.toml", STUDY);
    let config = config.to_str().expect("utf-8");
    let run = dir.hs(
        &["run", config, "--db", &url, "--workers", "2"],
        Duration::from_secs(120),
    );
    assert_ok(&run);
    assert!(stdout(&run).contains("best trials of study `pg-study`"));
    assert_eq!(
        sql_count(
            db,
            "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned')"
        ),
        24
    );
    assert!(
        sql_count(db, "SELECT count(*) FROM early_stops") > 0,
        "the median rule stopped nothing"
    );

    // `best` equals plain SQL.
    let best = dir.hs(
        &["best", "--db", &url, "--top", "3", "--format", "json"],
        Duration::from_secs(30),
    );
    assert_ok(&best);
    let best: serde_json::Value = serde_json::from_str(&stdout(&best)).expect("json");
    let from_json: Vec<(i64, f64)> = best
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| {
            (
                t["trial"].as_i64().expect("a number"),
                t["value"].as_f64().expect("a value"),
            )
        })
        .collect();
    let from_sql = sql(
        db,
        "SELECT number, value FROM trials WHERE state = 'complete' \
         ORDER BY value, number LIMIT 3",
        |r| (r.get::<i64, _>(0), r.get::<f64, _>(1)),
    );
    assert_eq!(from_json, from_sql);

    // Every query command works on it.
    let pruned = sql(
        db,
        "SELECT t.number FROM trials t JOIN early_stops s ON s.trial_id = t.id LIMIT 1",
        |r| r.get::<i64, _>(0),
    )[0]
    .to_string();
    for args in [
        vec!["studies", "--db", &url],
        vec![
            "trials", "--db", &url, "--state", "pruned", "--format", "csv",
        ],
        vec!["show", &pruned, "--db", &url],
        vec![
            "export", "--db", &url, "--study", "pg-study", "--format", "json",
        ],
    ] {
        let out = dir.hs(&args, Duration::from_secs(30));
        assert_ok(&out);
        assert!(!stdout(&out).is_empty(), "{args:?} printed nothing");
    }
    let show = dir.hs(&["show", &pruned, "--db", &url], Duration::from_secs(30));
    assert!(stdout(&show).contains("median"), "{}", stdout(&show));

    // Running it again finds it finished.
    let again = dir.hs(&["run", config, "--db", &url], Duration::from_secs(60));
    assert_ok(&again);
    assert!(
        stderr(&again).contains("already finished"),
        "{}",
        stderr(&again)
    );
    assert_eq!(sql_count(db, "SELECT count(*) FROM trials"), 24);
    assert_integrity(db);
}

#[test]
fn bad_database_urls_fail_with_one_clear_message_that_hides_the_password() {
    let cluster = Cluster::start();
    let dir = Scratch::new();
    let config = dir.write("pg.toml", STUDY);
    let config = config.to_str().expect("utf-8");
    let port = cluster.port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let cases = [
        (
            format!("postgres://postgres:s3cret@127.0.0.1:{closed}/x"),
            vec!["cannot open the trials database", "Connection refused"],
        ),
        (
            format!("postgres://postgres:s3cret@127.0.0.1:{port}/nosuchdb"),
            vec![
                "cannot open the trials database",
                "nosuchdb",
                "does not exist",
            ],
        ),
        (
            format!("postgres://nobody:s3cret@127.0.0.1:{port}/postgres"),
            vec!["cannot open the trials database", "nobody"],
        ),
        (
            "postgres://postgres:s3cret@127.0.0.1:notaport/x".to_string(),
            vec!["cannot use the database URL", "port"],
        ),
    ];
    for (url, parts) in &cases {
        for args in [vec!["run", config, "--db", url], vec!["best", "--db", url]] {
            let out = dir.hs(&args, Duration::from_secs(60));
            assert_one_clear_error(&out, parts);
            let err = stderr(&out);
            assert!(!err.contains("s3cret"), "the password shows: {err}");
            assert!(err.contains("***"), "{err}");
        }
    }

    // A database whose schema is of another version: refused, nothing written.
    let url = cluster.database();
    let first = dir.hs(
        &["run", config, "--db", &url, "--workers", "1"],
        Duration::from_secs(120),
    );
    assert_ok(&first);
    let name = url.rsplit('/').next().expect("a database name");
    cluster.psql_on(
        name,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a newer hypersearch', true, '\\x00', 0)",
    );
    let trials = sql_count(Path::new(&url), "SELECT count(*) FROM trials");
    let out = dir.hs(&["run", config, "--db", &url], Duration::from_secs(60));
    assert_one_clear_error(&out, &["cannot apply the schema migrations", name, "9999"]);
    assert_eq!(
        sql_count(Path::new(&url), "SELECT count(*) FROM trials"),
        trials
    );
}
