//! The worker's id at the coordinator. It stays the same across a coordinator restart (the
//! coordinator reloads its workers from the database), but a coordinator that comes back
//! with no record of this worker (a database restored from before it joined, or replaced)
//! answers "unknown worker": the worker then joins again under a new id. Its leases were
//! granted under the old id, so they are dropped; their trials are the coordinator's to
//! retry.

use std::sync::{Arc, Mutex, PoisonError};

use hypersearch_proto::{StudyInfo, WorkerHello};

use crate::client::{CallError, Client};
use crate::held::{Held, StopCause};
use crate::{Call, Error};

/// The worker id a call was sent with, and which joining gave it (ids alone cannot tell:
/// a coordinator on a new database numbers its workers from 1 again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Joined {
    /// The id to send.
    pub id: u64,
    generation: u64,
}

/// The current worker id, shared by the slots and the heartbeat; cheap to clone.
#[derive(Clone)]
pub(crate) struct Identity {
    current: Arc<Mutex<Joined>>,
    /// Held while joining again, so that many slots noticing at once join once.
    rejoining: Arc<tokio::sync::Mutex<()>>,
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
            current: Arc::new(Mutex::new(Joined { id, generation: 0 })),
            rejoining: Arc::new(tokio::sync::Mutex::new(())),
            hello: Arc::new(hello),
            study: Arc::new(study),
            client,
            held,
        }
    }

    /// The id to send now.
    pub fn current(&self) -> Joined {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The coordinator had no record of the worker when a call was sent as `stale`: join
    /// again (unless another slot already did since), dropping every lease held.
    pub async fn rejoin(&self, stale: Joined) -> Result<(), Error> {
        let _joining = self.rejoining.lock().await;
        if self.current() != stale {
            return Ok(());
        }
        tracing::warn!(
            worker = stale.id,
            "the coordinator has no record of this worker; joining again"
        );
        self.held.stop_all(StopCause::LeaseLost);
        let welcome =
            self.client
                .register((*self.hello).clone())
                .await
                .map_err(|err| match err {
                    CallError::Fatal(err) => err,
                    CallError::LeaseLost(detail)
                    | CallError::Unregistered(detail)
                    | CallError::TrialRefused(detail) => Error::Rejected {
                        url: self.client.url().to_string(),
                        call: Call::Register,
                        detail,
                    },
                })?;
        if welcome.study != *self.study {
            return Err(Error::Rejected {
                url: self.client.url().to_string(),
                call: Call::Register,
                detail: format!(
                    "the coordinator came back serving another study (`{}`, was `{}`)",
                    welcome.study.name, self.study.name
                ),
            });
        }
        tracing::info!(worker = welcome.worker_id, "joined again");
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Joined {
            id: welcome.worker_id,
            generation: stale.generation + 1,
        };
        Ok(())
    }
}
