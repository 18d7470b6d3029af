//! What people get wrong, and what they get: a refused token (nothing leased), a malformed
//! config, an unreachable coordinator, an unknown study, each one clear message and a
//! non-zero exit. And what the refusals promise the other way: `--insecure` does open the
//! door beyond loopback, and a token never reaches a log, even at the most verbose level.

use std::time::Duration;

use sqlx::Row;

use crate::faults::support::serve_on;
use crate::harness::{
    Scratch, assert_integrity, assert_ok, assert_one_clear_error, branin_study, sql, sql_count,
    stderr, stdout,
};

#[test]
fn a_wrong_or_missing_token_is_refused_and_nothing_is_leased() {
    let dir = Scratch::new();
    let config = dir.write("branin.toml", &branin_study("branin", 20, 2, 1));
    let token = dir.write("token", "right-token\n");
    let wrong = dir.write("wrong", "wrong-token\n");
    let db = dir.path("trials.db");
    let (mut serve, address) = dir.serve(
        &config,
        &db,
        &["--token-file", token.to_str().expect("utf-8")],
    );

    let output = dir.hs(
        &[
            "worker",
            "--coordinator",
            &address,
            "--token-file",
            wrong.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&output, &["refused this worker", "token does not match"]);
    let output = dir.hs(
        &["worker", "--coordinator", &address],
        Duration::from_secs(30),
    );
    assert_one_clear_error(
        &output,
        &["refused this worker", "requires a token", "--token-file"],
    );

    assert_eq!(sql_count(&db, "SELECT count(*) FROM attempts"), 0);
    assert_eq!(sql_count(&db, "SELECT count(*) FROM workers"), 0);
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state != 'queued'"),
        0
    );
    serve.interrupt();
    let status = serve.wait(Duration::from_secs(30));
    assert!(
        !status.success(),
        "an interrupted serve reports that the study is not finished"
    );
    assert_integrity(&db);
}

