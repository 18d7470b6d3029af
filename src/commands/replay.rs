//! `hypersearch replay`: what an early-stopping rule would have done on a study's recorded
//! curves, fed in the order the epochs arrived (see `hypersearch_insight::replay`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use hypersearch_insight::replay::rule::{self, RuleChoice};
use hypersearch_insight::replay::{self, Replay};
use hypersearch_search::{EarlyStopping, StudyConfig, make_pruner};

use super::output::{self, number, say};
use crate::cli::{Format, StudyArg};

/// The rules `--rule` replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuleArg {
    /// The median stopping rule.
    Median,
    /// The percentile rule (`--percentile` required).
    Percentile,
    /// Asynchronous successive halving.
    Asha,
    /// Hyperband.
    Hyperband,
}

impl RuleArg {
    fn name(self) -> &'static str {
        match self {
            RuleArg::Median => "median",
            RuleArg::Percentile => "percentile",
            RuleArg::Asha => "asha",
            RuleArg::Hyperband => "hyperband",
        }
    }
}

/// `hypersearch replay`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    study: StudyArg,
    /// The rule to replay; default the study's own, with its own options.
    #[arg(long, value_enum)]
    rule: Option<RuleArg>,
    /// Epochs never judged (median, percentile).
    #[arg(long)]
    warmup_epochs: Option<i64>,
    /// Trials that finish before any is stopped (median, percentile).
    #[arg(long)]
    startup_trials: Option<i64>,
    /// Trials reported at an epoch before comparing (median, percentile).
    #[arg(long)]
    min_trials: Option<i64>,
    /// Judge every this many epochs (median, percentile).
    #[arg(long)]
    interval_epochs: Option<i64>,
    /// The percentile compared with (percentile).
    #[arg(long)]
    percentile: Option<f64>,
    /// Keep 1 in this many at each rung (asha, hyperband).
    #[arg(long)]
    reduction_factor: Option<i64>,
    /// Epochs of the first rung, or `auto` (asha, hyperband).
    #[arg(long)]
    min_resource: Option<String>,
    /// Epochs of the last rung, or `auto` (hyperband).
    #[arg(long)]
    max_resource: Option<String>,
    /// Skip this many lowest rungs (asha).
    #[arg(long)]
    min_early_stopping_rate: Option<i64>,
    /// Trials that must reach a rung before it stops any (asha, hyperband).
    #[arg(long)]
    bootstrap_count: Option<i64>,
    /// How many of the best complete trials to check for kills.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

impl ReplayArgs {
    /// The rule's options as `[early_stopping]` keys with their values as text, those given.
    fn options(&self) -> Vec<(String, String)> {
        let int = |v: Option<i64>| v.map(|v| v.to_string());
        [
            ("warmup_epochs", int(self.warmup_epochs)),
            ("startup_trials", int(self.startup_trials)),
            ("min_trials", int(self.min_trials)),
            ("interval_epochs", int(self.interval_epochs)),
            ("percentile", self.percentile.map(|v| v.to_string())),
            ("reduction_factor", int(self.reduction_factor)),
            ("min_resource", self.min_resource.clone()),
            ("max_resource", self.max_resource.clone()),
            ("min_early_stopping_rate", int(self.min_early_stopping_rate)),
            ("bootstrap_count", int(self.bootstrap_count)),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| (key.to_string(), v)))
        .collect()
    }
}

/// The study's config with the rule to replay: its own, or the one the options describe
/// (checked by the same code as a study file's `[early_stopping]`); errors name the flags.
fn rule_config(args: &ReplayArgs, study: &str, config_text: &str) -> anyhow::Result<StudyConfig> {
    let options = args.options();
    if args.rule.is_none() {
        if let Some((key, _)) = options.first() {
            bail!(
                "--{} is an option of a rule: give --rule too",
                key.replace('_', "-")
            );
        }
        let config = StudyConfig::from_toml_str(config_text, study)
            .with_context(|| format!("cannot read the stored config of study `{study}`"))?;
        if config.early_stopping == EarlyStopping::None {
            bail!(
                "study `{study}` ran without early stopping: give the rule to replay, e.g. \
                 --rule median"
            );
        }
        return Ok(config);
    }
    let choice = RuleChoice {
        rule: args.rule.map(|rule| rule.name().to_string()),
        options,
    };
    rule::rule_config(study, config_text, &choice).map_err(|err| match err {
        hypersearch_insight::Error::Rule {
            option: Some(option),
            problem,
        } => anyhow::anyhow!("--{}: {problem}", option.replace('_', "-")),
        other => anyhow::anyhow!(other),
    })
}

