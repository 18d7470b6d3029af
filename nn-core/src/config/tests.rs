//! Config parsing: defaults, study files, overrides, and the wording of every error (insta
//! snapshots), each naming the file, the key and the line or override.

use super::*;

fn parse(text: &str, overrides: serde_json::Value) -> Result<TrainConfig, Error> {
    let overrides = overrides.as_object().cloned().unwrap_or_default();
    TrainConfig::from_toml_with_overrides(text, "study.toml", &overrides)
}

fn error(text: &str, overrides: serde_json::Value) -> String {
    match parse(text, overrides) {
        Ok(c) => format!("unexpectedly valid: {c:?}"),
        Err(e) => e.to_string(),
    }
}

const DIGITS: &str = "[data]\nsource = \"digits\"\n";

#[test]
fn defaults_fill_every_key_but_data() {
    let c = parse(DIGITS, serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.data().source, DataSource::Digits);
    assert_eq!(c.data().validation_fraction, 0.2);
    let n = c.network();
    assert_eq!(
        (
            n.hidden.clone(),
            n.activation,
            n.batch_norm,
            n.residual,
            n.init
        ),
        (vec![256, 128], Activation::Relu, false, false, Init::He)
    );
    assert_eq!(n.dropout, vec![0.0, 0.0]);
    let t = c.training();
    assert_eq!(
        (
            t.optimizer,
            t.learning_rate,
            t.batch_size,
            t.epochs,
            t.seed,
            t.threads
        ),
        (Optimizer::Adam, 0.001, 128, 10, 1, 1)
    );
    assert_eq!(
        (t.lr_schedule, t.clip_norm, t.patience, t.l2),
        (Schedule::Constant, None, None, 0.0)
    );
}

#[test]
fn the_spec_example_parses() {
    let text = r#"
[data]
source = "idx"
path = "/usr/share/datasets/fashion-mnist"
validation_fraction = 0.2

[network]
hidden = [256, 128]
activation = "relu"
batch_norm = true
dropout = [0.5, 0.3]
residual = false
init = "he"

[training]
optimizer = "adam"
learning_rate = 0.001
batch_size = 128
epochs = 10
l2 = 0.0
lr_schedule = { exponential = 0.95 }
clip_norm = 5.0
patience = 5
seed = 1
threads = 1
"#;
    let c = parse(text, serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.data().source,
        DataSource::Idx("/usr/share/datasets/fashion-mnist".into())
    );
    assert_eq!(c.network().dropout, vec![0.5, 0.3]);
    assert_eq!(c.training().lr_schedule, Schedule::Exponential(0.95));
    assert_eq!(
        (c.training().clip_norm, c.training().patience),
        (Some(5.0), Some(5))
    );
}

#[test]
fn a_study_file_is_accepted_and_its_study_tables_ignored() {
    let text = format!(
        "[study]\nname = \"s\"\n{DIGITS}[network]\nhidden = [32]\n[search]\nalgorithm = \"bayes\"\n\
         [search.space]\n\"training.learning_rate\" = {{ float = [1e-4, 1e-1], log = true }}\n\
         [early_stopping]\nrule = \"median\"\n"
    );
    let c = parse(&text, serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.network().hidden, vec![32]);
}

#[test]
fn overrides_replace_the_base_values() {
    let c = parse(
        &format!("{DIGITS}[network]\nhidden = [32]\n[training]\nlearning_rate = 0.1\n"),
        serde_json::json!({
            "training.learning_rate": 0.003,
            "network.hidden": [128, 64],
            "network.dropout": [0.2, 0.1],
            "network.activation": "elu",
            "network.batch_norm": true,
            "training.lr_schedule": {"step": [3, 0.5]},
            "training.batch_size": 64.0,
        }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.training().learning_rate, 0.003);
    assert_eq!(c.network().hidden, vec![128, 64]);
    assert_eq!(c.network().dropout, vec![0.2, 0.1]);
    assert_eq!(
        (c.network().activation, c.network().batch_norm),
        (Activation::Elu, true)
    );
    assert_eq!(
        c.training().lr_schedule,
        Schedule::Step {
            every: 3,
            factor: 0.5
        }
    );
    assert_eq!(c.training().batch_size, 64);
}

#[test]
fn one_dropout_number_applies_to_every_layer() {
    let c = parse(
        &format!("{DIGITS}[network]\nhidden = [8, 8, 8]\ndropout = 0.25\n"),
        serde_json::json!({}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.network().dropout, vec![0.25; 3]);
}

#[test]
fn relative_data_paths_are_resolved_against_the_config_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("train.toml");
    std::fs::write(
        &path,
        "[data]\nsource = \"csv\"\npath = \"data/train.csv\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let c = TrainConfig::from_file(&path, &Overrides::new()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.data().source,
        DataSource::Csv(dir.path().join("data/train.csv"))
    );
    let missing = TrainConfig::from_file(&dir.path().join("nope.toml"), &Overrides::new());
    let msg = missing.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("nope.toml") && msg.contains("No such file"),
        "{msg}"
    );
}

#[test]
fn training_keys_are_listed_with_their_kinds() {
    assert!(is_training_key("training.learning_rate"));
    assert!(is_training_key("network.hidden"));
    assert!(!is_training_key("data.path"));
    assert!(!is_training_key("training.lr"));
    assert_eq!(
        key_kind("network.activation"),
        Some(KeyKind::Choice(ACTIVATIONS))
    );
    assert_eq!(key_kind("training.batch_size"), Some(KeyKind::Int));
}

