//! Training behaviour on the built-in digits set and on generated data: accuracy,
//! determinism, the initialization claims, early stopping, every option.

use std::sync::Arc;

use super::*;
use crate::config::Overrides;

fn digits_config(extra: &str, overrides: serde_json::Value) -> TrainConfig {
    let text = format!("[data]\nsource = \"digits\"\n{extra}");
    let overrides: Overrides = overrides.as_object().cloned().unwrap_or_default();
    TrainConfig::from_toml_with_overrides(&text, "test", &overrides)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn digits() -> Arc<Dataset> {
    let config = digits_config("", serde_json::json!({}));
    Arc::new(Dataset::load(config.data()).unwrap_or_else(|e| panic!("{e}")))
}

fn run(config: &TrainConfig, data: &Dataset) -> TrainReport {
    train(config, data, &mut |_: &EpochMetrics| Control::Continue).unwrap_or_else(|e| panic!("{e}"))
}

fn best_val_accuracy(report: &TrainReport) -> f64 {
    report
        .history
        .iter()
        .filter_map(|m| m.val_accuracy)
        .fold(0.0, f64::max)
}

/// The history without wall-clock times, as bits.
fn fingerprint(report: &TrainReport) -> Vec<[u64; 5]> {
    report
        .history
        .iter()
        .map(|m| {
            [
                m.train_loss.to_bits(),
                m.val_loss.unwrap_or(f64::NAN).to_bits(),
                m.train_accuracy.to_bits(),
                m.val_accuracy.unwrap_or(f64::NAN).to_bits(),
                m.learning_rate.to_bits(),
            ]
        })
        .collect()
}

#[test]
fn the_digits_example_reaches_95_percent() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits.toml");
    let config = TrainConfig::from_file(&path, &Overrides::new()).unwrap_or_else(|e| panic!("{e}"));
    let report = run(
        &config,
        &Dataset::load(config.data()).unwrap_or_else(|e| panic!("{e}")),
    );
    let last = report
        .history
        .last()
        .and_then(|m| m.val_accuracy)
        .unwrap_or(0.0);
    assert!(last >= 0.95, "final validation accuracy {last}");
}

#[test]
fn same_seed_and_threads_give_a_bit_identical_history() {
    let data = digits();
    for threads in [1, 2] {
        let config = digits_config(
            "[network]\nhidden = [32, 32]\nbatch_norm = true\ndropout = 0.2\nresidual = true\n[training]\nepochs = 3\n",
            serde_json::json!({"training.threads": threads}),
        );
        let a = run(&config, &data);
        let b = run(&config, &data);
        assert_eq!(fingerprint(&a), fingerprint(&b), "threads = {threads}");
    }
    let other = digits_config("[training]\nepochs = 2\nseed = 2\n", serde_json::json!({}));
    let one = digits_config("[training]\nepochs = 2\nseed = 1\n", serde_json::json!({}));
    assert_ne!(
        fingerprint(&run(&other, &data)),
        fingerprint(&run(&one, &data))
    );
}

#[test]
fn concurrent_trainings_share_one_data_set() {
    let data = digits();
    let config = digits_config(
        "[network]\nhidden = [24]\n[training]\nepochs = 2\n",
        serde_json::json!({}),
    );
    let alone = fingerprint(&run(&config, &data));
    let together: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| fingerprint(&run(&config, &data))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("thread panicked")))
            .collect()
    });
    assert!(together.iter().all(|f| *f == alone));
}

#[test]
fn he_and_xavier_train_while_zeros_stay_at_chance() {
    let data = digits();
    let with = |init: &str| {
        let config = digits_config(
            "[network]\nhidden = [64, 64]\n[training]\nepochs = 5\nbatch_size = 32\nlearning_rate = 0.003\n",
            serde_json::json!({"network.init": init}),
        );
        best_val_accuracy(&run(&config, &data))
    };
    let (he, xavier, zeros) = (with("he"), with("xavier"), with("zeros"));
    assert!(he > 0.9, "he {he}");
    assert!(xavier > 0.9, "xavier {xavier}");
    // All-zero weights: every hidden unit computes the same thing and gets the same (zero)
    // gradient, so only the output bias learns: the class prior, about 1 in 10.
    assert!(zeros < 0.2, "zeros {zeros}");
}

