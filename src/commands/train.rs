//! `hypersearch train`: train one configuration locally, printing each epoch as it ends
//! (table) or the whole report at the end (JSON).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use hypersearch_plots::ImageFormat;
use hypersearch_plots::run::{RunChart, Series};
use hypersearch_search::params::Params;
use hypersearch_search::space::architecture::training_overrides;
use nn_core::config::Quantize;
use nn_core::{Control, Dataset, EpochMetrics, TrainConfig, TrainReport};

use super::artifacts::{self, ArtifactArgs};
use super::query::with_database;
use super::training_config::{self, StoredObjective};
use crate::cli::DbArg;

/// Output format of `train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainFormat {
    /// The epoch table as the epochs end.
    Table,
    /// One JSON object with the whole history, at the end.
    Json,
}

/// `hypersearch train`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  hypersearch train examples/digits.toml\n  \
    hypersearch train examples/digits.toml --params '{\"training.learning_rate\": 0.01}' --format json\n  \
    hypersearch train examples/digits-search.toml --params \"$(hypersearch best --format json | jq -c '.[0].params')\"\n  \
    hypersearch train --trial 12 --db hypersearch.db\n  \
    hypersearch train examples/digits.toml --int8 --onnx digits-int8.onnx\n\n\
    --params takes a trial's `params` as best, trials and show print them (architecture choices \
    such as arch.units_1 included) or its `overrides` (training keys such as network.hidden).")]
pub struct TrainArgs {
    /// A training config (e.g. examples/digits.toml) or a study config, whose training part is used.
    #[arg(required_unless_present = "trial")]
    config: Option<PathBuf>,
    /// Overrides of the config as a JSON object: a trial's params or overrides.
    #[arg(long, conflicts_with = "trial")]
    params: Option<String>,
    /// Re-run this stored trial (its study's training part with its overrides) instead.
    #[arg(long, conflicts_with = "config")]
    trial: Option<u64>,
    #[command(flatten)]
    db: DbArg,
    /// The study of `--trial`; may be left out when the database holds one.
    #[arg(long, requires = "trial")]
    study: Option<String>,
    /// `table` prints the epoch table, `json` one object with the whole history.
    #[arg(long, value_enum, default_value_t = TrainFormat::Table)]
    format: TrainFormat,
    /// Also draw the run's loss and accuracy by epoch as DIR/history.png and .svg.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// What to keep of the trained network: int8, ONNX, predictions.
    #[command(flatten)]
    artifacts: ArtifactArgs,
}

