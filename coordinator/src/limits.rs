//! Bounds on what a worker may ask of the coordinator: token buckets on the metric values a
//! worker stores (sized by the trials it runs, not by the slots it claims) and on
//! registrations. (Leases are bounded by slots in the scheduler, message sizes by the gRPC
//! server, epochs per attempt and the study's stored values by the scheduler.)

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

/// A token bucket: `rate` tokens a second, holding at most `capacity`. A request costing
/// more than the bucket holds is let through when the bucket is full and leaves it in debt,
/// so the long-run rate holds for any request size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    capacity: f64,
    rate: f64,
    refilled: Instant,
}

impl Bucket {
    /// A full bucket of `capacity` refilled at `rate` a second.
    pub fn new(rate: f64, capacity: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: capacity,
            capacity,
            rate,
            refilled: now,
        }
    }

    /// Changes the rate and capacity (the tokens held stay, up to the new capacity).
    fn resize(&mut self, rate: f64, capacity: f64) {
        self.rate = rate;
        self.capacity = capacity;
    }

    /// Takes `cost` tokens if the bucket holds them (or is full); else takes nothing.
    pub fn take(&mut self, cost: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled = now;
        if self.tokens >= cost.min(self.capacity) {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// The bound on every worker's stored metric values.
pub(crate) struct ReportLimiter {
    /// Metric values a second allowed per running trial.
    per_trial: f64,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

impl ReportLimiter {
    /// Allows each worker `per_trial` metric values a second for each trial it runs (at
    /// least one), with a burst of one second's worth.
    pub fn new(per_trial: f64) -> ReportLimiter {
        ReportLimiter {
            per_trial,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `worker`, running `running` trials, may store `values` metric values now.
    /// Call it only for an authenticated worker: the bucket charged is the sender's own.
    pub fn allow(&self, worker: u64, running: usize, values: usize, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let rate = self.per_trial * running.max(1) as f64;
        let bucket = buckets
            .entry(worker)
            .or_insert_with(|| Bucket::new(rate, rate, now));
        bucket.resize(rate, rate);
        bucket.take(values.max(1) as f64, now)
    }

    /// Metric values a second allowed per running trial.
    pub fn per_trial(&self) -> f64 {
        self.per_trial
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_worker_gets_a_burst_then_its_rate_per_running_trial() {
        let limiter = ReportLimiter::new(5.0);
        let start = Instant::now();
        let allowed = (0..20).filter(|_| limiter.allow(1, 2, 1, start)).count();
        assert_eq!(
            allowed, 10,
            "a burst of one second's worth for 2 running trials"
        );
        assert!(!limiter.allow(1, 2, 1, start));
        // 0.3 s later: 3 more values at 10 a second.
        let later = start + Duration::from_millis(300);
        let allowed = (0..20).filter(|_| limiter.allow(1, 2, 1, later)).count();
        assert_eq!(allowed, 3);
        // Another worker has its own bucket; no trial running counts as one.
        assert!(limiter.allow(2, 0, 1, later));
    }

    #[test]
    fn values_not_calls_are_counted_and_a_large_report_leaves_a_debt() {
        let limiter = ReportLimiter::new(100.0);
        let start = Instant::now();
        // 1,000 values at once: let through from a full bucket, then 10 s of debt.
        assert!(limiter.allow(1, 1, 1_000, start));
        assert!(!limiter.allow(1, 1, 1, start + Duration::from_secs(5)));
        assert!(limiter.allow(1, 1, 1, start + Duration::from_secs(10)));
        // The long-run rate holds: 60 s of 1,000-value reports let ~6 through, not 60.
        let through = (1..=60)
            .filter(|&s| limiter.allow(1, 1, 1_000, start + Duration::from_secs(10 + s)))
            .count();
        assert!((5..=7).contains(&through), "{through}");
    }

    #[test]
    fn the_bucket_never_holds_more_than_a_second() {
        let limiter = ReportLimiter::new(4.0);
        let start = Instant::now();
        assert!(limiter.allow(1, 1, 1, start));
        let much_later = start + Duration::from_secs(3600);
        let allowed = (0..100)
            .filter(|_| limiter.allow(1, 1, 1, much_later))
            .count();
        assert_eq!(allowed, 4);
    }
}