#[test]
fn every_option_trains() {
    let data = digits();
    let cases = [
        serde_json::json!({"training.optimizer": "sgd", "training.learning_rate": 0.05, "training.lr_schedule": {"step": [2, 0.5]}}),
        serde_json::json!({"training.optimizer": "momentum", "training.learning_rate": 0.02, "training.clip_norm": 1.0}),
        serde_json::json!({"training.optimizer": "adamw", "training.l2": 0.01, "training.lr_schedule": {"exponential": 0.9}}),
        serde_json::json!({"training.optimizer": "adam", "training.l2": 0.001, "training.lr_schedule": {"cosine": true}}),
        serde_json::json!({"network.batch_norm": true, "network.dropout": [0.3, 0.1], "network.residual": true}),
        serde_json::json!({"network.activation": "leaky_relu"}),
        serde_json::json!({"network.activation": "elu", "network.init": "xavier"}),
        serde_json::json!({"network.activation": "sigmoid", "network.init": "xavier", "training.learning_rate": 0.01}),
        serde_json::json!({"network.activation": "tanh", "network.init": "small_random"}),
        serde_json::json!({"network.activation": "swish", "training.threads": 2}),
        serde_json::json!({"network.activation": "gelu", "network.hidden": []}),
    ];
    for overrides in cases {
        let config = digits_config(
            "[network]\nhidden = [48, 48]\n[training]\nepochs = 4\nbatch_size = 32\nlearning_rate = 0.003\n",
            overrides.clone(),
        );
        let report = run(&config, &data);
        let acc = best_val_accuracy(&report);
        assert!(acc > 0.85, "{overrides}: best validation accuracy {acc}");
        assert!(report.history.iter().all(|m| m.train_loss.is_finite()));
    }
}

#[test]
fn schedules_set_the_learning_rate_of_each_epoch() {
    let data = digits();
    let rates = |schedule: serde_json::Value| {
        let config = digits_config(
            "[network]\nhidden = [8]\n[training]\nepochs = 4\nlearning_rate = 0.1\noptimizer = \"sgd\"\n",
            serde_json::json!({ "training.lr_schedule": schedule }),
        );
        run(&config, &data)
            .history
            .iter()
            .map(|m| m.learning_rate)
            .collect::<Vec<_>>()
    };
    let close = |a: Vec<f64>, b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
    assert!(close(
        rates(serde_json::json!("none")),
        &[0.1, 0.1, 0.1, 0.1]
    ));
    assert!(close(
        rates(serde_json::json!({"exponential": 0.5})),
        &[0.1, 0.05, 0.025, 0.0125]
    ));
    assert!(close(
        rates(serde_json::json!({"step": [2, 0.1]})),
        &[0.1, 0.1, 0.01, 0.01]
    ));
    assert!(close(
        rates(serde_json::json!({"cosine": true})),
        &[
            0.1,
            0.085_355_339_059_327_37,
            0.05,
            0.014_644_660_940_672_63
        ]
    ));
}

