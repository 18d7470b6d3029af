//! `hypersearch run` on the README's example: it finishes, prints the best trials, and a
//! second run resumes the study instead of starting another.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::Row;

use crate::harness::{
    Scratch, assert_integrity, assert_ok, branin_study, heavy, on_both_stores, repo, sql,
    sql_count, stderr, stdout,
};

#[test]
fn run_finishes_prints_the_best_trials_and_resumes_after_an_interruption() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let example = repo("examples/digits-search.toml");
    let example = example.to_str().expect("utf-8");
    let db = dir.path("digits.db");
    let db_arg = db.to_str().expect("utf-8");

    // Interrupt the first run part-way (Ctrl-C), as a person might.
    let mut first = dir.spawn(&["run", example, "--db", db_arg, "--workers", "2"]);
    let started = Instant::now();
    // The file appears before its tables: wait for the migrations, then for ten trials.
    while !db.exists()
        || sql_count(
            &db,
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'trials'",
        ) == 0
        || sql_count(
            &db,
            "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned')",
        ) < 10
    {
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        if let Some(status) = first.child.try_wait().expect("poll run") {
            panic!("run ended early with {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    first.interrupt();
    let interrupted = first.output();
    assert_eq!(
        interrupted.status.code(),
        Some(130),
        "{}",
        stderr(&interrupted)
    );
    assert!(stderr(&interrupted).contains("run the same command again to resume"));
    let done_before = sql(
        &db,
        "SELECT number, value FROM trials WHERE state = 'complete' ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<f64, _>(1)),
    );
    assert!(!done_before.is_empty());

    let second = dir.hs(
        &["run", example, "--db", db_arg, "--workers", "2"],
        Duration::from_secs(300),
    );
    assert_ok(&second);
    assert!(
        stderr(&second).contains("resuming study `digits-search`"),
        "{}",
        stderr(&second)
    );
    let out = stdout(&second);
    assert!(
        out.contains("best trials of study `digits-search`"),
        "{out}"
    );
    assert!(
        out.contains("val_accuracy (max)") && out.contains("units=["),
        "{out}"
    );

    assert_eq!(sql_count(&db, "SELECT count(*) FROM studies"), 1);
    assert_eq!(sql_count(&db, "SELECT count(*) FROM trials"), 60);
    assert_eq!(
        sql_count(&db, "SELECT count(DISTINCT number) FROM trials"),
        60
    );
    assert_eq!(
        sql_count(
            &db,
            "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned', 'failed')"
        ),
        60
    );
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'failed'"),
        0
    );
    let done_after = sql(
        &db,
        "SELECT number, value FROM trials WHERE state = 'complete' ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<f64, _>(1)),
    );
    for trial in &done_before {
        assert!(
            done_after.contains(trial),
            "trial {trial:?} changed after the resume"
        );
    }

    // A third run finds the study finished and only prints it.
    let third = dir.hs(&["run", example, "--db", db_arg], Duration::from_secs(60));
    assert_ok(&third);
    assert!(
        stderr(&third).contains("already finished"),
        "{}",
        stderr(&third)
    );
    assert_eq!(sql_count(&db, "SELECT count(*) FROM trials"), 60);
    assert_integrity(&db);
}

fn a_finished_study_resumes_with_new_comments_and_a_raised_budget(dir: &Scratch, db: &Path) {
    let config = dir.write("study.toml", &branin_study("resumable", 6, 1, 3));
    let config_arg = config.to_str().expect("utf-8");
    let db_arg = db.to_str().expect("utf-8");
    assert_ok(&dir.hs(
        &["run", config_arg, "--db", db_arg],
        Duration::from_secs(60),
    ));
    let first: Vec<(i64, f64)> = sql(
        db,
        "SELECT number, value FROM trials ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<f64, _>(1)),
    );
    assert_eq!(first.len(), 6);

    // Comments, layout and a larger budget: the same study, run further.
    dir.write(
        "study.toml",
        &branin_study("resumable", 6, 1, 3)
            .replace(
                "trials = 6\nparallel = 1",
                "trials = 12   # six more\nparallel = 2",
            )
            .replace("[search.space]", "# where to look\n[search.space]"),
    );
    let more = dir.hs(
        &["run", config_arg, "--db", db_arg],
        Duration::from_secs(60),
    );
    assert_ok(&more);
    assert!(
        stderr(&more).contains("study `resumable`: trial budget raised from 6 to 12"),
        "{}",
        stderr(&more)
    );
    assert_eq!(sql_count(db, "SELECT count(*) FROM studies"), 1);
    assert_eq!(
        sql_count(db, "SELECT count(*) FROM trials WHERE state = 'complete'"),
        12
    );
    assert_eq!(
        sql_count(db, "SELECT budget FROM studies"),
        12,
        "the new budget is stored"
    );
    let kept: Vec<(i64, f64)> = sql(
        db,
        "SELECT number, value FROM trials WHERE number < 6 ORDER BY number",
        |r| (r.get::<i64, _>(0), r.get::<f64, _>(1)),
    );
    assert_eq!(kept, first, "the first six trials are kept as they were");
    assert_eq!(
        sql(db, "SELECT state FROM studies", |r| r.get::<String, _>(0)),
        vec!["finished".to_string()]
    );
    assert_integrity(db);
}

on_both_stores!(
    sqlite_a_finished_study_resumes_with_new_comments_and_a_raised_budget,
    postgres_a_finished_study_resumes_with_new_comments_and_a_raised_budget,
    a_finished_study_resumes_with_new_comments_and_a_raised_budget
);

#[test]
fn a_changed_space_is_refused_naming_each_difference_and_the_study_is_untouched() {
    let dir = Scratch::new();
    let config = dir.write("study.toml", &branin_study("resumable", 6, 1, 3));
    let config_arg = config.to_str().expect("utf-8");
    let db = dir.path("trials.db");
    let db_arg = db.to_str().expect("utf-8");
    assert_ok(&dir.hs(
        &["run", config_arg, "--db", db_arg],
        Duration::from_secs(60),
    ));
    let before = sql(&db, "SELECT config, budget FROM studies", |r| {
        (r.get::<String, _>(0), r.get::<i64, _>(1))
    });

    dir.write(
        "study.toml",
        &branin_study("resumable", 6, 1, 3)
            .replace("x2 = { float = [0, 15] }", "x2 = { float = [0, 12] }")
            .replace("seed = 3", "seed = 4"),
    );
    let refused = dir.hs(
        &["run", config_arg, "--db", db_arg],
        Duration::from_secs(60),
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let message = stderr(&refused);
    for part in [
        "already exists",
        "search.seed: 3 -> 4",
        "search.space.x2.float high: 15.0 -> 12.0",
        "may change only trials",
    ] {
        assert!(message.contains(part), "`{part}` missing in:\n{message}");
    }

    dir.write("study.toml", &branin_study("resumable", 4, 1, 3));
    let lowered = dir.hs(
        &["run", config_arg, "--db", db_arg],
        Duration::from_secs(60),
    );
    assert_eq!(lowered.status.code(), Some(1), "{}", stderr(&lowered));
    assert!(
        stderr(&lowered).contains("has 6 trials already"),
        "{}",
        stderr(&lowered)
    );
    let after = sql(&db, "SELECT config, budget FROM studies", |r| {
        (r.get::<String, _>(0), r.get::<i64, _>(1))
    });
    assert_eq!(after, before, "a refused resume changes nothing");
    assert_integrity(&db);
}

#[test]
fn the_command_example_runs_its_script_next_to_the_study_file_from_anywhere() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let db = dir.path("command.db");
    let example = repo("examples/command-study.toml");
    // The scratch directory is the working directory: the script is found next to the study.
    let output = dir.hs(
        &[
            "run",
            example.to_str().expect("utf-8"),
            "--db",
            db.to_str().expect("utf-8"),
        ],
        Duration::from_secs(120),
    );
    assert_ok(&output);
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'failed'"),
        0,
        "{}",
        stderr(&output)
    );
    assert_eq!(
        sql_count(
            &db,
            "SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned')"
        ),
        30
    );
    // The script read its parameters: different learning rates, different results.
    assert!(
        sql_count(
            &db,
            "SELECT count(DISTINCT value) FROM trials WHERE state = 'complete'"
        ) > 5,
        "every trial scored the same"
    );
    assert_integrity(&db);
}

