//! `hypersearch replay`: each rule replayed on a study it ran (three workers, so epochs of
//! several trials interleave) gives back the recorded decisions exactly; another rule on the
//! same study gives totals that add up; bad input is one clear error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sqlx::Row;

use crate::harness::{
    Scratch, assert_ok, assert_one_clear_error, curve_script, heavy, path, sql, stdout,
};

/// A training program in shell: a noisy loss curve over 8 epochs, worse for larger `x`.
fn curve() -> String {
    curve_script(8, "loss=%.6f", "(1 + 4 * x) / e + 0.3 * sin(7 * x * e)")
}

/// Runs a 24-trial study with `[early_stopping]` `rule` on three workers; its database.
fn study(dir: &Scratch, rule: &str) -> PathBuf {
    let script = dir.write("curve.sh", &curve());
    let early = if rule.is_empty() {
        String::new()
    } else {
        format!("[early_stopping]\n{rule}\n")
    };
    let config = dir.write(
        "study.toml",
        &format!(
            r#"
[study]
name = "replayed"
metric = "loss"
direction = "minimize"

[objective]
command = "sh {}"

[search]
algorithm = "random"
trials = 24
parallel = 3
seed = 4

[search.space]
x = {{ float = [0, 1] }}

{early}"#,
            script.display()
        ),
    );
    let db = dir.path("trials.db");
    let run = dir.hs(
        &["run", path(&config), "--db", path(&db), "--workers", "3"],
        Duration::from_secs(180),
    );
    assert_ok(&run);
    db
}

/// `hypersearch replay --format json` with `extra` arguments.
fn replay(dir: &Scratch, db: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["replay", "--db", path(db), "--format", "json"];
    args.extend_from_slice(extra);
    let out = dir.hs(&args, Duration::from_secs(60));
    assert_ok(&out);
    serde_json::from_str(&stdout(&out)).expect("JSON")
}

/// (trial, attempt, epoch, threshold) of each stop, as the replay printed them.
fn replayed_stops(replay: &Value) -> BTreeSet<(i64, i64, i64, String)> {
    replay["stops"]
        .as_array()
        .expect("stops")
        .iter()
        .map(|s| {
            (
                s["trial"].as_i64().expect("trial"),
                s["attempt"].as_i64().expect("attempt"),
                s["epoch"].as_i64().expect("epoch"),
                s["threshold"].to_string(),
            )
        })
        .collect()
}

/// The same, as the study recorded them.
fn recorded_stops(db: &Path) -> BTreeSet<(i64, i64, i64, String)> {
    sql(
        db,
        "SELECT t.number, s.attempt, s.epoch, s.threshold FROM early_stops s \
         JOIN trials t ON t.id = s.trial_id",
        |r| {
            let threshold: f64 = r.get(3);
            (
                r.get::<i64, _>(0),
                r.get::<i64, _>(1),
                r.get::<i64, _>(2),
                // NaN is JSON null.
                serde_json::to_value(threshold)
                    .unwrap_or(Value::Null)
                    .to_string(),
            )
        },
    )
    .into_iter()
    .collect()
}

