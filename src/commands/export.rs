//! `hypersearch export`: a whole study for pandas or a spreadsheet.

use std::process::ExitCode;

use hypersearch_coordinator::store::TrialState;
use hypersearch_coordinator::store::query::TrialOrder;

use super::output;
use super::query::trial_csv;
use crate::cli::StudyArg;

/// `hypersearch export`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch export --study digits-search --format csv > trials.csv\n  \
    hypersearch export --format json > study.json"
)]
pub struct ExportArgs {
    #[command(flatten)]
    study: StudyArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    format: ExportFormat,
}

/// Output format of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One row per trial: parameters and final metrics as columns.
    Csv,
    /// The study, every trial, its per-epoch history and early-stopping decision.
    Json,
}

/// `hypersearch export`.
pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let format = args.format;
    let none: Option<TrialState> = None;
    let (summary, trials, histories, stops) = args.study.read(async |db, study| {
        let summary = db
            .studies()
            .await?
            .into_iter()
            .find(|s| s.study == study.name);
        let trials = db.trials(&study, none, TrialOrder::Number).await?;
        let histories = db.histories(&study).await?;
        let stops = db.early_stops(&study).await?;
        Ok((summary, trials, histories, stops))
    })?;
    match format {
        ExportFormat::Csv => {
            let (header, rows) = trial_csv(&trials);
            output::print_csv(&header, &rows)?;
        }
        ExportFormat::Json => {
            let trials: Vec<serde_json::Value> = trials
                .iter()
                .map(|trial| {
                    let mut value = serde_json::to_value(trial)?;
                    if let Some(object) = value.as_object_mut() {
                        object.insert(
                            "history".into(),
                            serde_json::to_value(
                                histories.get(&trial.trial).cloned().unwrap_or_default(),
                            )?,
                        );
                        object.insert(
                            "early_stop".into(),
                            serde_json::to_value(stops.get(&trial.trial))?,
                        );
                    }
                    Ok(value)
                })
                .collect::<Result<_, serde_json::Error>>()?;
            output::print_json(&serde_json::json!({ "study": summary, "trials": trials }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