#[test]
fn the_observer_and_patience_stop_training() {
    let data = digits();
    let config = digits_config(
        "[network]\nhidden = [16]\n[training]\nepochs = 10\n",
        serde_json::json!({}),
    );
    let mut seen = Vec::new();
    let report = train(&config, &data, &mut |m: &EpochMetrics| {
        seen.push(m.epoch);
        if m.epoch == 3 {
            Control::Stop
        } else {
            Control::Continue
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen, vec![1, 2, 3]);
    assert_eq!(report.history.len(), 3);
    assert!(report.stopped_early);
    assert_eq!(report.stop_reason, Some(StopReason::Observer));

    // A large learning rate on a wide network overfits within a few epochs: the validation
    // loss stops improving and patience ends the run long before 200 epochs.
    let config = digits_config(
        "[network]\nhidden = [128]\n[training]\nepochs = 200\nlearning_rate = 0.01\nbatch_size = 16\npatience = 3\n",
        serde_json::json!({}),
    );
    let report = run(&config, &data);
    assert!(report.stopped_early && report.history.len() < 200);
    assert_eq!(report.stop_reason, Some(StopReason::Patience));
    let losses: Vec<f64> = report.history.iter().filter_map(|m| m.val_loss).collect();
    let best = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    let best_at = losses.iter().position(|l| *l == best).unwrap_or(0);
    assert_eq!(
        losses.len() - 1 - best_at,
        3,
        "stopped 3 epochs after the best: {losses:?}"
    );
}

#[test]
fn a_test_split_is_evaluated_and_a_zero_validation_fraction_omits_validation() {
    // Two well-separated clusters; the test set comes from the same clusters.
    let sample = |i: usize| -> (Vec<f32>, u32) {
        let label = (i % 2) as u32;
        let centre = if label == 0 { -1.0 } else { 1.0 };
        (
            (0..6)
                .map(|f| centre + ((i * 7 + f * 3) % 11) as f32 * 0.05)
                .collect(),
            label,
        )
    };
    let samples = |range: std::ops::Range<usize>| {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in range {
            let (xs, l) = sample(i);
            x.extend(xs);
            y.push(l);
        }
        let x = ndarray::Array2::from_shape_vec((y.len(), 6), x).unwrap_or_else(|e| panic!("{e}"));
        (x, y)
    };
    let (x, y) = samples(0..200);
    let data = Dataset::from_arrays(x, y, Some(samples(200..260)), 0.0, 0)
        .unwrap_or_else(|e| panic!("{e}"));
    let config = TrainConfig::from_toml(
        "[data]\nsource = \"digits\"\nvalidation_fraction = 0.0\n[network]\nhidden = [8]\n[training]\nepochs = 3\nbatch_size = 16\nlearning_rate = 0.01\n",
        "t",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let report = run(&config, &data);
    assert_eq!(report.test_accuracy, Some(1.0));
    assert!(report.test_loss.is_some_and(|l| l < 0.3));
    assert!(
        report
            .history
            .iter()
            .all(|m| m.val_loss.is_none() && m.val_accuracy.is_none())
    );
    let json = serde_json::to_value(&report).unwrap_or_default();
    assert!(json["history"][0].get("val_loss").is_none() && json.get("test_accuracy").is_some());
}

#[test]
fn divergence_is_an_error_not_a_panic() {
    let data = digits();
    let config = digits_config(
        "[network]\nhidden = [64]\nactivation = \"elu\"\n[training]\noptimizer = \"sgd\"\nlearning_rate = 10.0\nepochs = 5\n",
        serde_json::json!({}),
    );
    match train(&config, &data, &mut |_: &EpochMetrics| Control::Continue) {
        Err(Error::Diverged { epoch, .. }) => assert!(epoch >= 1),
        other => panic!("expected divergence, got {other:?}"),
    }
}

#[test]
fn parameters_and_flops_are_counted_exactly_on_a_small_network() {
    // 4 features → hidden [3] → 2 classes.
    let x = ndarray::Array2::from_shape_fn((20, 4), |(r, f)| ((r * 3 + f) % 5) as f32);
    let y: Vec<u32> = (0..20).map(|r| (r % 2) as u32).collect();
    let data = Dataset::from_arrays(x, y, None, 0.2, 1).unwrap_or_else(|e| panic!("{e}"));
    let cost = |network: &str| {
        let text =
            format!("[data]\nsource = \"digits\"\n[network]\n{network}\n[training]\nepochs = 1\n");
        let config = TrainConfig::from_toml(&text, "test").unwrap_or_else(|e| panic!("{e}"));
        let report = run(&config, &data);
        assert!(
            report.inference_ms > 0.0 && report.inference_ms < 50.0,
            "{}",
            report.inference_ms
        );
        (report.parameters, report.flops)
    };
    // Weights 4·3 + 3 biases, 3·2 + 2: 23. Flops: 2·4·3 + 3 (bias) + 2·3·2 + 2 = 41.
    assert_eq!(cost("hidden = [3]"), (23, 41));
    // Batch norm: γ and β instead of the bias (4·3 + 6 + 3·2 + 2 = 26); in inference a scale
    // and a shift per unit: 24 + 6 + 12 + 2 = 44.
    assert_eq!(cost("hidden = [3]\nbatch_norm = true"), (26, 44));
    // [3, 3] with a residual around the second layer: 23 + 3·3 + 3 = 35 parameters;
    // 41 + 2·3·3 + 3 (bias) + 3 (the skip addition) = 65 flops.
    assert_eq!(cost("hidden = [3, 3]\nresidual = true"), (35, 65));
    // No hidden layer: a linear model, 4·2 + 2 = 10 parameters, 2·4·2 + 2 = 18 flops.
    assert_eq!(cost("hidden = []"), (10, 18));
}
