//! The coordinator killed with SIGKILL at random points of a 50-trial grid search, five
//! times, and restarted each time on the same file and port: the study resumes, completed
//! trials keep their values, every trial ends exactly once, no grid point runs twice, and
//! the workers ride out each outage (reconnecting with jittered backoff) and re-attach the
//! trials they were running. And a coordinator that comes back with no record of a worker
//! (its database replaced): the worker joins again and finishes the new study.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use sqlx::Row;

use super::support::{
    assert_all_over, assert_exits_ok, kill_9, params, serve_on, wait_for, worker,
};
use crate::harness::{Scratch, heavy, on_both_stores, sql, sql_count};

/// Each run prints its shell's process id as its value: a trial run twice would show
/// another value.
const GRID: &str = r#"
[study]
name = "killed-coordinator"
metric = "value"

[objective]
command = "for e in 1 2 3; do echo epoch=$e value=$$; sleep 0.1; done"

[search]
algorithm = "grid"
trials = 50
parallel = 3
seed = 29

[search.space]
a = { int = [1, 10] }
b = { int = [1, 5] }
"#;

/// Milliseconds in [low, high) from a seeded sequence (SplitMix64): the "random" points
/// at which the coordinator dies are the same on every run of the test.
struct Delays(u64);

impl Delays {
    fn next(&mut self, low: u64, high: u64) -> Duration {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Duration::from_millis(low + (z ^ (z >> 31)) % (high - low))
    }
}

fn complete_values(db: &std::path::Path) -> Vec<(i64, u64)> {
    sql(
        db,
        "SELECT number, value FROM trials WHERE state = 'complete' ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<f64, _>(1).to_bits()),
    )
}

/// Running attempts that already reported: a worker is in the middle of them.
fn running_with_epochs(db: &std::path::Path) -> Vec<(i64, i64)> {
    sql(
        db,
        "SELECT t.number, a.attempt FROM attempts a JOIN trials t ON t.id = a.trial_id \
         WHERE a.state = 'running' AND EXISTS (SELECT 1 FROM epoch_metrics m \
           WHERE m.trial_id = a.trial_id AND m.attempt = a.attempt)",
        |r| (r.get(0), r.get(1)),
    )
}

on_both_stores!(
    the_coordinator_killed_five_times_resumes_and_nothing_finished_runs_again,
    the_coordinator_killed_five_times_resumes_and_nothing_finished_runs_again_on_postgres,
    the_coordinator_killed_five_times_resumes_and_nothing_finished_runs_again_on
);

fn the_coordinator_killed_five_times_resumes_and_nothing_finished_runs_again_on(
    dir: &Scratch,
    db: &Path,
) {
    let config = dir.write("grid.toml", GRID);
    let lease = ["--lease-seconds", "5"];
    let (mut serve, address) = serve_on(dir, &config, db, "127.0.0.1:0", "serve-0.log", &lease);
    let listen = address.trim_start_matches("http://").to_string();
    let mut workers: Vec<_> = (0..3)
        .map(|i| worker(dir, &address, &format!("w{i}"), 1))
        .collect();
    let mut delays = Delays(2026);
    let mut values = Vec::new();
    let mut in_flight = Vec::new();
    for round in 1..=5 {
        std::thread::sleep(delays.next(150, 650));
        assert!(
            serve.child.try_wait().expect("poll serve").is_none(),
            "the study ended before kill {round}{}",
            serve.log_text()
        );
        values.extend(complete_values(db));
        in_flight.extend(running_with_epochs(db));
        kill_9(&mut serve);
        (serve, _) = serve_on(
            dir,
            &config,
            db,
            &listen,
            &format!("serve-{round}.log"),
            &lease,
        );
        let log = serve.log_text();
        assert!(log.contains("trials done"), "{log}");
    }
    for worker in &mut workers {
        assert_exits_ok(worker, Duration::from_secs(90));
    }
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    // Every lease survived (below): a worker that warned of a lost one, say for a trial whose
    // completion reached the new coordinator before a heartbeat naming it, misled its user.
    for worker in &workers {
        let log = worker.log_text();
        assert!(!log.contains("lease lost"), "a false alarm:{log}");
    }

    assert_all_over(db, 50);
    assert_eq!(
        sql_count(db, "SELECT count(*) FROM trials WHERE state = 'failed'"),
        0
    );
    // Completed trials kept their values, to the bit.
    let last = complete_values(db);
    for before in &values {
        assert!(
            last.contains(before),
            "trial {} changed its value",
            before.0
        );
    }
    // Every grid point once, and no trial ran in two attempts.
    let points: HashSet<String> = params(db).into_iter().map(|(_, p)| p).collect();
    assert_eq!(points.len(), 50);
    assert_eq!(
        sql_count(
            db,
            "SELECT count(*) FROM (SELECT trial_id FROM epoch_metrics \
             GROUP BY trial_id HAVING count(DISTINCT attempt) > 1) AS x"
        ),
        0
    );
    // The trials workers were in the middle of when the coordinator died were re-attached:
    // the same attempt went on to complete.
    assert!(!in_flight.is_empty(), "no kill caught a trial mid-run");
    let attempts = sql(
        db,
        "SELECT t.number, a.attempt, a.state FROM attempts a JOIN trials t ON t.id = a.trial_id",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<i64, _>(1),
                r.get::<String, _>(2),
            )
        },
    );
    for (number, attempt) in &in_flight {
        assert!(
            attempts.contains(&(*number, *attempt, "complete".to_string())),
            "trial {number} attempt {attempt} was not re-attached: {:?}",
            attempts
                .iter()
                .filter(|a| a.0 == *number)
                .collect::<Vec<_>>()
        );
    }
}

const SLOW: &str = r#"
[study]
name = "forgotten-worker"
metric = "loss"

[objective]
command = "for e in 1 2 3 4; do echo epoch=$e loss=$((10 - e)); sleep 0.1; done"

[search]
algorithm = "random"
trials = 6
parallel = 2
seed = 31

[search.space]
x = { float = [0, 1] }
"#;

#[test]
fn a_coordinator_back_without_a_record_of_the_worker_gets_it_registered_again() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("slow.toml", SLOW);
    let first = dir.path("first.db");
    let lease = ["--lease-seconds", "2"];
    let (mut serve, address) =
        serve_on(&dir, &config, &first, "127.0.0.1:0", "serve-0.log", &lease);
    let listen = address.trim_start_matches("http://").to_string();
    let mut survivor = worker(&dir, &address, "survivor", 2);
    wait_for("a trial to report", Duration::from_secs(30), || {
        (sql_count(&first, "SELECT count(*) FROM epoch_metrics") > 0).then_some(())
    });
    kill_9(&mut serve);
    // Back on a new, empty database: it has never heard of the worker nor of its leases.
    let second = dir.path("second.db");
    let (mut serve, _) = serve_on(&dir, &config, &second, &listen, "serve-1.log", &lease);
    assert_exits_ok(&mut survivor, Duration::from_secs(60));
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert!(
        survivor.log_text().contains("joining again"),
        "{}",
        survivor.log_text()
    );
    assert_all_over(&second, 6);
    assert_eq!(
        sql(&second, "SELECT name FROM workers", |r| r
            .get::<String, _>(0)),
        vec!["survivor".to_string()]
    );
    assert_eq!(
        sql_count(
            &second,
            "SELECT count(*) FROM trials WHERE state = 'complete'"
        ),
        6
    );
}
