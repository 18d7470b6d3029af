//! `hypersearch importance`: which parameters decide whether a trial is among the study's
//! best (PED-ANOVA, as Optuna 5 computes it), and which way each one pulls.

use std::process::ExitCode;

use hypersearch_insight::importance::{Importance, TARGET_QUANTILE};
use hypersearch_search::StudyConfig;

use super::output::{self, say};
use crate::cli::{Format, StudyArg};

/// `hypersearch importance`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch importance --study digits-search\n  \
    hypersearch importance --db runs.db --format json\n\n\
    Importance is the share of what sets the best 10% of the complete trials apart from \
    all of them (PED-ANOVA); the shares sum to 100%. The correlation is Spearman's, of the \
    parameter with how good the trial was: + means a higher value gave better trials."
)]
pub struct ImportanceArgs {
    #[command(flatten)]
    study: StudyArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Width of the bar of the most important parameter, in characters.
const BAR_WIDTH: f64 = 24.0;

/// `hypersearch importance`.
pub fn run(args: &ImportanceArgs) -> anyhow::Result<ExitCode> {
    let (trials, config) = args.study.read(async |db, study| {
        let trials = db.study_trials(&study).await?;
        let config = db.study_config(&study).await?;
        Ok((trials, config))
    })?;
    // A stored config this version no longer reads leaves the ranges to the values seen.
    let space = StudyConfig::from_toml_str(&config, "the stored study")
        .ok()
        .map(|config| config.space);
    let found = hypersearch_insight::importance(&trials, space.as_ref())?;
    match args.format {
        Format::Json => output::print_json(&found)?,
        Format::Csv => {
            let header = ["parameter", "importance", "correlation", "trials"];
            let rows: Vec<Vec<String>> = found
                .iter()
                .map(|i| {
                    vec![
                        i.parameter.clone(),
                        i.importance.to_string(),
                        i.correlation.map(|c| c.to_string()).unwrap_or_default(),
                        i.trials.to_string(),
                    ]
                })
                .collect();
            output::print_csv(&header.map(String::from), &rows)?;
        }
        Format::Table => print_table(&trials.study, trials.complete().count(), &found),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(study: &str, complete: usize, found: &[Importance]) {
    say!(
        "study `{}`: what sets the best {:.0}% of {complete} complete trials apart",
        output::remote(study),
        TARGET_QUANTILE * 100.0
    );
    let header = ["parameter", "importance", "", "correlation", "trials"];
    let mut table = output::table(&header);
    let most = found
        .first()
        .map_or(1.0, |i| i.importance)
        .max(f64::MIN_POSITIVE);
    for item in found {
        table.add_row(vec![
            item.parameter.clone(),
            format!("{:.1}%", item.importance * 100.0),
            bar(item.importance / most),
            item.correlation.map_or_else(|| "-".to_string(), sign),
            item.trials.to_string(),
        ]);
    }
    say!("{table}");
    say!(
        "correlation: Spearman's, of the parameter with how good the trial was: +0.8, higher \
         values did better; -0.8, lower values did; - alone, a choice or a constant"
    );
}

/// A bar `fraction` of [`BAR_WIDTH`] long, in eighths of a character.
fn bar(fraction: f64) -> String {
    let eighths = (fraction.clamp(0.0, 1.0) * BAR_WIDTH * 8.0).round() as usize;
    const PARTS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    format!("{}{}", "█".repeat(eighths / 8), PARTS[eighths % 8])
}

/// A correlation with its sign always shown: `+0.82`, `-0.35`.
fn sign(correlation: f64) -> String {
    format!("{correlation:+.2}")
}
