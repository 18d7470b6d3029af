//! Early stopping of a study with two objectives through a real `hypersearch run`: the
//! median rule stops a trial when at least half the completed trials dominate it at the
//! epoch. Every recorded decision is recomputed from the store's curves: the dominators it
//! counts, the count it needed, and that a stopped trial was on no front at its epoch; and
//! `replay` gives every decision back.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sqlx::Row;

use crate::harness::{Scratch, assert_integrity, assert_ok, heavy, sql, stdout};

/// A training program in shell with two parameters: its `loss` is `(1 + 4x) / epoch + y`
/// (every epoch) and its `cost` is `1 - x + y`, printed with epoch 1 only (a constant, like
/// an architecture's size). A larger `y` is worse in both, so some trials are dominated.
const CURVES: &str = r#"#!/bin/sh
x=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"x":\([-0-9.eE+]*\).*/\1/')
y=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"y":\([-0-9.eE+]*\).*/\1/')
awk -v x="$x" -v y="$y" 'BEGIN { printf "epoch=1 loss=%.6f cost=%.6f\n", 1 + 4 * x + y, 1 - x + y }'
e=2
while [ "$e" -le 6 ]; do
  awk -v x="$x" -v y="$y" -v e="$e" 'BEGIN { printf "epoch=%d loss=%.6f\n", e, (1 + 4 * x) / e + y }'
  e=$((e + 1))
done
"#;

/// A trial's (loss, cost) at each epoch, `cost` carried forward from epoch 1.
type Curve = BTreeMap<i64, (f64, f64)>;

/// Every trial's curve of its latest attempt, by number.
fn curves(db: &Path) -> BTreeMap<i64, Curve> {
    let rows = sql(
        db,
        "SELECT t.number, m.epoch, m.name, m.value FROM epoch_metrics m \
         JOIN trials t ON t.id = m.trial_id AND m.attempt = t.attempts ORDER BY t.number, m.epoch",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<i64, _>(1),
                r.get::<String, _>(2),
                r.get::<f64, _>(3),
            )
        },
    );
    let mut raw: BTreeMap<i64, BTreeMap<i64, BTreeMap<String, f64>>> = BTreeMap::new();
    for (number, epoch, name, value) in rows {
        raw.entry(number)
            .or_default()
            .entry(epoch)
            .or_default()
            .insert(name, value);
    }
    raw.into_iter()
        .map(|(number, epochs)| {
            let mut cost = f64::NAN;
            let curve = epochs
                .into_iter()
                .map(|(epoch, metrics)| {
                    if let Some(&c) = metrics.get("cost") {
                        cost = c;
                    }
                    (epoch, (metrics["loss"], cost))
                })
                .collect();
            (number, curve)
        })
        .collect()
}

fn dominates(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 <= b.0 && a.1 <= b.1 && (a.0 < b.0 || a.1 < b.1)
}