/// `hypersearch replay`.
pub fn replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let (replayed, rule, study) = args.study.read(async |db, study| {
        let trials = db.study_trials(&study).await?;
        let config = rule_config(args, &study.name, &db.study_config(&study).await?)?;
        let logs = db
            .attempt_logs(&study, &config.objectives.judged_metrics())
            .await?;
        if logs.iter().all(|log| log.reports.is_empty()) {
            bail!(
                "study `{}` has no learning curves to replay: no trial reported its metric \
                 `{}` per epoch",
                study.name,
                study.metric
            );
        }
        let recorded = db.recorded_stops(&study).await?;
        let mut pruner = make_pruner(&config);
        let replayed = replay::replay(&trials, &logs, &recorded, pruner.as_mut(), args.top);
        Ok((replayed, config.early_stopping, study.name))
    })?;
    match args.format {
        Format::Json => output::print_json(&replayed.to_json(&study, &rule))?,
        Format::Csv => print_csv(&replayed)?,
        Format::Table => print_table(&study, &rule, &replayed),
    }
    Ok(ExitCode::SUCCESS)
}

/// One row per stopped trial.
fn print_csv(replayed: &Replay) -> anyhow::Result<()> {
    let header: Vec<String> = [
        "trial",
        "attempt",
        "epoch",
        "rule",
        "value",
        "threshold",
        "epochs_saved",
        "seconds_saved",
        "recorded",
        "explanation",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = replayed
        .stops
        .iter()
        .map(|s| {
            vec![
                s.trial.to_string(),
                s.attempt.to_string(),
                s.reason.epoch.to_string(),
                s.reason.rule.clone(),
                s.reason.value.to_string(),
                s.reason.threshold.to_string(),
                s.epochs_saved.to_string(),
                s.seconds_saved.to_string(),
                s.recorded.name().to_string(),
                s.reason.detail.clone(),
            ]
        })
        .collect();
    output::print_csv(&header, &rows)
}

/// The rule and its options in words: `median (warmup_epochs 1, startup_trials 3, …)`.
fn describe(rule: &EarlyStopping) -> String {
    let (name, options) = match serde_json::to_value(rule) {
        Ok(serde_json::Value::Object(one)) => match one.into_iter().next() {
            Some((name, serde_json::Value::Object(options))) => (name, options),
            _ => return "no rule".into(),
        },
        _ => return "no rule".into(),
    };
    let name = match (name.as_str(), options.get("percentile")) {
        ("Percentile", Some(p)) if p.as_f64() == Some(50.0) => "median".to_string(),
        _ => name.to_lowercase(),
    };
    let options: Vec<String> = options
        .iter()
        .map(|(key, value)| match value {
            serde_json::Value::Object(o) => {
                let inner = o
                    .values()
                    .next()
                    .map_or("auto".to_string(), |v| v.to_string());
                format!("{key} {inner}")
            }
            serde_json::Value::String(s) => format!("{key} {}", s.to_lowercase()),
            other => format!("{key} {other}"),
        })
        .collect();
    format!("{name} ({})", options.join(", "))
}

fn print_table(study: &str, rule: &EarlyStopping, replayed: &Replay) {
    let rule_text = describe(rule);
    say!(
        "replay of {rule_text} on study `{study}` ({})",
        replayed.order.note()
    );
    if replayed.stops.is_empty() {
        say!("the rule stops no trial");
    } else {
        let header = [
            "trial",
            "epoch",
            "value",
            "threshold",
            "saved",
            "seconds",
            "recorded",
            "why",
        ];
        let mut table = output::table(&header);
        for s in &replayed.stops {
            table.add_row(vec![
                s.trial.to_string(),
                s.reason.epoch.to_string(),
                number(s.reason.value),
                number(s.reason.threshold),
                s.epochs_saved.to_string(),
                number(s.seconds_saved),
                s.recorded.name().to_string(),
                s.reason.detail.clone(),
            ]);
        }
        let hidden = output::fit(&mut table, &header, &["why", "seconds"], &["why"]);
        say!("{table}");
        if let Some(hidden) = hidden {
            say!("{hidden}");
        }
    }
    let t = &replayed.totals;
    say!(
        "stopped {} of {} trials; epochs {} run, {} under this rule: {} saved ({:.1}%); \
         seconds saved {} of {}",
        t.stopped,
        t.trials,
        t.epochs_run,
        t.epochs_replayed,
        t.epochs_saved,
        t.saved_percent,
        number(t.seconds_saved),
        number(t.seconds_run)
    );
    if t.seconds_averaged_epochs + t.seconds_unknown_epochs > 0 {
        say!(
            "(seconds: {} epochs without a `seconds` metric counted at their attempt's \
             average, {} unknown counted as 0)",
            t.seconds_averaged_epochs,
            t.seconds_unknown_epochs
        );
    }
    let k = &replayed.killed;
    let killed: Vec<String> = k
        .trials
        .iter()
        .map(|t| {
            format!(
                "#{} trial {} ({}) at epoch {}",
                t.rank,
                t.trial,
                number(t.value),
                t.epoch
            )
        })
        .collect();
    say!(
        "of the best {} complete trials it would have killed: {}",
        k.checked,
        if killed.is_empty() {
            "none".to_string()
        } else {
            killed.join(", ")
        }
    );
    let c = &replayed.comparison;
    let list = |v: &[u64]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        }
    };
    let both: Vec<u64> = c.both.iter().map(|b| b.trial).collect();
    say!(
        "against the recorded stops{}: both {}; only the replay {}; only recorded {}",
        if c.identical { " (identical)" } else { "" },
        list(&both),
        list(&c.only_replay),
        list(&c.only_recorded)
    );
}
