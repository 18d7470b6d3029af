//! Per-worker bounds on what a worker may ask of the coordinator: a token bucket on epoch
//! reports, sized by the worker's declared slots. (Leases are bounded by those slots in the
//! scheduler; message sizes by the gRPC server's limits.)

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

/// A token bucket: `rate` tokens a second, holding at most `capacity`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    rate: f64,
    refilled: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Bucket {
        // One second's worth of burst.
        Bucket {
            tokens: rate,
            capacity: rate,
            rate,
            refilled: now,
        }
    }

    /// Takes one token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The report rate limits of every worker.
pub(crate) struct ReportLimiter {
    /// Reports a second allowed per declared slot.
    per_slot: f64,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

impl ReportLimiter {
    /// Allows each worker `per_slot` reports a second per slot it declared, with a burst of
    /// one second's worth.
    pub fn new(per_slot: f64) -> ReportLimiter {
        ReportLimiter {
            per_slot,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `worker`, which declared `slots` slots, may send a report now. Workers the
    /// scheduler does not know are not tracked here (the scheduler refuses them).
    pub fn allow(&self, worker: u64, slots: u32, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let rate = self.per_slot * f64::from(slots.max(1));
        buckets
            .entry(worker)
            .or_insert_with(|| Bucket::new(rate, now))
            .take(now)
    }

    /// Reports a second allowed per slot.
    pub fn per_slot(&self) -> f64 {
        self.per_slot
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_worker_gets_a_burst_then_its_rate() {
        let limiter = ReportLimiter::new(5.0);
        let start = Instant::now();
        let allowed = (0..20).filter(|_| limiter.allow(1, 2, start)).count();
        assert_eq!(allowed, 10, "a burst of one second's worth for 2 slots");
        assert!(!limiter.allow(1, 2, start));
        // 0.3 s later: 3 more tokens at 10 a second.
        let later = start + Duration::from_millis(300);
        let allowed = (0..20).filter(|_| limiter.allow(1, 2, later)).count();
        assert_eq!(allowed, 3);
        // Another worker has its own bucket.
        assert!(limiter.allow(2, 1, later));
    }

    #[test]
    fn the_bucket_never_holds_more_than_a_second() {
        let limiter = ReportLimiter::new(4.0);
        let start = Instant::now();
        assert!(limiter.allow(1, 1, start));
        let much_later = start + Duration::from_secs(3600);
        let allowed = (0..100).filter(|_| limiter.allow(1, 1, much_later)).count();
        assert_eq!(allowed, 4);
    }
}