/// Trains the network the arguments describe (a config with `--params` applied, or a stored
/// trial) and prints its history; with `--plot`, also draws it (loss and accuracy, training
/// against validation) as `DIR/history.png` and `.svg`; `--int8`, `--onnx` and
/// `--predictions` quantize the network and write it (ONNX) and its predictions.
pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let (format, plot, artifacts) = (args.format, args.plot.as_deref(), &args.artifacts);
    if let Some(dir) = plot {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot make the plot directory {}", dir.display()))?;
    }
    let (title, config) = match (&args.config, args.trial) {
        (_, Some(trial)) => (
            format!("Training history: trial {trial}"),
            stored_trial(&args.db.db, args.study.as_deref(), trial)?,
        ),
        (Some(config), None) => {
            let overrides = match &args.params {
                None => serde_json::Map::new(),
                Some(text) => overrides_from(text)?,
            };
            (
                format!("Training history: {}", config.display()),
                TrainConfig::from_file(config, &overrides)?,
            )
        }
        (None, None) => bail!("give a config file or --trial N"),
    };
    let config = if artifacts.int8 {
        config.with_quantize(Quantize::Int8)
    } else {
        config
    };
    let data = Dataset::load(config.data()).context("cannot load the data set")?;
    nn_core::check_setup(&config, &data)?;
    artifacts::check(&data, artifacts)?;
    let mut out = std::io::stdout().lock();
    let trained = match format {
        TrainFormat::Table => {
            writeln!(
                out,
                "{:>5}  {:>10}  {:>10}  {:>9}  {:>9}  {:>10}  {:>7}",
                "epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr", "seconds"
            )?;
            let mut print = |m: &EpochMetrics| {
                let opt = |v: Option<f64>, prec: usize| {
                    v.map_or_else(|| "-".to_string(), |v| format!("{v:.prec$}"))
                };
                // A closed stdout (e.g. piped into `head`) must not stop the training.
                let _ = writeln!(
                    out,
                    "{:>5}  {:>10.4}  {:>10}  {:>9.4}  {:>9}  {:>10.3e}  {:>7.2}",
                    m.epoch,
                    m.train_loss,
                    opt(m.val_loss, 4),
                    m.train_accuracy,
                    opt(m.val_accuracy, 4),
                    m.learning_rate,
                    m.seconds
                );
                Control::Continue
            };
            let trained = nn_core::train_model(&config, &data, &mut print)?;
            let report = &trained.report;
            if let (Some(acc), Some(loss)) = (report.test_accuracy, report.test_loss) {
                writeln!(out, "test accuracy {acc:.4}, test loss {loss:.4}")?;
            }
            print_int8(&mut out, report)?;
            let stop = match report.stop_reason {
                Some(nn_core::StopReason::Patience) => ", stopped early (patience)",
                Some(nn_core::StopReason::Observer) => ", stopped early",
                None => "",
            };
            writeln!(
                out,
                "{} parameters, {} flops per example, inference {:.4} ms (batch of one){stop}",
                report.parameters, report.flops, report.inference_ms
            )?;
            trained
        }
        TrainFormat::Json => {
            let trained =
                nn_core::train_model(&config, &data, &mut |_: &EpochMetrics| Control::Continue)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&trained.report)?)?;
            trained
        }
    };
    artifacts::write(&trained, &data, artifacts)?;
    if let Some(dir) = plot {
        draw_history(&trained.report.history, &title, dir)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The int8 lines of the table output: accuracy next to f32's, and the sizes.
fn print_int8(out: &mut impl Write, report: &TrainReport) -> anyhow::Result<()> {
    let Some(int8) = &report.int8 else {
        return Ok(());
    };
    let f32_val = report.history.last().and_then(|m| m.val_accuracy);
    for (split, int8, fp32) in [
        ("test", int8.int8_test_accuracy, report.test_accuracy),
        ("val", int8.int8_val_accuracy, f32_val),
    ] {
        if let (Some(int8), Some(fp32)) = (int8, fp32) {
            writeln!(out, "int8 {split} accuracy {int8:.4} (f32 {fp32:.4})")?;
        }
    }
    writeln!(
        out,
        "model {} bytes f32, {} bytes int8 ({:.2}x smaller)",
        int8.model_bytes,
        int8.int8_model_bytes,
        int8.model_bytes as f64 / int8.int8_model_bytes.max(1) as f64
    )?;
    Ok(())
}

/// Writes the run's loss and accuracy curves as `dir/history.png` and `dir/history.svg`.
fn draw_history(history: &[EpochMetrics], title: &str, dir: &Path) -> anyhow::Result<()> {
    let series: Vec<Series> = ["train_loss", "val_loss", "train_accuracy", "val_accuracy"]
        .into_iter()
        .map(|name| Series {
            name: name.to_string(),
            points: history
                .iter()
                .filter_map(|m| Some((u32::try_from(m.epoch).ok()?, m.get(name)?)))
                .collect(),
        })
        .filter(|series| !series.points.is_empty())
        .collect();
    let chart = RunChart {
        title,
        series: &series,
    };
    for format in [ImageFormat::Png, ImageFormat::Svg] {
        let path = dir.join(format!("history.{}", format.extension()));
        hypersearch_plots::save(&chart, &path, format)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// `--params` as training overrides. A trial's `params` (as `best`, `trials` and `show` print
/// them) hold architecture choices such as `arch.units_1`, which become the training keys
/// they stand for (`network.hidden`); a trial's `overrides` are training keys already.
fn overrides_from(text: &str) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let map = match serde_json::from_str::<serde_json::Value>(text)
        .with_context(|| format!("--params is not valid JSON: {text}"))?
    {
        serde_json::Value::Object(map) => map,
        other => bail!(
            "--params must be a JSON object of dotted keys, e.g. {{\"training.learning_rate\": 0.01}}; got {other}"
        ),
    };
    let sampled: Option<Params> =
        serde_json::from_value(serde_json::Value::Object(map.clone())).ok();
    Ok(match sampled {
        Some(params) if params.keys().any(|key| key.starts_with("arch.")) => {
            let layers = params
                .get("arch.layers")
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            let missing: Vec<String> = (1..=layers)
                .map(|k| format!("arch.units_{k}"))
                .filter(|name| !params.contains_key(name))
                .collect();
            if !missing.is_empty() {
                bail!(
                    "--params sets arch.layers = {layers} but not {}: give the whole point as \
                     `best --format json` prints a trial's params, or training keys such as \
                     {{\"network.hidden\": [128, 64]}}",
                    missing.join(", ")
                );
            }
            training_overrides(&params)
        }
        _ => map,
    })
}

/// The training config of trial `number` of a stored study: its study's training part with
/// the trial's overrides.
fn stored_trial(db: &Path, study: Option<&str>, number: u64) -> anyhow::Result<TrainConfig> {
    let detail = with_database(db, async |db| {
        let study = db.study(study).await?;
        Ok(db.trial(&study, number).await?)
    })?;
    match training_config::objective(&detail.study_config)? {
        StoredObjective::Training => {}
        StoredObjective::Command(_) | StoredObjective::Function(_) => bail!(
            "trial {number} of study `{}` does not train a network (its objective is a command \
             or a function): `hypersearch show {number}` says how to re-run it",
            detail.study
        ),
    }
    let text = training_config::render(&detail.study_config, &detail.overrides)?;
    let origin = format!("trial {number} of study `{}`", detail.study);
    eprintln!("re-running {origin}");
    Ok(TrainConfig::from_toml(&text, &origin)?)
}
