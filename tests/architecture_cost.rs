//! Every trained trial records its network's cost (`parameters`, `flops`, `inference_ms`) as
//! final metrics through the real coordinator and worker; `best` and `show` print them; a
//! study can minimize `parameters`; and searched augmentation keys reach the training.

use std::time::Duration;

use crate::harness::{Scratch, assert_ok, heavy, path, stdout};

const STUDY: &str = r#"
[study]
name = "smallest"
metric = "parameters"
direction = "minimize"

[data]
source = "digits"

[training]
epochs = 2
seed = 1

[search]
algorithm = "random"
trials = 4
parallel = 2
seed = 5

[search.space]
"data.augment.shift" = { float = [0.0, 1.0] }
"data.augment.rotate" = { float = [0.0, 10.0] }

[search.architecture]
layers = { int = [1, 2] }
units = { choice = [8, 16, 32] }
"#;

/// Parameters and flops of a digits network (64 inputs, 10 classes) with these hidden
/// layers: weights and biases; 2 flops per multiply-add plus one per bias.
fn expected_cost(hidden: &[u64]) -> (f64, f64) {
    let mut widths = vec![64];
    widths.extend_from_slice(hidden);
    widths.push(10);
    let parameters: u64 = widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    let flops: u64 = widths.windows(2).map(|w| 2 * w[0] * w[1] + w[1]).sum();
    (parameters as f64, flops as f64)
}

#[test]
fn trials_record_their_cost_and_a_study_can_minimize_parameters() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", STUDY);
    let db = dir.path("trials.db");
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(&db), "--workers", "1"],
        Duration::from_secs(180),
    ));

    let best = dir.hs(
        &["best", "--db", path(&db), "--top", "4", "--format", "json"],
        Duration::from_secs(30),
    );
    assert_ok(&best);
    let trials: Vec<serde_json::Value> = serde_json::from_str(&stdout(&best)).expect("JSON");
    assert_eq!(trials.len(), 4, "{trials:?}");
    let mut values = Vec::new();
    for trial in &trials {
        let hidden: Vec<u64> = trial["overrides"]["network.hidden"]
            .as_array()
            .expect("hidden layers")
            .iter()
            .map(|u| u.as_u64().expect("units"))
            .collect();
        let metrics = &trial["metrics"];
        let (parameters, flops) = expected_cost(&hidden);
        assert_eq!(metrics["parameters"].as_f64(), Some(parameters), "{trial}");
        assert_eq!(metrics["flops"].as_f64(), Some(flops), "{trial}");
        let ms = metrics["inference_ms"].as_f64().expect("inference_ms");
        assert!(ms > 0.0 && ms < 50.0, "{trial}");
        // The study's value is the parameter count.
        assert_eq!(trial["value"].as_f64(), Some(parameters), "{trial}");
        assert!(
            trial["overrides"]["data.augment.shift"].is_f64(),
            "the searched augmentation reaches the training: {trial}"
        );
        values.push(parameters);
    }
    // Minimized: the best trial is the smallest network, and the list is in that order.
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(values, sorted);

    let table = dir.hs(&["best", "--db", path(&db)], Duration::from_secs(30));
    assert_ok(&table);
    let out = stdout(&table);
    let first = format!("{} params", values[0]);
    assert!(
        out.contains("parameters (min)") && out.contains("cost") && out.contains(&first),
        "{out}"
    );
    assert!(out.contains(" flops") && out.contains(" ms"), "{out}");

    let number = trials[0]["trial"].as_i64().expect("a number").to_string();
    let show = dir.hs(
        &["show", &number, "--db", path(&db)],
        Duration::from_secs(30),
    );
    assert_ok(&show);
    let out = stdout(&show);
    for metric in ["parameters=", "flops=", "inference_ms="] {
        assert!(out.contains(metric), "`show` lacks {metric}: {out}");
    }
}
