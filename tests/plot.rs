//! `hypersearch plot`: every chart of a real study as PNG and SVG files of the right size
//! with their axis labels drawn, and the clear refusals (unknown study, unwritable output);
//! an empty study gives charts that say there is nothing yet.

use std::path::Path;
use std::time::Duration;

use crate::harness::{
    Scratch, assert_ok, assert_one_clear_error, curve_script, heavy, path, stdout,
};

/// A training program in shell: loss `(1 + 4x) / epoch` over 6 epochs.
fn curve() -> String {
    curve_script(6, "loss=%.6f", "(1 + 4 * x) / e")
}

/// A study of `curve()` with three parameters (float, log float, categorical), median rule.
fn study(dir: &Scratch, command: &str) -> std::path::PathBuf {
    dir.write(
        "plotted.toml",
        &format!(
            r#"
[study]
name = "plotted"
metric = "loss"
direction = "minimize"

[objective]
command = "{command}"

[search]
algorithm = "random"
trials = 30
parallel = 2
seed = 5

[search.space]
x = {{ float = [0, 1] }}
lr = {{ float = [1e-4, 1e-1], log = true }}
mode = {{ choice = ["fast", "slow"] }}

[early_stopping]
rule = "median"
warmup_epochs = 2
"#
        ),
    )
}

/// How many trials of the database completed.
fn complete_trials(db: &Path) -> i64 {
    crate::harness::sql_count(db, "SELECT count(*) FROM trials WHERE state = 'complete'")
}

/// The width and height a PNG file's header declares.
fn png_size(file: &Path) -> (u32, u32) {
    let bytes = std::fs::read(file).expect("read the PNG");
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        file.display()
    );
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}

/// Whether the PNG has dark (text) pixels in the box `x0..x1`, `y0..y1`.
fn has_ink(file: &Path, (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> bool {
    let image = image::open(file).expect("decode the PNG").to_rgb8();
    (y0..y1).any(|y| {
        (x0..x1).any(|x| {
            let pixel = image.get_pixel(x, y);
            pixel.0.iter().all(|&channel| channel < 100)
        })
    })
}

/// The text elements of an SVG file, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|element| {
            let (_, rest) = element.split_once('>')?;
            let (text, _) = rest.split_once("</text>")?;
            Some(text.trim().to_string())
        })
        .collect()
}

/// Asserts every label is one of the SVG chart's text elements.
fn assert_labels(out: &Path, chart: &str, labels: &[&str]) {
    let svg = std::fs::read_to_string(out.join(format!("{chart}.svg"))).expect("read the SVG");
    assert!(
        svg.starts_with("<svg"),
        "{chart}.svg is not an SVG: {svg:.100}"
    );
    let found = texts(&svg);
    for label in labels {
        assert!(
            found.iter().any(|text| text == label),
            "`{label}` is not a text of {chart}.svg: {found:?}"
        );
    }
}

#[test]
fn plot_writes_every_chart_as_png_and_svg_with_its_axis_labels() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let script = dir.write("curve.sh", &curve());
    let config = study(&dir, &format!("sh {}", script.display()));
    let db = dir.path("trials.db");
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(&db), "--workers", "2"],
        Duration::from_secs(120),
    ));
    let out = dir.path("charts");
    let plotted = dir.hs(
        &[
            "plot",
            "--db",
            path(&db),
            "--out",
            path(&out),
            "--format",
            "both",
        ],
        Duration::from_secs(60),
    );
    assert_ok(&plotted);
    let charts = [
        "history",
        "curves",
        "parallel",
        "timeline",
        "slice-x",
        "slice-lr",
        "slice-mode",
    ];
    for chart in charts {
        for extension in ["png", "svg"] {
            let file = out.join(format!("{chart}.{extension}"));
            assert!(
                file.is_file(),
                "{} missing:\n{}",
                file.display(),
                stdout(&plotted)
            );
            assert!(
                stdout(&plotted).contains(path(&file)),
                "{}",
                stdout(&plotted)
            );
        }
    }
    assert_eq!(png_size(&out.join("history.png")), (1000, 600));
    assert_eq!(png_size(&out.join("slice-lr.png")), (800, 520));
    // The x axis' description sits centred under the plot area, the y axis' on the left.
    let history = out.join("history.png");
    assert!(
        has_ink(&history, (440, 560), (560, 595)),
        "no x-axis label drawn"
    );
    assert!(
        has_ink(&history, (0, 30), (150, 450)),
        "no y-axis label drawn"
    );
    assert!(has_ink(&history, (300, 700), (0, 40)), "no title drawn");

    let history = std::fs::read_to_string(out.join("history.svg")).expect("history.svg");
    assert!(history.contains(r#"width="1000""#), "{history:.200}");
    let complete = format!("complete trials ({0} drawn of {0})", complete_trials(&db));
    let history_labels = [
        "Optimization history: loss",
        "trial",
        "loss (lower is better)",
        "best so far",
    ];
    assert_labels(&out, "history", &history_labels);
    assert_labels(&out, "history", &[complete.as_str()]);
    assert_labels(
        &out,
        "curves",
        &["epoch", "10th to 90th percentile of 30 trials", "median"],
    );
    assert_labels(&out, "slice-lr", &["lr (log scale)"]);
    assert_labels(
        &out,
        "importance",
        &["Parameter importance (PED-ANOVA): loss", "x"],
    );
    assert_labels(&out, "slice-mode", &["fast", "slow"]);
    assert_labels(
        &out,
        "parallel",
        &["x", "lr", "mode", "loss", "0.1 (log)", "fast", "slow"],
    );
    assert_labels(
        &out,
        "timeline",
        &["seconds since the first trial started", "complete", "retry"],
    );
}

#[test]
fn plot_of_a_study_without_complete_trials_says_so_and_refuses_bad_input_clearly() {
    let dir = Scratch::new();
    let config = study(&dir, "sh -c 'exit 3'");
    let db = dir.path("trials.db");
    let failed = dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(120),
    );
    assert!(
        !failed.status.success(),
        "a study whose every trial fails ends non-zero"
    );

    let out = dir.path("charts");
    assert_ok(&dir.hs(
        &[
            "plot",
            "--db",
            path(&db),
            "--out",
            path(&out),
            "--format",
            "svg",
        ],
        Duration::from_secs(60),
    ));
    assert_labels(&out, "history", &["no complete trial yet"]);
    assert_labels(&out, "curves", &["no epoch reported yet"]);
    assert_labels(&out, "timeline", &["Worker timeline"]);
    assert_labels(&out, "importance", &["not enough complete trials yet"]);

    let unknown = dir.hs(
        &[
            "plot",
            "--db",
            path(&db),
            "--study",
            "nope",
            "--out",
            path(&out),
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&unknown, &["nope"]);
    let file = dir.write("a-file", "");
    let beneath = file.join("charts");
    let unwritable = dir.hs(
        &["plot", "--db", path(&db), "--out", path(&beneath)],
        Duration::from_secs(30),
    );
    assert_one_clear_error(
        &unwritable,
        &["cannot make the output directory", path(&beneath)],
    );
}
