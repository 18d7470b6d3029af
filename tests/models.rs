//! Kept models (`[study] keep_models`, `hypersearch model`) through the real coordinator and
//! workers: the best trials' networks come back as ONNX that onnxruntime runs as hypersearch
//! does (and byte for byte what `train --trial` rebuilds), only the best K are kept, on
//! SQLite and PostgreSQL, and a trial without one is told how to get it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    Scratch, assert_integrity, assert_ok, assert_one_clear_error, heavy, on_both_stores, path,
    repo, run_program, sql, stdout, tool,
};

/// A small digits search keeping the networks of its best `{keep}` trials.
fn study(keep: u32) -> String {
    format!(
        r#"
[study]
name = "kept"
metric = "val_accuracy"
keep_models = {keep}

[data]
source = "digits"

[network]
batch_norm = true

[training]
epochs = 4
seed = 3

[search]
algorithm = "random"
trials = 5
parallel = 2
seed = 11

[search.space]
"training.learning_rate" = {{ float = [1e-3, 3e-2], log = true }}

[search.architecture]
layers = {{ int = [1, 2] }}
units = {{ choice = [16, 32] }}
"#
    )
}

/// Runs the study keeping `keep` networks into `db`, with two workers.
fn run_study(dir: &Scratch, db: &Path, keep: u32) {
    let config = dir.write("study.toml", &study(keep));
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(db), "--workers", "2"],
        Duration::from_secs(240),
    ));
}

/// The trials by rank, best first, as `best` prints them.
fn ranked(dir: &Scratch, db: &Path) -> Vec<u64> {
    let best = dir.hs(
        &["best", "--db", path(db), "--top", "100", "--format", "json"],
        Duration::from_secs(30),
    );
    assert_ok(&best);
    let rows: Vec<Value> = serde_json::from_str(&stdout(&best)).expect("JSON");
    rows.iter()
        .map(|row| row["trial"].as_u64().expect("trial"))
        .collect()
}

/// The trials whose networks the database keeps.
fn kept_trials(db: &Path) -> Vec<u64> {
    sql(
        db,
        "SELECT t.number FROM kept_models k JOIN trials t ON t.id = k.trial_id ORDER BY t.number",
        |row| {
            use sqlx::Row;
            row.get::<i64, _>(0) as u64
        },
    )
}

/// Runs `tests/onnx_check.py` on one export against predictions `train` wrote.
fn check(dir: &Scratch, model: &str, predictions: &str, mode: &[&str]) -> Value {
    let python = tool("python", "onnx and onnxruntime in target/test-tools");
    let script = dir.write("onnx_check.py", include_str!("onnx_check.py"));
    let output = run_program(
        Command::new(python)
            .arg(script)
            .arg(dir.path(model))
            .arg(dir.path(predictions))
            .arg(repo("nn-core/data/digits.csv.gz"))
            .args(mode),
        Duration::from_secs(120),
    );
    assert_ok(&output);
    serde_json::from_str(stdout(&output).trim()).expect("the check prints JSON")
}

