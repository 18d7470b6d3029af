//! `hypersearch export`: a whole study for pandas or a spreadsheet.

use std::path::Path;
use std::process::ExitCode;

use hypersearch_coordinator::store::TrialState;
use hypersearch_coordinator::store::query::TrialOrder;

use super::output;
use super::query::{trial_csv, with_database};
use crate::cli::ExportFormat;

/// `hypersearch export`.
pub fn run(db: &Path, study: Option<&str>, format: ExportFormat) -> anyhow::Result<ExitCode> {
    let none: Option<TrialState> = None;
    let (summary, trials, histories, stops) = with_database(db, async |db| {
        let study = db.study(study).await?;
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
