//! `hypersearch train`: train one configuration locally, printing each epoch as it ends
//! (table) or the whole report at the end (JSON).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use nn_core::{Control, Dataset, EpochMetrics, TrainConfig};

use crate::cli::Format;

/// Trains the network the config describes (with `params` as overrides) and prints its history.
pub fn run(config: &Path, params: Option<&str>, format: Format) -> anyhow::Result<ExitCode> {
    if format == Format::Csv {
        bail!("--format csv is not available for train: use table or json");
    }
    let overrides = match params {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str::<serde_json::Value>(text)
            .with_context(|| format!("--params is not valid JSON: {text}"))?
        {
            serde_json::Value::Object(map) => map,
            other => bail!(
                "--params must be a JSON object of dotted keys, e.g. {{\"training.learning_rate\": 0.01}}; got {other}"
            ),
        },
    };
    let config = TrainConfig::from_file(config, &overrides)?;
    let data = Dataset::load(config.data()).context("cannot load the data set")?;
    let mut out = std::io::stdout().lock();
    let report = match format {
        Format::Table => {
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
            writeln!(out, "{} parameters{stop}", report.parameters)?;
            report
        }
        Format::Json | Format::Csv => {
            let report = nn_core::train(&config, &data, &mut |_: &EpochMetrics| Control::Continue)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            report
        }
    };
    drop(report);
    Ok(ExitCode::SUCCESS)
}
