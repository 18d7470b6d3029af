//! The two views computed on request: parameter importance (PED-ANOVA on the snapshot's
//! complete trials) and the what-if replay of an early-stopping rule, whose rule and options
//! come from the page's form as query parameters (`rule=asha&reduction_factor=2&top=10`;
//! no `rule`: the study's own).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use hypersearch_coordinator::store::query::Reader;
use hypersearch_insight::replay::rule::{self, RuleChoice};
use hypersearch_search::make_pruner;

use super::{ApiError, App, json};

/// Best complete trials a replay checks for kills, unless the page says.
const TOP: usize = 10;

impl From<hypersearch_insight::Error> for ApiError {
    fn from(err: hypersearch_insight::Error) -> ApiError {
        let status = match err {
            hypersearch_insight::Error::TooFewTrials { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            hypersearch_insight::Error::Rule { .. } => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, err.to_string())
    }
}

/// Each parameter's importance, most important first.
pub async fn importance(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let snapshot = app.cache.study(&app.db, &name, app.live.version()).await?;
    let ranked = hypersearch_insight::importance(&snapshot.trials, snapshot.space.as_ref())?;
    json(&ranked)
}

/// The replay's query parameters: how many of the best trials to check for kills (`top`),
/// the rule and its options (blank values count as left out).
pub(crate) fn replay_choice(
    mut query: BTreeMap<String, String>,
) -> Result<(usize, RuleChoice), ApiError> {
    query.retain(|_, value| !value.trim().is_empty());
    let top = match query.remove("top") {
        None => TOP,
        Some(text) => text.trim().parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`top`: `{text}` is not a count"),
            )
        })?,
    };
    let choice = RuleChoice {
        rule: query.remove("rule"),
        options: query.into_iter().collect(),
    };
    Ok((top, choice))
}

/// What the rule of the query would have stopped, saved and killed.
pub async fn replay(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let (top, choice) = replay_choice(query)?;
    let snapshot = app.cache.study(&app.db, &name, app.live.version()).await?;
    let mut reader = Reader::open(&app.db).await?;
    let study = reader.study(Some(&name)).await?;
    let config = rule::rule_config(&name, &snapshot.config, &choice)?;
    let logs = reader
        .attempt_logs(&study, &config.objectives.judged_metrics())
        .await?;
    if logs.iter().all(|log| log.reports.is_empty()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "no trial of study `{name}` reported `{}` per epoch yet: nothing to replay",
                study.metric
            ),
        ));
    }
    let recorded = reader.recorded_stops(&study).await?;
    let mut pruner = make_pruner(&config);
    let replayed = hypersearch_insight::replay::replay(
        &snapshot.trials,
        &logs,
        &recorded,
        pruner.as_mut(),
        top,
    );
    json(&replayed.to_json(&name, &config.early_stopping))
}
