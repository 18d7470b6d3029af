//! The leases a worker holds, each with the switch that stops its trial.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hypersearch_proto::LeaseId;
use tokio::sync::Notify;

/// Why a trial was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// An early-stopping rule stopped it: report it as pruned.
    Pruned,
    /// The lease is gone (expired, or the trial was retried elsewhere): drop it silently.
    LeaseLost,
    /// The worker is shutting down: hand it back for a retry.
    ShuttingDown,
    /// The coordinator refused one of its reports as invalid: fail it as a user error.
    Refused,
}

/// Tells a running trial to stop; checked between epochs (training) or awaited (a command).
#[derive(Debug, Default)]
pub(crate) struct Cancel {
    cause: AtomicU8,
    notify: Notify,
}

impl Cancel {
    /// Asks the trial to stop. The first cause given wins.
    pub fn stop(&self, cause: StopCause) {
        let code = match cause {
            StopCause::Pruned => 1,
            StopCause::LeaseLost => 2,
            StopCause::ShuttingDown => 3,
            StopCause::Refused => 4,
        };
        if self
            .cause
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.notify.notify_waiters();
        }
    }

    /// Why the trial was told to stop, if it was.
    pub fn cause(&self) -> Option<StopCause> {
        match self.cause.load(Ordering::Acquire) {
            1 => Some(StopCause::Pruned),
            2 => Some(StopCause::LeaseLost),
            3 => Some(StopCause::ShuttingDown),
            4 => Some(StopCause::Refused),
            _ => None,
        }
    }

    /// Resolves once the trial is told to stop.
    pub async fn stopped(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.cause().is_some() {
                return;
            }
            notified.await;
        }
    }
}

/// Every lease the worker holds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Held {
    leases: Arc<Mutex<HashMap<LeaseId, Arc<Cancel>>>>,
}

impl Held {
    /// Starts holding `lease`; returns its stop switch.
    pub fn insert(&self, lease: LeaseId) -> Arc<Cancel> {
        let cancel = Arc::new(Cancel::default());
        self.lock().insert(lease, cancel.clone());
        cancel
    }

    /// Starts holding `lease` until the returned guard is dropped, whether the slot ends
    /// normally, returns an error or panics: a lease nobody runs is never renewed.
    pub fn hold(&self, lease: LeaseId) -> Holding {
        Holding {
            cancel: self.insert(lease),
            held: self.clone(),
            lease,
        }
    }

    /// Stops holding `lease`.
    pub fn remove(&self, lease: LeaseId) {
        self.lock().remove(&lease);
    }

    /// The leases held now.
    pub fn leases(&self) -> Vec<LeaseId> {
        self.lock().keys().copied().collect()
    }

    /// Stops the trial of `lease`, if held; returns whether it was.
    pub fn stop(&self, lease: LeaseId, cause: StopCause) -> bool {
        match self.lock().get(&lease) {
            Some(cancel) => {
                cancel.stop(cause);
                true
            }
            None => false,
        }
    }

    /// Stops every trial.
    pub fn stop_all(&self, cause: StopCause) {
        for cancel in self.lock().values() {
            cancel.stop(cause);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LeaseId, Arc<Cancel>>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One held lease; dropping it stops holding the lease.
pub(crate) struct Holding {
    /// The trial's stop switch.
    pub cancel: Arc<Cancel>,
    held: Held,
    lease: LeaseId,
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.held.remove(self.lease);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_cause_wins_and_wakes_waiters() {
        let held = Held::default();
        let lease = LeaseId {
            trial: 1,
            attempt: 1,
            token: 9,
        };
        let cancel = held.insert(lease);
        let waiter = tokio::spawn({
            let cancel = cancel.clone();
            async move { cancel.stopped().await }
        });
        assert!(held.stop(lease, StopCause::Pruned));
        assert!(held.stop(lease, StopCause::LeaseLost));
        waiter.await.unwrap();
        assert_eq!(cancel.cause(), Some(StopCause::Pruned));
        assert_eq!(held.leases(), vec![lease]);
        held.remove(lease);
        assert!(held.leases().is_empty());
        assert!(!held.stop(lease, StopCause::LeaseLost), "no longer held");
    }

    #[test]
    fn a_lease_is_let_go_when_the_slot_holding_it_panics() {
        let held = Held::default();
        let lease = LeaseId {
            trial: 3,
            attempt: 1,
            token: 7,
        };
        let in_the_slot = held.clone();
        let panicked = std::panic::catch_unwind(move || {
            let _holding = in_the_slot.hold(lease);
            assert_eq!(in_the_slot.leases(), vec![lease]);
            panic!("a bug in the slot");
        });
        assert!(panicked.is_err());
        assert!(
            held.leases().is_empty(),
            "a panicked slot's lease is not renewed"
        );
    }
}
