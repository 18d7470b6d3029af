//! The Pareto front of a study with several objectives, computed on request from every
//! complete trial's final metrics: each trial at two of its objectives (the first two, or
//! those the query names: `?x=2&y=0`, indices into the study's `metrics`), standing on the
//! front (over all the objectives), dominated or infeasible. Every front trial is sent; the
//! others are thinned to a bounded sample that keeps the cloud's outline (at 100,000 trials
//! the payload is under 200 kilobytes).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use hypersearch_coordinator::store::TrialState;
use hypersearch_coordinator::store::query::{Reader, TrialOrder};
use hypersearch_insight::pareto::{Objective, Point, Standing, judge, points};
use hypersearch_insight::sample::envelope;
use serde::{Deserialize, Serialize};

use super::payload::several_objectives;
use super::{ApiError, App, json};
use crate::cache::blocking;

/// Dominated and infeasible trials drawn at most (about; every front trial is drawn).
const OFF_FRONT_POINTS: usize = 4000;

/// Which objectives the axes show (indices into the study's `metrics`).
#[derive(Deserialize)]
pub(crate) struct Axes {
    x: Option<String>,
    y: Option<String>,
}

impl Axes {
    /// (x, y), each defaulting to the first and second objective; a 400 naming the key when
    /// one is not the index of an objective of the `count`.
    pub(crate) fn pick(&self, count: usize) -> Result<(usize, usize), ApiError> {
        let index = |key: &str, text: &Option<String>, default: usize| match text {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&i| i < count)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "`{key}`: `{text}` is not the index of an objective (0 to {})",
                            count - 1
                        ),
                    )
                }),
        };
        Ok((index("x", &self.x, 0)?, index("y", &self.y, 1)?))
    }
}

/// The chart's data, one column per field.
#[derive(Serialize)]
pub struct Front {
    /// Every objective (the front is over all of them).
    objectives: Vec<Objective>,
    /// The indices of the objectives along x and y.
    axes: (usize, usize),
    /// The constraints, as written.
    constraints: Vec<String>,
    /// How many complete trials stand on the front, are dominated, break a constraint.
    front: usize,
    dominated: usize,
    infeasible: usize,
    /// The trials drawn.
    #[serde(flatten)]
    drawn: Drawn,
}

/// The trials drawn: number, the values along x and y, standing.
#[derive(Serialize, Default)]
struct Drawn {
    number: Vec<u64>,
    x: Vec<f64>,
    y: Vec<f64>,
    standing: Vec<Standing>,
}

/// The front of study `name`; 422 for a study with one objective, 400 for an axis that is
/// not one of its objectives.
pub async fn pareto(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(axes): Query<Axes>,
) -> Result<Response, ApiError> {
    let snapshot = app.cache.study(&app.db, &name, app.live.version()).await?;
    let Some(objectives) = snapshot.objectives.clone().filter(|o| o.is_multi()) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("study `{name}` has one objective: it has a best trial, not a Pareto front"),
        ));
    };
    let axes = axes.pick(objectives.goals.len())?;
    let study = Reader::open(&app.db).await?.study(Some(&name)).await?;
    let judging = objectives.clone();
    let judged = blocking(&app.db, study, async move |reader, study| {
        let mut judged = Vec::new();
        reader
            .for_each_trial::<hypersearch_coordinator::Error>(
                &study,
                Some(TrialState::Complete),
                TrialOrder::Number,
                |trial| {
                    if let Some(j) = judge(&judging, trial.metrics.as_ref()) {
                        judged.push((trial.trial, j));
                    }
                    Ok(())
                },
            )
            .await?;
        Ok(judged)
    })
    .await
    .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))??;
    let all = points(&objectives, &judged, axes);
    json(&Front {
        objectives: several_objectives(Some(&objectives)),
        axes,
        constraints: objectives
            .constraints
            .iter()
            .map(ToString::to_string)
            .collect(),
        front: count(&all, Standing::Front),
        dominated: count(&all, Standing::Dominated),
        infeasible: count(&all, Standing::Infeasible),
        drawn: drawn(&all),
    })
}

fn count(points: &[Point], standing: Standing) -> usize {
    points.iter().filter(|p| p.standing == standing).count()
}

/// The points drawn: every front point, the others thinned along x.
fn drawn(all: &[Point]) -> Drawn {
    let (front, rest): (Vec<&Point>, Vec<&Point>) =
        all.iter().partition(|p| p.standing == Standing::Front);
    let xs: Vec<f64> = rest.iter().map(|p| p.x).collect();
    let kept = envelope(&xs, OFF_FRONT_POINTS, &[]);
    let mut out = Drawn::default();
    for p in front.into_iter().chain(kept.into_iter().map(|i| rest[i])) {
        out.number.push(p.number);
        out.x.push(p.x);
        out.y.push(p.y);
        out.standing.push(p.standing);
    }
    out
}
