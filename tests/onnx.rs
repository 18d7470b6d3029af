//! `train --onnx` as a user deploys it: a network trained on the built-in digits set,
//! exported in f32 and in int8, checked by the official `onnx` package
//! (`check_model(full_check=True)`) and run by onnxruntime (both pinned in test.sh), whose
//! predictions must be hypersearch's: the same class on every validation sample and
//! probabilities within 1e-5 in f32, the reported int8 accuracy in int8
//! (`tests/onnx_check.py` does the comparing).

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Scratch, assert_ok, heavy, path, repo, run_program, stdout, tool};

const CHECK: &str = include_str!("onnx_check.py");

/// A small digits network with batch norm (folded by the export) and a residual layer.
const CONFIG: &str = "[data]\nsource = \"digits\"\n\
    [network]\nhidden = [64, 64]\nbatch_norm = true\nresidual = true\nactivation = \"gelu\"\n\
    [training]\nepochs = 8\nlearning_rate = 0.003\nbatch_size = 32\nseed = 3\n";

/// Runs the check script on one export; returns its JSON summary.
fn check(dir: &Scratch, model: &str, predictions: &str, mode: &[&str]) -> Value {
    let python = tool("python", "onnx and onnxruntime in target/test-tools");
    let script = dir.write("onnx_check.py", CHECK);
    let data = repo("nn-core/data/digits.csv.gz");
    let output = run_program(
        Command::new(python)
            .arg(script)
            .arg(dir.path(model))
            .arg(dir.path(predictions))
            .arg(data)
            .args(mode),
        Duration::from_secs(120),
    );
    assert_ok(&output);
    serde_json::from_str(stdout(&output).trim()).expect("the check prints JSON")
}

#[test]
fn onnxruntime_predicts_what_hypersearch_predicts_in_f32_and_int8() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("digits.toml", CONFIG);

    let f32_run = dir.hs(
        &[
            "train",
            path(&config),
            "--format",
            "json",
            "--onnx",
            path(&dir.path("f32.onnx")),
            "--predictions",
            path(&dir.path("f32.csv")),
        ],
        Duration::from_secs(120),
    );
    assert_ok(&f32_run);
    let summary = check(&dir, "f32.onnx", "f32.csv", &["fp32"]);
    assert_eq!(summary["same_argmax"], 359, "{summary}");
    assert!(
        summary["max_probability_difference"].as_f64() <= Some(1e-5),
        "{summary}"
    );

    let int8_run = dir.hs(
        &[
            "train",
            path(&config),
            "--format",
            "json",
            "--int8",
            "--onnx",
            path(&dir.path("int8.onnx")),
            "--predictions",
            path(&dir.path("int8.csv")),
        ],
        Duration::from_secs(120),
    );
    assert_ok(&int8_run);
    let report: Value = serde_json::from_str(&stdout(&int8_run)).expect("JSON");
    let int8_accuracy = report["int8_val_accuracy"]
        .as_f64()
        .expect("int8_val_accuracy");
    let f32_accuracy = report["history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|m| m["val_accuracy"].as_f64())
        .expect("val_accuracy");
    assert!(
        f32_accuracy - int8_accuracy <= 0.01,
        "int8 {int8_accuracy} against f32 {f32_accuracy}"
    );
    let (fp32_bytes, int8_bytes) = (
        report["model_bytes"].as_f64(),
        report["int8_model_bytes"].as_f64(),
    );
    let ratio = fp32_bytes
        .zip(int8_bytes)
        .map(|(a, b)| a / b)
        .expect("sizes");
    assert!(ratio > 3.5, "int8 is only {ratio:.2}x smaller");
    let summary = check(
        &dir,
        "int8.onnx",
        "int8.csv",
        &["int8", &int8_accuracy.to_string()],
    );
    assert_eq!(
        summary["optimized_accuracy"].as_f64(),
        Some(int8_accuracy),
        "{summary}"
    );
    // The file is smaller too, less than the parameters alone: the graph and the
    // standardization (64 means and scales) weigh the same in both.
    let size = |name: &str| {
        std::fs::metadata(dir.path(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    assert!(
        size("int8.onnx") * 2 < size("f32.onnx"),
        "{} vs {}",
        size("int8.onnx"),
        size("f32.onnx")
    );
}

#[test]
fn predictions_without_a_held_out_split_are_refused_before_training() {
    let dir = Scratch::new();
    let config = dir.write(
        "digits.toml",
        "[data]\nsource = \"digits\"\nvalidation_fraction = 0\n[training]\nepochs = 1\n",
    );
    let out = dir.hs(
        &[
            "train",
            path(&config),
            "--predictions",
            path(&dir.path("p.csv")),
        ],
        Duration::from_secs(60),
    );
    crate::harness::assert_one_clear_error(&out, &["--predictions", "no held-out sample"]);
    assert!(!dir.path("p.csv").exists());
}
