//! A study with two objectives and a constraint, through a real `hypersearch run`: `best`
//! prints exactly the feasible complete trials no other feasible trial dominates, checked
//! against a brute-force front computed from the store's `metrics` column, and `plot`'s
//! Pareto chart and the dashboard's Pareto panel count the same front.

use std::path::Path;
use std::time::Duration;

use sqlx::Row;

use crate::dashboard::http::get;
use crate::harness::{Scratch, assert_integrity, assert_ok, on_both_stores, sql, stdout};

pub(crate) const BRANIN_CURRIN: &str = r#"
[study]
name = "two-objectives"
metrics = ["f1", "f2"]
directions = ["minimize", "minimize"]
constraints = ["f2 <= 9"]

[objective]
function = "branin_currin"

[search]
algorithm = "tpe"
trials = 40
seed = 5
n_startup_trials = 10

[search.space]
x1 = { float = [0, 1] }
x2 = { float = [0, 1] }
"#;

/// (number, f1, f2) of every complete trial, from the store's `metrics` JSON.
fn complete_trials(db: &Path) -> Vec<(i64, f64, f64)> {
    sql(
        db,
        "SELECT number, metrics FROM trials WHERE state = 'complete' ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<String, _>(1)),
    )
    .into_iter()
    .map(|(number, text)| {
        let m: serde_json::Value = serde_json::from_str(&text).expect("metrics JSON");
        let f = |k: &str| m[k].as_f64().expect("a number");
        (number, f("f1"), f("f2"))
    })
    .collect()
}

fn best_returns_only_the_feasible_pareto_front(dir: &Scratch, db: &Path) {
    let config = dir.write("study.toml", BRANIN_CURRIN);
    let db_arg = db.to_str().expect("utf-8");
    assert_ok(&dir.run_study(&config, db, 2, Duration::from_secs(120)));
    let trials = complete_trials(db);
    assert_eq!(trials.len(), 40, "every trial reports both objectives");
    let feasible: Vec<&(i64, f64, f64)> = trials.iter().filter(|t| t.2 <= 9.0).collect();
    assert!(feasible.len() < trials.len(), "the constraint bites");
    let mut front: Vec<i64> = feasible
        .iter()
        .filter(|a| {
            !feasible
                .iter()
                .any(|b| b.1 <= a.1 && b.2 <= a.2 && (b.1 < a.1 || b.2 < a.2))
        })
        .map(|t| t.0)
        .collect();
    front.sort_unstable();

    let output = dir.hs(
        &["best", "--db", db_arg, "--format", "json"],
        Duration::from_secs(30),
    );
    assert_ok(&output);
    let best: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let mut printed: Vec<i64> = best
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| t["trial"].as_i64().expect("trial"))
        .collect();
    printed.sort_unstable();
    assert_eq!(printed, front);

    // --top ranks beyond the front: the front's size first, then the next front.
    let top = (front.len() + 2).to_string();
    let output = dir.hs(
        &["best", "--db", db_arg, "--top", &top, "--format", "json"],
        Duration::from_secs(30),
    );
    assert_ok(&output);
    let ranked: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let ranked: Vec<i64> = ranked
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| t["trial"].as_i64().expect("trial"))
        .collect();
    assert_eq!(ranked.len(), (front.len() + 2).min(feasible.len()));
    let mut head = ranked[..front.len()].to_vec();
    head.sort_unstable();
    assert_eq!(head, front, "the front comes first");

    // `plot` draws the same front: its legend counts each standing.
    let charts = dir.path("charts");
    let plotted = dir.hs(
        &[
            "plot",
            "--db",
            db_arg,
            "--out",
            charts.to_str().expect("utf-8"),
            "--format",
            "svg",
        ],
        Duration::from_secs(60),
    );
    assert_ok(&plotted);
    let svg = std::fs::read_to_string(charts.join("pareto.svg")).expect("pareto.svg");
    for legend in [
        format!("Pareto front ({})", front.len()),
        format!("dominated ({})", feasible.len() - front.len()),
        format!("infeasible ({})", trials.len() - feasible.len()),
        "f2 (lower is better)".to_string(),
    ] {
        assert!(svg.contains(&legend), "`{legend}` missing from pareto.svg");
    }

    // The dashboard's Pareto panel: the same front, counts and objectives.
    let (_served, url) = crate::dashboard::dashboard(dir, db, &[]);
    let study = get(&format!("{url}/api/studies/two-objectives")).json();
    assert_eq!(
        study["objectives"],
        serde_json::json!([
            { "metric": "f1", "maximize": false },
            { "metric": "f2", "maximize": false }
        ])
    );
    let pareto = get(&format!("{url}/api/studies/two-objectives/pareto")).json();
    assert_eq!(pareto["front"], front.len());
    assert_eq!(pareto["dominated"], feasible.len() - front.len());
    assert_eq!(pareto["infeasible"], trials.len() - feasible.len());
    assert_eq!(pareto["constraints"], serde_json::json!(["f2 <= 9"]));
    let column = |key: &str| pareto[key].as_array().expect(key).clone();
    let (numbers, standings, ys) = (column("number"), column("standing"), column("y"));
    assert_eq!(numbers.len(), trials.len(), "a small study is drawn whole");
    let mut drawn_front: Vec<i64> = numbers
        .iter()
        .zip(&standings)
        .filter(|(_, standing)| *standing == "front")
        .map(|(number, _)| number.as_i64().expect("a number"))
        .collect();
    drawn_front.sort_unstable();
    assert_eq!(drawn_front, front);
    for ((number, standing), y) in numbers.iter().zip(&standings).zip(&ys) {
        let stored = trials
            .iter()
            .find(|t| Some(t.0) == number.as_i64())
            .expect("a stored trial");
        assert_eq!(y.as_f64(), Some(stored.2), "trial {number}'s f2");
        assert_eq!(*standing == "infeasible", stored.2 > 9.0, "trial {number}");
    }
    // The axes the page picks: f2 along x, the standings unchanged; an objective that does
    // not exist is refused, naming the key.
    let swapped = get(&format!("{url}/api/studies/two-objectives/pareto?x=1&y=0")).json();
    assert_eq!(swapped["axes"], serde_json::json!([1, 0]));
    assert_eq!(swapped["x"], pareto["y"]);
    assert_eq!(swapped["standing"], pareto["standing"]);
    let refused = get(&format!("{url}/api/studies/two-objectives/pareto?x=2"));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("`x`: `2` is not the index of an objective (0 to 1)"),
        "{}",
        refused.body
    );

    let table = dir.hs(&["best", "--db", db_arg], Duration::from_secs(30));
    assert_ok(&table);
    assert!(stdout(&table).contains("f2 (min)"), "{}", stdout(&table));
    // `show` gives every objective and says whether the trial is feasible.
    let infeasible = trials
        .iter()
        .find(|t| t.2 > 9.0)
        .expect("an infeasible trial")
        .0;
    let show = dir.hs(
        &["show", &infeasible.to_string(), "--db", db_arg],
        Duration::from_secs(30),
    );
    assert_ok(&show);
    assert!(
        stdout(&show).contains("infeasible: breaks f2 <= 9") && stdout(&show).contains("f1 = "),
        "{}",
        stdout(&show)
    );
    assert_integrity(db);
}