#[test]
fn the_best_trials_kept_network_runs_in_onnxruntime_as_hypersearch_predicts() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let db = dir.path("trials.db");
    run_study(&dir, &db, 2);
    let best = ranked(&dir, &db)[0].to_string();
    let model = |extra: &[&str], out: &str| {
        let mut args = vec!["model", "--db", path(&db), "--study", "kept", &best];
        args.extend_from_slice(&["--out", out]);
        args.extend_from_slice(extra);
        let output = dir.hs(&args, Duration::from_secs(30));
        assert_ok(&output);
    };
    model(&[], path(&dir.path("kept.onnx")));
    model(&["--int8"], path(&dir.path("kept-int8.onnx")));

    // The same trial trained again locally: its predictions, and its own export.
    let retrain = |extra: &[&str], onnx: &str, predictions: &str| {
        let mut args = vec![
            "train",
            "--trial",
            &best,
            "--db",
            path(&db),
            "--format",
            "json",
        ];
        args.extend_from_slice(&["--onnx", onnx, "--predictions", predictions]);
        args.extend_from_slice(extra);
        let output = dir.hs(&args, Duration::from_secs(120));
        assert_ok(&output);
        serde_json::from_str::<Value>(&stdout(&output)).expect("JSON")
    };
    retrain(
        &[],
        path(&dir.path("retrained.onnx")),
        path(&dir.path("f32.csv")),
    );
    let report = retrain(
        &["--int8"],
        path(&dir.path("retrained-int8.onnx")),
        path(&dir.path("int8.csv")),
    );
    let bytes = |name: &str| std::fs::read(dir.path(name)).expect(name);
    assert!(
        bytes("kept.onnx") == bytes("retrained.onnx"),
        "the kept network is the trained one, bit for bit"
    );
    assert!(bytes("kept-int8.onnx") == bytes("retrained-int8.onnx"));

    let summary = check(&dir, "kept.onnx", "f32.csv", &["fp32"]);
    assert_eq!(summary["same_argmax"], summary["samples"], "{summary}");
    assert!(
        summary["max_probability_difference"].as_f64() <= Some(1e-5),
        "{summary}"
    );
    let int8_accuracy = report["int8_val_accuracy"].as_f64().expect("int8 accuracy");
    // As written (QDQ operators, no fusion): exactly the reported accuracy, hypersearch's
    // int8 predictions on every sample. (onnxruntime's fused int8 kernels on a CPU without
    // AVX-VNNI saturate some sums on this network: the same with `train --int8 --onnx`,
    // whose bytes these are; reported in the summary, not required.)
    let summary = check(
        &dir,
        "kept-int8.onnx",
        "int8.csv",
        &["int8-as-written", &int8_accuracy.to_string()],
    );
    assert_eq!(
        summary["unoptimized_accuracy"].as_f64(),
        Some(int8_accuracy),
        "{summary}"
    );
    assert_eq!(
        summary["unoptimized_agreement"], summary["samples"],
        "{summary}"
    );
    assert_integrity(&db);
}

on_both_stores!(
    sqlite_only_the_best_keep_models_networks_are_kept,
    postgres_only_the_best_keep_models_networks_are_kept,
    only_the_best_keep_models_networks_are_kept
);

fn only_the_best_keep_models_networks_are_kept(dir: &Scratch, db: &Path) {
    run_study(dir, db, 2);
    let ranked = ranked(dir, db);
    assert_eq!(ranked.len(), 5, "every trial completes: {ranked:?}");
    let mut best_two = ranked[..2].to_vec();
    best_two.sort_unstable();
    assert_eq!(kept_trials(db), best_two);
    assert_integrity(db);
}

#[test]
fn a_trial_without_a_kept_network_says_so_and_how_to_train_it_again() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let db = dir.path("trials.db");
    run_study(&dir, &db, 1);
    let ranked = ranked(&dir, &db);
    assert_eq!(kept_trials(&db), vec![ranked[0]]);
    let second = ranked[1].to_string();
    let out = dir.hs(
        &[
            "model",
            "--db",
            path(&db),
            &second,
            "--out",
            path(&dir.path("second.onnx")),
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(
        &out,
        &[
            &format!("trial {second} of study `kept` has no kept network"),
            &format!("best [study] keep_models complete trials: {}", ranked[0]),
            &format!("hypersearch train --trial {second} --db"),
            "hypersearch train STUDY.toml --params '{\"arch.layers\":",
            "--onnx",
        ],
    );
    assert!(!dir.path("second.onnx").exists());
    // The command it gives writes the network.
    let rebuilt = dir.hs(
        &[
            "train",
            "--trial",
            &second,
            "--db",
            path(&db),
            "--study",
            "kept",
            "--onnx",
            path(&dir.path("second.onnx")),
        ],
        Duration::from_secs(120),
    );
    assert_ok(&rebuilt);
    assert!(dir.path("second.onnx").exists());
    let missing = dir.hs(
        &[
            "model",
            "--db",
            path(&db),
            "99",
            "--out",
            path(&dir.path("x.onnx")),
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&missing, &["study `kept` has no trial 99"]);
}