/// The study's own rule gives back its recorded stops; `other` (another rule's arguments)
/// gives totals that add up.
fn own_rule_reproduces_and_another_adds_up(rule: &str, other: &[&str]) {
    let _heavy = heavy();
    let dir = Scratch::new();
    let db = study(&dir, rule);
    let recorded = recorded_stops(&db);
    assert!(!recorded.is_empty(), "the rule stopped nothing: no test");
    let own = replay(&dir, &db, &[]);
    assert_eq!(own["order"], "recorded");
    assert_eq!(replayed_stops(&own), recorded);
    assert_eq!(own["comparison"]["identical"], true);

    let what_if = replay(&dir, &db, other);
    let totals = &what_if["totals"];
    let count = |key: &str| totals[key].as_u64().expect("a count");
    let epochs = sql(
        &db,
        "SELECT count(*) FROM epoch_metrics WHERE name = 'loss'",
        |r| r.get::<i64, _>(0),
    );
    assert_eq!(count("epochs_run") as i64, epochs[0]);
    let stops = what_if["stops"].as_array().expect("stops");
    let saved: u64 = stops
        .iter()
        .map(|s| s["epochs_saved"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(count("epochs_saved"), saved);
    assert_eq!(count("epochs_run") - count("epochs_replayed"), saved);
    assert_eq!(count("stopped"), stops.len() as u64);
    // Every stop falls within the epochs the trial ran.
    for s in stops {
        let trial = s["trial"].as_i64().expect("trial");
        let ran = sql(
            &db,
            "SELECT t.number, max(m.epoch) FROM epoch_metrics m JOIN trials t ON t.id = m.trial_id \
             GROUP BY t.number",
            |r| (r.get::<i64, _>(0), r.get::<i64, _>(1)),
        );
        let last = ran.iter().find(|(n, _)| *n == trial).map(|r| r.1);
        assert!(s["epoch"].as_i64() <= last, "{s}");
    }
    let c = &what_if["comparison"];
    let listed = |key: &str| c[key].as_array().map_or(0, Vec::len);
    assert_eq!(listed("both") + listed("only_replay"), stops.len());
    assert_eq!(listed("both") + listed("only_recorded"), recorded.len());
}

#[test]
fn replaying_the_median_rule_of_a_study_gives_its_recorded_stops() {
    own_rule_reproduces_and_another_adds_up(
        "rule = \"median\"\nwarmup_epochs = 1\nstartup_trials = 3",
        &[
            "--rule",
            "asha",
            "--reduction-factor",
            "2",
            "--min-resource",
            "1",
        ],
    );
}

#[test]
fn replaying_the_asha_rule_of_a_study_gives_its_recorded_stops() {
    own_rule_reproduces_and_another_adds_up(
        "rule = \"asha\"\nreduction_factor = 2\nmin_resource = 1",
        &["--rule", "median", "--startup-trials", "2"],
    );
}

#[test]
fn replaying_the_hyperband_rule_of_a_study_gives_its_recorded_stops() {
    own_rule_reproduces_and_another_adds_up(
        "rule = \"hyperband\"\nreduction_factor = 2\nmax_resource = 8",
        &["--rule", "percentile", "--percentile", "25", "--top", "3"],
    );
}

#[test]
fn replay_refuses_bad_input_with_one_clear_error() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let db = study(&dir, "");
    let db = path(&db);
    let run = |args: &[&str]| dir.hs(args, Duration::from_secs(60));
    assert_one_clear_error(&run(&["replay", "--db", db, "--study", "nope"]), &["nope"]);
    assert_one_clear_error(
        &run(&["replay", "--db", db]),
        &["without early stopping", "--rule"],
    );
    assert_one_clear_error(
        &run(&[
            "replay",
            "--db",
            db,
            "--rule",
            "median",
            "--percentile",
            "30",
        ]),
        &["--percentile", "median"],
    );
    assert_one_clear_error(
        &run(&["replay", "--db", db, "--warmup-epochs", "2"]),
        &["--warmup-epochs", "--rule"],
    );
    // A stricter rule on a study recorded without one: it stops trials, none recorded.
    let strict = replay(
        &dir,
        Path::new(db),
        &["--rule", "median", "--startup-trials", "1"],
    );
    assert!(!strict["stops"].as_array().expect("stops").is_empty());
    assert_eq!(
        strict["comparison"]["only_recorded"],
        Value::Array(Vec::new())
    );
    // No curves: a study whose command reports no epochs.
    let flat = Scratch::new();
    let config = flat.write(
        "flat.toml",
        "[study]\nname = \"flat\"\nmetric = \"loss\"\n\n[objective]\n\
         command = \"echo loss=1\"\n\n[search]\nalgorithm = \"random\"\ntrials = 2\n\n\
         [search.space]\nx = { float = [0, 1] }\n",
    );
    let flat_db = flat.path("flat.db");
    assert_ok(&flat.run_study(&config, &flat_db, 1, Duration::from_secs(60)));
    assert_one_clear_error(
        &flat.hs(
            &["replay", "--db", path(&flat_db), "--rule", "median"],
            Duration::from_secs(60),
        ),
        &["no learning curves"],
    );
}