#[test]
fn a_malformed_config_is_one_message_naming_the_file_key_and_line() {
    let dir = Scratch::new();
    let config = dir.write(
        "typo.toml",
        "[objective]\nfunction = \"branin\"\n[search]\ntrails = 10\n[search.space]\nx1 = { float = [0, 1] }\n",
    );
    let db = dir.path("never.db");
    let output = dir.hs(
        &[
            "run",
            config.to_str().expect("utf-8"),
            "--db",
            db.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&output, &["typo.toml", "trails", ":4"]);
    assert!(!db.exists(), "a bad config must not create a database");

    let missing = dir.hs(&["run", "no-such-study.toml"], Duration::from_secs(30));
    assert_one_clear_error(&missing, &["no-such-study.toml"]);
}

#[test]
fn an_unreachable_coordinator_is_one_message_naming_it() {
    let dir = Scratch::new();
    let output = dir.hs(
        &[
            "worker",
            "--coordinator",
            "http://127.0.0.1:9",
            "--patience-seconds",
            "1",
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(
        &output,
        &["cannot reach the coordinator at http://127.0.0.1:9"],
    );
    let output = dir.hs(
        &["worker", "--coordinator", "not a url"],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&output, &["invalid coordinator address `not a url`"]);
}

#[test]
fn serving_beyond_loopback_without_a_token_is_refused() {
    let dir = Scratch::new();
    let config = dir.write("branin.toml", &branin_study("branin", 20, 2, 1));
    let output = dir.hs(
        &[
            "serve",
            config.to_str().expect("utf-8"),
            "--listen",
            "0.0.0.0:0",
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(
        &output,
        &["refusing to listen on 0.0.0.0:0 without a token"],
    );
}

#[test]
fn serving_beyond_loopback_without_a_token_but_with_insecure_starts_and_serves_workers() {
    let dir = Scratch::new();
    let config = dir.write("branin.toml", &branin_study("branin", 20, 2, 1));
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(
        &dir,
        &config,
        &db,
        "0.0.0.0:0",
        "serve.log",
        &["--insecure"],
    );
    let port = address
        .strip_prefix("http://0.0.0.0:")
        .unwrap_or_else(|| panic!("listening on all interfaces, not {address}"));
    assert!(
        serve.log_text().contains("plaintext; no token"),
        "{}",
        serve.log_text()
    );
    let output = dir.hs(
        &[
            "worker",
            "--coordinator",
            &format!("http://127.0.0.1:{port}"),
        ],
        Duration::from_secs(60),
    );
    assert_ok(&output);
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'complete'"),
        20
    );
    assert_integrity(&db);
}

#[test]
fn a_token_appears_in_no_log_even_at_the_most_verbose_level() {
    const RIGHT: &str = "tok-9c41e7d2a6b85f30";
    const WRONG: &str = "tok-wrong-1b7e55c0d9";
    const TRACE: [(&str, &str); 1] = [("HYPERSEARCH_LOG", "trace")];
    let dir = Scratch::new();
    let config = dir.write("branin.toml", &branin_study("branin", 6, 2, 1));
    let right = dir.write("token", &format!("{RIGHT}\n"));
    let wrong = dir.write("wrong", &format!("{WRONG}\n"));
    let db = dir.path("trials.db");
    let (mut serve, address) = dir.serve_with_env(
        &config,
        &db,
        &["--token-file", right.to_str().expect("utf-8")],
        &TRACE,
    );
    let worker = |token: &std::path::Path, log: &str| {
        let args = [
            "worker",
            "--coordinator",
            &address,
            "--token-file",
            token.to_str().expect("utf-8"),
        ];
        let mut proc = dir.spawn_logged_with_env(&args, log, &TRACE);
        let status = proc.wait(Duration::from_secs(60));
        (status, proc)
    };
    // A worker with the wrong token is refused (the coordinator logs the refusal, not the
    // token it was given); one with the right token runs the study to its end.
    let (status, refused) = worker(&wrong, "refused.log");
    assert!(!status.success(), "{}", refused.log_text());
    assert!(
        refused.log_text().contains("token does not match"),
        "{}",
        refused.log_text()
    );
    let (status, admitted) = worker(&right, "admitted.log");
    assert!(status.success(), "{}", admitted.log_text());
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'complete'"),
        6
    );

    for (what, log) in [
        ("serve", serve.log_text()),
        ("the refused worker", refused.log_text()),
        ("the admitted worker", admitted.log_text()),
    ] {
        // The logs really are at the trace level, requests and all.
        assert!(
            log.contains("TRACE") && log.contains("DEBUG"),
            "{what} did not log at the trace level:{log}"
        );
        for token in [RIGHT, WRONG] {
            assert!(
                !log.contains(token),
                "{what} logged the token {token}:{log}"
            );
        }
    }
    assert_integrity(&db);
}

#[test]
fn an_unknown_study_or_trial_is_one_message_naming_what_exists() {
    let dir = Scratch::new();
    let config = dir.write("branin.toml", &branin_study("branin", 20, 2, 1));
    let db = dir.path("trials.db");
    let db_arg = db.to_str().expect("utf-8");
    let output = dir.run_study(&config, &db, 2, Duration::from_secs(60));
    assert_ok(&output);
    let output = dir.hs(
        &["best", "--study", "nope", "--db", db_arg],
        Duration::from_secs(30),
    );
    assert_one_clear_error(
        &output,
        &["no study named `nope`", "trials.db", "it holds: branin"],
    );
    let output = dir.hs(&["show", "999", "--db", db_arg], Duration::from_secs(30));
    assert_one_clear_error(&output, &["study `branin` has no trial 999"]);
    let missing = dir.path("missing.db");
    let output = dir.hs(
        &["studies", "--db", missing.to_str().expect("utf-8")],
        Duration::from_secs(30),
    );
    assert_one_clear_error(&output, &["cannot open the trials database", "missing.db"]);
    assert!(!missing.exists(), "a query must not create a database");
    assert_integrity(&db);
}

#[test]
fn a_failing_command_fails_its_trials_with_the_tail_of_its_stderr() {
    let dir = Scratch::new();
    let config = dir.write(
        "failing.toml",
        r#"
[study]
name = "failing"
metric = "loss"

[objective]
command = "echo epoch=1 loss=3; echo \"cannot open train.csv for trial $HYPERSEARCH_TRIAL\" >&2; exit 3"

[search]
algorithm = "random"
trials = 4
parallel = 2
failure_retries = 1

[search.space]
x = { float = [0, 1] }
"#,
    );
    let db = dir.path("trials.db");
    let db_arg = db.to_str().expect("utf-8");
    let output = dir.run_study(&config, &db, 2, Duration::from_secs(60));
    // A study without a complete trial ends loudly: exit 1, the first failure's reason.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("ended without a complete trial (4 failed"),
        "{said}"
    );
    assert!(said.contains("the first failure, trial 0:"), "{said}");
    assert!(said.contains("cannot open train.csv for trial 0"), "{said}");
    // Each trial ran twice (one retry for user errors), then failed with the reason.
    let failed = sql(
        &db,
        "SELECT number, attempts, user_failures, infra_failures, error FROM trials",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<i64, _>(1),
                r.get::<i64, _>(2),
                r.get::<i64, _>(3),
                r.get::<String, _>(4),
            )
        },
    );
    assert_eq!(failed.len(), 4);
    for (number, attempts, user, infra, error) in &failed {
        assert_eq!((*attempts, *user, *infra), (2, 2, 0), "{failed:?}");
        assert!(error.contains("exit status: 3"), "{error}");
        assert!(
            error.contains(&format!("cannot open train.csv for trial {number}")),
            "{error}"
        );
    }
    let shown = dir.hs(&["show", "0", "--db", db_arg], Duration::from_secs(30));
    assert_ok(&shown);
    assert!(
        stdout(&shown).contains("failed after 2 attempts"),
        "{}",
        stdout(&shown)
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'failed'"),
        4
    );
    assert_integrity(&db);
}

