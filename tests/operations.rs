//! Running under a supervisor: one coordinator per database (a second refuses, and a
//! coordinator killed with `kill -9` can be started again at once), and a wall-time limit
//! per trial (`[search] trial_timeout`).

use std::path::Path;
use std::time::Duration;

use sqlx::Row;

use crate::faults::support::{assert_exits_ok, kill_9, serve_on, worker};
use crate::harness::{Scratch, assert_integrity, assert_one_clear_error, on_both_stores, sql};

const SLOW: &str = r#"
[study]
name = "slow"
metric = "loss"

[objective]
command = "echo epoch=1 loss=5; sleep 30; echo loss=1"

[search]
algorithm = "random"
trials = 2
parallel = 2
seed = 3
trial_timeout = "2s"

[search.space]
x = { float = [0, 1] }
"#;

fn second_coordinator_refuses_and_a_killed_one_is_replaced_at_once(dir: &Scratch, db: &Path) {
    let config = dir.write("study.toml", SLOW);
    let (mut first, _address) = serve_on(dir, &config, db, "127.0.0.1:0", "first.log", &[]);
    let db_arg = db.to_str().expect("utf-8");
    let config_arg = config.to_str().expect("utf-8");
    let second = dir.hs(
        &[
            "serve",
            config_arg,
            "--listen",
            "127.0.0.1:0",
            "--db",
            db_arg,
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&second, &["already has a coordinator", "study `slow`"]);
    // The first goes on; killed with -9, its lock goes with it.
    assert!(
        first.child.try_wait().expect("poll").is_none(),
        "the first stopped"
    );
    kill_9(&mut first);
    let (mut again, address) = serve_on(dir, &config, db, "127.0.0.1:0", "again.log", &[]);
    let mut steady = worker(dir, &address, "steady", 2);
    assert_exits_ok(&mut steady, Duration::from_secs(60));
    assert!(
        again.wait(Duration::from_secs(30)).success(),
        "{}",
        again.log_text()
    );
    assert_integrity(db);
}

on_both_stores!(
    sqlite_a_second_coordinator_refuses_and_a_killed_one_is_replaced_at_once,
    postgres_a_second_coordinator_refuses_and_a_killed_one_is_replaced_at_once,
    second_coordinator_refuses_and_a_killed_one_is_replaced_at_once
);

#[test]
fn a_trial_past_its_time_limit_is_stopped_and_failed_with_the_reason() {
    let dir = Scratch::new();
    let config = dir.write("study.toml", SLOW);
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(&dir, &config, &db, "127.0.0.1:0", "serve.log", &[]);
    let started = std::time::Instant::now();
    let mut steady = worker(&dir, &address, "steady", 2);
    assert_exits_ok(&mut steady, Duration::from_secs(60));
    assert!(
        serve.wait(Duration::from_secs(30)).success(),
        "{}",
        serve.log_text()
    );
    // Both 30-second commands were stopped after about 2 s, not run to their end.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let trials = sql(
        &db,
        "SELECT state, error, user_failures, infra_failures FROM trials ORDER BY number",
        |r| {
            (
                r.get::<String, _>(0),
                r.get::<Option<String>, _>(1),
                r.get::<i64, _>(2),
                r.get::<i64, _>(3),
            )
        },
    );
    assert_eq!(trials.len(), 2);
    for (state, error, user, infra) in &trials {
        assert_eq!(state, "failed", "{trials:?}");
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("ran past [search] trial_timeout = 2s")),
            "{trials:?}"
        );
        assert_eq!((*user, *infra), (1, 0), "a user error: {trials:?}");
    }
    assert_integrity(&db);
}

#[test]
fn a_trial_timeout_that_does_not_parse_is_one_clear_error() {
    let dir = Scratch::new();
    let config = dir.write("study.toml", &SLOW.replace("\"2s\"", "\"soon\""));
    let db = dir.path("trials.db");
    let output = dir.hs(
        &[
            "run",
            config.to_str().expect("utf-8"),
            "--db",
            db.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&output, &["search.trial_timeout", "\"soon\"", "30m"]);
    assert!(!db.exists(), "nothing written");
}