#[test]
fn bad_files_get_one_clear_error() {
    let cases = [
        ("missing_data", "[network]\nhidden = [8]\n".to_string()),
        ("not_toml", format!("{DIGITS}[network\n")),
        ("unknown_key", format!("{DIGITS}[network]\nhiden = [8]\n")),
        (
            "unknown_table",
            format!("{DIGITS}[netwrok]\nhidden = [8]\n"),
        ),
        (
            "wrong_type",
            format!("{DIGITS}[training]\nepochs = \"ten\"\n"),
        ),
        (
            "unknown_activation",
            format!("{DIGITS}[network]\nactivation = \"relux\"\n"),
        ),
        (
            "zero_batch_size",
            format!("{DIGITS}[training]\nbatch_size = 0\n"),
        ),
        (
            "billion_units",
            format!("{DIGITS}[network]\nhidden = [1000000000]\n"),
        ),
        (
            "dropout_count",
            format!("{DIGITS}[network]\nhidden = [8, 8]\ndropout = [0.1, 0.2, 0.3]\n"),
        ),
        ("dropout_one", format!("{DIGITS}[network]\ndropout = 1.0\n")),
        (
            "negative_learning_rate",
            format!("{DIGITS}[training]\nlearning_rate = -0.1\n"),
        ),
        (
            "unknown_source",
            "[data]\nsource = \"parquet\"\n".to_string(),
        ),
        ("idx_without_path", "[data]\nsource = \"idx\"\n".to_string()),
        (
            "bad_schedule",
            format!("{DIGITS}[training]\nlr_schedule = {{ exponential = 1.5 }}\n"),
        ),
        (
            "unknown_schedule",
            format!("{DIGITS}[training]\nlr_schedule = {{ linear = 1 }}\n"),
        ),
        (
            "patience_without_validation",
            "[data]\nsource = \"digits\"\nvalidation_fraction = 0.0\n[training]\npatience = 3\n"
                .to_string(),
        ),
        ("zero_threads", format!("{DIGITS}[training]\nthreads = 0\n")),
        (
            "huge_network",
            format!("{DIGITS}[network]\nhidden = [60000, 60000]\n"),
        ),
    ];
    for (name, text) in cases {
        insta::assert_snapshot!(name, error(&text, serde_json::json!({})));
    }
}

#[test]
fn bad_overrides_name_the_key() {
    let cases = [
        (
            "override_unknown_key",
            serde_json::json!({"training.lr": 0.1}),
        ),
        (
            "override_data_key",
            serde_json::json!({"data.path": "/tmp"}),
        ),
        (
            "override_wrong_type",
            serde_json::json!({"network.hidden": "wide"}),
        ),
        (
            "override_bad_value",
            serde_json::json!({"network.activation": "relux"}),
        ),
        (
            "override_out_of_range",
            serde_json::json!({"training.batch_size": 0}),
        ),
    ];
    for (name, overrides) in cases {
        insta::assert_snapshot!(name, error(DIGITS, overrides));
    }
}

#[test]
fn augmentation_is_read_from_the_data_table_and_overridable_by_dotted_keys() {
    let c = parse(DIGITS, serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.augment().is_active());
    let text = "[data]\nsource = \"digits\"\naugment = { shift = 2, rotate = 10 }\n";
    let c = parse(text, serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((c.augment().shift, c.augment().rotate), (2.0, 10.0));
    let c = parse(text, serde_json::json!({"data.augment.shift": 1.5}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((c.augment().shift, c.augment().rotate), (1.5, 10.0));
    // An override switches it on where the file has none.
    let c = parse(DIGITS, serde_json::json!({"data.augment.rotate": 15}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((c.augment().shift, c.augment().rotate), (0.0, 15.0));
    assert_eq!(key_kind("data.augment.shift"), Some(KeyKind::Float));
    let text = "[data]\nsource = \"csv\"\npath = \"x.csv\"\nimage_shape = [20, 30]\n";
    let c = parse(text, serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.data().image_shape, Some((20, 30)));
}

#[test]
fn bad_augmentation_and_image_shapes_name_the_key_and_line() {
    let cases = [
        (
            "[data]\nsource = \"digits\"\naugment = { shift = -1 }\n",
            serde_json::json!({}),
            "study.toml:3: `data.augment.shift` = -1.0: must be between 0 and 64 pixels",
        ),
        (
            "[data]\nsource = \"digits\"\naugment = { rotate = 181 }\n",
            serde_json::json!({}),
            "`data.augment.rotate` = 181.0: must be between 0 and 180 degrees",
        ),
        (
            "[data]\nsource = \"digits\"\naugment = { shear = 3 }\n",
            serde_json::json!({}),
            "unknown field `shear`, expected `shift` or `rotate`",
        ),
        (
            DIGITS,
            serde_json::json!({"data.augment.rotate": 500}),
            "study.toml (override): `data.augment.rotate` = 500.0: must be between 0 and 180 degrees",
        ),
        (
            DIGITS,
            serde_json::json!({"data.augment.shift": "two"}),
            "override `data.augment.shift`: \"two\" is not a number",
        ),
        (
            DIGITS,
            serde_json::json!({"data.augment.scale": 2}),
            "override `data.augment.scale`: not a training key",
        ),
        (
            "[data]\nsource = \"digits\"\nimage_shape = [28]\n",
            serde_json::json!({}),
            "study.toml:3: `data.image_shape` = [28]: expected [height, width], each 1 to 65536 pixels",
        ),
        (
            "[data]\nsource = \"digits\"\nimage_shape = [0, 4]\n",
            serde_json::json!({}),
            "`data.image_shape` = [0,4]",
        ),
    ];
    for (text, overrides, expected) in cases {
        let msg = error(text, overrides);
        assert!(msg.contains(expected), "expected {expected:?} in: {msg}");
    }
}
