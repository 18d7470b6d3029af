//! `hypersearch train` as a user runs it: the real binary on the built-in digits set and on
//! small generated bad files; every bad input exits non-zero with one line naming the file
//! and what is wrong, and never panics.

use std::path::Path;
use std::process::{Command, Output};

fn hypersearch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hypersearch"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run hypersearch: {e}"))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
    path.display().to_string()
}

/// Runs `train` on `config` and returns stderr, asserting a clean failure.
fn fails(config: &str, extra: &[&str]) -> String {
    let mut args = vec!["train", config];
    args.extend(extra);
    let out = hypersearch(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "expected failure, got success: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// An IDX file: big-endian header (magic, dimensions) then bytes.
fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(data);
    bytes
}

#[test]
fn digits_example_prints_the_epoch_table_and_json() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits.toml");
    let config = examples.display().to_string();
    let out = hypersearch(&["train", &config, "--params", r#"{"training.epochs": 3}"#]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = stdout.lines().next().unwrap_or_default();
    for column in [
        "epoch",
        "train_loss",
        "val_loss",
        "train_acc",
        "val_acc",
        "lr",
        "seconds",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let rows = stdout
        .lines()
        .filter(|l| l.split_whitespace().count() == 7 && !l.contains("epoch"));
    assert_eq!(rows.count(), 3, "{stdout}");
    assert!(stdout.contains("17226 parameters"), "{stdout}");

    let out = hypersearch(&[
        "train",
        &config,
        "--format",
        "json",
        "--params",
        r#"{"training.epochs": 2, "network.hidden": [32]}"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let history = report["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(history.len(), 2);
    for key in [
        "epoch",
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "learning_rate",
        "seconds",
    ] {
        assert!(history[0].get(key).is_some(), "{key} missing: {report}");
    }
    assert_eq!(report["parameters"], 64 * 32 + 32 + 32 * 10 + 10);
    assert_eq!(report["stopped_early"], false);
}

#[test]
fn bad_configs_and_params_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let missing = d.join("missing.toml").display().to_string();
    assert!(fails(&missing, &[]).contains("missing.toml"));

    let bad = write(
        d,
        "bad.toml",
        b"[data]\nsource = \"digits\"\n[network]\nactivation = \"relux\"\n",
    );
    let err = fails(&bad, &[]);
    assert!(
        err.contains("bad.toml:4") && err.contains("network.activation") && err.contains("relux"),
        "{err}"
    );

    let zero = write(
        d,
        "zero.toml",
        b"[data]\nsource = \"digits\"\n[training]\nbatch_size = 0\n",
    );
    assert!(fails(&zero, &[]).contains("zero.toml:4: `training.batch_size` = 0"));

    let huge = write(
        d,
        "huge.toml",
        b"[data]\nsource = \"digits\"\n[network]\nhidden = [1000000000]\n",
    );
    assert!(fails(&huge, &[]).contains("1000000000 units"));

    let ok = write(d, "ok.toml", b"[data]\nsource = \"digits\"\n");
    assert!(fails(&ok, &["--params", "{not json"]).contains("--params is not valid JSON"));
    assert!(fails(&ok, &["--params", "[1]"]).contains("must be a JSON object"));
    assert!(
        fails(&ok, &["--params", r#"{"training.lr": 1}"#])
            .contains("`training.lr`: not a training key")
    );
    assert!(
        fails(&ok, &["--params", r#"{"training.epochs": "many"}"#]).contains("`training.epochs`")
    );
    // Part of a sampled point: the missing architecture values are named.
    let err = fails(
        &ok,
        &["--params", r#"{"arch.layers": 2, "arch.units_1": 64}"#],
    );
    assert!(
        err.contains("sets arch.layers = 2 but not arch.units_2"),
        "{err}"
    );
}

#[test]
fn bad_data_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let config = |name: &str, source: &str, path: &str| {
        write(
            d,
            name,
            format!("[data]\nsource = \"{source}\"\npath = \"{path}\"\n").as_bytes(),
        )
    };

    let nowhere = config("nowhere.toml", "idx", "no/such/dir");
    assert!(fails(&nowhere, &[]).contains("no/such/dir"));

    std::fs::create_dir(d.join("idx")).unwrap_or_else(|e| panic!("{e}"));
    write(
        &d.join("idx"),
        "train-images-idx3-ubyte",
        &idx(0x0000_0801, &[4, 2, 2], &[0; 16]),
    );
    write(
        &d.join("idx"),
        "train-labels-idx1-ubyte",
        &idx(0x0000_0801, &[4], &[0, 1, 0, 1]),
    );
    let magic = config("magic.toml", "idx", "idx");
    let err = fails(&magic, &[]);
    assert!(
        err.contains("train-images-idx3-ubyte: magic number 0x00000801, expected 0x00000803"),
        "{err}"
    );

    write(
        &d.join("idx"),
        "train-images-idx3-ubyte",
        &idx(0x0000_0803, &[4, 2, 2], &[0; 16]),
    );
    write(
        &d.join("idx"),
        "train-labels-idx1-ubyte",
        &idx(0x0000_0801, &[3], &[0, 1, 0]),
    );
    let err = fails(&magic, &[]);
    assert!(
        err.contains("3 labels, but") && err.contains("holds 4 images"),
        "{err}"
    );

    write(d, "nolabel.csv", b"a,b\n1,2\n");
    let err = fails(&config("nolabel.toml", "csv", "nolabel.csv"), &[]);
    assert!(err.contains("nolabel.csv: no `label` column"), "{err}");

    write(d, "cell.csv", b"label,p0\n1,2\n0,abc\n");
    let err = fails(&config("cell.toml", "csv", "cell.csv"), &[]);
    assert!(
        err.contains("cell.csv: line 3, column 2 (`p0`): \"abc\" is not a number"),
        "{err}"
    );
}

#[test]
fn train_plot_draws_the_runs_loss_and_accuracy_by_epoch() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let charts = dir.path().join("charts");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits.toml");
    let out = hypersearch(&[
        "train",
        &examples.display().to_string(),
        "--params",
        r#"{"training.epochs": 3}"#,
        "--plot",
        &charts.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(charts.join("history.png")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(charts.join("history.svg")).unwrap_or_else(|e| panic!("{e}"));
    for label in [
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "epoch",
    ] {
        assert!(
            svg.lines().any(|line| line.trim() == label),
            "`{label}` is not a text of history.svg"
        );
    }

    let blocked = write(dir.path(), "a-file", b"");
    let out = hypersearch(&[
        "train",
        &examples.display().to_string(),
        "--plot",
        &format!("{blocked}/charts"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot make the plot directory"),
        "{stderr}"
    );
}

#[test]
fn augmentation_needs_an_image_shape_and_says_so_before_any_epoch_but_idx_headers_give_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    // Three pixels a sample: not a square image, and the CSV says nothing of its shape.
    let mut csv = String::from("label,p0,p1,p2\n");
    for i in 0..20 {
        csv.push_str(&format!("{},{},{},{}\n", i % 2, i, 20 - i, i % 3));
    }
    write(d, "flat.csv", csv.as_bytes());
    let augmented = |name: &str, source: &str, path: &str| {
        write(
            d,
            name,
            format!(
                "[data]\nsource = \"{source}\"\npath = \"{path}\"\naugment = {{ shift = 1 }}\n\
                 [network]\nhidden = [4]\n[training]\nepochs = 1\n"
            )
            .as_bytes(),
        )
    };
    let config = augmented("flat.toml", "csv", "flat.csv");
    let out = hypersearch(&["train", &config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("data.augment") && stderr.contains("data.image_shape"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing is printed before the refusal: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // IDX images of 2 x 3 pixels: the header gives the shape, so the same key trains.
    std::fs::create_dir(d.join("idx")).unwrap_or_else(|e| panic!("{e}"));
    let pixels: Vec<u8> = (0..20 * 6).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = (0..20).map(|i| (i % 2) as u8).collect();
    write(
        &d.join("idx"),
        "train-images-idx3-ubyte",
        &idx(0x0000_0803, &[20, 2, 3], &pixels),
    );
    write(
        &d.join("idx"),
        "train-labels-idx1-ubyte",
        &idx(0x0000_0801, &[20], &labels),
    );
    let config = augmented("idx.toml", "idx", "idx");
    let out = hypersearch(&["train", &config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
