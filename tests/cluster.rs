//! A coordinator and separate worker processes: a digits study split across three workers,
//! and a killed worker's trial retried by another.

use std::time::{Duration, Instant};

use sqlx::Row;

use crate::harness::{
    Scratch, assert_best_matches_sql, assert_integrity, assert_ok, heavy, sql, sql_count, stdout,
};

const DIGITS_30: &str = r#"
[study]
name = "digits-cluster"
metric = "val_accuracy"

[data]
source = "digits"
validation_fraction = 0.2

[training]
epochs = 12
patience = 4
seed = 3

[search]
algorithm = "random"
trials = 30
parallel = 3
seed = 11

[search.space]
"training.learning_rate" = { float = [1e-4, 3e-2], log = true }
"training.batch_size" = { choice = [32, 64, 128] }

[search.architecture]
layers = { int = [1, 2] }
units = { choice = [16, 32, 64] }
activation = { choice = ["relu", "tanh"] }
dropout = { float = [0.0, 0.3] }
batch_norm = { choice = [true, false] }

[early_stopping]
rule = "median"
warmup_epochs = 3
"#;

#[test]
fn a_digits_study_with_three_worker_processes_completes_and_best_agrees_with_sql() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("digits.toml", DIGITS_30);
    let token = dir.write("token", "cluster-secret\n");
    let db = dir.path("trials.db");
    let token_arg = token.to_str().expect("utf-8");
    let (mut serve, address) = dir.serve(&config, &db, &["--token-file", token_arg]);
    let mut workers: Vec<_> = (0..3)
        .map(|i| {
            dir.spawn(&[
                "worker",
                "--coordinator",
                &address,
                "--token-file",
                token_arg,
                "--slots",
                "1",
                "--name",
                &format!("w{i}"),
            ])
        })
        .collect();
    // The query commands read the database while the search writes it.
    let started = Instant::now();
    loop {
        let during = dir.hs(
            &[
                "trials",
                "--db",
                db.to_str().expect("utf-8"),
                "--format",
                "json",
            ],
            Duration::from_secs(30),
        );
        assert_ok(&during);
        let rows: serde_json::Value = serde_json::from_str(&stdout(&during)).expect("JSON");
        if rows.as_array().is_some_and(|r| !r.is_empty()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no trial appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for worker in &mut workers {
        let output = worker.output();
        assert_ok(&output);
    }
    let status = serve.wait(Duration::from_secs(60));
    assert!(status.success(), "serve failed{}", serve.log_text());

    let states = sql(
        &db,
        "SELECT state, count(*) FROM trials GROUP BY state",
        |r| (r.get::<String, _>(0), r.get::<i64, _>(1)),
    );
    let terminal: i64 = states
        .iter()
        .filter(|(s, _)| ["complete", "pruned", "failed"].contains(&s.as_str()))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(terminal, 30, "{states:?}");
    assert_eq!(sql_count(&db, "SELECT count(*) FROM trials"), 30);
    assert_eq!(sql_count(&db, "SELECT count(*) FROM workers"), 3);
    assert!(
        sql_count(&db, "SELECT count(DISTINCT worker_id) FROM attempts") >= 2,
        "the trials were not shared between workers"
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'failed'"),
        0
    );

    let best = assert_best_matches_sql(&dir, &db, 5);
    for trial in &best {
        for field in [
            "state",
            "params",
            "attempts",
            "worker",
            "started_at",
            "finished_at",
        ] {
            assert!(!trial[field].is_null(), "`{field}` missing in {trial}");
        }
        assert!(trial["params"]["arch.layers"].is_i64(), "{trial}");
    }

    // `show` gives the best trial as a training config that `hypersearch train` re-runs to
    // the same result.
    let best_trial = best[0]["trial"]
        .as_i64()
        .expect("a trial number")
        .to_string();
    let best_value = best[0]["value"].as_f64().expect("a value");
    let shown = dir.hs(
        &[
            "show",
            &best_trial,
            "--db",
            db.to_str().expect("utf-8"),
            "--format",
            "json",
        ],
        Duration::from_secs(30),
    );
    assert_ok(&shown);
    let detail: serde_json::Value = serde_json::from_str(&stdout(&shown)).expect("JSON");
    let rerun = dir.write(
        "best.toml",
        detail["training_config"]
            .as_str()
            .expect("a training config"),
    );
    let trained = dir.hs(
        &["train", rerun.to_str().expect("utf-8"), "--format", "json"],
        Duration::from_secs(60),
    );
    assert_ok(&trained);
    let report: serde_json::Value = serde_json::from_str(&stdout(&trained)).expect("JSON");
    let history = report["history"].as_array().expect("a history");
    let last = history.last().expect("epochs")["val_accuracy"]
        .as_f64()
        .expect("val_accuracy");
    assert!(
        (last - best_value).abs() < 1e-9,
        "re-run gave {last}, the study {best_value}"
    );
    assert_eq!(
        Some(history.len()),
        detail["history"].as_array().map(Vec::len)
    );
    assert_integrity(&db);
}

const SLOW_COMMAND: &str = r#"
[study]
name = "slow-command"
metric = "loss"

[objective]
command = "for e in 1 2 3 4 5 6; do echo epoch=$e loss=$(( 100 - e )); sleep 0.2; done"

[search]
algorithm = "random"
trials = 6
parallel = 2
max_attempts = 3
seed = 5

[search.space]
x = { float = [0, 1] }
"#;

#[test]
fn a_killed_workers_trial_is_retried_by_another_worker() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("slow.toml", SLOW_COMMAND);
    let db = dir.path("trials.db");
    let (mut serve, address) = dir.serve(&config, &db, &["--lease-seconds", "1"]);
    let mut doomed = dir.spawn(&[
        "worker",
        "--coordinator",
        &address,
        "--slots",
        "1",
        "--name",
        "doomed",
    ]);

    // Kill it while it runs a trial.
    let started = Instant::now();
    let running = loop {
        let running = sql(
            &db,
            "SELECT t.number, a.attempt FROM attempts a JOIN trials t ON t.id = a.trial_id \
             JOIN workers w ON w.id = a.worker_id WHERE a.state = 'running' AND w.name = 'doomed'",
            |r| (r.get::<i64, _>(0), r.get::<i64, _>(1)),
        );
        if let Some(&first) = running.first() {
            break first;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no trial started{}",
            serve.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(300));
    doomed.kill();
    let params_before = sql(
        &db,
        "SELECT number, params FROM trials ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<String, _>(1)),
    );

    let mut rescuer = dir.spawn(&[
        "worker",
        "--coordinator",
        &address,
        "--slots",
        "2",
        "--name",
        "rescuer",
    ]);
    assert_ok(&rescuer.output());
    let status = serve.wait(Duration::from_secs(60));
    assert!(status.success(), "serve failed{}", serve.log_text());

    assert_eq!(
        sql_count(
            &db,
            "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned', 'failed')"
        ),
        6
    );
    assert_eq!(sql_count(&db, "SELECT count(*) FROM trials"), 6);
    // The killed attempt is recorded as lost to infrastructure, and the next attempt of the
    // same trial ran on the other worker.
    let (number, attempt) = running;
    let attempts = sql(
        &db,
        "SELECT t.number, a.attempt, a.state, a.failure, w.name FROM attempts a \
         JOIN trials t ON t.id = a.trial_id JOIN workers w ON w.id = a.worker_id \
         ORDER BY t.number, a.attempt",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<i64, _>(1),
                r.get::<String, _>(2),
                r.get::<Option<String>, _>(3),
                r.get::<String, _>(4),
            )
        },
    );
    let of_trial: Vec<_> = attempts.iter().filter(|a| a.0 == number).collect();
    assert!(
        of_trial.iter().any(|a| a.1 == attempt
            && a.2 == "lost"
            && a.3.as_deref() == Some("infrastructure")
            && a.4 == "doomed"),
        "{of_trial:?}"
    );
    assert!(
        of_trial
            .iter()
            .any(|a| a.1 > attempt && a.2 == "complete" && a.4 == "rescuer"),
        "{of_trial:?}"
    );
    // Retried trials keep their parameters.
    let params_after = sql(
        &db,
        "SELECT number, params FROM trials ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<String, _>(1)),
    );
    for before in &params_before {
        assert!(params_after.contains(before), "{before:?} changed");
    }
    assert_integrity(&db);
}
