//! `hypersearch studies`, `best` and `trials`: read-only queries of the trials database.
//! They open it read-only, so they work while a search is writing it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use hypersearch_coordinator::store::{Location, TrialState, query};

use super::output::say;
use super::output::{self, maybe_number, number};
use super::pareto;
use super::small_runtime;
use crate::cli::{DbArg, Format, StudyArg};

/// `hypersearch studies`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch studies\n  hypersearch studies --db runs.db --format json"
)]
pub struct StudiesArgs {
    #[command(flatten)]
    db: DbArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `hypersearch best`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch best --study digits-search --top 5\n  \
    hypersearch best --db runs.db --format json"
)]
pub struct BestArgs {
    #[command(flatten)]
    study: StudyArg,
    /// How many trials (default 10). With several objectives: the best K by
    /// non-dominated rank, then crowding distance; without it, the whole Pareto front.
    #[arg(long)]
    top: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `hypersearch trials`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch trials --study digits-search --state pruned\n  \
    hypersearch trials --sort value --format csv > trials.csv"
)]
pub struct TrialsArgs {
    #[command(flatten)]
    study: StudyArg,
    /// Only trials in this state.
    #[arg(long, value_enum)]
    state: Option<StateFilter>,
    /// Row order.
    #[arg(long, value_enum, default_value_t = SortKey::Number)]
    sort: SortKey,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Trial states `trials --state` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateFilter {
    /// Waiting for a worker.
    Queued,
    /// Running now.
    Running,
    /// Finished with a value.
    Complete,
    /// Stopped early by the early-stopping rule.
    Pruned,
    /// Failed for good.
    Failed,
}

/// How `trials` orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// By trial number.
    Number,
    /// Best value first.
    Value,
}

/// A `--db` value as a database: a `postgres://` URL, else a SQLite file.
pub fn location(db: &Path) -> anyhow::Result<Location> {
    Ok(match db.to_str() {
        Some(text) => Location::parse(text)?,
        None => Location::Sqlite(db.to_path_buf()),
    })
}

/// Opens `db` read-only and runs `body` on it.
pub fn with_database<T>(
    db: &Path,
    body: impl AsyncFnOnce(&mut query::Reader) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let db = location(db)?;
    small_runtime()?.block_on(async {
        let mut reader = query::Reader::open(&db).await?;
        body(&mut reader).await
    })
}

impl StudyArg {
    /// Opens the database read-only, finds the study (the only one when `--study` is left
    /// out) and runs `body` on both.
    pub fn read<T>(
        &self,
        body: impl AsyncFnOnce(&mut query::Reader, query::StudyRef) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        with_database(&self.db.db, async |db| {
            let study = db.study(self.study.as_deref()).await?;
            body(db, study).await
        })
    }
}

/// The lowest-numbered failed trial of study `name` and why it failed, if any.
pub fn first_failure(db: &Path, name: &str) -> anyhow::Result<Option<(u64, String)>> {
    Ok(failures(db, name, 1)?.into_iter().next())
}

/// The `limit` lowest-numbered failed trials of study `name` and why each failed.
pub fn failures(db: &Path, name: &str, limit: usize) -> anyhow::Result<Vec<(u64, String)>> {
    with_database(db, async |db| {
        let study = db.study(Some(name)).await?;
        let failed = db
            .trials(&study, Some(TrialState::Failed), query::TrialOrder::Number)
            .await?;
        Ok(failed
            .into_iter()
            .take(limit)
            .map(|trial| {
                let error = trial.error.unwrap_or_else(|| "no reason recorded".into());
                (trial.trial, error)
            })
            .collect())
    })
}