on_both_stores!(
    a_two_objective_constrained_study_s_best_is_its_feasible_pareto_front_on_sqlite,
    a_two_objective_constrained_study_s_best_is_its_feasible_pareto_front_on_postgres,
    best_returns_only_the_feasible_pareto_front
);

#[test]
fn the_accurate_and_small_example_ends_with_its_front_and_each_trial_s_architecture() {
    let _heavy = crate::harness::heavy();
    let dir = Scratch::new();
    let example = crate::harness::repo("examples/digits-pareto.toml");
    let db = dir.path("pareto.db");
    let run = dir.run_study(&example, &db, 2, Duration::from_secs(300));
    assert_ok(&run);
    let out = stdout(&run);
    for wanted in [
        "best trials of study `digits-pareto`, by Pareto front then crowding",
        "val_accuracy (max)",
        "parameters (min)",
        "architecture",
        "hyperparameters",
        "units=[",
        "feasible: inference_ms <= 1",
    ] {
        assert!(out.contains(wanted), "`{wanted}` missing:\n{out}");
    }
    // `best` prints the front: no printed trial is beaten on both objectives by another
    // feasible complete trial of the store.
    let front = dir.hs_json(&["best", "--db", db.to_str().expect("utf-8")]);
    let all: Vec<(f64, f64, f64)> = sql(
        &db,
        "SELECT metrics FROM trials WHERE state = 'complete'",
        |r| r.get::<String, _>(0),
    )
    .iter()
    .map(|text| {
        let m: serde_json::Value = serde_json::from_str(text).expect("metrics JSON");
        let f = |k: &str| m[k].as_f64().expect(k);
        (f("val_accuracy"), f("parameters"), f("inference_ms"))
    })
    .collect();
    let front = front.as_array().expect("an array");
    assert!(front.len() >= 2, "a trade-off: {front:?}");
    for trial in front {
        let (accuracy, parameters) = (
            trial["metrics"]["val_accuracy"].as_f64().expect("accuracy"),
            trial["metrics"]["parameters"].as_f64().expect("parameters"),
        );
        assert!(trial["metrics"]["inference_ms"].as_f64() <= Some(1.0));
        let beaten = all.iter().any(|&(a, p, ms)| {
            ms <= 1.0 && a >= accuracy && p <= parameters && (a > accuracy || p < parameters)
        });
        assert!(!beaten, "trial {} is dominated", trial["trial"]);
    }
    assert_integrity(&db);
}
