//! Running under a supervisor: one coordinator per database (a second refuses, and a
//! coordinator killed with `kill -9` can be started again at once), and a wall-time limit
//! per trial (`[search] trial_timeout`).

use std::path::Path;
use std::time::Duration;

use sqlx::Row;

use crate::faults::support::{assert_exits_ok, kill_9, serve_on, signal, wait_for, worker};
use crate::harness::{
    Scratch, assert_integrity, assert_one_clear_error, heavy, on_both_stores, sql,
};

const SLOW: &str = r#"
[study]
name = "slow"
metric = "loss"

[objective]
command = "echo epoch=1 loss=5; sleep 30; echo loss=1"

[search]
algorithm = "random"
trials = 2
parallel = 2
seed = 3
trial_timeout = "2s"

[search.space]
x = { float = [0, 1] }
"#;

fn second_coordinator_refuses_and_a_killed_one_is_replaced_at_once(dir: &Scratch, db: &Path) {
    let config = dir.write("study.toml", SLOW);
    let (mut first, _address) = serve_on(dir, &config, db, "127.0.0.1:0", "first.log", &[]);
    let db_arg = db.to_str().expect("utf-8");
    let config_arg = config.to_str().expect("utf-8");
    let second = dir.hs(
        &[
            "serve",
            config_arg,
            "--listen",
            "127.0.0.1:0",
            "--db",
            db_arg,
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&second, &["already has a coordinator", "study `slow`"]);
    // Refused before it changed anything: a raised budget is not stored.
    let raised = dir.write("raised.toml", &SLOW.replace("trials = 2", "trials = 5"));
    let refused = dir.hs(
        &[
            "serve",
            raised.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
            "--db",
            db_arg,
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&refused, &["already has a coordinator"]);
    let budget = sql(db, "SELECT budget FROM studies", |r| r.get::<i64, _>(0));
    assert_eq!(budget, vec![2], "the refused coordinator changed the study");
    // The first goes on; killed with -9, its lock goes with it.
    assert!(
        first.child.try_wait().expect("poll").is_none(),
        "the first stopped"
    );
    kill_9(&mut first);
    let (mut again, address) = serve_on(dir, &config, db, "127.0.0.1:0", "again.log", &[]);
    let mut steady = worker(dir, &address, "steady", 2);
    assert_exits_ok(&mut steady, Duration::from_secs(60));
    assert!(
        again.wait(Duration::from_secs(30)).success(),
        "{}",
        again.log_text()
    );
    assert_integrity(db);
}

on_both_stores!(
    sqlite_a_second_coordinator_refuses_and_a_killed_one_is_replaced_at_once,
    postgres_a_second_coordinator_refuses_and_a_killed_one_is_replaced_at_once,
    second_coordinator_refuses_and_a_killed_one_is_replaced_at_once
);

#[test]
fn a_trial_past_its_time_limit_is_stopped_and_failed_with_the_reason() {
    let dir = Scratch::new();
    let config = dir.write("study.toml", SLOW);
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(&dir, &config, &db, "127.0.0.1:0", "serve.log", &[]);
    let started = std::time::Instant::now();
    let mut steady = worker(&dir, &address, "steady", 2);
    assert_exits_ok(&mut steady, Duration::from_secs(60));
    assert!(
        serve.wait(Duration::from_secs(30)).success(),
        "{}",
        serve.log_text()
    );
    // Both 30-second commands were stopped after about 2 s, not run to their end.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let trials = sql(
        &db,
        "SELECT state, error, user_failures, infra_failures FROM trials ORDER BY number",
        |r| {
            (
                r.get::<String, _>(0),
                r.get::<Option<String>, _>(1),
                r.get::<i64, _>(2),
                r.get::<i64, _>(3),
            )
        },
    );
    assert_eq!(trials.len(), 2);
    for (state, error, user, infra) in &trials {
        assert_eq!(state, "failed", "{trials:?}");
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("ran past [search] trial_timeout = 2s")),
            "{trials:?}"
        );
        assert_eq!((*user, *infra), (1, 0), "a user error: {trials:?}");
    }
    assert_integrity(&db);
}