/// A mistake in the training part of a study is reported at its own line and key, once,
/// in the words of the study file's other errors.
#[test]
fn a_mistake_in_the_training_part_names_its_own_line_and_key() {
    let dir = Scratch::new();
    let example = std::fs::read_to_string(crate::harness::repo("examples/digits-search.toml"))
        .expect("example");
    let cases = [
        ("misspelt key", "patience = 8", "patiense = 8"),
        ("string for an integer", "epochs = 30", "epochs = \"30\""),
        (
            "string for a number",
            "validation_fraction = 0.2",
            "validation_fraction = \"x\"",
        ),
        (
            "unknown optimizer",
            "optimizer = \"adam\"",
            "optimizer = \"adamx\"",
        ),
    ];
    let mut said = String::new();
    for (case, from, to) in cases {
        assert!(example.contains(from), "{from}");
        let config = dir.write("study.toml", &example.replacen(from, to, 1));
        let output = dir.hs(
            &[
                "run",
                config.to_str().expect("utf-8"),
                "--db",
                dir.path("t.db").to_str().expect("utf-8"),
            ],
            Duration::from_secs(30),
        );
        assert!(!output.status.success(), "{case}: accepted");
        let text = stderr(&output).replace(config.to_str().expect("utf-8"), "study.toml");
        assert_eq!(text.matches("study.toml").count(), 1, "{case}: {text}");
        said.push_str(&format!("{case}\n    {}\n", text.trim()));
    }
    insta::assert_snapshot!(said);
}

