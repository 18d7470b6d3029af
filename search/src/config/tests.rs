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
    for name in ["bayes", "random", "grid", "tpe", "evolution"] {
        let algorithm: Algorithm = serde_json::from_value(serde_json::json!(name)).unwrap();
        assert_eq!(algorithm.name(), name);
    }
}

#[test]
fn tpe_settings_default_to_128_candidates_and_a_floor_of_one_and_a_half_and_refuse_a_floor_below_one()
 {
    let study = |tpe: &str| {
        format!(
            "[objective]\nfunction = \"branin\"\n[search]\nalgorithm = \"tpe\"\ntrials = 5\n\
             [search.tpe]\n{tpe}\n[search.space]\nx1 = {{ float = [-5, 10] }}\nx2 = {{ float = [0, 15] }}\n"
        )
    };
    let defaults = StudyConfig::from_toml_str(&study(""), "t.toml").unwrap();
    assert_eq!(defaults.search.tpe.n_ei_candidates, 128);
    assert_eq!(defaults.search.tpe.bandwidth_floor, 1.5);
    let set = StudyConfig::from_toml_str(&study("bandwidth_floor = 1.0"), "t.toml").unwrap();
    assert_eq!(set.search.tpe.bandwidth_floor, 1.0);
    for bad in [
        "bandwidth_floor = 0.5",
        "bandwidth_floor = nan",
        "bandwidth_floor = 1e9",
    ] {
        let err = StudyConfig::from_toml_str(&study(bad), "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("search.tpe.bandwidth_floor"), "{bad}: {err}");
        assert!(err.contains("1.0 to 100.0"), "{bad}: {err}");
    }
}

#[test]
fn deterministic_is_off_by_default_and_takes_early_stopping() {
    let study = |extra: &str, early: &str| {
        format!(
            "[objective]\nfunction = \"branin\"\n[search]\ntrials = 5\nparallel = 4\n{extra}\n\
             [search.space]\nx1 = {{ float = [-5, 10] }}\nx2 = {{ float = [0, 15] }}\n{early}"
        )
    };
    let off = StudyConfig::from_toml_str(&study("", ""), "d.toml").unwrap();
    assert!(!off.search.deterministic);
    let on = StudyConfig::from_toml_str(&study("deterministic = true", ""), "d.toml").unwrap();
    assert!(on.search.deterministic);
    let pruned = StudyConfig::from_toml_str(
        &study(
            "deterministic = true",
            "[early_stopping]\nrule = \"median\"\n",
        ),
        "d.toml",
    )
    .unwrap();
    assert!(pruned.search.deterministic);
    assert_ne!(pruned.early_stopping, crate::EarlyStopping::None);
}

const EVOLUTION: &str = r#"
[objective]
function = "branin"
[search]
algorithm = "evolution"
trials = 40
[search.space]
x1 = { float = [-5, 10] }
x2 = { float = [0, 15] }
"#;

#[test]
fn evolution_options_default_to_a_population_of_20_and_tournaments_of_5() {
    let c = StudyConfig::from_toml_str(EVOLUTION, "e.toml").unwrap();
    assert_eq!(c.search.algorithm, Algorithm::Evolution);
    assert_eq!(
        c.search.evolution,
        EvolutionSettings {
            population: 20,
            sample_size: 5
        }
    );
    let text = format!("{EVOLUTION}[search.evolution]\npopulation = 40\nsample_size = 40\n");
    let c = StudyConfig::from_toml_str(&text, "e.toml").unwrap();
    assert_eq!(c.search.evolution.population, 40);
    assert_eq!(c.search.evolution.sample_size, 40);
}

#[test]
fn a_small_population_without_a_sample_size_holds_tournaments_of_all_of_it() {
    let text = format!("{EVOLUTION}[search.evolution]\npopulation = 3\n");
    let c = StudyConfig::from_toml_str(&text, "e.toml").unwrap();
    assert_eq!(c.search.evolution.sample_size, 3);
}

#[test]
fn an_evolution_population_above_the_trials_is_refused_naming_the_key_and_line() {
    let text = format!("{EVOLUTION}[search.evolution]\npopulation = 41\n");
    let err = StudyConfig::from_toml_str(&text, "e.toml").unwrap_err();
    assert_eq!(err.key, "search.evolution.population");
    assert_eq!(err.line, 11);
    assert!(err.to_string().contains("40 trials"), "{err}");
    // Another algorithm ignores the population.
    let tpe = text.replace("\"evolution\"", "\"tpe\"");
    assert!(StudyConfig::from_toml_str(&tpe, "e.toml").is_ok());
}

#[test]
fn a_tournament_larger_than_the_population_is_refused() {
    let text = format!("{EVOLUTION}[search.evolution]\npopulation = 10\nsample_size = 11\n");
    let err = StudyConfig::from_toml_str(&text, "e.toml").unwrap_err();
    assert_eq!(err.key, "search.evolution.sample_size");
    assert_eq!(err.line, 12);
    assert!(err.to_string().contains("[1, 10]"), "{err}");
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

#[test]
fn several_objectives_and_constraints_are_read_in_order() {
    let text = r#"
[study]
metrics = ["val_accuracy", "parameters"]
directions = ["maximize", "minimize"]
constraints = ["parameters <= 100_000", "inference_ms < 0.5", "val_accuracy>=0.8", "flops > 1e3"]
[search]
algorithm = "tpe"
trials = 10
[search.space]
"training.l2" = { float = [0, 0.1] }
"#;
    let c = StudyConfig::from_toml_str(text, "moo.toml").unwrap();
    let goals: Vec<(&str, Direction)> = c
        .objectives
        .goals
        .iter()
        .map(|g| (g.metric.as_str(), g.direction))
        .collect();
    assert_eq!(
        goals,
        [
            ("val_accuracy", Direction::Maximize),
            ("parameters", Direction::Minimize)
        ]
    );
    assert_eq!((c.metric.as_str(), c.direction), goals[0]);
    let shown: Vec<String> = c
        .objectives
        .constraints
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "parameters <= 100000",
            "inference_ms < 0.5",
            "val_accuracy >= 0.8",
            "flops > 1000"
        ]
    );
}