#[test]
fn a_trial_timeout_that_does_not_parse_is_one_clear_error() {
    let dir = Scratch::new();
    let config = dir.write("study.toml", &SLOW.replace("\"2s\"", "\"soon\""));
    let db = dir.path("trials.db");
    let output = dir.hs(
        &[
            "run",
            config.to_str().expect("utf-8"),
            "--db",
            db.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&output, &["search.trial_timeout", "\"soon\"", "30m"]);
    assert!(!db.exists(), "nothing written");
}

const METERED: &str = r#"
[study]
name = "metered"
metric = "loss"

[objective]
command = "echo epoch=1 loss=3; sleep 0.2; echo epoch=2 loss=2"

[search]
algorithm = "random"
trials = 40
parallel = 2
seed = 5

[search.space]
x = { float = [0, 1] }
"#;

/// GET `path` from `address` (host:port) over plain HTTP/1.1: status and body.
fn http_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the metrics port");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// The value of the sample named exactly `sample` (name and labels) in `exposition`.
fn sample(exposition: &str, sample: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in:\n{exposition}"))
}

type HealthClient = tonic_health::pb::health_client::HealthClient<tonic::transport::Channel>;

async fn health_client(address: &str) -> HealthClient {
    let channel = tonic::transport::Endpoint::from_shared(address.to_string())
        .expect("an address")
        .connect()
        .await
        .expect("connect for health");
    HealthClient::new(channel)
}

async fn health(client: &mut HealthClient) -> i32 {
    client
        .check(tonic_health::pb::HealthCheckRequest {
            service: "hypersearch.v1.Coordinator".into(),
        })
        .await
        .expect("a health answer")
        .into_inner()
        .status
}

#[test]
fn health_and_metrics_follow_the_study_and_agree_with_the_database() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", METERED);
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(
        &dir,
        &config,
        &db,
        "127.0.0.1:0",
        "serve.log",
        &["--metrics", "127.0.0.1:0"],
    );
    let metrics = serve
        .log_text()
        .lines()
        .find_map(|l| {
            l.strip_prefix("metrics on http://")?
                .strip_suffix("/metrics")
        })
        .map(str::to_string)
        .expect("the metrics address in the log");
    let runtime = crate::harness::runtime_for_tests();
    let mut client = runtime.block_on(health_client(&address));
    assert_eq!(
        runtime.block_on(health(&mut client)),
        ServingStatus::Serving as i32
    );
    assert_eq!(http_get(&metrics, "/healthz").0, 200);
    assert_eq!(http_get(&metrics, "/readyz").0, 200);

    let mut steady = worker(&dir, &address, "steady", 2);
    wait_for("three trials to complete", Duration::from_secs(60), || {
        (crate::harness::sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'complete'")
            >= 3)
            .then_some(())
    });
    signal(&steady, "TERM");
    assert_exits_ok(&mut steady, Duration::from_secs(10));

    let (status, exposition) = http_get(&metrics, "/metrics");
    assert_eq!(status, 200);
    let checked = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(exposition.as_bytes())?;
            child.wait_with_output()
        })
        .expect("promtool (./test.sh installs Debian's prometheus package)");
    assert!(
        checked.status.success(),
        "promtool: {}{}\n{exposition}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let complete =
        crate::harness::sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'complete'");
    assert_eq!(
        sample(
            &exposition,
            "hypersearch_trials_ended_total{outcome=\"complete\"}"
        ),
        complete as f64
    );
    assert_eq!(
        sample(&exposition, "hypersearch_trials{state=\"complete\"}"),
        complete as f64
    );
    assert!(
        sample(
            &exposition,
            "grpc_server_handled_total{grpc_method=\"Complete\",grpc_code=\"OK\"}"
        ) >= complete as f64
    );
    assert!(
        sample(
            &exposition,
            "hypersearch_store_commit_duration_seconds_count"
        ) > 0.0
    );

    // Asked to stop: NOT_SERVING and not ready before the port closes, then exit 0.
    signal(&serve, "TERM");
    wait_for("NOT_SERVING", Duration::from_secs(2), || {
        let status = runtime.block_on(health(&mut client));
        (status == ServingStatus::NotServing as i32).then_some(())
    });
    assert_eq!(http_get(&metrics, "/readyz").0, 503);
    assert_eq!(serve.wait(Duration::from_secs(15)).code(), Some(0));
}

