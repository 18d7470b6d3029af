//! kill -9 one of four workers in the middle of a trial, three times, during a 100-trial
//! search: every trial ends exactly once, none is left running, the killed attempts are
//! recorded lost to infrastructure within a lease and a reaper pass, and their trials are
//! retried with the same parameters.

use std::time::Duration;

use sqlx::Row;

use super::support::{
    assert_all_over, assert_exits_ok, assert_params_kept, db_now, kill_9, params, seconds_between,
    serve_on, wait_for, worker,
};
use crate::harness::{Proc, Scratch, heavy, sql, sql_count};

const STUDY: &str = r#"
[study]
name = "killed-workers"
metric = "loss"

[objective]
command = "for e in 1 2 3 4; do echo epoch=$e loss=$((10 - e)); sleep 0.05; done; echo loss=$HYPERSEARCH_TRIAL"

[search]
algorithm = "random"
trials = 100
parallel = 4
max_attempts = 4
seed = 17

[search.space]
x = { float = [0, 1] }
"#;

/// The lease, and the reaper's period (a quarter lease), in seconds.
const LEASE: f64 = 1.0;
const REAPER: f64 = LEASE / 4.0;

fn terminal(db: &std::path::Path) -> i64 {
    sql_count(
        db,
        "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned', 'failed')",
    )
}

/// Running attempts: (worker name, trial, attempt).
fn running(db: &std::path::Path) -> Vec<(String, i64, i64)> {
    sql(
        db,
        "SELECT w.name, t.number, a.attempt FROM attempts a \
         JOIN trials t ON t.id = a.trial_id JOIN workers w ON w.id = a.worker_id \
         WHERE a.state = 'running'",
        |r| (r.get(0), r.get(1), r.get(2)),
    )
}

/// Running attempts that reported at least one epoch: (worker name, trial, attempt).
fn mid_trial(db: &std::path::Path) -> Vec<(String, i64, i64)> {
    sql(
        db,
        "SELECT w.name, t.number, a.attempt FROM attempts a \
         JOIN trials t ON t.id = a.trial_id JOIN workers w ON w.id = a.worker_id \
         WHERE a.state = 'running' AND EXISTS (SELECT 1 FROM epoch_metrics m \
           WHERE m.trial_id = a.trial_id AND m.attempt = a.attempt)",
        |r| (r.get(0), r.get(1), r.get(2)),
    )
}

#[test]
fn workers_killed_mid_trial_lose_nothing_and_their_trials_are_retried_unchanged() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", STUDY);
    let db = dir.path("trials.db");
    let lease = LEASE.to_string();
    let (mut serve, address) = serve_on(
        &dir,
        &config,
        &db,
        "127.0.0.1:0",
        "serve.log",
        &["--lease-seconds", &lease],
    );
    let mut alive: Vec<(String, Proc)> = (0..4)
        .map(|i| {
            let name = format!("w{i}");
            let proc = worker(&dir, &address, &name, 1);
            (name, proc)
        })
        .collect();
    let mut dead = Vec::new();
    let mut kills = Vec::new();
    let mut snapshots = Vec::new();
    let mut round = 0;
    while kills.len() < 3 {
        // Let the search move on, then catch a worker in the middle of a trial.
        let before = terminal(&db);
        wait_for("the search to progress", Duration::from_secs(60), || {
            (terminal(&db) >= before + 10).then_some(())
        });
        let victim = wait_for("a worker mid-trial", Duration::from_secs(30), || {
            mid_trial(&db)
                .into_iter()
                .map(|(name, _, _)| name)
                .find(|name| alive.iter().any(|(n, _)| n == name))
        });
        let at = alive
            .iter()
            .position(|(name, _)| *name == victim)
            .expect("the victim is alive");
        let (_, mut proc) = alive.remove(at);
        // The kill happened between these two readings of the database's clock.
        let before_kill = db_now(&db);
        kill_9(&mut proc);
        let after_kill = db_now(&db);
        dead.push(proc);
        // The attempt it held when it died (none if it was between two trials).
        if let Some((_, number, attempt)) = running(&db).into_iter().find(|(n, _, _)| *n == victim)
        {
            kills.push((victim, number, attempt, (before_kill, after_kill)));
        }
        snapshots.push(params(&db));
        let name = format!("r{round}");
        round += 1;
        let replacement = worker(&dir, &address, &name, 1);
        alive.push((name, replacement));
    }
    for (_, worker) in &mut alive {
        assert_exits_ok(worker, Duration::from_secs(60));
    }
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());

    assert_all_over(&db, 100);
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'failed'"),
        0
    );
    let last = params(&db);
    for snapshot in &snapshots {
        assert_params_kept(snapshot, &last);
    }
    let attempts = sql(
        &db,
        "SELECT w.name, t.number, a.attempt, a.state, a.failure, a.finished_at, \
         t.infra_failures, t.user_failures, t.state, coalesce(a.error, '') FROM attempts a \
         JOIN trials t ON t.id = a.trial_id JOIN workers w ON w.id = a.worker_id",
        |r| {
            (
                r.get::<String, _>(0),
                r.get::<i64, _>(1),
                r.get::<i64, _>(2),
                r.get::<String, _>(3),
                r.get::<Option<String>, _>(4),
                r.get::<Option<String>, _>(5),
                (
                    r.get::<i64, _>(6),
                    r.get::<i64, _>(7),
                    r.get::<String, _>(8),
                ),
                r.get::<String, _>(9),
            )
        },
    );
    for (victim, number, attempt, (before_kill, after_kill)) in &kills {
        let lost = attempts
            .iter()
            .find(|a| a.1 == *number && a.2 == *attempt)
            .expect("the killed attempt is recorded");
        assert_eq!(&lost.0, victim);
        assert_eq!(lost.3, "lost", "{lost:?}");
        assert_eq!(lost.4.as_deref(), Some("infrastructure"), "{lost:?}");
        // Lost because its lease expired, after the kill and within a lease and one reaper
        // pass of it, plus slack for a loaded machine. (How precisely leases expire is the
        // scheduler state's unit test, on a controlled clock.)
        assert!(lost.7.contains("lease expired"), "{lost:?}");
        let ended = lost.5.as_deref().expect("a finish time");
        assert!(
            seconds_between(before_kill, ended) > 0.0,
            "trial {number} attempt {attempt} was marked lost at {ended}, before the kill \
             ({before_kill})"
        );
        let after = seconds_between(after_kill, ended);
        assert!(
            after <= LEASE + REAPER + 2.0,
            "trial {number} attempt {attempt} was marked lost {after:.3} s after the kill"
        );
        // Retried: a later attempt ended it; the loss counted as infrastructure.
        assert!(
            attempts
                .iter()
                .any(|a| a.1 == *number && a.2 > *attempt && a.3 == "complete"),
            "trial {number} was not retried to completion"
        );
        let (infra, user, state) = &lost.6;
        assert!(
            *infra >= 1 && *user == 0,
            "trial {number}: {infra} infra, {user} user"
        );
        assert_eq!(state, "complete");
    }
    assert!(dead.len() >= 3);
}
