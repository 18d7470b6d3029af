//! Who may speak for a worker, and who may join: each worker's credential (kept as a
//! digest), when it was last heard from, and the bounds on joining: a rate, a cap on the
//! workers heard from lately and one on their slots.
//!
//! Every call after `Register` names a worker id and carries that worker's credential; the
//! check runs before anything else looks at the call (rate limits included), so nobody can
//! spend another worker's allowance, lease in its name, or fetch data unregistered.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hypersearch_proto::auth::{constant_time_eq, credential_digest};
use tokio::time::Instant;

use crate::Error;
use crate::limits::Bucket;
use crate::store::StoredWorker;

/// The bounds on joining a coordinator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JoinLimits {
    /// Workers heard from lately (within three leases) at once, at most.
    pub max_workers: usize,
    /// Slots of those workers together, at most.
    pub max_slots: u64,
    /// Registrations a second, with a burst of ten seconds' worth.
    pub registrations_per_second: f64,
}

impl Default for JoinLimits {
    fn default() -> Self {
        JoinLimits {
            max_workers: 1_000,
            max_slots: 10_000,
            registrations_per_second: 10.0,
        }
    }
}

struct Known {
    /// SHA-256 (hex) of its credential; `None` for a worker stored by a version without
    /// credentials, which must join again.
    digest: Option<String>,
    slots: u32,
    last_seen: Instant,
}

struct Inner {
    workers: HashMap<u64, Known>,
    joins: Bucket,
    /// Registrations admitted whose worker is not recorded yet.
    pending_workers: usize,
    pending_slots: u64,
}

/// The workers a coordinator knows, and its door.
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    limits: JoinLimits,
    /// How long after its last call a worker still counts against the caps.
    recent: Duration,
}

/// A registration admitted under the caps; dropping it without [`Admission::joined`]
/// gives its place back.
pub(crate) struct Admission<'a> {
    registry: &'a Registry,
    slots: u32,
    done: bool,
}