#[test]
fn a_run_whose_first_trials_all_fail_the_same_way_stops_early_saying_why() {
    let dir = Scratch::new();
    let config = dir.write(
        "study.toml",
        r#"
[study]
name = "misspelt-metric"
metric = "val_accuracy"

[objective]
command = "echo epoch=1 val_acc=0.5"

[search]
algorithm = "random"
trials = 100000
parallel = 2
seed = 1

[search.space]
x = { float = [0, 1] }
"#,
    );
    let db = dir.path("trials.db");
    let output = dir.hs(
        &[
            "run",
            config.to_str().expect("utf-8"),
            "--db",
            db.to_str().expect("utf-8"),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    // The first failure is said as it happens (with two at once, either may be first).
    assert!(
        said.lines()
            .any(|l| l.starts_with("trial ") && l.contains(" failed: the command exited 0")),
        "{said}"
    );
    for part in [
        "stopped: the first 5 trials all failed the same way",
        "`val_accuracy=NUMBER`",
        "the last line it printed: \"epoch=1 val_acc=0.5\"",
        "run the same command again",
    ] {
        assert!(said.contains(part), "`{part}` missing in:\n{said}");
    }
    let failed = sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'failed'");
    // Failing trials take a millisecond each: a few dozen more fail while the run stops.
    assert!(
        (5..1000).contains(&failed),
        "{failed} trials failed before the run stopped"
    );
    assert_eq!(
        sql(&db, "SELECT state FROM studies", |r| r.get::<String, _>(0)),
        vec!["running".to_string()],
        "the study is stopped, not spent"
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM attempts WHERE state = 'running'"),
        0,
        "a trial leased but not started is handed back, not left to expire"
    );

    // Fixed and run again: the study without a successful trial starts anew, its failed
    // trials kept under another name.
    let fixed = dir.write(
        "study.toml",
        &std::fs::read_to_string(&config)
            .expect("the study")
            .replace("metric = \"val_accuracy\"", "metric = \"val_acc\"")
            .replace("trials = 100000", "trials = 4"),
    );
    let output = dir.hs(
        &[
            "run",
            fixed.to_str().expect("utf-8"),
            "--db",
            db.to_str().expect("utf-8"),
        ],
        Duration::from_secs(60),
    );
    assert_ok(&output);
    assert!(
        stderr(&output).contains(
            "study `misspelt-metric` had no successful trial and its file changed: starting it \
             anew; the failed trials are kept as study `misspelt-metric.failed`"
        ),
        "{}",
        stderr(&output)
    );
    let studies = sql(&db, "SELECT name, state FROM studies ORDER BY id", |r| {
        (r.get::<String, _>(0), r.get::<String, _>(1))
    });
    assert_eq!(
        studies,
        vec![
            ("misspelt-metric.failed".to_string(), "running".to_string()),
            ("misspelt-metric".to_string(), "finished".to_string()),
        ]
    );
    assert_eq!(
        sql_count(
            &db,
            "SELECT count(*) FROM trials t JOIN studies s ON s.id = t.study_id \
             WHERE s.name = 'misspelt-metric.failed' AND t.state = 'failed'"
        ),
        failed,
        "the failed trials are kept"
    );
    assert_integrity(&db);
}

#[test]
fn a_served_study_whose_first_trials_all_fail_the_same_way_stops_saying_why() {
    let dir = Scratch::new();
    let config = dir.write(
        "study.toml",
        r#"
[study]
name = "missing-script"
metric = "loss"

[objective]
command = "python3 trian.py"

[search]
algorithm = "random"
trials = 100000
parallel = 2
seed = 1

[search.space]
x = { float = [0, 1] }
"#,
    );
    let db = dir.path("trials.db");
    let (mut serve, address) = dir.serve(&config, &db, &[]);
    let mut worker = dir.spawn_logged(
        &[
            "worker",
            "--coordinator",
            &address,
            "--slots",
            "2",
            "--patience-seconds",
            "2",
        ],
        "worker.log",
    );
    let status = serve.wait(Duration::from_secs(60));
    let said = serve.log_text();
    assert_eq!(status.code(), Some(1), "{said}");
    for part in [
        "trial ",
        " failed: the command exited with exit status: 2; stderr ends with:",
        "stopped: the first 5 trials all failed the same way",
        "a `command` runs in each worker's --workdir",
    ] {
        assert!(said.contains(part), "`{part}` missing in:\n{said}");
    }
    let _ = worker.wait(Duration::from_secs(30));
    let failed = sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'failed'");
    assert!((5..1000).contains(&failed), "{failed} failed: {said}");
    assert_integrity(&db);
}
