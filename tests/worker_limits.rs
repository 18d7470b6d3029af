//! A training command that prints the widest metrics the protocol allows, for many epochs:
//! 300 epochs of 256 metrics with ~244-byte names are ~19 MB. The coordinator is paused
//! while the command prints all but its first epoch, so the worker has ~299 epochs queued
//! when it next reports: 256 of them in one report would pass the 4 MiB message limit. The
//! worker splits its reports by size, so the trial completes with every epoch recorded; the
//! worker stays up, runs the other trials, and the study ends. (A report the coordinator
//! still refused would fail that trial alone, as a user error: see the worker's `client`
//! unit tests.)

use std::path::Path;
use std::time::Duration;

use sqlx::Row;

use crate::faults::support::{
    assert_all_over, assert_exits_ok, attempts_ran, serve_on, signal, wait_for, worker,
};
use crate::harness::{Scratch, heavy, sql, sql_count};

/// Trial 0 prints its first epoch, waits for the `go` file, then prints 299 more epochs of
/// `loss` plus 255 metrics named by 240 `m`s and four digits, then makes the `done` file;
/// the other trials print one narrow epoch.
fn study(go: &Path, done: &Path) -> String {
    format!(
        r#"
[study]
name = "worker-limits"
metric = "loss"

[objective]
command = '''
if [ "$HYPERSEARCH_TRIAL" -eq 0 ]; then
  echo "epoch=1 loss=1"
  while [ ! -e "{go}" ]; do sleep 0.02; done
  awk 'BEGIN {{
    pad = ""; for (j = 0; j < 240; j++) pad = pad "m";
    for (e = 2; e <= 300; e++) {{
      line = "epoch=" e " loss=" (1 / e);
      for (i = 0; i < 255; i++) line = line " " pad sprintf("%04d", i) "=" e;
      print line;
    }}
  }}'
  touch "{done}"
else
  echo "epoch=1 loss=1"; echo "loss=0.5"
fi
'''

[search]
algorithm = "random"
trials = 3
parallel = 2
failure_retries = 1
seed = 7

[search.space]
x = {{ float = [0, 1] }}
"#,
        go = go.display(),
        done = done.display()
    )
}

#[test]
fn the_widest_legal_metrics_for_many_epochs_do_not_bring_the_worker_down() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let (go, done) = (dir.path("go"), dir.path("done"));
    let config = dir.write("study.toml", &study(&go, &done));
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(&dir, &config, &db, "127.0.0.1:0", "serve.log", &[]);
    let mut only = worker(&dir, &address, "only", 2);
    wait_for("trial 0's first epoch", Duration::from_secs(30), || {
        let recorded = sql_count(
            &db,
            "SELECT count(*) FROM epoch_metrics e JOIN trials t ON t.id = e.trial_id \
             WHERE t.number = 0",
        );
        (recorded > 0).then_some(())
    });
    signal(&serve, "STOP");
    std::fs::write(&go, "").expect("write the go file");
    wait_for("the wide epochs", Duration::from_secs(30), || {
        done.exists().then_some(())
    });
    // Time for the worker to read and queue them.
    std::thread::sleep(Duration::from_millis(300));
    signal(&serve, "CONT");
    assert_exits_ok(&mut only, Duration::from_secs(90));
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert_all_over(&db, 3);

    let trials = sql(
        &db,
        "SELECT number, state, user_failures, infra_failures, coalesce(error, '') \
         FROM trials ORDER BY number",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<String, _>(1),
                (r.get::<i64, _>(2), r.get::<i64, _>(3)),
                r.get::<String, _>(4),
            )
        },
    );
    // With reports split by size, every trial completes, the wide one with all its epochs.
    for (number, state, failures, error) in &trials {
        assert_eq!(
            (state.as_str(), *failures, error.as_str()),
            ("complete", (0, 0), ""),
            "trial {number}: {trials:?}"
        );
    }
    assert_eq!(
        sql_count(
            &db,
            "SELECT count(DISTINCT epoch) FROM epoch_metrics e JOIN trials t \
             ON t.id = e.trial_id WHERE t.number = 0"
        ),
        300
    );
    assert_eq!(
        sql_count(
            &db,
            "SELECT count(*) FROM epoch_metrics e JOIN trials t \
             ON t.id = e.trial_id WHERE t.number = 0 AND e.epoch = 300"
        ),
        256
    );
    // One worker ran everything, never registering again.
    assert_eq!(attempts_ran(&only), 3);
    assert_eq!(sql_count(&db, "SELECT count(*) FROM workers"), 1);
    let log = only.log_text();
    assert!(!log.contains("h2 protocol error"), "{log}");
}
