//! `hypersearch run` on the README's example: it finishes, prints the best trials, and a
//! second run resumes the study instead of starting another.

use std::time::{Duration, Instant};

use sqlx::Row;

use crate::harness::{
    Scratch, assert_integrity, assert_ok, heavy, repo, sql, sql_count, stderr, stdout,
};

#[test]
fn run_finishes_prints_the_best_trials_and_resumes_after_an_interruption() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let example = repo("examples/digits-search.toml");
    let example = example.to_str().expect("utf-8");
    let db = dir.path("digits.db");
    let db_arg = db.to_str().expect("utf-8");

    // Interrupt the first run part-way (Ctrl-C), as a person might.
    let mut first = dir.spawn(&["run", example, "--db", db_arg, "--workers", "2"]);
    let started = Instant::now();
    // The file appears before its tables: wait for the migrations, then for ten trials.
    while !db.exists()
        || sql_count(
            &db,
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'trials'",
        ) == 0
        || sql_count(
            &db,
            "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned')",
        ) < 10
    {
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        if let Some(status) = first.child.try_wait().expect("poll run") {
            panic!("run ended early with {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    first.interrupt();
    let interrupted = first.output();
    assert_eq!(
        interrupted.status.code(),
        Some(130),
        "{}",
        stderr(&interrupted)
    );
    assert!(stderr(&interrupted).contains("run the same command again to resume"));
    let done_before = sql(
        &db,
        "SELECT number, value FROM trials WHERE state = 'complete' ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<f64, _>(1)),
    );
    assert!(!done_before.is_empty());

    let second = dir.hs(
        &["run", example, "--db", db_arg, "--workers", "2"],
        Duration::from_secs(300),
    );
    assert_ok(&second);
    assert!(
        stderr(&second).contains("resuming study `digits-search`"),
        "{}",
        stderr(&second)
    );
    let out = stdout(&second);
    assert!(
        out.contains("best trials of study `digits-search`"),
        "{out}"
    );
    assert!(
        out.contains("val_accuracy (max)") && out.contains("units=["),
        "{out}"
    );

    assert_eq!(sql_count(&db, "SELECT count(*) FROM studies"), 1);
    assert_eq!(sql_count(&db, "SELECT count(*) FROM trials"), 60);
    assert_eq!(
        sql_count(&db, "SELECT count(DISTINCT number) FROM trials"),
        60
    );
    assert_eq!(
        sql_count(
            &db,
            "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned', 'failed')"
        ),
        60
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'failed'"),
        0
    );
    let done_after = sql(
        &db,
        "SELECT number, value FROM trials WHERE state = 'complete' ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<f64, _>(1)),
    );
    for trial in &done_before {
        assert!(
            done_after.contains(trial),
            "trial {trial:?} changed after the resume"
        );
    }

    // A third run finds the study finished and only prints it.
    let third = dir.hs(&["run", example, "--db", db_arg], Duration::from_secs(60));
    assert_ok(&third);
    assert!(
        stderr(&third).contains("already finished"),
        "{}",
        stderr(&third)
    );
    assert_eq!(sql_count(&db, "SELECT count(*) FROM trials"), 60);
    assert_integrity(&db);
}
