//! The worker's id at the coordinator. It stays the same across a coordinator restart (the
//! coordinator reloads its workers from the database), but a coordinator that comes back
//! with no record of this worker (a database restored from before it joined, or replaced)
//! answers "unknown worker": the worker then joins again under a new id. Its leases were
//! granted under the old id, so they are dropped; their trials are the coordinator's to
//! retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hypersearch_proto::{StudyInfo, WorkerHello};
use tokio::sync::Mutex;

use crate::Error;
use crate::client::{CallError, Client};
use crate::held::{Held, StopCause};

/// The current worker id, shared by the slots and the heartbeat; cheap to clone.
#[derive(Clone)]
pub(crate) struct Identity {
    id: Arc<AtomicU64>,
    /// Held while joining again, so that many slots noticing at once join once.
    rejoining: Arc<Mutex<()>>,
    hello: Arc<WorkerHello>,
    /// The study as the coordinator described it when the worker first joined.
    study: Arc<StudyInfo>,
    client: Client,
    held: Held,
}

impl Identity {
    /// The identity of a worker that joined as `id`, with `hello`, to `study`.
    pub fn new(id: u64, hello: WorkerHello, study: StudyInfo, client: Client, held: Held) -> Self {
        Identity {
            id: Arc::new(AtomicU64::new(id)),
            rejoining: Arc::new(Mutex::new(())),
            hello: Arc::new(hello),
            study: Arc::new(study),
            client,
            held,
        }
    }

    /// The id to send now.
    pub fn id(&self) -> u64 {
        self.id.load(Ordering::Acquire)
    }

    /// The coordinator has no record of worker `stale`: join again (unless another slot
    /// already did), dropping every lease held. Returns the id to use from now on.
    pub async fn rejoin(&self, stale: u64) -> Result<u64, Error> {
        let _joining = self.rejoining.lock().await;
        let current = self.id();
        if current != stale {
            return Ok(current);
        }
        tracing::warn!(
            worker = stale,
            "the coordinator has no record of this worker; joining again"
        );
        self.held.stop_all(StopCause::LeaseLost);
        let welcome =
            self.client
                .register((*self.hello).clone())
                .await
                .map_err(|err| match err {
                    CallError::Fatal(err) => err,
                    CallError::LeaseLost(detail) | CallError::Unregistered(detail) => {
                        Error::Rejected {
                            url: self.client.url().to_string(),
                            call: "register",
                            detail,
                        }
                    }
                })?;
        if welcome.study != *self.study {
            return Err(Error::Rejected {
                url: self.client.url().to_string(),
                call: "register",
                detail: format!(
                    "the coordinator came back serving another study (`{}`, was `{}`)",
                    welcome.study.name, self.study.name
                ),
            });
        }
        tracing::info!(worker = welcome.worker_id, "joined again");
        self.id.store(welcome.worker_id, Ordering::Release);
        Ok(welcome.worker_id)
    }
}
