//! `hypersearch importance` against a study whose truth is known, and against Optuna 5.1's
//! `PedAnovaImportanceEvaluator` on the same stored trials (run by the test tools' Python,
//! which `./test.sh` installs; a missing tool fails the test).
//!
//! The objective is a script: loss = 10·(x1 − 0.3)² + (x2 − 0.5)²; `x3`, `n`, `lr` (log
//! scale), `kind` (a choice) and `extra` (only while `kind` = "c") do not count.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    Scratch, assert_ok, assert_one_clear_error, heavy, path, run_program, stdout,
};

const STUDY: &str = r#"
[study]
name = "known"
metric = "loss"

[objective]
command = "python3 score.py"

[search]
algorithm = "random"
trials = 200
parallel = 2
seed = 11

[search.space]
x1 = { float = [0, 1] }
x2 = { float = [0, 1] }
x3 = { float = [0, 1] }
n = { int = [1, 8] }
lr = { float = [1e-4, 1.0], log = true }
kind = { choice = ["a", "b", "c"] }
extra = { float = [0, 1], when = { kind = "c" } }
"#;

const SCORE: &str = r#"
import json, os
p = json.loads(os.environ["HYPERSEARCH_PARAMS"])
print("loss=%r" % (10 * (p["x1"] - 0.3) ** 2 + (p["x2"] - 0.5) ** 2))
"#;

/// Optuna's importances of the complete trials of the SQLite file `argv[1]`, as JSON, with
/// the distributions of [`STUDY`]'s space.
const OPTUNA: &str = r#"
import json, sqlite3, sys
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

space = {
    "x1": FloatDistribution(0, 1), "x2": FloatDistribution(0, 1), "x3": FloatDistribution(0, 1),
    "n": IntDistribution(1, 8), "lr": FloatDistribution(1e-4, 1.0, log=True),
    "kind": CategoricalDistribution(["a", "b", "c"]), "extra": FloatDistribution(0, 1),
}
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT params, value FROM trials WHERE state = 'complete' ORDER BY number").fetchall()
trials = []
for params, value in rows:
    params = json.loads(params)
    trials.append(optuna.trial.create_trial(
        params=params, distributions={k: space[k] for k in params}, value=value))
optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.create_study(direction="minimize")
study.add_trials(trials)
found = optuna.importance.get_param_importances(
    study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(target_quantile=0.1))
print(json.dumps({"version": optuna.__version__, "importances": found}))
"#;

/// The test tools' Python (with Optuna), or a failed test saying how to get it.
fn python() -> PathBuf {
    let Some(tools) = std::env::var_os("HYPERSEARCH_TEST_TOOLS") else {
        panic!(
            "HYPERSEARCH_TEST_TOOLS is not set: run the tests with ./test.sh, which installs \
             Optuna in target/test-tools"
        );
    };
    let python = Path::new(&tools).join("python");
    assert!(
        python.is_file(),
        "{} is missing: run the tests with ./test.sh, which installs Optuna there",
        python.display()
    );
    python
}

