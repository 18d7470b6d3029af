//! The JSON the views fetch, built from the insight aggregates: columnar where a view draws
//! many points, bounded in size whatever the study's (at 100,000 trials the study page's
//! payload is a few hundred kilobytes).

use axum::http::StatusCode;
use hypersearch_coordinator::store::Location;
use hypersearch_coordinator::store::query::{StudySummary, TrialDetail};
use hypersearch_insight::pareto::{self, Objective};
use hypersearch_insight::timeline::{AttemptEnd, Timeline};
use hypersearch_insight::{Outcome, TrialRow, curves, history, params, timeline};
use hypersearch_search::Objectives;
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::cache::Snapshot;

/// Trials a table page shows at most.
pub const PAGE_LIMIT: usize = 500;

/// A study in the list.
#[derive(Serialize)]
pub struct Listed {
    /// Counts, best value.
    #[serde(flatten)]
    pub summary: StudySummary,
    /// Trials ended per minute.
    pub per_minute: Option<f64>,
}

/// The studies page.
#[derive(Serialize)]
pub struct Studies {
    /// The database's version.
    pub version: u64,
    /// The database.
    pub database: String,
    /// Every study.
    pub studies: Vec<Listed>,
}

/// The study page.
#[derive(Serialize)]
pub struct Overview<'a> {
    version: u64,
    database: String,
    summary: &'a StudySummary,
    per_minute: Option<f64>,
    trials: usize,
    history: history::History,
    curves: curves::Curves,
    params: params::ParamTable,
    timeline: Lanes,
    /// The objectives of a study with several (its Pareto front gets a panel); empty with one.
    objectives: Vec<Objective>,
    config: &'a str,
}

/// The objectives of `objectives` when there are several, else none.
pub fn several_objectives(objectives: Option<&Objectives>) -> Vec<Objective> {
    objectives
        .filter(|o| o.is_multi())
        .map(pareto::axes)
        .unwrap_or_default()
}

/// The study page of `snapshot`.
pub fn overview<'a>(snapshot: &'a Snapshot, db: &Location) -> Overview<'a> {
    let trials = &snapshot.trials;
    Overview {
        version: snapshot.version,
        database: db.to_string(),
        summary: &snapshot.summary,
        per_minute: snapshot.pace.per_minute(),
        trials: trials.rows.len(),
        history: history::history(trials),
        curves: curves::curves(trials),
        params: params::param_table(trials, snapshot.space.as_ref()),
        timeline: lanes(&timeline::timeline(&snapshot.spans, snapshot.loaded_at)),
        objectives: several_objectives(snapshot.objectives.as_ref()),
        config: &snapshot.config,
    }
}

/// The worker timeline, one column per field.
#[derive(Serialize)]
pub struct Lanes {
    origin: f64,
    span: f64,
    attempts: usize,
    lanes: Vec<Lane>,
}

/// One worker's tracks.
#[derive(Serialize)]
struct Lane {
    worker: String,
    busy: f64,
    tracks: Vec<Track>,
}

/// One slot's bars, as columns.
#[derive(Serialize, Default)]
struct Track {
    number: Vec<u64>,
    attempt: Vec<u32>,
    start: Vec<f64>,
    end: Vec<f64>,
    state: Vec<AttemptEnd>,
    merged: Vec<usize>,
}

/// Seconds to the millisecond (shorter JSON).
fn ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

