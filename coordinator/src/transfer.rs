//! Sending data files fairly: a few transfers at once, at most two per worker, and each
//! must keep moving. A transfer whose client stops reading (a full HTTP/2 window) is
//! cancelled once a chunk has waited [`TransferLimits::progress_timeout`] to be taken, and
//! its place goes to the next worker: a stalled client can delay others by that long, not
//! for as long as it likes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hypersearch_proto::data_transfer::DataChunk;
use hypersearch_proto::pb;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::Error;

/// Chunks of one transfer read ahead of the network.
const CHUNKS_IN_FLIGHT: usize = 2;

/// The bounds on data transfers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransferLimits {
    /// Transfers served at once (each holds a few chunks in memory).
    pub concurrent: usize,
    /// Transfers one worker may have at once.
    pub per_worker: usize,
    /// How long a chunk may wait for the client to take it before the transfer is
    /// cancelled: the slowest client served moves 1 MiB in this long.
    pub progress_timeout: Duration,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            concurrent: 8,
            per_worker: 2,
            progress_timeout: Duration::from_secs(20),
        }
    }
}

/// The transfers in progress.
pub(crate) struct Transfers {
    limits: TransferLimits,
    slots: Arc<Semaphore>,
    by_worker: Mutex<HashMap<u64, usize>>,
}

/// One transfer's place: its slot and its count against its worker, given back on drop.
pub(crate) struct Turn {
    _slot: OwnedSemaphorePermit,
    _counted: Counted,
}

/// A transfer counted against its worker, until dropped.
struct Counted {
    worker: u64,
    transfers: Arc<Transfers>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut by_worker = self
            .transfers
            .by_worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = by_worker.get_mut(&self.worker) {
            *count -= 1;
            if *count == 0 {
                by_worker.remove(&self.worker);
            }
        }
    }
}

impl Transfers {
    /// No transfer in progress yet.
    pub fn new(limits: TransferLimits) -> Arc<Transfers> {
        Arc::new(Transfers {
            limits,
            slots: Arc::new(Semaphore::new(limits.concurrent.max(1))),
            by_worker: Mutex::new(HashMap::new()),
        })
    }

    /// A place for a transfer to `worker`: refused at once if the worker has its share
    /// already, else waits up to twice the progress timeout (stalled transfers are
    /// cancelled within one) for a free slot.
    pub async fn begin(self: &Arc<Self>, worker: u64) -> Result<Turn, Error> {
        {
            let mut by_worker = self
                .by_worker
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = by_worker.entry(worker).or_insert(0);
            if *count >= self.limits.per_worker {
                return Err(Error::TransfersBusy(format!(
                    "worker {worker} has {} transfers in progress already, the most one worker \
                     may have",
                    self.limits.per_worker
                )));
            }
            *count += 1;
        }
        // From here the count is given back when `counted` drops, also on failure.
        let counted = Counted {
            worker,
            transfers: self.clone(),
        };
        let wait = self.limits.progress_timeout * 2;
        let slot = tokio::time::timeout(wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                Error::TransfersBusy(format!(
                    "all {} transfer slots stayed busy for {:.0} s",
                    self.limits.concurrent,
                    wait.as_secs_f64()
                ))
            })?
            .map_err(|_| Error::ShuttingDown)?;
        Ok(Turn {
            _slot: slot,
            _counted: counted,
        })
    }

    /// Streams `chunks` (blocking reads, done off the async runtime), holding `turn` (and
    /// whatever else must live as long as the transfer) until it ends; cancels the
    /// transfer when a chunk waits longer than the progress timeout.
    pub fn send<T: Send + 'static>(
        &self,
        turn: T,
        chunks: impl Iterator<Item = Result<DataChunk, Error>> + Send + 'static,
        what: String,
    ) -> ReceiverStream<Result<pb::DataChunk, Status>> {
        let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let stall = self.limits.progress_timeout;
        tokio::spawn(async move {
            let _turn = turn;
            let mut chunks = Some(chunks);
            while let Some(mut rest) = chunks.take() {
                let read = tokio::task::spawn_blocking(move || {
                    let next = rest.next();
                    (rest, next)
                })
                .await;
                let Ok((rest, Some(chunk))) = read else {
                    return;
                };
                chunks = Some(rest);
                let chunk = chunk.map(Into::into).map_err(Status::from);
                match tokio::time::timeout(stall, sender.send(chunk)).await {
                    Ok(Ok(())) => {}
                    // The worker went away.
                    Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::warn!(
                            transfer = %what,
                            "the client took nothing for {:.0} s: transfer cancelled",
                            stall.as_secs_f64()
                        );
                        return;
                    }
                }
            }
        });
        ReceiverStream::new(receiver)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits(concurrent: usize, per_worker: usize, ms: u64) -> TransferLimits {
        TransferLimits {
            concurrent,
            per_worker,
            progress_timeout: Duration::from_millis(ms),
        }
    }

    #[tokio::test]
    async fn a_worker_gets_its_share_and_a_slot_comes_back_when_a_turn_ends() {
        let transfers = Transfers::new(limits(2, 1, 100));
        let first = transfers.begin(1).await.unwrap();
        let refused = transfers.begin(1).await.err().unwrap().to_string();
        assert!(refused.contains("worker 1 has 1 transfers"), "{refused}");
        let second = transfers.begin(2).await.unwrap();
        // Both slots taken: a third worker waits twice the progress timeout, then hears why.
        let refused = transfers.begin(3).await.err().unwrap().to_string();
        assert!(refused.contains("stayed busy"), "{refused}");
        drop(first);
        let third = transfers.begin(3).await.unwrap();
        assert!(transfers.begin(1).await.is_err(), "no slot free");
        drop((second, third));
        assert!(
            transfers.begin(1).await.is_ok(),
            "worker 1's count was given back"
        );
    }

    #[tokio::test]
    async fn a_client_that_takes_nothing_loses_its_transfer_and_its_slot() {
        let transfers = Transfers::new(limits(1, 1, 100));
        let turn = transfers.begin(1).await.unwrap();
        let chunks = (0..10u64).map(|i| Ok(DataChunk::new(i * 4, vec![1; 4])));
        // Nobody reads the stream: the channel fills, the next chunk waits, the transfer
        // is cancelled and the slot is free again.
        let stream = transfers.send(turn, chunks, "test".into());
        let started = tokio::time::Instant::now();
        let next = transfers.begin(2).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(190));
        drop((next, stream));
    }
}