/// Spearman's rank correlation of two score lists over the same names (no ties expected).
fn rank_correlation(a: &[f64], b: &[f64]) -> f64 {
    let ranks = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .map(|x| v.iter().filter(|y| *y > x).count() as f64)
            .collect()
    };
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[test]
fn importance_ranks_the_parameters_that_decide_the_value_first_and_agrees_with_optuna() {
    let python = python();
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("known.toml", STUDY);
    dir.write("score.py", SCORE);
    let db = dir.path("known.db");
    let ran = dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(300),
    );
    assert_ok(&ran);

    let output = dir.hs(
        &["importance", "--db", path(&db), "--format", "json"],
        Duration::from_secs(60),
    );
    assert_ok(&output);
    let ours: Vec<Value> = serde_json::from_str(&stdout(&output)).expect("JSON");
    let names: Vec<&str> = ours
        .iter()
        .filter_map(|i| i["parameter"].as_str())
        .collect();
    let score = |i: &Value| i["importance"].as_f64().expect("a number");

    let script = dir.write("optuna_importance.py", OPTUNA);
    let optuna = run_program(
        Command::new(&python).arg(&script).arg(&db),
        Duration::from_secs(120),
    );
    assert_ok(&optuna);
    let optuna: Value = serde_json::from_str(&stdout(&optuna)).expect("JSON");
    let theirs = &optuna["importances"];
    let mut ranked: Vec<(&str, f64)> = theirs
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_f64().expect("a number")))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));

    println!("hypersearch importance:");
    for i in &ours {
        println!(
            "  {:6} {:.6}  correlation {}",
            i["parameter"].as_str().unwrap_or("?"),
            score(i),
            i["correlation"]
        );
    }
    println!("optuna {} PedAnovaImportanceEvaluator:", optuna["version"]);
    for (name, value) in &ranked {
        println!("  {name:6} {value:.6}");
    }

    assert_eq!(names.len(), 7, "{ours:?}");
    assert_eq!(ranked.len(), 7, "{optuna}");
    assert_eq!(names[0], ranked[0].0, "the same parameter comes first");
    let mut top_two = names[..2].to_vec();
    top_two.sort_unstable();
    assert_eq!(top_two, ["x1", "x2"], "{ours:?}");
    let pairs: Vec<(f64, f64)> = ours
        .iter()
        .map(|i| {
            let name = i["parameter"].as_str().expect("a name");
            (score(i), theirs[name].as_f64().expect("Optuna names it"))
        })
        .collect();
    let (a, b): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let rho = rank_correlation(&a, &b);
    let largest_gap = pairs.iter().map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!("rank correlation {rho:.4}, largest difference {largest_gap:.2e}");
    assert!(rho >= 0.8, "rank correlation {rho}");
    // The same estimator with the same settings: the same numbers, to rounding.
    assert!(largest_gap < 1e-9, "largest difference {largest_gap}");

    // The x1 that decides most: a higher x1 (over 0.3) is worse on the whole.
    let x1 = ours.iter().find(|i| i["parameter"] == "x1").expect("x1");
    assert!(x1["correlation"].as_f64().expect("a number") < 0.0, "{x1}");
    let kind = ours
        .iter()
        .find(|i| i["parameter"] == "kind")
        .expect("kind");
    assert!(kind["correlation"].is_null(), "{kind}");
    let extra = ours
        .iter()
        .find(|i| i["parameter"] == "extra")
        .expect("extra");
    assert!(extra["trials"].as_u64().expect("a count") < 200, "{extra}");

    let table = dir.hs(&["importance", "--db", path(&db)], Duration::from_secs(60));
    assert_ok(&table);
    let text = stdout(&table);
    assert!(
        text.contains("x1") && text.contains('%') && text.contains('█'),
        "{text}"
    );
    let csv = dir.hs(
        &["importance", "--db", path(&db), "--format", "csv"],
        Duration::from_secs(60),
    );
    assert_ok(&csv);
    assert!(
        stdout(&csv).starts_with("parameter,importance,correlation,trials\n"),
        "{}",
        stdout(&csv)
    );
}

#[test]
fn importance_of_an_unknown_or_too_small_study_is_one_clear_error() {
    let dir = Scratch::new();
    let config = dir.write(
        "small.toml",
        &STUDY
            .replace("name = \"known\"", "name = \"small\"")
            .replace("trials = 200", "trials = 4"),
    );
    dir.write("score.py", SCORE);
    let db = dir.path("small.db");
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(120),
    ));

    let unknown = dir.hs(
        &["importance", "--db", path(&db), "--study", "nope"],
        Duration::from_secs(60),
    );
    assert_one_clear_error(&unknown, &["nope"]);
    let small = dir.hs(&["importance", "--db", path(&db)], Duration::from_secs(60));
    assert_one_clear_error(
        &small,
        &["importance needs at least 10 complete trials, study `small` has 4"],
    );
}
