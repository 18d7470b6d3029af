//! `[search] deterministic = true`: two runs of a study with one seed and several slots give
//! the same trials, though each trial takes a random time and so ends in another order.

use std::time::Duration;

use sqlx::Row;

use crate::harness::{Scratch, assert_integrity, assert_ok, heavy, sql, stderr};

const STUDY: &str = r#"
[study]
name = "steady"
metric = "loss"

[objective]
command = "sh score.sh"

[search]
algorithm = "tpe"
trials = 24
parallel = 4
seed = 11
n_startup_trials = 4
deterministic = true

[search.space]
x = { float = [-5, 5] }
y = { float = [-5, 5] }
"#;

/// Sleeps 0–150 ms, seeded by the process id (so not by the study), then scores the point.
const SCORE: &str = r#"#!/bin/sh
x=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"x":\([-0-9.eE+]*\).*/\1/')
y=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"y":\([-0-9.eE+]*\).*/\1/')
sleep "$(awk -v s="$$" 'BEGIN { srand(s); printf "%.3f", rand() * 0.15 }')"
awk -v x="$x" -v y="$y" 'BEGIN { printf "epoch=1 loss=%.12f\n", (x - 1) ^ 2 + (y + 2) ^ 2 }'
"#;

/// The study's trials as (number, params, value), after a run in a fresh directory.
fn run_once(name: &str) -> Vec<(i64, String, Option<f64>)> {
    let dir = Scratch::new();
    let config = dir.write("study.toml", STUDY);
    dir.write("score.sh", SCORE);
    let db = dir.path(&format!("{name}.db"));
    let output = dir.hs(
        &[
            "run",
            config.to_str().expect("utf-8"),
            "--db",
            db.to_str().expect("utf-8"),
        ],
        Duration::from_secs(120),
    );
    assert_ok(&output);
    assert_integrity(&db);
    let trials = sql(
        &db,
        "SELECT number, params, value FROM trials ORDER BY number",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<String, _>(1),
                r.get::<Option<f64>, _>(2),
            )
        },
    );
    assert_eq!(trials.len(), 24, "{}", stderr(&output));
    trials
}

#[test]
fn a_deterministic_study_gives_the_same_trials_however_long_each_one_takes() {
    let _heavy = heavy();
    let first = run_once("first");
    let second = run_once("second");
    assert!(
        first.iter().all(|(_, _, value)| value.is_some()),
        "every trial completes: {first:?}"
    );
    assert_eq!(first, second, "the two runs proposed different trials");
    let distinct: std::collections::HashSet<&String> = first.iter().map(|(_, p, _)| p).collect();
    assert_eq!(distinct.len(), 24, "a trial was proposed twice");
}
