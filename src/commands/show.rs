//! `hypersearch show TRIAL`: one trial's parameters, per-epoch history, how it ended and why,
//! and how to re-run it.

use std::collections::BTreeSet;
use std::process::ExitCode;

use hypersearch_coordinator::store::query::{EpochMetrics, TrialDetail};
use hypersearch_search::StudyConfig;
use hypersearch_search::space::architecture;

use super::output::say;
use super::output::{self, json_cell, maybe_number, number};
use super::training_config::{self, StoredObjective};
use crate::cli::{Format, StudyArg};

/// `hypersearch show`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch show 7\n  hypersearch show 7 --study digits-search --format json"
)]
pub struct ShowArgs {
    /// The trial's number within its study.
    trial: u64,
    #[command(flatten)]
    study: StudyArg,
    /// Output format (`csv` prints the per-epoch history).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `hypersearch show`.
pub fn run(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let format = args.format;
    let detail = args
        .study
        .read(async |db, study| Ok(db.trial(&study, args.trial).await?))?;
    let objective = training_config::objective(&detail.study_config)?;
    let rerun = match objective {
        StoredObjective::Training => Some(training_config::render(
            &detail.study_config,
            &detail.overrides,
        )?),
        _ => None,
    };
    match format {
        Format::Json => {
            let mut value = serde_json::to_value(&detail)?;
            if let Some(object) = value.as_object_mut() {
                if let Some(config) = &rerun {
                    object.insert("training_config".into(), config.clone().into());
                }
                let absent: serde_json::Map<String, serde_json::Value> = absent_params(&detail)
                    .into_iter()
                    .map(|(name, condition)| (name, condition.into()))
                    .collect();
                object.insert("absent_params".into(), absent.into());
            }
            output::print_json(&value)?;
        }
        Format::Csv => {
            let (header, rows) = history_table(&detail.history, Reader::Program);
            output::print_csv(&header, &rows)?;
        }
        Format::Table => print_table(&detail, &objective, rerun.as_deref()),
    }
    Ok(ExitCode::SUCCESS)
}

/// The conditional `[search.space]` parameters this trial does not have, each with the
/// condition that did not hold (the architecture's per-layer ones are left out: `arch.layers`
/// says which exist). Empty when the stored config no longer parses.
fn absent_params(detail: &TrialDetail) -> Vec<(String, String)> {
    let Ok(config) = StudyConfig::from_toml_str(&detail.study_config, "the stored study") else {
        return Vec::new();
    };
    let params = detail.summary.params.as_object();
    config
        .space
        .params()
        .iter()
        .filter(|spec| !spec.name.starts_with(architecture::PREFIX))
        .filter(|spec| !params.is_some_and(|p| p.contains_key(&spec.name)))
        .filter_map(|spec| Some((spec.name.clone(), spec.condition.as_ref()?.to_string())))
        .collect()
}

/// One sentence on how the trial ended and why.
pub fn ending(detail: &TrialDetail) -> String {
    let trial = &detail.summary;
    match trial.state.as_str() {
        "complete" => {
            let epochs = detail
                .history
                .iter()
                .filter(|e| e.attempt == trial.attempts)
                .count();
            // A resumed attempt reported the epochs after its checkpoint only.
            let resumed = detail
                .attempt_history
                .iter()
                .find(|a| a.attempt == trial.attempts)
                .and_then(|a| a.resumed_from);
            let trained = match (epochs, resumed) {
                (0, _) => String::new(),
                (_, Some(from)) => format!(
                    " after {} epochs (attempt {} went on from the checkpoint of epoch {from})",
                    epochs as u64 + from,
                    trial.attempts
                ),
                (_, None) => format!(" after {epochs} epochs"),
            };
            match super::pareto::describe(&detail.study_config, trial.metrics.as_ref()) {
                Some(values) => format!("completed{trained} with {values}"),
                None => format!(
                    "completed{trained} with {} = {}",
                    detail.metric,
                    maybe_number(trial.value)
                ),
            }
        }
        "pruned" => match &detail.early_stop {
            // Several objectives: the value and threshold count dominators, which the
            // explanation says in words.
            Some(stop) if judged_by_dominance(&detail.study_config) => format!(
                "pruned at epoch {} by the {} rule: {}",
                stop.epoch,
                stop.rule,
                output::remote(&stop.explanation)
            ),
            Some(stop) => format!(
                "pruned at epoch {} by the {} rule: {} = {} compared with {} ({})",
                stop.epoch,
                stop.rule,
                stop.metric,
                number(stop.value),
                number(stop.threshold),
                output::remote(&stop.explanation)
            ),
            None => "pruned (no decision recorded)".to_string(),
        },
        "failed" => format!(
            "failed after {} attempt{}: {}",
            trial.attempts,
            if trial.attempts == 1 { "" } else { "s" },
            trial
                .error
                .as_deref()
                .map_or_else(|| "no reason recorded".to_string(), output::remote)
        ),
        "running" => format!("running (attempt {})", trial.attempts),
        other => other.to_string(),
    }
}

fn print_table(detail: &TrialDetail, objective: &StoredObjective, rerun: Option<&str>) {
    let trial = &detail.summary;
    say!(
        "Trial {} of study `{}`: {}",
        trial.trial,
        detail.study,
        trial.state
    );
    say!("  {}", ending(detail));
    say!(
        "  attempts: {}   worker: {}",
        trial.attempts,
        trial
            .worker
            .as_deref()
            .map_or_else(|| "-".into(), output::remote),
    );
    say!(
        "  started: {}   finished: {}",
        trial.started_at.as_deref().unwrap_or("-"),
        trial.finished_at.as_deref().unwrap_or("-"),
    );
    for attempt in &detail.attempt_history {
        if let Some(from) = attempt.resumed_from {
            say!(
                "  attempt {} resumed from the checkpoint of epoch {from}",
                attempt.attempt
            );
        }
        if let Some(note) = &attempt.checkpoint_note {
            say!(
                "  attempt {} started over: its checkpoint was refused ({})",
                attempt.attempt,
                output::remote(note)
            );
        }
        if matches!(attempt.state.as_str(), "failed" | "lost" | "preempted") {
            say!(
                "  attempt {} {} ({}): {}",
                attempt.attempt,
                attempt.state,
                attempt.failure.as_deref().unwrap_or("-"),
                attempt
                    .error
                    .as_deref()
                    .map_or_else(|| "-".into(), output::remote)
            );
        }
    }
    say!("\nParameters");
    for (name, value) in trial.params.as_object().into_iter().flatten() {
        say!("  {name} = {}", json_cell(value));
    }
    for (name, condition) in absent_params(detail) {
        say!("  {name} absent: exists only when {condition}");
    }
    if !detail.history.is_empty() {
        say!("\nHistory");
        let (header, rows) = history_table(&detail.history, Reader::Person);
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut table = output::table(&header);
        for row in rows {
            table.add_row(row);
        }
        let hidden = output::fit(
            &mut table,
            &header,
            &[
                "attempt",
                "seconds",
                "learning_rate",
                "train_accuracy",
                "train_loss",
            ],
            &[],
        );
        say!("{table}");
        if let Some(hidden) = hidden {
            say!("{hidden}");
        }
    }
    if let Some(metrics) = trial.metrics.as_ref().and_then(|m| m.as_object()) {
        let last: Vec<String> = metrics
            .iter()
            .map(|(k, v)| format!("{}={}", output::remote(k), json_cell(v)))
            .collect();
        say!("\nFinal metrics: {}", last.join(" "));
    }
    let overrides = detail.overrides.to_string();
    match (objective, rerun) {
        (StoredObjective::Training, Some(config)) => {
            say!(
                "\nRe-run it: save the config below as trial-{}.toml and run",
                trial.trial
            );
            say!("  hypersearch train trial-{}.toml", trial.trial);
            say!("or, with the study file: hypersearch train STUDY.toml --params '{overrides}'\n");
            say!("# trial {} of study `{}`", trial.trial, detail.study);
            say!("{}", config.trim_end());
        }
        (StoredObjective::Command(command), _) => {
            say!("\nRe-run it:");
            say!(
                "  HYPERSEARCH_PARAMS='{overrides}' HYPERSEARCH_TRIAL={} sh -c '{command}'",
                trial.trial
            );
        }
        (StoredObjective::Function(function), _) => {
            say!("\nObjective: {function}({overrides})");
        }
        (StoredObjective::Training, None) => {}
    }
}

fn metric_names(history: &[EpochMetrics]) -> Vec<String> {
    let names: BTreeSet<&String> = history.iter().flat_map(|e| e.metrics.keys()).collect();
    names.into_iter().cloned().collect()
}

/// Who reads a history table: a person (names made safe to print, numbers rounded) or a
/// program (names and numbers exact).
#[derive(Clone, Copy)]
enum Reader {
    Person,
    Program,
}

impl Reader {
    /// A metric's name as a column header.
    fn name(self, name: &str) -> String {
        match self {
            Reader::Person => output::remote(name),
            Reader::Program => name.to_string(),
        }
    }

    /// A metric's value as a cell (empty when the epoch did not report it).
    fn value(self, value: Option<f64>) -> String {
        match self {
            Reader::Person => maybe_number(value),
            Reader::Program => value.map(|v| v.to_string()).unwrap_or_default(),
        }
    }
}

/// The per-epoch history as a header and rows: attempt, epoch, then one column per metric.
fn history_table(history: &[EpochMetrics], reader: Reader) -> (Vec<String>, Vec<Vec<String>>) {
    let names = metric_names(history);
    let mut header = vec!["attempt".to_string(), "epoch".to_string()];
    header.extend(names.iter().map(|name| reader.name(name)));
    let rows = history
        .iter()
        .map(|e| {
            let mut row = vec![e.attempt.to_string(), e.epoch.to_string()];
            row.extend(
                names
                    .iter()
                    .map(|n| reader.value(e.metrics.get(n).copied())),
            );
            row
        })
        .collect();
    (header, rows)
}

/// Whether the stored study has several objectives, whose early stopping judges by Pareto
/// dominance.
fn judged_by_dominance(study_config: &str) -> bool {
    hypersearch_search::StudyConfig::from_toml_str(study_config, "the stored study")
        .is_ok_and(|config| config.objectives.is_multi())
}
