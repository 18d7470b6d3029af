//! `algorithm = "evolution"` end to end: `hypersearch run` on a command study with an
//! architecture space records its trials under the algorithm `evolution`; the warm-up is
//! random, after it trials inherit from earlier ones (a child keeps at least one of the
//! continuous floats that random draws never repeat) and no two trials are the same.

use std::time::Duration;

use crate::harness::{Scratch, assert_integrity, assert_ok, path, sql_count, stdout};

const POPULATION: usize = 8;

const STUDY: &str = r#"
[study]
name = "evolved"
metric = "loss"

[objective]
command = "sh ./score.sh"

[search]
algorithm = "evolution"
trials = 24
parallel = 2
seed = 4

[search.evolution]
population = 8
sample_size = 3

[search.space]
x = { float = [0, 1] }
y = { float = [1e-4, 1], log = true }
opt = { choice = ["sgd", "adam"] }

[search.architecture]
layers = { int = [1, 3] }
units = { choice = [16, 32, 64] }
activation = { choice = ["relu", "elu"] }
"#;

/// Prints `loss=` from the trial's `x`, `y` and first layer's units (smallest at x = 0.3,
/// y = 1e-2, 32 units).
const SCORE: &str = r#"#!/bin/sh
x=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"x":\([-0-9.eE+]*\).*/\1/')
y=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"y":\([-0-9.eE+]*\).*/\1/')
u=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"arch.units_1":\([0-9]*\).*/\1/')
awk -v x="$x" -v y="$y" -v u="$u" 'BEGIN { l = log(y) / log(10) + 2; w = log(u / 32) / log(2); printf "loss=%.9f\n", (x - 0.3) ^ 2 + l * l / 16 + w * w / 50 }'
"#;

#[test]
fn an_evolution_study_runs_and_its_children_inherit_from_earlier_trials() {
    let dir = Scratch::new();
    let config = dir.write("evolved.toml", STUDY);
    dir.write("score.sh", SCORE);
    let db = dir.path("trials.db");
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(120),
    ));
    assert_eq!(
        sql_count(
            &db,
            "SELECT count(*) FROM studies WHERE name = 'evolved' AND algorithm = 'evolution'"
        ),
        1
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'complete'"),
        24
    );
    let listed = dir.hs(
        &[
            "trials",
            "--db",
            path(&db),
            "--study",
            "evolved",
            "--format",
            "json",
        ],
        Duration::from_secs(30),
    );
    assert_ok(&listed);
    let mut trials: Vec<serde_json::Value> = serde_json::from_str(&stdout(&listed)).expect("JSON");
    trials.sort_by_key(|t| t["trial"].as_u64());
    let params: Vec<&serde_json::Value> = trials.iter().map(|t| &t["params"]).collect();
    let mut children = 0;
    for (i, p) in params.iter().enumerate() {
        assert!(
            params[..i].iter().all(|q| q != p),
            "trial {i} repeats an earlier one: {p}"
        );
        let inherits = params[..i]
            .iter()
            .any(|q| q["x"] == p["x"] || q["y"] == p["y"]);
        if i < POPULATION {
            assert!(!inherits, "warm-up trial {i} is not random: {p}");
        } else if inherits {
            children += 1;
        }
    }
    // A child that repeats a trial is mutated again, and after 32 tries a random point is
    // drawn instead: rare, but this test does not depend on it never happening.
    assert!(
        children >= (params.len() - POPULATION) * 3 / 4,
        "{children} of the {} trials after the warm-up inherit: {params:?}",
        params.len() - POPULATION
    );
    assert_integrity(&db);
}