#[test]
fn a_two_objective_function_defaults_to_minimizing_both_of_its_metrics() {
    let text = "[objective]\nfunction = \"branin_currin\"\n[search]\nalgorithm = \"random\"\ntrials = 5\n[search.space]\nx1 = { float = [0, 1] }\nx2 = { float = [0, 1] }\n";
    let c = StudyConfig::from_toml_str(text, "bc.toml").unwrap();
    assert_eq!(minimized_metrics(&c), ["f1", "f2"]);
    assert!(c.objectives.constraints.is_empty());
}

/// The goals' metrics, after checking that every goal is minimized.
fn minimized_metrics(c: &StudyConfig) -> Vec<&str> {
    assert!(
        c.objectives
            .goals
            .iter()
            .all(|g| g.direction == Direction::Minimize),
        "{:?}",
        c.objectives.goals
    );
    c.objectives
        .goals
        .iter()
        .map(|g| g.metric.as_str())
        .collect()
}

#[test]
fn a_three_objective_function_minimizes_its_three_metrics() {
    let space = |d: usize| -> String {
        (1..=d)
            .map(|i| format!("x{i} = {{ float = [0, 1] }}\n"))
            .collect()
    };
    let study = |head: &str, d: usize| {
        format!(
            "{head}[objective]\nfunction = \"dtlz2_3\"\n[search]\nalgorithm = \"random\"\n\
             trials = 5\n[search.space]\n{}",
            space(d)
        )
    };
    for head in ["", "[study]\nmetrics = [\"f1\", \"f2\", \"f3\"]\n"] {
        let c = StudyConfig::from_toml_str(&study(head, 6), "dtlz.toml").unwrap();
        assert_eq!(minimized_metrics(&c), ["f1", "f2", "f3"], "{head}");
    }
    let err = StudyConfig::from_toml_str(&study("", 2), "dtlz.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`dtlz2_3` takes at least 3 inputs"), "{err}");
}

#[test]
fn tpe_models_each_parameter_alone_with_several_objectives_unless_told_otherwise() {
    let study = |function: &str, tpe: &str| {
        let text = format!(
            "[objective]\nfunction = \"{function}\"\n[search]\nalgorithm = \"tpe\"\ntrials = 5\n\
             {tpe}[search.space]\nx1 = {{ float = [0, 1] }}\nx2 = {{ float = [0, 1] }}\n\
             x3 = {{ float = [0, 1] }}\n"
        );
        StudyConfig::from_toml_str(&text, "tpe.toml")
            .unwrap()
            .search
            .tpe
            .multivariate
    };
    assert!(study("sphere", ""));
    assert!(!study("dtlz2_3", ""));
    assert!(!study("dtlz2", ""));
    assert!(study("dtlz2_3", "[search.tpe]\nmultivariate = true\n"));
    assert!(!study("sphere", "[search.tpe]\nmultivariate = false\n"));
}

#[test]
fn a_single_metric_study_has_one_goal_and_needs_no_metrics() {
    let c = StudyConfig::from_toml_str(FASHION, "fashion.toml").unwrap();
    assert_eq!(c.objectives.goals.len(), 1);
    assert!(!c.objectives.needs_metrics());
}

#[test]
fn several_objectives_take_the_median_and_percentile_rules_and_refuse_successive_halving() {
    let study = |rule: &str| {
        format!(
            "[objective]\nfunction = \"branin_currin\"\n[search]\nalgorithm = \"random\"\n\
             trials = 5\n[search.space]\nx1 = {{ float = [0, 1] }}\nx2 = {{ float = [0, 1] }}\n\
             [early_stopping]\n{rule}\n"
        )
    };
    for rule in [
        "rule = \"median\"",
        "rule = \"percentile\"\npercentile = 25.0",
    ] {
        let config = StudyConfig::from_toml_str(&study(rule), "moo.toml").unwrap();
        assert!(config.objectives.is_multi());
        assert!(matches!(
            config.early_stopping,
            EarlyStopping::Percentile(_)
        ));
    }
    // A command names its objectives with `metrics` alone.
    let command = "[study]\nmetrics = [\"loss\", \"cost\"]\n[objective]\ncommand = \"sh t.sh\"\n\
                   [search]\nalgorithm = \"random\"\ntrials = 5\n[search.space]\n\
                   x = { float = [0, 1] }\n[early_stopping]\nrule = \"median\"\n";
    let config = StudyConfig::from_toml_str(command, "command.toml").unwrap();
    assert_eq!(config.metric, "loss");
    assert_eq!(config.objectives.goals.len(), 2);
    for rule in ["asha", "hyperband"] {
        let err = StudyConfig::from_toml_str(&study(&format!("rule = \"{rule}\"")), "moo.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("early_stopping.rule"), "{err}");
        assert!(err.contains(rule), "{err}");
        assert!(err.contains("rule = \"median\" or \"percentile\""), "{err}");
    }
}
