//! The pages, scripts and styles, embedded in the binary (no node, no build step): `app.js`
//! routes and refreshes, `views.js` and `trials.js` draw each view from the API, `charts.js` holds the hand-written canvas charts (parallel
//! coordinates with brushing, slices, the worker timeline, bars), uPlot 1.6.32 (MIT, its
//! licence beside it in `assets/vendor/`) the line charts.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The shell of every page.
pub const INDEX: &str = include_str!("../assets/index.html");
/// The login page; `{problem}` is replaced by what was wrong.
pub const LOGIN: &str = include_str!("../assets/login.html");

/// The files under `/assets/`: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "views.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/views.js"),
    ),
    (
        "trials.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/trials.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/charts.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/style.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.min.css"),
    ),
    (
        "uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.LICENSE"),
    ),
];

/// `/assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, bytes)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
