//! The watcher of the database and the events it feeds. Every half second it reads the
//! database's [`Signature`] (read-only); when it differs, the version goes up and a
//! `changed` event goes to every open page through a broadcast channel. A page that falls
//! behind (its receiver lagged) gets a `resync` event instead of the ones it missed, and
//! refetches everything; so does a page whose stream reconnects.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use hypersearch_coordinator::store::Location;
use hypersearch_coordinator::store::query::{Reader, Signature};
use tokio::sync::{broadcast, watch};

/// How often the database is looked at.
pub const POLL: Duration = Duration::from_millis(500);
/// Events a page may fall behind before it is told to resync.
const BACKLOG: usize = 16;

/// A change the watcher saw.
#[derive(Debug, Clone)]
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
        let pushed = pushed(
            self.version(),
            self.changes.subscribe(),
            self.stopping.clone(),
        );
        Sse::new(pushed.map(|push| Ok(push.event()))).keep_alive(KeepAlive::default())
    }
}

/// What a page is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    /// At once: the version now.
    Hello(u64),
    /// The database changed.
    Changed(u64),
    /// Events were missed: load everything again.
    Resync,
}

impl Push {
    fn event(&self) -> Event {
        match self {
            Push::Hello(version) => Event::default().event("hello").data(version.to_string()),
            Push::Changed(version) => Event::default().event("changed").data(version.to_string()),
            Push::Resync => Event::default().event("resync").data(""),
        }
    }
}

/// A page's pushes: hello, then each change, a resync in place of those it fell behind on;
/// it ends when the dashboard stops.
pub fn pushed(
    version: u64,
    changes: broadcast::Receiver<Change>,
    stopping: watch::Receiver<bool>,
) -> impl Stream<Item = Push> {
    let state = (changes, stopping, Some(Push::Hello(version)));
    futures_util::stream::unfold(state, |(mut changes, mut stopping, hello)| async move {
        if let Some(hello) = hello {
            return Some((hello, (changes, stopping, None)));
        }
        let push = tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => return None,
            change = changes.recv() => match change {
                Ok(change) => Push::Changed(change.version),
                Err(broadcast::error::RecvError::Lagged(_)) => Push::Resync,
                Err(broadcast::error::RecvError::Closed) => return None,
            },
        };
        Some((push, (changes, stopping, None)))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(version: u64) -> Change {
        Change {
            version,
            trials: 0,
            running: 0,
            ended: 0,
        }
    }

    #[tokio::test]
    async fn a_page_that_falls_behind_is_told_to_resync_and_then_follows_again() {
        let (changes, receiver) = broadcast::channel(BACKLOG);
        let (stop, stopping) = watch::channel(false);
        let mut page = Box::pin(pushed(7, receiver, stopping));
        assert_eq!(page.next().await, Some(Push::Hello(7)));
        changes.send(change(8)).unwrap();
        assert_eq!(page.next().await, Some(Push::Changed(8)));
        for version in 9..9 + BACKLOG as u64 + 5 {
            changes.send(change(version)).unwrap();
        }
        assert_eq!(page.next().await, Some(Push::Resync));
        // After the resync it hears the changes still held, then new ones.
        let mut last = None;
        while let Ok(Some(Push::Changed(version))) =
            tokio::time::timeout(Duration::from_millis(50), page.next()).await
        {
            last = Some(version);
        }
        assert_eq!(last, Some(8 + BACKLOG as u64 + 5));
        changes.send(change(100)).unwrap();
        assert_eq!(page.next().await, Some(Push::Changed(100)));
        stop.send(true).unwrap();
        assert_eq!(page.next().await, None);
    }
}