#[test]
fn a_metrics_address_in_use_is_one_clear_error() {
    let dir = Scratch::new();
    let config = dir.write("study.toml", METERED);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let at = taken.local_addr().expect("its address").to_string();
    let output = dir.hs(
        &[
            "serve",
            config.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
            "--db",
            dir.path("trials.db").to_str().expect("utf-8"),
            "--metrics",
            &at,
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&output, &["--metrics", &at]);
}

const STEADY: &str = r#"
[study]
name = "steered"
metric = "loss"

[objective]
command = "for e in 1 2 3; do echo epoch=$e loss=$((5 - e)); sleep 0.3; done"

[search]
algorithm = "random"
trials = 30
parallel = 1
seed = 8

[search.space]
x = { float = [0, 1] }
"#;

/// Attempts of worker `name`: (running, all).
fn attempts_of(db: &Path, name: &str) -> (i64, i64) {
    let rows = sql(
        db,
        "SELECT w.name, a.state FROM attempts a JOIN workers w ON w.id = a.worker_id",
        |r| (r.get::<String, _>(0), r.get::<String, _>(1)),
    );
    let mine: Vec<_> = rows.iter().filter(|(n, _)| n == name).collect();
    let running = mine.iter().filter(|(_, s)| s == "running").count();
    (running as i64, mine.len() as i64)
}

#[test]
fn an_operator_drains_resumes_and_quarantines_a_worker() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", STEADY);
    let token = dir.write("token", "operator-token");
    let token_arg = token.to_str().expect("utf-8");
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(
        &dir,
        &config,
        &db,
        "127.0.0.1:0",
        "serve.log",
        &["--token-file", token_arg],
    );
    let mut steered = crate::harness::Scratch::spawn_logged(
        &dir,
        &[
            "worker",
            "--coordinator",
            &address,
            "--token-file",
            token_arg,
            "--slots",
            "1",
            "--name",
            "steered",
        ],
        "steered.log",
    );
    wait_for("a running trial", Duration::from_secs(30), || {
        (attempts_of(&db, "steered").0 == 1).then_some(())
    });
    let id = sql(&db, "SELECT id FROM workers WHERE name = 'steered'", |r| {
        r.get::<i64, _>(0)
    })[0]
        .to_string();
    let steer = |what: &str| {
        dir.hs(
            &[
                "workers",
                what,
                &id,
                "--coordinator",
                &address,
                "--token-file",
                token_arg,
            ],
            Duration::from_secs(30),
        )
    };
    let drained = steer("drain");
    crate::harness::assert_ok(&drained);
    assert!(
        String::from_utf8_lossy(&drained.stdout).contains("draining, 1 trial running"),
        "{drained:?}"
    );
    // It finishes the trial it runs and gets no other.
    wait_for("the running trial to end", Duration::from_secs(30), || {
        (attempts_of(&db, "steered").0 == 0).then_some(())
    });
    let (_, before) = attempts_of(&db, "steered");
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        attempts_of(&db, "steered"),
        (0, before),
        "a drained worker got a trial"
    );

    crate::harness::assert_ok(&steer("resume"));
    wait_for("a trial after the resume", Duration::from_secs(30), || {
        (attempts_of(&db, "steered").1 > before).then_some(())
    });

    crate::harness::assert_ok(&steer("quarantine"));
    let status = steered.wait(Duration::from_secs(30));
    assert!(
        !status.success(),
        "a quarantined worker stops with an error"
    );
    assert!(
        steered.log_text().contains("quarantined by an operator"),
        "{}",
        steered.log_text()
    );

    let unknown = dir.hs(
        &[
            "workers",
            "drain",
            "999",
            "--coordinator",
            &address,
            "--token-file",
            token_arg,
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&unknown, &["no worker 999"]);
    assert_eq!(
        sql(
            &db,
            "SELECT quarantined FROM workers WHERE name = 'steered'",
            |r| r.get::<Option<String>, _>(0)
        ),
        vec![Some("quarantined by an operator".to_string())],
        "the quarantine is recorded with its reason"
    );
    kill_9(&mut serve);
}

