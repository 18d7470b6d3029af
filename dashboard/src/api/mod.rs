//! The routes: pages (one HTML shell, the script draws the view the path names), assets,
//! and the JSON API every view fetches. Errors are `{"error": "..."}` with a status: 404
//! for an unknown study or trial, 401 without the token, 500 for an unreadable database.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hypersearch_coordinator::store::Location;
use hypersearch_coordinator::store::query::Reader;
use serde::Serialize;

use crate::auth::{Access, guard};
use crate::cache::Cache;
use crate::live::Live;
use crate::{Error, assets};

pub(crate) mod pareto;
pub(crate) mod payload;
pub(crate) mod whatif;

use payload::{CompareQuery, TableQuery};

/// What every request shares.
pub struct App {
    /// The trials database.
    pub db: Location,
    /// Who may look.
    pub access: Access,
    /// The watcher.
    pub live: Live,
    /// Loaded studies.
    pub cache: Cache,
}

impl App {
    /// The shared state over `db`.
    pub fn new(db: Location, access: Access, live: Live) -> App {
        App {
            db,
            access,
            live,
            cache: Cache::default(),
        }
    }
}

/// Every route, behind the token guard.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/compare", get(page))
        .route("/study/{study}", get(page))
        .route("/study/{study}/trials", get(page))
        .route("/study/{study}/trials/{number}", get(page))
        .route("/assets/{file}", get(assets::asset))
        .route("/api/events", get(events))
        .route("/api/studies", get(studies))
        .route("/api/studies/{study}", get(study))
        .route("/api/studies/{study}/trials", get(trials))
        .route("/api/studies/{study}/trials/{number}", get(trial))
        // Wired when `insight::importance` and `insight::replay` land: until then the
        // page's panels say they are not available yet.
        .route("/api/studies/{study}/importance", get(whatif::importance))
        .route("/api/studies/{study}/replay", get(whatif::replay))
        .route("/api/studies/{study}/pareto", get(pareto::pareto))
        .route("/api/compare", get(compare))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// A JSON error with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// What went wrong, as the page shows it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `message` with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        use hypersearch_coordinator::Error as Store;
        let status = match &err {
            Error::Store(
                Store::UnknownStudy { .. } | Store::UnknownTrial { .. } | Store::StudyNeeded { .. },
            ) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, err.to_string())
    }
}

impl From<hypersearch_coordinator::Error> for ApiError {
    fn from(err: hypersearch_coordinator::Error) -> ApiError {
        Error::Store(err).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (
            self.status,
            axum::Json(Body {
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// JSON text as a response.
fn json_text(text: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}

/// JSON of `value`, or a 500 saying why not.
fn json(value: &impl Serialize) -> Result<Response, ApiError> {
    serde_json::to_string(value)
        .map(json_text)
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

/// Every page: the shell whose script draws the view its path names.
async fn page() -> Html<&'static str> {
    Html(assets::INDEX)
}

/// The server-sent events.
async fn events(State(app): State<Arc<App>>) -> impl IntoResponse {
    app.live.events()
}

/// Every study with its counts, best value and pace.
async fn studies(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let mut reader = Reader::open(&app.db).await?;
    let mut listed = Vec::new();
    for summary in reader.studies().await? {
        let study = reader.study(Some(&summary.study)).await?;
        let pace = reader.pace(&study).await?;
        listed.push(payload::Listed {
            per_minute: pace.per_minute(),
            summary,
        });
    }
    json(&payload::Studies {
        version: app.live.version(),
        database: app.db.to_string(),
        studies: listed,
    })
}

/// A study's views: counts, history, curves, parameters, timeline.
async fn study(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let snapshot = app.cache.study(&app.db, &name, app.live.version()).await?;
    let text = snapshot.overview.get_or_init(|| {
        serde_json::to_string(&payload::overview(&snapshot, &app.db))
            .unwrap_or_else(|err| format!(r#"{{"error":"{err}"}}"#))
    });
    Ok(json_text(text.clone()))
}

/// A page of the study's trials, filtered and sorted.
async fn trials(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(query): Query<TableQuery>,
) -> Result<Response, ApiError> {
    let snapshot = app.cache.study(&app.db, &name, app.live.version()).await?;
    json(&payload::table(&snapshot, &query)?)
}

/// Everything about one trial, and the commands that re-run it.
async fn trial(
    State(app): State<Arc<App>>,
    Path((name, number)): Path<(String, u64)>,
) -> Result<Response, ApiError> {
    let mut reader = Reader::open(&app.db).await?;
    let study = reader.study(Some(&name)).await?;
    let detail = reader.trial(&study, number).await?;
    json(&payload::trial(detail, &app.db))
}

/// Two studies side by side.
async fn compare(
    State(app): State<Arc<App>>,
    Query(query): Query<CompareQuery>,
) -> Result<Response, ApiError> {
    let version = app.live.version();
    let a = app.cache.study(&app.db, &query.a, version).await?;
    let b = app.cache.study(&app.db, &query.b, version).await?;
    json(&payload::compare(&a, &b))
}