/// `hypersearch studies`.
pub fn studies(args: &StudiesArgs) -> anyhow::Result<ExitCode> {
    let format = args.format;
    let studies = with_database(&args.db.db, async |db| Ok(db.studies().await?))?;
    match format {
        Format::Json => output::print_json(&studies)?,
        Format::Csv => {
            let header = [
                "study",
                "metric",
                "direction",
                "algorithm",
                "state",
                "budget",
                "queued",
                "running",
                "complete",
                "pruned",
                "failed",
                "best_trial",
                "best_value",
                "created_at",
            ];
            let rows: Vec<Vec<String>> = studies
                .iter()
                .map(|s| {
                    vec![
                        s.study.clone(),
                        s.metric.clone(),
                        s.direction.clone(),
                        s.algorithm.clone(),
                        s.state.clone(),
                        s.budget.to_string(),
                        s.queued.to_string(),
                        s.running.to_string(),
                        s.complete.to_string(),
                        s.pruned.to_string(),
                        s.failed.to_string(),
                        s.best_trial.map(|t| t.to_string()).unwrap_or_default(),
                        s.best_value.map(|v| v.to_string()).unwrap_or_default(),
                        s.created_at.clone(),
                    ]
                })
                .collect();
            output::print_csv(&header.map(String::from), &rows)?;
        }
        Format::Table => {
            if studies.is_empty() {
                say!("{} holds no study yet", location(&args.db.db)?);
                return Ok(ExitCode::SUCCESS);
            }
            let header = [
                "study",
                "state",
                "metric",
                "done/budget",
                "running",
                "pruned",
                "failed",
                "best trial",
                "best value",
            ];
            let mut table = output::table(&header);
            for s in &studies {
                table.add_row(vec![
                    s.study.clone(),
                    s.state.clone(),
                    format!("{} ({})", s.metric, s.direction),
                    format!("{}/{}", s.complete + s.pruned + s.failed, s.budget),
                    s.running.to_string(),
                    s.pruned.to_string(),
                    s.failed.to_string(),
                    s.best_trial
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "-".into()),
                    maybe_number(s.best_value),
                ]);
            }
            let hidden = output::fit(
                &mut table,
                &header,
                &["running", "pruned", "failed", "state"],
                &[],
            );
            say!("{table}");
            if let Some(hidden) = hidden {
                say!("{hidden}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `hypersearch best`.
pub fn best(args: &BestArgs) -> anyhow::Result<ExitCode> {
    print_best(&args.study, args.top, args.format)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the `top` best complete trials of the study in `format` (10 when `None`); for a
/// study with several objectives or constraints, the best feasible ones (the Pareto front
/// when `top` is `None`: see [`super::pareto`]).
pub fn print_best(study: &StudyArg, top: Option<u64>, format: Format) -> anyhow::Result<()> {
    let (study, objectives, trials) = study.read(async |db, study| {
        let text = db.study_config(&study).await?;
        let objectives = hypersearch_search::StudyConfig::from_toml_str(&text, &study.name)
            .ok()
            .map(|config| config.objectives)
            .filter(hypersearch_search::Objectives::needs_metrics);
        let trials = match &objectives {
            Some(_) => {
                db.trials(
                    &study,
                    Some(TrialState::Complete),
                    query::TrialOrder::Number,
                )
                .await?
            }
            None => db.best(&study, top.unwrap_or(10)).await?,
        };
        Ok((study, objectives, trials))
    })?;
    match objectives {
        Some(objectives) => {
            let chosen = pareto::best(&objectives, pareto::judge_all(&objectives, trials), top);
            pareto::print(&study.name, &objectives, &chosen, format)
        }
        None => print_trials(&study, &trials, format, true),
    }
}

/// `hypersearch trials`.
pub fn trials(args: &TrialsArgs) -> anyhow::Result<ExitCode> {
    let (db, study, format) = (&args.study.db.db, args.study.study.as_deref(), args.format);
    let state = args.state.map(|s| match s {
        StateFilter::Queued => TrialState::Queued,
        StateFilter::Running => TrialState::Running,
        StateFilter::Complete => TrialState::Complete,
        StateFilter::Pruned => TrialState::Pruned,
        StateFilter::Failed => TrialState::Failed,
    });
    let order = match args.sort {
        SortKey::Number => query::TrialOrder::Number,
        SortKey::Value => query::TrialOrder::Value,
    };
    if format == Format::Csv {
        stream_trials_csv(db, study, state, order)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (study, trials) = args.study.read(async |db, study| {
        let trials = db.trials(&study, state, order).await?;
        Ok((study, trials))
    })?;
    print_trials(&study, &trials, format, false)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints trials in `format`; `ranked` adds a rank column to the table.
pub fn print_trials(
    study: &query::StudyRef,
    trials: &[query::TrialSummary],
    format: Format,
    ranked: bool,
) -> anyhow::Result<()> {
    match format {
        Format::Json => output::print_json(&trials)?,
        Format::Csv => {
            let (header, rows) = trial_csv(trials);
            output::print_csv(&header, &rows)?;
        }
        Format::Table => {
            if trials.is_empty() {
                say!("study `{}`: no trials to show", study.name);
                return Ok(());
            }
            let value = format!(
                "{} ({})",
                study.metric,
                if study.maximize { "max" } else { "min" }
            );
            let searched_architecture = trials
                .iter()
                .any(|t| !output::architecture(&t.params).is_empty());
            let mut header = vec!["trial", "state", value.as_str()];
            if searched_architecture {
                header.extend(["architecture", "hyperparameters"]);
            } else {
                header.push("parameters");
            }
            // Trained networks report their cost (parameters, flops, inference time).
            let costed = trials
                .iter()
                .any(|t| output::cost(t.metrics.as_ref()).is_some());
            if costed {
                header.push("cost");
            }
            header.extend(["attempts", "worker"]);
            if ranked {
                header.insert(0, "rank");
            }
            let mut table = output::table(&header);
            for (rank, trial) in trials.iter().enumerate() {
                let mut row = vec![
                    trial.trial.to_string(),
                    trial.state.clone(),
                    trial.value.map_or_else(|| "-".to_string(), number),
                ];
                if searched_architecture {
                    row.push(output::architecture(&trial.params));
                }
                row.push(output::hyperparameters(&trial.params));
                if costed {
                    row.push(output::cost(trial.metrics.as_ref()).unwrap_or_else(|| "-".into()));
                }
                row.extend([
                    trial.attempts.to_string(),
                    trial
                        .worker
                        .as_deref()
                        .map_or_else(|| "-".into(), output::remote),
                ]);
                if ranked {
                    row.insert(0, (rank + 1).to_string());
                }
                table.add_row(row);
            }
            let hidden = output::fit(
                &mut table,
                &header,
                &["worker", "attempts", "cost", "rank", "state"],
                &["architecture", "hyperparameters", "parameters"],
            );
            say!("{table}");
            if let Some(hidden) = hidden {
                say!("{hidden}");
            }
        }
    }
    Ok(())
}

/// Trials as CSV: fixed columns, then one column per parameter (`params.NAME`) and per final
/// metric (`metrics.NAME`).
pub fn trial_csv(trials: &[query::TrialSummary]) -> (Vec<String>, Vec<Vec<String>>) {
    let keys = |field: fn(&query::TrialSummary) -> Option<&serde_json::Value>| {
        let mut names: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        for map in trials
            .iter()
            .filter_map(|t| field(t).and_then(|v| v.as_object()))
        {
            for key in map.keys() {
                if !names.contains(key.as_str()) {
                    names.insert(key);
                }
            }
        }
        names.into_iter().map(String::from).collect::<Vec<String>>()
    };
    let params = keys(|t| Some(&t.params));
    let metrics = keys(|t| t.metrics.as_ref());
    let header = csv_header(&params, &metrics);
    let rows = trials
        .iter()
        .map(|t| csv_row(t, &params, &metrics))
        .collect();
    (header, rows)
}

/// The CSV columns of a trial listing with these parameter and metric names.
fn csv_header(params: &[String], metrics: &[String]) -> Vec<String> {
    let mut header: Vec<String> = [
        "trial",
        "state",
        "value",
        "attempts",
        "worker",
        "started_at",
        "finished_at",
        "error",
    ]
    .map(String::from)
    .to_vec();
    header.extend(params.iter().map(|p| format!("params.{p}")));
    header.extend(metrics.iter().map(|m| format!("metrics.{m}")));
    header
}

/// One trial as a CSV record under [`csv_header`].
fn csv_row(t: &query::TrialSummary, params: &[String], metrics: &[String]) -> Vec<String> {
    let mut row = vec![
        t.trial.to_string(),
        t.state.clone(),
        t.value.map(|v| v.to_string()).unwrap_or_default(),
        t.attempts.to_string(),
        t.worker.clone().unwrap_or_default(),
        t.started_at.clone().unwrap_or_default(),
        t.finished_at.clone().unwrap_or_default(),
        t.error.clone().unwrap_or_default(),
    ];
    row.extend(params.iter().map(|p| output::json_field(t.params.get(p))));
    row.extend(
        metrics
            .iter()
            .map(|m| output::json_field(t.metrics.as_ref().and_then(|v| v.get(m)))),
    );
    row
}

/// `trials --format csv`, streamed: the columns from one pass over the rows, then each row
/// written as it arrives, so a million trials take constant memory.
fn stream_trials_csv(
    db: &Path,
    study: Option<&str>,
    state: Option<TrialState>,
    order: query::TrialOrder,
) -> anyhow::Result<()> {
    with_database(db, async |db| {
        let study = db.study(study).await?;
        let (params, metrics) = db.trial_keys(&study, state).await?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        let written = (|| -> anyhow::Result<()> {
            writeln!(
                out,
                "{}",
                output::csv_record(&csv_header(&params, &metrics))
            )?;
            Ok(())
        })();
        let streamed = match written {
            Ok(()) => {
                db.for_each_trial(&study, state, order, |t| -> anyhow::Result<()> {
                    writeln!(
                        out,
                        "{}",
                        output::csv_record(&csv_row(&t, &params, &metrics))
                    )?;
                    Ok(())
                })
                .await
            }
            Err(err) => Err(err),
        };
        output::quiet_broken_pipe_any(streamed.and_then(|()| Ok(out.flush()?)))
    })
}
