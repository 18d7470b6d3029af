//! The live web dashboard: a study's views in a browser, read-only over the trials database
//! (also while a coordinator writes it), pushed fresh by server-sent events. Every chart's
//! data comes from the `hypersearch-insight` aggregates, so its size is bounded by the view,
//! not by the study; the pages are plain HTML, CSS and JavaScript embedded in the binary,
//! with the vendored uPlot (MIT) for line charts and hand-written canvas code for the rest.
//!
//! Layout:
//! - [`auth`]: who may look: anyone on loopback, the study's token (then a cookie) beyond;
//! - [`api`]: the JSON routes;
//! - [`cache`]: a study's trials loaded read-only and kept until the database changes;
//! - [`live`]: the watcher of the database and the server-sent events it feeds;
//! - [`assets`]: the pages, scripts and styles.
//!
//! ```no_run
//! # async fn example() -> Result<(), hypersearch_dashboard::Error> {
//! use hypersearch_coordinator::store::Location;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(|source| {
//!     hypersearch_dashboard::Error::Listen { address: "127.0.0.1:8080".into(), source }
//! })?;
//! let access = hypersearch_dashboard::Access::for_address(listener.local_addr().ok(), None)?;
//! let db = Location::Sqlite("hypersearch.db".into());
//! hypersearch_dashboard::serve(listener, db, access, std::future::pending()).await
//! # }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod assets;
pub mod auth;
pub mod cache;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod live;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hypersearch_coordinator::store::Location;
use tokio::net::TcpListener;

pub use auth::{Access, Token};

/// What can go wrong serving the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be listened on (in use, not this machine's).
    #[error("cannot listen on {address} for the dashboard: {source}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// A listener beyond loopback without a token.
    #[error(
        "refusing to serve the dashboard on {address} without a token: pass --token-file FILE \
         (or listen on 127.0.0.1)"
    )]
    TokenNeeded {
        /// The address.
        address: SocketAddr,
    },
    /// Serving stopped on an I/O error.
    #[error("the dashboard stopped serving: {0}")]
    Serve(std::io::Error),
    /// Loading a study stopped before it ended (its thread panicked or was cancelled).
    #[error("loading study `{study}` stopped: {reason}")]
    Load {
        /// The study.
        study: String,
        /// Why.
        reason: String,
    },
    /// The trials database could not be read.
    #[error(transparent)]
    Store(#[from] hypersearch_coordinator::Error),
}

/// Loads studies before pages ask: all (a few) at the watcher's first reading, then those
/// pages asked for lately at each change.
async fn load_ahead(app: Arc<api::App>) {
    let mut versions = app.live.versions();
    let mut first = true;
    while versions.changed().await.is_ok() {
        let version = *versions.borrow_and_update();
        app.cache.warm(&app.db, version, first).await;
        first = false;
    }
}

/// Serves the dashboard on `listener` over the database `db` (opened read-only, never
/// written) until `shutdown` resolves.
///
/// # Errors
/// [`Error::Serve`] when accepting connections fails.
pub async fn serve(
    listener: TcpListener,
    db: Location,
    access: Access,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let live = live::Live::start(db.clone(), stopping);
    let app = Arc::new(api::App::new(db, access, live));
    tokio::spawn(load_ahead(app.clone()));
    let router = api::router(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Ends the event streams, which would otherwise hold the shutdown forever.
            let _ = stop.send(true);
        })
        .await
        .map_err(Error::Serve)
}
