//! What the fault tests share: signals to processes, a coordinator started on a chosen port
//! (so that it can come back where its workers look for it), waiting on the database, and
//! the end-of-study checks every fault test makes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::Row;

use crate::harness::{Proc, Scratch, assert_integrity, sql, sql_count};

/// Sends `signal` (`KILL`, `STOP`, `CONT`) to `proc`.
pub fn signal(proc: &Proc, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &proc.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {signal} failed");
}

/// Kills `proc` with SIGKILL and reaps it.
pub fn kill_9(proc: &mut Proc) {
    signal(proc, "KILL");
    proc.wait(Duration::from_secs(10));
}

/// Polls `check` every 20 ms until it gives a value; fails the test after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `hypersearch serve CONFIG --listen LISTEN --db DB EXTRA...` logging to `log` and
/// waits until it listens; returns it with its `http://` address.
pub fn serve_on(
    dir: &Scratch,
    config: &Path,
    db: &Path,
    listen: &str,
    log: &str,
    extra: &[&str],
) -> (Proc, String) {
    let mut args = vec![
        "serve",
        config.to_str().expect("utf-8 path"),
        "--listen",
        listen,
        "--db",
        db.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let mut proc = dir.spawn_logged(&args, log);
    let address = proc.listening();
    (proc, address)
}

/// Starts `hypersearch worker --coordinator ADDRESS --slots SLOTS --name NAME`, its stderr
/// in `worker-NAME.log`.
pub fn worker(dir: &Scratch, address: &str, name: &str, slots: u32) -> Proc {
    let slots = slots.to_string();
    let args = [
        "worker",
        "--coordinator",
        address,
        "--slots",
        &slots,
        "--name",
        name,
    ];
    dir.spawn_logged(&args, &format!("worker-{name}.log"))
}

/// How many trial attempts a finished worker says it ran (its last line).
pub fn attempts_ran(worker: &Proc) -> u64 {
    let log = worker.log_text();
    log.lines()
        .find_map(|l| {
            let rest = l.split("this worker ran ").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no summary line in the worker's log:{log}"))
}

/// Waits for `worker` to exit and asserts it succeeded.
pub fn assert_exits_ok(worker: &mut Proc, limit: Duration) {
    let status = worker.wait(limit);
    assert!(
        status.success(),
        "worker failed ({status}){}",
        worker.log_text()
    );
}

/// The database's own clock now (UTC, as the coordinator stamps rows), so that test events
/// and row timestamps compare on one clock.
pub fn db_now(db: &Path) -> String {
    let now = if crate::harness::is_postgres(db) {
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    } else {
        "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
    sql(db, now, |r| r.get::<String, _>(0)).remove(0)
}

/// Every trial over exactly once: `budget` trials, all terminal, none queued or running, no
/// attempt left running, the study finished; then `PRAGMA integrity_check`.
pub fn assert_all_over(db: &Path, budget: i64) {
    let states = sql(
        db,
        "SELECT state, count(*) FROM trials GROUP BY state ORDER BY state",
        |r| (r.get::<String, _>(0), r.get::<i64, _>(1)),
    );
    assert_eq!(
        sql_count(db, "SELECT count(*) FROM trials"),
        budget,
        "{states:?}"
    );
    assert_eq!(
        sql_count(
            db,
            "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned', 'failed')"
        ),
        budget,
        "{states:?}"
    );
    assert_eq!(
        sql_count(db, "SELECT count(*) FROM attempts WHERE state = 'running'"),
        0
    );
    // Attempts are numbered 1, 2, ... without gaps, the last one the trial's count.
    assert_eq!(
        sql_count(
            db,
            "SELECT count(*) FROM trials t WHERE t.attempts != \
             (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id) OR t.attempts != \
             (SELECT coalesce(max(attempt), 0) FROM attempts a WHERE a.trial_id = t.id)"
        ),
        0
    );
    // At most one attempt of a trial ends it (complete or pruned).
    assert_eq!(
        sql_count(
            db,
            "SELECT count(*) FROM (SELECT trial_id FROM attempts \
             WHERE state IN ('complete', 'pruned') GROUP BY trial_id HAVING count(*) > 1) AS x"
        ),
        0
    );
    assert_eq!(
        sql(db, "SELECT state FROM studies", |r| r.get::<String, _>(0)),
        vec!["finished".to_string()]
    );
    assert_integrity(db);
}

/// Every trial's parameters, by number.
pub fn params(db: &Path) -> Vec<(i64, String)> {
    sql(
        db,
        "SELECT number, params FROM trials ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<String, _>(1)),
    )
}

/// Asserts that every trial of `before` still has the same parameters.
pub fn assert_params_kept(before: &[(i64, String)], after: &[(i64, String)]) {
    for trial in before {
        assert!(
            after.contains(trial),
            "trial {} changed its parameters",
            trial.0
        );
    }
}

/// Seconds from `earlier` to `later`, two of the database's timestamps.
pub fn seconds_between(earlier: &str, later: &str) -> f64 {
    stamp_seconds(later) - stamp_seconds(earlier)
}

/// A `2026-11-05T14:03:22.117Z` timestamp as seconds since 1970.
fn stamp_seconds(text: &str) -> f64 {
    fn malformed<T>(text: &str) -> T {
        panic!("malformed timestamp {text:?}")
    }
    let (date, time) = text
        .trim_end_matches('Z')
        .split_once('T')
        .unwrap_or_else(|| malformed(text));
    let date: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().unwrap_or_else(|_| malformed(text)))
        .collect();
    let time: Vec<f64> = time
        .split(':')
        .map(|p| p.parse().unwrap_or_else(|_| malformed(text)))
        .collect();
    let [year, month, day] = date[..] else {
        malformed(text)
    };
    let [hours, minutes, seconds] = time[..] else {
        malformed(text)
    };
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    days as f64 * 86_400.0 + hours * 3600.0 + minutes * 60.0 + seconds
}

#[test]
fn timestamps_compare_across_midnight_and_months() {
    assert!(
        (seconds_between("2026-11-05T23:59:59.500Z", "2026-11-06T00:00:00.250Z") - 0.75).abs()
            < 1e-9
    );
    assert!(
        (seconds_between("2026-02-28T12:00:00.000Z", "2026-03-01T12:00:00.000Z") - 86_400.0).abs()
            < 1e-9
    );
    assert!((stamp_seconds("1970-01-02T00:00:01.000Z") - 86_401.0).abs() < 1e-9);
}
