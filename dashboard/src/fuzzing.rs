//! Entry points for the fuzz targets (feature `fuzzing`, which no release build enables): a
//! query string of the trial table, of the what-if replay, of the Pareto panel or of the
//! comparison of two studies, parsed by
//! axum's `Query` extractor as the server parses it and answered by the functions its
//! handlers call, on a study the caller makes up. Every input must end in an answer or a
//! clear error, never a panic.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::extract::Query;
use axum::http::Uri;
use hypersearch_coordinator::store::query::{Pace, StudySummary};
use hypersearch_insight::StudyTrials;
use hypersearch_insight::replay::{AttemptLog, rule};
use hypersearch_search::{StudyConfig, make_pruner};

use crate::api::payload::{self, CompareQuery, TableQuery};
use crate::api::{pareto, whatif};
use crate::cache::Snapshot;

/// The parameters in `query` (the part of a URL after `?`) as the handlers receive them.
fn parse<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, String> {
    let uri: Uri = format!("/?{query}")
        .parse()
        .map_err(|err| format!("{err}"))?;
    let Query(value) = Query::<T>::try_from_uri(&uri).map_err(|err| err.body_text())?;
    Ok(value)
}

/// A snapshot of `trials` with study config `config`, as the cache would hold it.
fn snapshot(trials: StudyTrials, config: &str) -> Snapshot {
    let (space, objectives) = match StudyConfig::from_toml_str(config, "the fuzzed study") {
        Ok(parsed) => (Some(parsed.space), Some(parsed.objectives)),
        Err(_) => (None, None),
    };
    Snapshot {
        version: 1,
        summary: StudySummary {
            study: trials.study.clone(),
            metric: trials.metric.clone(),
            direction: if trials.maximize {
                "maximize"
            } else {
                "minimize"
            }
            .into(),
            algorithm: "random".into(),
            state: "running".into(),
            budget: trials.rows.len() as u64,
            queued: 0,
            running: 0,
            complete: 0,
            pruned: 0,
            failed: 0,
            best_trial: None,
            best_value: None,
            created_at: String::new(),
        },
        pace: Pace::default(),
        trials,
        spans: Vec::new(),
        config: config.to_string(),
        space,
        objectives,
        loaded_at: 0.0,
        overview: OnceLock::new(),
    }
}

/// Answers `/api/studies/NAME/trials?QUERY` on `trials`: the page's JSON, or the error the
/// page would show.
pub fn trial_table(query: &str, trials: StudyTrials, config: &str) -> Result<String, String> {
    let query: TableQuery = parse(query)?;
    let snapshot = snapshot(trials, config);
    let table = payload::table(&snapshot, &query).map_err(|err| err.message().to_string())?;
    serde_json::to_string(&table).map_err(|err| err.to_string())
}

/// Answers `/api/studies/NAME/replay?QUERY` on a study of `trials` whose attempts reported
/// `logs` and whose config is `config`: the replay's JSON, or the error the page would show.
pub fn replay(
    query: &str,
    config: &str,
    trials: &StudyTrials,
    logs: &[AttemptLog],
) -> Result<String, String> {
    let query: BTreeMap<String, String> = parse(query)?;
    let (top, choice) = whatif::replay_choice(query).map_err(|err| err.message().to_string())?;
    let config = rule::rule_config(&trials.study, config, &choice).map_err(|e| e.to_string())?;
    let mut pruner = make_pruner(&config);
    let replayed = hypersearch_insight::replay::replay(trials, logs, &[], pruner.as_mut(), top);
    Ok(replayed
        .to_json(&trials.study, &config.early_stopping)
        .to_string())
}

/// The objectives `/api/studies/NAME/pareto?QUERY` draws for a study with `count` (≥ 2)
/// objectives, or the error the page would show.
pub fn pareto_axes(query: &str, count: usize) -> Result<(usize, usize), String> {
    let axes: pareto::Axes = parse(query)?;
    axes.pick(count).map_err(|err| err.message().to_string())
}

/// The two study names `/api/compare?QUERY` compares, or the error the page would show.
pub fn compare_names(query: &str) -> Result<(String, String), String> {
    let query: CompareQuery = parse(query)?;
    Ok((query.a, query.b))
}
