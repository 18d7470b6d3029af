//! Conditional parameters end to end: `training.momentum` searched only while
//! `training.optimizer` is "momentum". Every algorithm (grid, random, tpe, bayes) proposes it
//! exactly when its condition holds, the training overrides carry it then and only then, and
//! `show` names it as absent (with the condition) for the other trials.

use std::path::Path;
use std::time::Duration;

use crate::harness::{Scratch, assert_integrity, assert_ok, heavy, path, stdout};

fn study(algorithm: &str, trials: u32) -> String {
    format!(
        r#"
[study]
name = "{algorithm}"
metric = "val_accuracy"

[data]
source = "digits"
validation_fraction = 0.2

[network]
hidden = [16]

[training]
epochs = 2
seed = 3
threads = 1

[search]
algorithm = "{algorithm}"
trials = {trials}
parallel = 2
seed = 5
n_startup_trials = 3

[search.space]
"training.momentum" = {{ float = [0.5, 0.9], grid = 3, when = {{ "training.optimizer" = "momentum" }} }}
"training.optimizer" = {{ choice = ["sgd", "momentum", "adam"] }}
"training.learning_rate" = {{ choice = [0.01, 0.05] }}
"#
    )
}

/// The trials of study `name` as `trials --format json` prints them.
fn trials(dir: &Scratch, db: &Path, name: &str) -> Vec<serde_json::Value> {
    let output = dir.hs(
        &[
            "trials",
            "--db",
            path(db),
            "--study",
            name,
            "--format",
            "json",
        ],
        Duration::from_secs(30),
    );
    assert_ok(&output);
    serde_json::from_str(&stdout(&output)).expect("JSON")
}

#[test]
fn a_conditional_parameter_exists_exactly_when_its_condition_holds_for_every_algorithm() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let db = dir.path("trials.db");
    // The grid: sgd and adam once per learning rate, momentum three times per rate.
    for (algorithm, count) in [("grid", 10), ("random", 10), ("tpe", 10), ("bayes", 10)] {
        let config = dir.write(&format!("{algorithm}.toml"), &study(algorithm, count));
        assert_ok(&dir.hs(
            &["run", path(&config), "--db", path(&db)],
            Duration::from_secs(240),
        ));
        let all = trials(&dir, &db, algorithm);
        assert_eq!(all.len(), count as usize, "{algorithm}: {all:?}");
        let mut with_momentum = 0;
        for trial in &all {
            assert_eq!(trial["state"], "complete", "{algorithm}: {trial}");
            let optimizer = trial["params"]["training.optimizer"]
                .as_str()
                .expect("an optimizer");
            let momentum = &trial["params"]["training.momentum"];
            let overridden = &trial["overrides"]["training.momentum"];
            if optimizer == "momentum" {
                with_momentum += 1;
                let m = momentum
                    .as_f64()
                    .expect("momentum while its condition holds");
                assert!((0.5..=0.9).contains(&m), "{algorithm}: {trial}");
                assert_eq!(overridden, momentum, "{algorithm}: {trial}");
            } else {
                assert!(
                    momentum.is_null(),
                    "{algorithm}: momentum with {optimizer}: {trial}"
                );
                assert!(overridden.is_null(), "{algorithm}: {trial}");
            }
        }
        if algorithm == "grid" {
            assert_eq!(with_momentum, 6, "grid: 3 momenta × 2 rates: {all:?}");
        }
        // `show` names the absent parameter and why, in the table and in JSON.
        let Some(without) = all
            .iter()
            .find(|t| t["params"]["training.optimizer"] != "momentum")
        else {
            assert_ne!(algorithm, "grid", "the grid holds sgd and adam");
            continue;
        };
        let number = without["trial"].to_string();
        let shown = dir.hs(
            &["show", &number, "--db", path(&db), "--study", algorithm],
            Duration::from_secs(30),
        );
        assert_ok(&shown);
        assert!(
            stdout(&shown).contains(
                "training.momentum absent: exists only when `training.optimizer` = \"momentum\""
            ),
            "{}",
            stdout(&shown)
        );
        let json = dir.hs(
            &[
                "show",
                &number,
                "--db",
                path(&db),
                "--study",
                algorithm,
                "--format",
                "json",
            ],
            Duration::from_secs(30),
        );
        assert_ok(&json);
        let json: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
        assert!(
            json["absent_params"]["training.momentum"].is_string(),
            "{json}"
        );
    }
    assert_integrity(&db);
}
