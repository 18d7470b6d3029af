//! The writes of each attempt still waiting for their commit, so that an identical retry of
//! a report or completion is acknowledged only once the original write is committed
//! (acknowledge after commit, never before: docs/ARCHITECTURE.md), even when the original
//! call was cancelled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hypersearch_proto::LeaseId;
use tokio::sync::{oneshot, watch};

use crate::Error;
use crate::store::Ack;

/// How a write ended, as a retry sees it: `None` while it is queued.
type Commit = watch::Receiver<Option<Result<(), String>>>;

/// Per attempt, the commit of its last write while it is pending.
#[derive(Default, Clone)]
pub(super) struct PendingCommits {
    pending: Arc<Mutex<HashMap<LeaseId, Commit>>>,
}

/// The answer to the write's own caller.
pub(super) struct Committed(oneshot::Receiver<Result<i64, Error>>);

impl Committed {
    /// Waits for the commit: the writer's answer.
    pub async fn wait(self) -> Result<i64, Error> {
        self.0.await.unwrap_or(Err(Error::ShuttingDown))
    }
}

/// A retry's wait for the original write, if that is still pending.
pub(super) struct Original(Option<Commit>);

impl Original {
    /// Waits until the original write is committed; its error if it failed.
    pub async fn wait(self) -> Result<(), Error> {
        let Some(mut commit) = self.0 else {
            return Ok(());
        };
        let ended = commit
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::ShuttingDown)?
            .clone();
        match ended {
            Some(Err(message)) => Err(Error::Database {
                context: "record the original of a retried message",
                message,
            }),
            _ => Ok(()),
        }
    }
}

impl PendingCommits {
    /// Tracks `ack`, the last write of `lease`'s attempt, until it is committed; waits for it
    /// in the background so that a retry learns of the commit even if this caller goes away.
    pub fn track(&self, lease: LeaseId, ack: Ack) -> Committed {
        let (ended, commit) = watch::channel(None);
        let (reply, answer) = oneshot::channel();
        self.lock().insert(lease, commit.clone());
        let pending = self.clone();
        tokio::spawn(async move {
            let result = ack.wait().await;
            let committed = result.is_ok();
            ended.send_replace(Some(
                result.as_ref().map(|_| ()).map_err(ToString::to_string),
            ));
            if committed {
                let mut map = pending.lock();
                if map
                    .get(&lease)
                    .is_some_and(|last| last.same_channel(&commit))
                {
                    map.remove(&lease);
                }
            }
            let _ = reply.send(result);
        });
        Committed(answer)
    }

    /// What a retry of a message about `lease` waits for: the attempt's last write, if it
    /// is not committed yet. (Failed writes stay, so that their retries fail too.)
    pub fn original(&self, lease: LeaseId) -> Original {
        Original(self.lock().get(&lease).cloned())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<LeaseId, Commit>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
