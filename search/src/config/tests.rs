//! Study files accepted and refused.

use super::*;
use crate::params::ParamValue;
use crate::space::OverrideStyle;

pub(crate) const FASHION: &str = r#"
[study]
name = "fashion-mlp"
metric = "val_accuracy"
direction = "maximize"
storage = "hypersearch.db"

[data]
source = "idx"
path = "/usr/share/datasets/fashion-mnist"
validation_fraction = 0.2

[network]
hidden = [256, 128]
activation = "relu"
dropout = 0.2

[training]
optimizer = "adam"
learning_rate = 0.001
batch_size = 128
epochs = 10

[search]
algorithm = "tpe"
trials = 60
parallel = 8
seed = 7

[search.space]
"training.learning_rate" = { float = [1e-4, 1e-1], log = true }
"training.batch_size"    = { int = [32, 256] }
"training.l2"            = { float = [1e-6, 1e-2], log = true }

[search.architecture]
layers     = { int = [2, 5] }
units      = { choice = [64, 128, 256] }
activation = { choice = ["relu", "elu", "swish"] }
dropout    = { float = [0.1, 0.5] }
batch_norm = { choice = [true, false] }

[[search.enqueue]]
"training.learning_rate" = 0.001
"arch.layers" = 2
"arch.units_1" = 256
"arch.units_2" = 128

[early_stopping]
rule = "median"
warmup_epochs = 3
"#;

#[test]
fn spec_example_is_accepted() {
    let c = StudyConfig::from_toml_str(FASHION, "fashion.toml").unwrap();
    assert_eq!(c.name, "fashion-mlp");
    assert_eq!(c.direction, Direction::Maximize);
    assert_eq!(c.search.algorithm, Algorithm::Tpe);
    assert_eq!(
        (c.search.trials, c.search.parallel, c.search.seed),
        (60, 8, 7)
    );
    assert_eq!(c.max_epochs, Some(10));
    let names: Vec<&str> = c.space.params().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        &names[..5],
        [
            "training.learning_rate",
            "training.batch_size",
            "training.l2",
            "arch.layers",
            "arch.activation"
        ]
    );
    // Layers 1 and 2 always exist, 3..5 conditionally.
    assert!(c.space.get("arch.units_2").unwrap().condition.is_none());
    assert_eq!(
        c.space.get("arch.dropout_5").unwrap().condition,
        Some(crate::space::Condition::at_least("arch.layers", 5))
    );
    assert_eq!(
        c.enqueued[0].get("arch.units_1"),
        Some(&ParamValue::Int(256))
    );
    assert!(
        matches!(c.early_stopping, EarlyStopping::Percentile(ref r) if r.warmup_epochs == 3 && r.percentile == 50.0)
    );
    let base: toml::Table = toml::from_str(&c.base_training_config).unwrap();
    assert_eq!(base["training"]["epochs"].as_integer(), Some(10));
    assert_eq!(base["data"]["source"].as_str(), Some("idx"));
}

#[test]
fn defaults_for_a_function_objective() {
    let text = "[objective]\nfunction = \"hartmann6\"\n[search]\ntrials = 5\n[search.space]\n"
        .to_string()
        + &(1..=6)
            .map(|i| format!("x{i} = {{ float = [0, 1] }}\n"))
            .collect::<String>();
    let c = StudyConfig::from_toml_str(&text, "dir/h6.toml").unwrap();
    assert_eq!(
        (c.name.as_str(), c.metric.as_str(), c.direction),
        ("h6", "value", Direction::Minimize)
    );
    assert_eq!(c.search.algorithm, Algorithm::Bayes);
    assert_eq!(c.early_stopping, EarlyStopping::None);
    assert_eq!(c.space.override_style(), OverrideStyle::PassThrough);
}

#[test]
fn grid_defaults_trials_to_its_size() {
    let text = r#"
[objective]
command = "python3 train.py"
[study]
metric = "loss"
[search]
algorithm = "grid"
[search.space]
lr = { float = [0.001, 0.1], log = true, grid = 3 }
opt = { choice = ["sgd", "adam"] }
"#;
    let c = StudyConfig::from_toml_str(text, "g.toml").unwrap();
    assert_eq!(c.search.trials, 6);
    assert_eq!(c.space.grid_size(), Some(6));
}

#[test]
fn algorithm_names_are_what_a_study_file_says() {
    for name in ["bayes", "random", "grid", "tpe"] {
        let algorithm: Algorithm = serde_json::from_value(serde_json::json!(name)).unwrap();
        assert_eq!(algorithm.name(), name);
    }
}

#[test]
fn keep_models_defaults_to_ten_takes_zero_and_refuses_out_of_range_with_its_line() {
    assert_eq!(
        StudyConfig::from_toml_str(FASHION, "f.toml")
            .unwrap()
            .keep_models,
        DEFAULT_KEEP_MODELS
    );
    let with = |value: &str| FASHION.replace("[data]", &format!("keep_models = {value}\n[data]"));
    let none = StudyConfig::from_toml_str(&with("0"), "f.toml").unwrap();
    assert_eq!(none.keep_models, 0);
    for bad in ["-1", "1001"] {
        let err = StudyConfig::from_toml_str(&with(bad), "f.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("study.keep_models") && err.contains(":8:") && err.contains("0 to 1000"),
            "{err}"
        );
    }
    // Changing it does not make another study.
    assert!(
        none.differences_from(&StudyConfig::from_toml_str(FASHION, "f.toml").unwrap())
            .is_empty()
    );
}