fn lanes(timeline: &Timeline) -> Lanes {
    Lanes {
        origin: timeline.origin,
        span: ms(timeline.span),
        attempts: timeline.attempts,
        lanes: timeline
            .lanes
            .iter()
            .map(|lane| Lane {
                worker: lane.worker.clone(),
                busy: ms(lane.busy),
                tracks: lane
                    .tracks
                    .iter()
                    .map(|bars| {
                        let mut track = Track::default();
                        for bar in bars {
                            track.number.push(bar.number);
                            track.attempt.push(bar.attempt);
                            track.start.push(ms(bar.start));
                            track.end.push(ms(bar.end));
                            track.state.push(bar.end_state);
                            track.merged.push(bar.attempts);
                        }
                        track
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// What the trial table asks for.
#[derive(Debug, Default, Deserialize)]
pub struct TableQuery {
    /// Only trials in this state.
    state: Option<String>,
    /// `number`, `value`, `attempts`, `started`, `finished` or `duration`.
    sort: Option<String>,
    /// `asc` or `desc`.
    order: Option<String>,
    /// The first row shown.
    offset: Option<usize>,
    /// Rows shown.
    limit: Option<usize>,
    /// Show the page holding this trial.
    jump: Option<u64>,
    /// Values at least this.
    min: Option<f64>,
    /// Values at most this.
    max: Option<f64>,
    /// Words each of which the row's `name=value` parameters must contain.
    q: Option<String>,
}

/// One row of the table.
#[derive(Serialize)]
struct Row<'a> {
    number: u64,
    state: Outcome,
    value: Option<f64>,
    worker: Option<&'a str>,
    attempts: u32,
    started: Option<f64>,
    finished: Option<f64>,
    params: String,
}

/// A page of the table.
#[derive(Serialize)]
pub struct Table<'a> {
    version: u64,
    total: usize,
    matching: usize,
    offset: usize,
    limit: usize,
    /// The trial jumped to is on this page (false: it is not among the matching trials).
    found: Option<bool>,
    rows: Vec<Row<'a>>,
}

/// A row's parameters as `name=value` words.
fn params_text(row: &TrialRow) -> String {
    row.params
        .iter()
        .map(|(name, value)| format!("{name}={}", params::label(value)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The page of `snapshot`'s trials `query` asks for.
pub fn table<'a>(snapshot: &'a Snapshot, query: &TableQuery) -> Result<Table<'a>, ApiError> {
    let bad = |what: String| ApiError::new(StatusCode::BAD_REQUEST, what);
    let state = match query.state.as_deref().filter(|state| !state.is_empty()) {
        None => None,
        Some(name) => {
            Some(Outcome::from_name(name).ok_or_else(|| bad(format!("no trial state `{name}`")))?)
        }
    };
    let words: Vec<String> = query
        .q
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let mut rows: Vec<(&TrialRow, String)> = snapshot
        .trials
        .rows
        .iter()
        .filter(|row| state.is_none_or(|state| row.outcome == state))
        .filter(|row| {
            query
                .min
                .is_none_or(|min| row.value.is_some_and(|v| v >= min))
        })
        .filter(|row| {
            query
                .max
                .is_none_or(|max| row.value.is_some_and(|v| v <= max))
        })
        .map(|row| (row, params_text(row)))
        .filter(|(_, text)| {
            let text = text.to_lowercase();
            words.iter().all(|word| text.contains(word.as_str()))
        })
        .collect();
    let key = |row: &TrialRow| -> Option<f64> {
        match query.sort.as_deref().unwrap_or("number") {
            "value" => row.value,
            "attempts" => Some(f64::from(row.attempts)),
            "started" => row.started,
            "finished" => row.finished,
            "duration" => row
                .finished
                .zip(row.started)
                .map(|(end, start)| end - start),
            _ => Some(row.number as f64),
        }
    };
    let descending = query.order.as_deref() == Some("desc");
    rows.sort_by(|(a, _), (b, _)| match (key(a), key(b)) {
        (Some(x), Some(y)) => {
            let order = x.total_cmp(&y);
            let order = if descending { order.reverse() } else { order };
            order.then(a.number.cmp(&b.number))
        }
        // Trials without the key last, either way.
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.number.cmp(&b.number),
    });
    let limit = query.limit.unwrap_or(50).clamp(1, PAGE_LIMIT);
    let (offset, found) = match query.jump {
        Some(number) => match rows.iter().position(|(row, _)| row.number == number) {
            Some(at) => (at / limit * limit, Some(true)),
            None => (query.offset.unwrap_or(0), Some(false)),
        },
        None => (query.offset.unwrap_or(0), None),
    };
    let matching = rows.len();
    let offset = offset.min(matching.saturating_sub(1) / limit * limit);
    Ok(Table {
        version: snapshot.version,
        total: snapshot.trials.rows.len(),
        matching,
        offset,
        limit,
        found,
        rows: rows
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(row, params)| Row {
                number: row.number,
                state: row.outcome,
                value: row.value,
                worker: row.worker.as_deref(),
                attempts: row.attempts,
                started: row.started,
                finished: row.finished,
                params,
            })
            .collect(),
    })
}

/// The trial page.
#[derive(Serialize)]
pub struct Trial {
    #[serde(flatten)]
    detail: TrialDetail,
    /// The study config text (the base `hypersearch train` re-runs).
    config: String,
    /// Commands that re-run the trial.
    rerun: Vec<String>,
}

/// The trial page of `detail`.
pub fn trial(detail: TrialDetail, db: &Location) -> Trial {
    let quoted = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let db_text = db.to_string();
    let rerun = vec![
        format!(
            "hypersearch train --trial {} --db {} --study {}",
            detail.summary.trial,
            quoted(&db_text),
            quoted(&detail.study)
        ),
        format!(
            "hypersearch train STUDY.toml --params {}",
            quoted(&detail.summary.params.to_string())
        ),
    ];
    Trial {
        config: detail.study_config.clone(),
        detail,
        rerun,
    }
}

/// Which two studies to compare.
#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    /// The first.
    pub a: String,
    /// The second.
    pub b: String,
}

/// One side of a comparison.
#[derive(Serialize)]
pub struct Side<'a> {
    summary: &'a StudySummary,
    per_minute: Option<f64>,
    history: history::History,
}

/// Two studies side by side.
#[derive(Serialize)]
pub struct Compared<'a> {
    a: Side<'a>,
    b: Side<'a>,
}

/// `a` and `b` side by side.
pub fn compare<'a>(a: &'a Snapshot, b: &'a Snapshot) -> Compared<'a> {
    let side = |snapshot: &'a Snapshot| Side {
        summary: &snapshot.summary,
        per_minute: snapshot.pace.per_minute(),
        history: history::history(&snapshot.trials),
    };
    Compared {
        a: side(a),
        b: side(b),
    }
}
