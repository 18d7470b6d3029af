//! A training command that prints more than the protocol carries (more than 256 distinct
//! metric names, a metric name over 256 bytes) fails its trial as a user error naming the
//! limit; the worker running it stays up, runs the rest of the study and the study finishes.
//! (Sent as-is, such metrics would be refused by the coordinator, and a refused message ends
//! the worker: the trial would then go from worker to worker, killing each.)

use std::time::Duration;

use sqlx::Row;

use crate::faults::support::{assert_all_over, assert_exits_ok, attempts_ran, serve_on, worker};
use crate::harness::{Scratch, sql, sql_count};

/// Trials 0 and 3 print 300 distinct keys, trials 1 and 4 a 300-byte key after a first
/// epoch, trials 2 and 5 behave.
const STUDY: &str = r#"
[study]
name = "command-limits"
metric = "loss"

[objective]
command = '''
case $((HYPERSEARCH_TRIAL % 3)) in
  0) for i in $(seq 1 300); do echo "k$i=1"; done ;;
  1) echo "epoch=1 loss=2"; echo "$(printf 'k%.0s' $(seq 1 300))=1" ;;
  *) echo "epoch=1 loss=1"; echo "loss=0.5" ;;
esac
'''

[search]
algorithm = "random"
trials = 6
parallel = 2
failure_retries = 1
seed = 5

[search.space]
x = { float = [0, 1] }
"#;

#[test]
fn metrics_past_the_protocols_limits_fail_the_trial_as_a_user_error_and_the_worker_goes_on() {
    let dir = Scratch::new();
    let config = dir.write("study.toml", STUDY);
    let db = dir.path("trials.db");
    let (mut serve, address) = serve_on(&dir, &config, &db, "127.0.0.1:0", "serve.log", &[]);
    let mut only = worker(&dir, &address, "only", 2);
    assert_exits_ok(&mut only, Duration::from_secs(60));
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert_all_over(&db, 6);

    let trials = sql(
        &db,
        "SELECT number, state, attempts, user_failures, infra_failures, coalesce(error, '') \
         FROM trials ORDER BY number",
        |r| {
            (
                r.get::<i64, _>(0),
                r.get::<String, _>(1),
                (r.get::<i64, _>(2), r.get::<i64, _>(3), r.get::<i64, _>(4)),
                r.get::<String, _>(5),
            )
        },
    );
    for (number, state, counts, error) in &trials {
        let expected: &[&str] = match number % 3 {
            0 => &[
                "more than 256 distinct metric names (the 257th: `k257`)",
                "at most 256 metrics",
            ],
            1 => &["a metric name of 300 bytes", "at most 256 bytes"],
            _ => {
                assert_eq!(
                    (state.as_str(), *counts),
                    ("complete", (1, 0, 0)),
                    "{trials:?}"
                );
                continue;
            }
        };
        // One retry for a user error, then failed; never counted as infrastructure.
        assert_eq!(
            (state.as_str(), *counts),
            ("failed", (2, 2, 0)),
            "{trials:?}"
        );
        for part in expected {
            assert!(
                error.contains(part),
                "trial {number}: `{part}` missing from {error:?}"
            );
        }
        assert!(error.len() < 1024, "trial {number}: {error:?}");
    }
    // Every attempt ran on the one worker, which never had to register again.
    assert_eq!(attempts_ran(&only), 10);
    assert_eq!(
        sql_count(&db, "SELECT count(DISTINCT worker_id) FROM attempts"),
        1
    );
    assert_eq!(sql_count(&db, "SELECT count(*) FROM workers"), 1);
    let log = only.log_text();
    assert!(
        !log.contains("INVALID_ARGUMENT") && !log.contains("invalid `"),
        "{log}"
    );
}
