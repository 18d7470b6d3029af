//! The watcher of the database and the events it feeds. Every half second it reads the
//! database's [`Signature`] (read-only); when it differs, the version goes up and a
//! `changed` event goes to every open page through a broadcast channel. A page that falls
//! behind (its receiver lagged) gets a `resync` event instead of the ones it missed, and
//! refetches everything; so does a page whose stream reconnects.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use hypersearch_coordinator::store::Location;
use hypersearch_coordinator::store::query::{Reader, Signature};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

/// How often the database is looked at.
pub const POLL: Duration = Duration::from_millis(500);
/// Events a page may fall behind before it is told to resync.
const BACKLOG: usize = 16;

/// What a `changed` event says.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The new version.
    pub version: u64,
    /// Trials of every study.
    pub trials: i64,
    /// Trials running.
    pub running: i64,
    /// Trials ended.
    pub ended: i64,
}

/// The watcher's outputs: the current version and the stream of changes.
pub struct Live {
    changes: broadcast::Sender<Change>,
    version: watch::Receiver<u64>,
    first: watch::Receiver<u64>,
    stopping: watch::Receiver<bool>,
}

impl Live {
    /// Starts watching `db` until `stopping` turns true.
    pub fn start(db: Location, stopping: watch::Receiver<bool>) -> Live {
        let (changes, _) = broadcast::channel(BACKLOG);
        let (set_version, version) = watch::channel(0);
        let first = version.clone();
        tokio::spawn(watch_database(
            db,
            changes.clone(),
            set_version,
            stopping.clone(),
        ));
        Live {
            changes,
            version,
            first,
            stopping,
        }
    }

    /// The database's version now (it goes up on every change seen).
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// A receiver of the version that has seen none of it yet (its first `changed` is the
    /// watcher's first reading); it ends when the watcher stops.
    pub fn versions(&self) -> watch::Receiver<u64> {
        self.first.clone()
    }

    /// The event stream of one page.
    pub fn events(&self) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        let hello = Event::default()
            .event("hello")
            .data(self.version().to_string());
        let state = (self.changes.subscribe(), self.stopping.clone(), Some(hello));
        let stream =
            futures_util::stream::unfold(state, |(mut changes, mut stopping, hello)| async move {
                if let Some(hello) = hello {
                    return Some((Ok(hello), (changes, stopping, None)));
                }
                let event = tokio::select! {
                    _ = stopping.wait_for(|stop| *stop) => return None,
                    change = changes.recv() => match change {
                        Ok(change) => Event::default()
                            .event("changed")
                            .json_data(&change)
                            .unwrap_or_else(|_| Event::default().event("resync").data("")),
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            Event::default().event("resync").data("")
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                };
                Some((Ok(event), (changes, stopping, None)))
            });
        Sse::new(stream).keep_alive(KeepAlive::default())
    }
}

/// Polls `db`'s signature, announcing each change.
async fn watch_database(
    db: Location,
    changes: broadcast::Sender<Change>,
    version: watch::Sender<u64>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut reader: Option<Reader> = None;
    let mut last: Option<Signature> = None;
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(POLL) => {}
            }
        }
        first = false;
        if reader.is_none() {
            reader = Reader::open(&db).await.ok();
        }
        let Some(open) = reader.as_mut() else {
            continue;
        };
        match open.signature().await {
            Ok(signature) if last.as_ref() != Some(&signature) => {
                // The first reading counts as a change too: a page served before it may
                // hold data older than it.
                let change = Change {
                    version: *version.borrow() + 1,
                    trials: signature.trials,
                    running: signature.running,
                    ended: signature.ended,
                };
                last = Some(signature);
                version.send_replace(change.version);
                // No page listening is fine.
                let _ = changes.send(change);
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the database's signature");
                // Open it again next time (a PostgreSQL connection may have dropped).
                reader = None;
            }
        }
    }
}
