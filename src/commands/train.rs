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
use nn_core::{Control, Dataset, EpochMetrics, TrainConfig};

use super::query::with_database;
use super::training_config::{self, StoredObjective};
use crate::cli::TrainFormat;

/// What to train.
pub enum What {
    /// A config file, with `--params` (a trial's params or overrides) applied.
    Config {
        /// The training or study config.
        config: PathBuf,
        /// `--params`.
        params: Option<String>,
    },
    /// A stored trial, re-run from its study's config and its overrides.
    Trial {
        /// The trials database.
        db: PathBuf,
        /// `--study`.
        study: Option<String>,
        /// The trial's number.
        trial: u64,
    },
}

/// Trains the network `what` describes and prints its history; with `plot`, also draws it
/// (loss and accuracy, training against validation) as `DIR/history.png` and `.svg`.
pub fn run(what: What, format: TrainFormat, plot: Option<&Path>) -> anyhow::Result<ExitCode> {
    if let Some(dir) = plot {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot make the plot directory {}", dir.display()))?;
    }
    let title = match &what {
        What::Config { config, .. } => format!("Training history: {}", config.display()),
        What::Trial { trial, .. } => format!("Training history: trial {trial}"),
    };
    let config = match what {
        What::Config { config, params } => {
            let overrides = match params {
                None => serde_json::Map::new(),
                Some(text) => overrides_from(&text)?,
            };
            TrainConfig::from_file(&config, &overrides)?
        }
        What::Trial { db, study, trial } => stored_trial(&db, study.as_deref(), trial)?,
    };
    let data = Dataset::load(config.data()).context("cannot load the data set")?;
    let mut out = std::io::stdout().lock();
    let report = match format {
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
            let report = nn_core::train(&config, &data, &mut print)?;
            if let (Some(acc), Some(loss)) = (report.test_accuracy, report.test_loss) {
                writeln!(out, "test accuracy {acc:.4}, test loss {loss:.4}")?;
            }
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
            report
        }
        TrainFormat::Json => {
            let report = nn_core::train(&config, &data, &mut |_: &EpochMetrics| Control::Continue)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            report
        }
    };
    if let Some(dir) = plot {
        draw_history(&report.history, &title, dir)?;
    }
    Ok(ExitCode::SUCCESS)
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