#[test]
fn a_worker_runs_commands_in_its_workdir() {
    let dir = Scratch::new();
    let config = dir.write(
        "study.toml",
        r#"
[study]
name = "workdir"
metric = "loss"

[objective]
command = "sh ./score.sh"

[search]
algorithm = "random"
trials = 3
seed = 1

[search.space]
x = { float = [0, 1] }
"#,
    );
    let scripts = dir.path("scripts");
    std::fs::create_dir_all(&scripts).expect("a directory");
    std::fs::write(scripts.join("score.sh"), "echo loss=0.25\n").expect("a script");
    let db = dir.path("trials.db");
    let (mut serve, address) =
        crate::faults::support::serve_on(&dir, &config, &db, "127.0.0.1:0", "serve.log", &[]);
    let worker = dir.hs(
        &[
            "worker",
            "--coordinator",
            &address,
            "--workdir",
            scripts.to_str().expect("utf-8"),
        ],
        Duration::from_secs(60),
    );
    assert_ok(&worker);
    assert!(serve.wait(Duration::from_secs(30)).success());
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE value = 0.25"),
        3
    );
    let missing = dir.hs(
        &[
            "worker",
            "--coordinator",
            &address,
            "--workdir",
            "no-such-dir",
        ],
        Duration::from_secs(30),
    );
    crate::harness::assert_one_clear_error(&missing, &["--workdir no-such-dir", "not a directory"]);
}
