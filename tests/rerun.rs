//! Re-running a stored trial from a query: `train --trial N` and `train STUDY --params` with
//! the `params` that `best` prints (architecture choices included) or its `overrides` give
//! the trial's own result; a query on a database of several studies names them.

use std::time::Duration;

use crate::harness::{
    Scratch, assert_ok, assert_one_clear_error, branin_study, heavy, path, stderr, stdout,
};

const DIGITS: &str = r#"
[study]
name = "rerun"
metric = "val_accuracy"
direction = "maximize"

[data]
source = "digits"
validation_fraction = 0.2

[training]
epochs = 8
seed = 1
threads = 1

[search]
algorithm = "random"
trials = 4
parallel = 2
seed = 11

[search.space]
"training.learning_rate" = { float = [1e-3, 3e-2], log = true }

[search.architecture]
layers = { int = [1, 2] }
units = { choice = [32, 64] }
dropout = { float = [0.0, 0.3] }
"#;

/// The last epoch's `val_accuracy` of `train ... --format json`.
fn trained_accuracy(dir: &Scratch, args: &[&str]) -> f64 {
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let output = dir.hs(&all, Duration::from_secs(120));
    assert_ok(&output);
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    report["history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|e| e["val_accuracy"].as_f64())
        .expect("a last epoch with val_accuracy")
}

#[test]
fn a_stored_trial_re_runs_from_its_number_its_params_or_its_overrides() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", DIGITS);
    let db = dir.path("trials.db");
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(120),
    ));
    let best = dir.hs(
        &["best", "--db", path(&db), "--top", "1", "--format", "json"],
        Duration::from_secs(30),
    );
    assert_ok(&best);
    let best: serde_json::Value = serde_json::from_str(&stdout(&best)).expect("JSON");
    let trial = &best[0];
    let value = trial["value"].as_f64().expect("a value");
    let number = trial["trial"].as_i64().expect("a number").to_string();
    assert!(
        trial["params"]["arch.layers"].is_i64(),
        "params hold the architecture choices: {trial}"
    );
    assert!(
        trial["overrides"]["network.hidden"].is_array(),
        "overrides hold the training keys: {trial}"
    );

    let by_number = trained_accuracy(&dir, &["--trial", &number, "--db", path(&db)]);
    let by_params = trained_accuracy(
        &dir,
        &["study.toml", "--params", &trial["params"].to_string()],
    );
    let by_overrides = trained_accuracy(
        &dir,
        &["study.toml", "--params", &trial["overrides"].to_string()],
    );
    for (how, got) in [
        ("--trial", by_number),
        ("params", by_params),
        ("overrides", by_overrides),
    ] {
        assert!(
            (got - value).abs() < 1e-12,
            "re-run by {how} gave {got}, the study {value}"
        );
    }
}

#[test]
fn a_query_without_study_on_a_database_of_several_names_them() {
    let dir = Scratch::new();
    let db = dir.path("trials.db");
    for (name, text) in [
        ("function.toml", &branin_study("function", 3, 1, 2)),
        ("other.toml", &branin_study("other", 3, 1, 2)),
    ] {
        let config = dir.write(name, text);
        assert_ok(&dir.hs(
            &["run", path(&config), "--db", path(&db)],
            Duration::from_secs(60),
        ));
    }
    let best = dir.hs(&["best", "--db", path(&db)], Duration::from_secs(30));
    assert_one_clear_error(&best, &["holds 2 studies", "--study", "function, other"]);

    // A function's trial trains no network: `train --trial` says what to do instead.
    let train = dir.hs(
        &[
            "train",
            "--trial",
            "0",
            "--db",
            path(&db),
            "--study",
            "other",
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&train, &["does not train a network", "hypersearch show 0"]);
    assert!(stderr(&train).lines().count() <= 2, "{}", stderr(&train));
}
