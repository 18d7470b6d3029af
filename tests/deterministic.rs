//! `[search] deterministic = true`: two runs of a study with one seed and several slots give
//! the same trials, though each trial takes a random time and so ends in another order; with
//! early stopping, the same trials stop at the same epochs.

use std::time::Duration;

use sqlx::Row;

use crate::harness::{Scratch, assert_integrity, assert_ok, heavy, path, sql, stderr, stdout};

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

/// The same search with early stopping: five epochs, each after a random sleep.
const PRUNED: &str = r#"
[study]
name = "pruned"
metric = "loss"

[objective]
command = "sh curve.sh"

[search]
algorithm = "tpe"
trials = 24
parallel = 4
seed = 5
n_startup_trials = 4
deterministic = true

[search.space]
x = { float = [-5, 5] }
y = { float = [-5, 5] }

[early_stopping]
rule = "median"
warmup_epochs = 1
startup_trials = 3
"#;

/// Five epochs of a loss that falls towards the point's score, each after 0–40 ms.
const CURVE: &str = r#"#!/bin/sh
x=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"x":\([-0-9.eE+]*\).*/\1/')
y=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"y":\([-0-9.eE+]*\).*/\1/')
e=1
while [ "$e" -le 5 ]; do
  sleep "$(awk -v s="$$$e" 'BEGIN { srand(s); printf "%.3f", rand() * 0.04 }')"
  awk -v x="$x" -v y="$y" -v e="$e" \
    'BEGIN { printf "epoch=%d loss=%.12f\n", e, ((x - 1) ^ 2 + (y + 2) ^ 2) * (1 + 1 / e) }'
  e=$((e + 1))
done
"#;

/// Trials (number, state, params, value) and stops (number, epoch, threshold) of one run;
/// and its database, in `dir`.
type Pruned = (
    Vec<(i64, String, String, Option<f64>)>,
    Vec<(i64, i64, f64)>,
);

fn run_pruned(dir: &Scratch) -> Pruned {
    let config = dir.write("study.toml", PRUNED);
    dir.write("curve.sh", CURVE);
    let db = dir.path("pruned.db");
    let output = dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(180),
    );
    assert_ok(&output);
    assert_integrity(&db);
    let trials = sql(
        &db,
        "SELECT number, state, params, value FROM trials ORDER BY number",
        |r| (r.get(0), r.get(1), r.get(2), r.get(3)),
    );
    let stops = sql(
        &db,
        "SELECT t.number, s.epoch, s.threshold FROM early_stops s \
         JOIN trials t ON t.id = s.trial_id ORDER BY t.number",
        |r| (r.get(0), r.get(1), r.get(2)),
    );
    (trials, stops)
}

#[test]
fn a_deterministic_study_stops_the_same_trials_at_the_same_epochs_in_every_run() {
    let _heavy = heavy();
    let (first_dir, second_dir) = (Scratch::new(), Scratch::new());
    let first = run_pruned(&first_dir);
    let second = run_pruned(&second_dir);
    assert_eq!(first.0.len(), 24);
    assert!(!first.1.is_empty(), "nothing was stopped: no test");
    assert!(
        first.0.iter().any(|t| t.1 == "complete"),
        "nothing completed: {:?}",
        first.0
    );
    assert_eq!(first, second, "the two runs differ");
    // Replaying the rule on the study gives back its stops (the replay judges as the
    // study did: each trial by the trials `parallel` below it).
    let db = first_dir.path("pruned.db");
    let out = first_dir.hs(
        &["replay", "--db", path(&db), "--format", "json"],
        Duration::from_secs(60),
    );
    assert_ok(&out);
    let replay: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(replay["comparison"]["identical"], true, "{replay}");
    let replayed: Vec<(i64, i64, f64)> = replay["stops"]
        .as_array()
        .expect("stops")
        .iter()
        .map(|s| {
            (
                s["trial"].as_i64().expect("trial"),
                s["epoch"].as_i64().expect("epoch"),
                s["threshold"].as_f64().expect("threshold"),
            )
        })
        .collect();
    assert_eq!(replayed, first.1);
}
