//! Early stopping of a `command` objective by the median rule, and `show` explaining it.

use std::time::Duration;

use sqlx::Row;

use crate::harness::{Scratch, assert_integrity, assert_ok, curve_script, heavy, sql, stdout};

/// A training program in shell: its loss curve is `(1 + 4x) / epoch`, so a larger `x` is
/// worse at every epoch. Its last line is not a metric line.
fn curve() -> String {
    curve_script(8, "loss=%.6f accuracy=%.4f", "(1 + 4 * x) / e, 1 - x / e")
        + "echo \"done with trial $HYPERSEARCH_TRIAL\"\n"
}

#[test]
fn the_median_rule_prunes_command_trials_and_show_explains_each_prune() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let script = dir.write("curve.sh", &curve());
    let config = dir.write(
        "median.toml",
        &format!(
            r#"
[study]
name = "median-command"
metric = "loss"
direction = "minimize"

[objective]
command = "sh {}"

[search]
algorithm = "random"
trials = 16
parallel = 1
seed = 21

[search.space]
x = {{ float = [0, 1] }}

[early_stopping]
rule = "median"
warmup_epochs = 2
"#,
            script.display()
        ),
    );
    let db = dir.path("trials.db");
    let db_arg = db.to_str().expect("utf-8");
    let output = dir.run_study(&config, &db, 1, Duration::from_secs(120));
    assert_ok(&output);

    let pruned = sql(
        &db,
        "SELECT t.number, s.epoch, s.rule, s.value, s.threshold, \
         (SELECT max(epoch) FROM epoch_metrics m WHERE m.trial_id = t.id) \
         FROM trials t JOIN early_stops s ON s.trial_id = t.id WHERE t.state = 'pruned' ORDER BY t.number",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<i64, _>(1),
                r.get::<String, _>(2),
                r.get::<f64, _>(3),
                r.get::<f64, _>(4),
                r.get::<i64, _>(5),
            )
        },
    );
    assert!(
        !pruned.is_empty(),
        "nothing was pruned:\n{}",
        stdout(&output)
    );
    let states = sql(
        &db,
        "SELECT count(*) FROM trials WHERE state = 'pruned'",
        |r| r.get::<i64, _>(0),
    );
    assert_eq!(
        states[0] as usize,
        pruned.len(),
        "every pruned trial has its decision"
    );
    for (number, epoch, rule, value, threshold, last_recorded) in &pruned {
        assert_eq!(rule, "median");
        assert!(*epoch > 2, "pruned during warm-up: {pruned:?}");
        assert!(
            value > threshold,
            "pruned although better than the median: {pruned:?}"
        );
        assert_eq!(
            last_recorded, epoch,
            "epochs recorded after the stop decision"
        );
        let shown = dir.hs(
            &["show", &number.to_string(), "--db", db_arg],
            Duration::from_secs(30),
        );
        assert_ok(&shown);
        let text = stdout(&shown);
        assert!(
            text.contains(&format!("pruned at epoch {epoch} by the median rule")),
            "{text}"
        );
        assert!(text.contains("HYPERSEARCH_PARAMS="), "{text}");
        let json = dir.hs(
            &[
                "show",
                &number.to_string(),
                "--db",
                db_arg,
                "--format",
                "json",
            ],
            Duration::from_secs(30),
        );
        let detail: serde_json::Value =
            serde_json::from_str(&stdout(&json)).expect("show prints JSON");
        assert_eq!(detail["state"], "pruned");
        assert_eq!(detail["early_stop"]["epoch"].as_i64(), Some(*epoch));
        assert_eq!(
            detail["history"].as_array().map(Vec::len),
            Some(*epoch as usize)
        );
    }
    // The completed trials ran all 8 epochs and their value is the last one printed.
    let complete = sql(
        &db,
        "SELECT t.value, m.value FROM trials t JOIN epoch_metrics m ON m.trial_id = t.id \
         WHERE t.state = 'complete' AND m.name = 'loss' AND m.epoch = 8",
        |r| (r.get::<f64, _>(0), r.get::<f64, _>(1)),
    );
    assert_eq!(complete.len() + pruned.len(), 16);
    for (value, last) in complete {
        assert_eq!(value, last);
    }
    assert_integrity(&db);
}
