//! 32 worker processes racing for 2,000 zero-cost trials: each lease goes to one worker at
//! a time (every trial runs once, in one attempt, and the attempts the workers say they ran
//! add up to the trials), and nobody sees "database is locked" or a refused message.

use std::path::Path;
use std::time::Duration;

use super::support::{assert_all_over, assert_exits_ok, attempts_ran, serve_on, worker};
use crate::harness::{Scratch, branin_study, on_both_stores, sql_count};

/// What must not appear in any log: contention reaching someone ("database is locked"), a
/// lease taken away or refused ("lease expired" on the coordinator, "lease lost", "refused",
/// "not held" on a worker), a write redone or failed, the database failing to close, a worker
/// forgotten, and anything logged as an error. (Other warnings, such as a dependency's or a
/// slow machine's, say nothing about leases.)
const TROUBLE: [&str; 10] = [
    "database is locked",
    "lease expired",
    "lease lost",
    "refused",
    "not held",
    "write failed",
    "closing the trials database failed",
    "no record of this worker",
    "ERROR",
    "panicked",
];

on_both_stores!(
    thirty_two_workers_racing_for_two_thousand_trials_get_each_lease_once,
    thirty_two_workers_racing_for_two_thousand_trials_get_each_lease_once_on_postgres,
    thirty_two_workers_racing_for_two_thousand_trials_get_each_lease_once_on
);

fn thirty_two_workers_racing_for_two_thousand_trials_get_each_lease_once_on(
    dir: &Scratch,
    db: &Path,
) {
    let config = dir.write("race.toml", &branin_study("lease-race", 2000, 32, 37));
    let (mut serve, address) = serve_on(dir, &config, db, "127.0.0.1:0", "serve.log", &[]);
    let mut workers: Vec<_> = (0..32)
        .map(|i| worker(dir, &address, &format!("w{i}"), 1))
        .collect();
    let mut ran = Vec::new();
    for worker in &mut workers {
        assert_exits_ok(worker, Duration::from_secs(120));
        ran.push(attempts_ran(worker));
    }
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());

    assert_all_over(db, 2000);
    assert_eq!(
        sql_count(db, "SELECT count(*) FROM trials WHERE state = 'complete'"),
        2000
    );
    // One attempt per trial: no lease was granted twice, none expired, none was retried.
    assert_eq!(sql_count(db, "SELECT count(*) FROM attempts"), 2000);
    assert_eq!(
        sql_count(
            db,
            "SELECT count(DISTINCT trial_id || ':' || attempt) FROM attempts"
        ),
        2000
    );
    assert_eq!(
        ran.iter().sum::<u64>(),
        2000,
        "attempts per worker: {ran:?}"
    );
    assert!(
        ran.iter().filter(|&&n| n > 0).count() >= 8,
        "too few workers got trials: {ran:?}"
    );
    assert_eq!(sql_count(db, "SELECT count(*) FROM workers"), 32);
    for proc in workers.iter().chain(std::iter::once(&serve)) {
        let log = proc.log_text();
        for word in TROUBLE {
            assert!(!log.contains(word), "`{word}` in a log:{log}");
        }
    }
}