#[test]
fn the_median_rule_stops_trials_dominated_by_half_the_completed_ones_in_two_objectives() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let script = dir.write("curves.sh", CURVES);
    let config = dir.write(
        "two.toml",
        &format!(
            r#"
[study]
name = "two-curves"
metrics = ["loss", "cost"]
directions = ["minimize", "minimize"]

[objective]
command = "sh {}"

[search]
algorithm = "random"
trials = 16
parallel = 1
seed = 21

[search.space]
x = {{ float = [0, 1] }}
y = {{ float = [0, 1] }}

[early_stopping]
rule = "median"
warmup_epochs = 1
startup_trials = 3
"#,
            script.display()
        ),
    );
    let db = dir.path("trials.db");
    let db_arg = db.to_str().expect("utf-8");
    let output = dir.run_study(&config, &db, 1, Duration::from_secs(120));
    assert_ok(&output);

    // A stopped trial's value is its loss when it stopped (not the decision's count).
    let values = sql(
        &db,
        "SELECT t.value, m.value FROM trials t JOIN epoch_metrics m ON m.trial_id = t.id \
         AND m.name = 'loss' AND m.epoch = (SELECT max(epoch) FROM epoch_metrics e \
         WHERE e.trial_id = t.id) WHERE t.state = 'pruned'",
        |r| (r.get::<f64, _>(0), r.get::<f64, _>(1)),
    );
    for (value, loss) in values {
        assert_eq!(value, loss);
    }
    let stops = sql(
        &db,
        "SELECT t.number, s.epoch, s.rule, s.metric, s.value, s.threshold, s.explanation \
         FROM trials t JOIN early_stops s ON s.trial_id = t.id AND s.attempt = t.attempts \
         WHERE t.state = 'pruned' ORDER BY t.number",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<i64, _>(1),
                r.get::<String, _>(2),
                r.get::<String, _>(3),
                r.get::<f64, _>(4),
                r.get::<f64, _>(5),
                r.get::<String, _>(6),
            )
        },
    );
    assert!(
        !stops.is_empty(),
        "nothing was stopped:\n{}",
        stdout(&output)
    );
    let states = sql(
        &db,
        "SELECT number, state FROM trials ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<String, _>(1)),
    );
    let pruned = states.iter().filter(|(_, s)| s == "pruned").count();
    assert_eq!(pruned, stops.len(), "every stopped trial has its decision");
    let complete: Vec<i64> = states
        .iter()
        .filter(|(_, s)| s == "complete")
        .map(|&(n, _)| n)
        .collect();
    assert_eq!(complete.len() + pruned, 16);

    let curves = curves(&db);
    for (number, epoch, rule, metric, value, threshold, explanation) in &stops {
        assert_eq!((rule.as_str(), metric.as_str()), ("median", "loss,cost"));
        assert!(*epoch > 1, "stopped during the warm-up: {stops:?}");
        let curve = &curves[number];
        assert_eq!(
            curve.keys().last(),
            Some(epoch),
            "epochs recorded after the stop decision"
        );
        let judged = curve[epoch];
        // One trial runs at a time: the references are the trials completed before it.
        let references: Vec<(f64, f64)> = complete
            .iter()
            .filter(|&&c| c < *number)
            .map(|c| curves[c][epoch])
            .collect();
        let dominators = references.iter().filter(|&&r| dominates(r, judged)).count();
        let needed = references.len().div_ceil(2);
        assert_eq!(
            (*value, *threshold),
            (dominators as f64, needed as f64),
            "trial {number}: {explanation}"
        );
        assert!(
            dominators >= needed && dominators >= 1,
            "trial {number} was on the front of the completed trials at epoch {epoch}"
        );
        assert!(
            explanation.starts_with(&format!(
                "dominated at epoch {epoch} by {dominators} of {} completed trials",
                references.len()
            )),
            "{explanation}"
        );
        assert!(explanation.contains("loss ") && explanation.contains("cost "));
        let shown = dir.hs(
            &["show", &number.to_string(), "--db", db_arg],
            Duration::from_secs(30),
        );
        assert_ok(&shown);
        assert!(
            stdout(&shown).contains(&format!(
                "pruned at epoch {epoch} by the median rule: dominated at epoch {epoch} by"
            )),
            "{}",
            stdout(&shown)
        );
    }
    // The completed trials ran all six epochs.
    for c in &complete {
        assert_eq!(curves[c].keys().last(), Some(&6), "trial {c}");
    }
    // Replaying the study's rule on its stored curves of both objectives gives back every
    // recorded stop, at the same epoch with the same counts.
    let replayed = dir.hs(
        &["replay", "--db", db_arg, "--format", "json"],
        Duration::from_secs(60),
    );
    assert_ok(&replayed);
    let replay: serde_json::Value = serde_json::from_str(&stdout(&replayed)).expect("JSON");
    assert_eq!(replay["comparison"]["identical"], true, "{replay}");
    let again: Vec<(i64, i64, f64, f64)> = replay["stops"]
        .as_array()
        .expect("stops")
        .iter()
        .map(|s| {
            let number = |k: &str| s[k].as_f64().expect("a number");
            (
                number("trial") as i64,
                number("epoch") as i64,
                number("value"),
                number("threshold"),
            )
        })
        .collect();
    let recorded: Vec<(i64, i64, f64, f64)> = stops.iter().map(|s| (s.0, s.1, s.4, s.5)).collect();
    assert_eq!(again, recorded);
    assert_integrity(&db);
}

/// Every trial's `(epoch 1's parameters, the final parameters)`.
fn parameters(db: &Path) -> Vec<(Option<f64>, f64)> {
    sql(
        db,
        "SELECT (SELECT m.value FROM epoch_metrics m WHERE m.trial_id = t.id AND m.epoch = 1 \
         AND m.name = 'parameters'), json_extract(t.metrics, '$.parameters') FROM trials t \
         WHERE t.state = 'complete'",
        |r| (r.get::<Option<f64>, _>(0), r.get::<f64, _>(1)),
    )
}

#[test]
fn a_training_weighing_val_loss_against_parameters_stops_dominated_trials_while_they_run() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write(
        "digits.toml",
        r#"
[study]
name = "digits-two"
metrics = ["val_loss", "parameters"]
directions = ["minimize", "minimize"]

[data]
source = "digits"

[training]
epochs = 4
seed = 1
threads = 1

[search]
algorithm = "random"
trials = 12
parallel = 1
seed = 3

[search.space]
"training.learning_rate" = { float = [1e-4, 0.1], log = true }

[search.architecture]
layers = { int = [1, 2] }
units = { choice = [8, 32, 128] }

[early_stopping]
rule = "median"
warmup_epochs = 1
startup_trials = 3
"#,
    );
    let db = dir.path("trials.db");
    let output = dir.run_study(&config, &db, 1, Duration::from_secs(120));
    assert_ok(&output);
    // The network's size comes with epoch 1, as the final metrics have it.
    let sizes = parameters(&db);
    assert!(!sizes.is_empty());
    for (first, last) in sizes {
        assert_eq!(first, Some(last));
    }
    let stops = sql(
        &db,
        "SELECT s.metric, s.explanation FROM early_stops s",
        |r| (r.get::<String, _>(0), r.get::<String, _>(1)),
    );
    assert!(
        !stops.is_empty(),
        "nothing was stopped:\n{}",
        stdout(&output)
    );
    for (metric, explanation) in stops {
        assert_eq!(metric, "val_loss,parameters");
        assert!(
            explanation.starts_with("dominated at epoch") && explanation.contains("parameters "),
            "{explanation}"
        );
    }
    assert_integrity(&db);
}