impl Registry {
    /// The registry of a study whose workers so far are `stored`; they count against the
    /// caps only once heard from again.
    pub fn new(
        limits: JoinLimits,
        lease: Duration,
        stored: &[StoredWorker],
        now: Instant,
    ) -> Registry {
        let recent = lease * 3;
        let long_ago = now.checked_sub(recent).unwrap_or(now);
        let workers = stored
            .iter()
            .map(|w| {
                let known = Known {
                    digest: w.credential_sha256.clone(),
                    slots: w.slots,
                    last_seen: long_ago,
                };
                (w.id, known)
            })
            .collect();
        let burst = (limits.registrations_per_second * 10.0).max(1.0);
        Registry {
            inner: Mutex::new(Inner {
                workers,
                joins: Bucket::new(limits.registrations_per_second, burst, now),
                pending_workers: 0,
                pending_slots: 0,
            }),
            limits,
            recent,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a registration of a worker with `slots` slots, or says which bound it hits.
    pub fn admit(&self, slots: u32, now: Instant) -> Result<Admission<'_>, Error> {
        let mut inner = self.lock();
        if !inner.joins.take(1.0, now) {
            return Err(Error::JoinRefused(format!(
                "too many registrations: at most {} a second (serve --max-registrations)",
                self.limits.registrations_per_second
            )));
        }
        let (workers, worker_slots) = self.recent_in(&inner, now);
        let workers = workers + inner.pending_workers;
        let all_slots = worker_slots + inner.pending_slots + u64::from(slots);
        if workers >= self.limits.max_workers {
            return Err(Error::JoinRefused(format!(
                "this coordinator serves at most {} workers at once and has {workers} \
                 (serve --max-workers)",
                self.limits.max_workers
            )));
        }
        if all_slots > self.limits.max_slots {
            return Err(Error::JoinRefused(format!(
                "{slots} more slots would make {all_slots}; this coordinator serves at most {} \
                 (serve --max-slots)",
                self.limits.max_slots
            )));
        }
        inner.pending_workers += 1;
        inner.pending_slots += u64::from(slots);
        Ok(Admission {
            registry: self,
            slots,
            done: false,
        })
    }

    /// Workers heard from lately, and their slots.
    pub fn recent(&self, now: Instant) -> (usize, u64) {
        self.recent_in(&self.lock(), now)
    }

    fn recent_in(&self, inner: &Inner, now: Instant) -> (usize, u64) {
        inner
            .workers
            .values()
            .filter(|known| now.saturating_duration_since(known.last_seen) < self.recent)
            .fold((0, 0), |(n, s), k| (n + 1, s + u64::from(k.slots)))
    }

    /// Checks that `presented` is `worker`'s credential, and notes that it was heard from.
    /// An id the registry does not know (or a worker without a credential) is an unknown
    /// worker, which joins again; a wrong or missing credential is refused.
    pub fn check(&self, worker: u64, presented: Option<&str>, now: Instant) -> Result<(), Error> {
        let mut inner = self.lock();
        let Some(known) = inner.workers.get_mut(&worker) else {
            return Err(Error::UnknownWorker(worker));
        };
        let Some(digest) = &known.digest else {
            return Err(Error::UnknownWorker(worker));
        };
        let Some(presented) = presented else {
            return Err(Error::BadCredential {
                worker,
                problem: "the call carries no worker credential",
            });
        };
        let presented = credential_digest(presented).hex();
        if !constant_time_eq(presented.as_bytes(), digest.as_bytes()) {
            return Err(Error::BadCredential {
                worker,
                problem: "the worker credential is not this worker's",
            });
        }
        known.last_seen = now;
        Ok(())
    }
}

impl Admission<'_> {
    /// The admitted worker joined as `worker`, holding the credential whose digest is
    /// `digest`.
    pub fn joined(mut self, worker: u64, digest: String, now: Instant) {
        let mut inner = self.registry.lock();
        inner.pending_workers = inner.pending_workers.saturating_sub(1);
        inner.pending_slots = inner.pending_slots.saturating_sub(u64::from(self.slots));
        inner.workers.insert(
            worker,
            Known {
                digest: Some(digest),
                slots: self.slots,
                last_seen: now,
            },
        );
        self.done = true;
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut inner = self.registry.lock();
            inner.pending_workers = inner.pending_workers.saturating_sub(1);
            inner.pending_slots = inner.pending_slots.saturating_sub(u64::from(self.slots));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use hypersearch_proto::auth::new_credential;

    use super::*;

    fn registry(limits: JoinLimits, stored: &[StoredWorker], now: Instant) -> Registry {
        Registry::new(limits, Duration::from_secs(10), stored, now)
    }

    #[test]
    fn only_the_workers_own_credential_speaks_for_it() {
        let now = Instant::now();
        let registry = registry(JoinLimits::default(), &[], now);
        let (a, b) = (new_credential().unwrap(), new_credential().unwrap());
        registry
            .admit(2, now)
            .unwrap()
            .joined(1, credential_digest(&a).hex(), now);
        registry
            .admit(2, now)
            .unwrap()
            .joined(2, credential_digest(&b).hex(), now);
        assert!(registry.check(1, Some(&a), now).is_ok());
        assert!(matches!(
            registry.check(1, Some(&b), now),
            Err(Error::BadCredential { worker: 1, .. })
        ));
        assert!(matches!(
            registry.check(1, None, now),
            Err(Error::BadCredential { .. })
        ));
        assert!(matches!(
            registry.check(3, Some(&a), now),
            Err(Error::UnknownWorker(3))
        ));
    }

    #[test]
    fn stored_workers_keep_their_credentials_and_those_without_one_join_again() {
        let now = Instant::now();
        let credential = new_credential().unwrap();
        let stored = [
            StoredWorker {
                id: 4,
                slots: 1,
                credential_sha256: Some(credential_digest(&credential).hex()),
                quarantined: None,
            },
            StoredWorker {
                id: 5,
                slots: 1,
                credential_sha256: None,
                quarantined: None,
            },
        ];
        let registry = registry(JoinLimits::default(), &stored, now);
        assert!(registry.check(4, Some(&credential), now).is_ok());
        assert!(matches!(
            registry.check(5, Some(&credential), now),
            Err(Error::UnknownWorker(5))
        ));
    }

    #[test]
    fn joining_is_bounded_in_rate_workers_and_slots_and_quiet_workers_free_their_place() {
        let now = Instant::now();
        let limits = JoinLimits {
            max_workers: 3,
            max_slots: 8,
            registrations_per_second: 1.0,
        };
        let registry = registry(limits, &[], now);
        for id in 1..=3 {
            registry.admit(2, now).unwrap().joined(id, "d".into(), now);
        }
        let refused = registry.admit(1, now).err().unwrap().to_string();
        assert!(refused.contains("at most 3 workers"), "{refused}");
        // 30 s (three leases) without a call: worker places are free again, the slot cap
        // still applies.
        let later = now + Duration::from_secs(31);
        let admitted = registry.admit(8, later).unwrap();
        let refused = registry.admit(1, later).err().unwrap().to_string();
        assert!(refused.contains("at most 8"), "{refused}");
        drop(admitted);
        assert!(
            registry.admit(8, later).is_ok(),
            "a dropped admission frees its slots"
        );
        // The burst is ten seconds' worth: ten registrations at once, then one a second.
        let registry = registry_with_rate(now);
        let through = (0..20).filter(|_| registry.admit(1, now).is_ok()).count();
        assert_eq!(through, 10);
        let refused = registry.admit(1, now).err().unwrap().to_string();
        assert!(refused.contains("too many registrations"), "{refused}");
    }

    fn registry_with_rate(now: Instant) -> Registry {
        let limits = JoinLimits {
            registrations_per_second: 1.0,
            ..JoinLimits::default()
        };
        registry(limits, &[], now)
    }
}