/// Every trial fails on a worker whose environment lacks what the objective needs.
const NEEDS_A_HEALTHY_ENVIRONMENT: &str = r#"
[study]
name = "broken-environment"
metric = "loss"

[objective]
command = "if [ -n \"$HS_TEST_BROKEN\" ]; then echo 'No module named torch' >&2; exit 3; fi; sleep 0.1; echo loss=0.5"

[search]
algorithm = "random"
trials = 60
parallel = 2
seed = 4
failure_retries = 1
quarantine_after = 2

[search.space]
x = { float = [0, 1] }
"#;

#[test]
fn a_worker_whose_failures_succeed_elsewhere_is_quarantined_with_the_reason() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let config = dir.write("study.toml", NEEDS_A_HEALTHY_ENVIRONMENT);
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(&dir, &config, &db, "127.0.0.1:0", "serve.log", &[]);
    let worker_args = |name: &'static str| {
        [
            "worker",
            "--coordinator",
            address.as_str(),
            "--slots",
            "1",
            "--name",
            name,
        ]
    };
    let mut healthy = dir.spawn_logged(&worker_args("healthy"), "healthy.log");
    wait_for(
        "the healthy worker to join",
        Duration::from_secs(30),
        || (sql(&db, "SELECT count(*) FROM workers", |r| r.get::<i64, _>(0))[0] == 1).then_some(()),
    );
    let mut broken = dir.spawn_logged_with_env(
        &worker_args("broken"),
        "broken.log",
        &[("HS_TEST_BROKEN", "1")],
    );
    let status = broken.wait(Duration::from_secs(60));
    assert!(
        !status.success(),
        "a quarantined worker stops with an error"
    );
    assert_exits_ok(&mut healthy, Duration::from_secs(60));
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed: {}", serve.log_text());

    let reason = sql(
        &db,
        "SELECT quarantined FROM workers WHERE name = 'broken'",
        |r| r.get::<Option<String>, _>(0),
    )
    .remove(0)
    .unwrap_or_else(|| panic!("the broken worker is not quarantined{}", broken.log_text()));
    assert!(
        reason.contains("ran successfully on other workers"),
        "{reason}"
    );
    assert!(broken.log_text().contains(&reason), "{}", broken.log_text());
    // Its failures were retried on the healthy worker: no trial failed.
    assert_eq!(
        sql(
            &db,
            "SELECT state, count(*) FROM trials GROUP BY state",
            |r| { (r.get::<String, _>(0), r.get::<i64, _>(1)) }
        ),
        vec![("complete".to_string(), 60)]
    );
    assert!(
        sql(
            &db,
            "SELECT count(*) FROM workers WHERE quarantined IS NOT NULL",
            |r| r.get::<i64, _>(0)
        )[0] == 1,
        "only the broken worker is quarantined"
    );
    let listed = dir.hs(
        &["workers", "--db", db.to_str().expect("utf-8")],
        Duration::from_secs(30),
    );
    crate::harness::assert_ok(&listed);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("quarantined") && text.contains("ran successfully on other workers"),
        "{text}"
    );
    assert_integrity(&db);
}
