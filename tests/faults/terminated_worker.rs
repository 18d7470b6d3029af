//! A worker sent SIGTERM mid-trial (what Kubernetes, systemd and Slurm send): it stops
//! pulling, hands its running trial back as preempted and exits 0 within seconds; the trial
//! runs again elsewhere, with neither failure budget touched. SIGTERM on `serve` stops it
//! in order with exit 0.

use std::time::Duration;

use sqlx::Row;

use super::support::{
    assert_all_over, assert_exits_ok, kill_9, serve_on, signal, wait_for, worker,
};
use crate::harness::{Scratch, assert_ok, heavy, sql, sql_count};

const STUDY: &str = r#"
[study]
name = "terminated-worker"
metric = "loss"

[objective]
command = "for e in 1 2 3 4 5 6; do echo epoch=$e loss=$((10 - e)); sleep 0.25; done"

[search]
algorithm = "random"
trials = 4
parallel = 2
seed = 29

[search.space]
x = { float = [0, 1] }
"#;

/// The trial the worker named `name` is running, once it reported an epoch.
fn running_trial(db: &std::path::Path, name: &str) -> Option<i64> {
    sql(
        db,
        "SELECT t.number, w.name, \
           (SELECT count(*) FROM epoch_metrics m WHERE m.trial_id = a.trial_id AND m.attempt = a.attempt) \
         FROM attempts a JOIN trials t ON t.id = a.trial_id JOIN workers w ON w.id = a.worker_id \
         WHERE a.state = 'running'",
        |r| (r.get::<i64, _>(0), r.get::<String, _>(1), r.get::<i64, _>(2)),
    )
    .into_iter()
    .find(|(_, worker, epochs)| worker == name && *epochs >= 1)
    .map(|(number, _, _)| number)
}

#[test]
fn a_terminated_worker_hands_its_trial_back_as_preempted_and_exits_0() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", STUDY);
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(&dir, &config, &db, "127.0.0.1:0", "serve.log", &[]);
    let mut leaving = worker(&dir, &address, "leaving", 1);
    let number = wait_for(
        "the worker to report an epoch",
        Duration::from_secs(30),
        || running_trial(&db, "leaving"),
    );
    let asked = std::time::Instant::now();
    signal(&leaving, "TERM");
    assert_exits_ok(&mut leaving, Duration::from_secs(10));
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(10), "exited after {took:?}");
    assert!(
        leaving
            .log_text()
            .contains("handed its running trials back"),
        "{}",
        leaving.log_text()
    );

    let mut steady = worker(&dir, &address, "steady", 2);
    assert_exits_ok(&mut steady, Duration::from_secs(60));
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert_all_over(&db, 4);

    let attempts = sql(
        &db,
        "SELECT a.attempt, a.state, a.failure, t.state, t.infra_failures, t.user_failures, \
           t.number \
         FROM attempts a JOIN trials t ON t.id = a.trial_id ORDER BY t.number, a.attempt",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<String, _>(1),
                r.get::<Option<String>, _>(2),
                r.get::<String, _>(3),
                r.get::<i64, _>(4),
                r.get::<i64, _>(5),
                r.get::<i64, _>(6),
            )
        },
    );
    let attempts: Vec<_> = attempts.into_iter().filter(|a| a.6 == number).collect();
    let preempted: Vec<_> = attempts.iter().filter(|a| a.1 == "preempted").collect();
    assert_eq!(preempted.len(), 1, "{attempts:?}");
    assert_eq!(preempted[0].2, None, "no failure kind: {attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|a| a.3 == "complete" && a.4 == 0 && a.5 == 0),
        "re-run and complete, neither budget touched: {attempts:?}"
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'complete'"),
        4
    );

    // `hypersearch workers` tells the two apart.
    let listed = dir.hs(
        &[
            "workers",
            "--db",
            db.to_str().expect("utf-8"),
            "--format",
            "json",
        ],
        Duration::from_secs(30),
    );
    assert_ok(&listed);
    let workers: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let by_name = |name: &str| {
        workers
            .as_array()
            .and_then(|all| all.iter().find(|w| w["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no worker {name} in {workers}"))
    };
    let (leaving, steady) = (by_name("leaving"), by_name("steady"));
    assert_eq!(leaving["preempted"], 1, "{leaving}");
    assert_eq!(leaving["running"], 0, "{leaving}");
    assert_eq!(steady["slots"], 2, "{steady}");
    assert_eq!(
        steady["succeeded"].as_u64().unwrap_or(0) + leaving["succeeded"].as_u64().unwrap_or(0),
        4,
        "{workers}"
    );
    let table = dir.hs(
        &["workers", "--db", db.to_str().expect("utf-8")],
        Duration::from_secs(30),
    );
    assert_ok(&table);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("leaving") && text.contains("preempted"),
        "{text}"
    );
}

#[test]
fn a_terminated_coordinator_stops_in_order_with_exit_0_and_resumes() {
    let dir = Scratch::new();
    let config = dir.write("study.toml", STUDY);
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(&dir, &config, &db, "127.0.0.1:0", "serve.log", &[]);
    let mut first = worker(&dir, &address, "first", 1);
    wait_for("a trial to run", Duration::from_secs(30), || {
        running_trial(&db, "first")
    });
    signal(&serve, "TERM");
    let status = serve.wait(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", serve.log_text());
    assert!(
        serve.log_text().contains("serve again to resume"),
        "{}",
        serve.log_text()
    );
    // The worker, its coordinator gone, is not this test's subject: stop it; the study
    // resumes under a new coordinator.
    kill_9(&mut first);
    let (mut again, address) = serve_on(&dir, &config, &db, "127.0.0.1:0", "again.log", &[]);
    let mut second = worker(&dir, &address, "second", 2);
    assert_exits_ok(&mut second, Duration::from_secs(60));
    assert!(
        again.wait(Duration::from_secs(30)).success(),
        "{}",
        again.log_text()
    );
    assert_all_over(&db, 4);
}

/// A command that records its process id, then outlives any test.
const SLEEPER: &str = r#"
[study]
name = "terminated-group"
metric = "loss"

[objective]
command = "echo epoch=1 loss=5; echo $$ >> pids; exec sleep 60"

[search]
algorithm = "random"
trials = 1
parallel = 1
seed = 3

[search.space]
x = { float = [0, 1] }
"#;

#[test]
fn a_worker_terminated_with_its_command_hands_the_trial_back_instead_of_failing_it() {
    // systemd's default KillMode, Kubernetes and a terminal's Ctrl-C signal the objective's
    // program too, often before the worker: its death must not fail the trial.
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", SLEEPER);
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(&dir, &config, &db, "127.0.0.1:0", "serve.log", &[]);
    let mut leaving = worker(&dir, &address, "leaving", 1);
    wait_for("the trial to report", Duration::from_secs(30), || {
        running_trial(&db, "leaving")
    });
    let program = wait_for("the program's pid", Duration::from_secs(30), || {
        std::fs::read_to_string(dir.path("pids"))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
    });
    // The program dies first (what makes the race): the worker hears of it a moment later.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &program.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    signal(&leaving, "TERM");
    assert_exits_ok(&mut leaving, Duration::from_secs(10));
    let attempt = sql(
        &db,
        "SELECT a.state, t.state, t.user_failures FROM attempts a JOIN trials t ON t.id = a.trial_id",
        |r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<i64, _>(2),
            )
        },
    );
    assert_eq!(
        attempt,
        vec![("preempted".to_string(), "queued".to_string(), 0)],
        "the trial is handed back, not failed{}",
        leaving.log_text()
    );
    kill_9(&mut serve);
}
