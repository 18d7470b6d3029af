//! The `best` row: a study of many finished trials written through the coordinator's own
//! store (the rows a real run writes: trial, attempt, outcome), then `hypersearch best`
//! timed as a user runs it, the whole process.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use hypersearch_coordinator::store::{
    AttemptEnd, Location, StudyDefinition, TrialState, TrialUpdate, WriteOp, Writer,
    create_or_resume, open_for_writing,
};
use hypersearch_proto::{Direction, FailureKind, LeaseId};

use crate::cluster::{branin_study, path_str};
use crate::table::{Row, load_average};

/// Timed runs of the command (after one untimed run that warms the page cache).
const RUNS: usize = 21;

/// A deterministic stream of numbers in [0, 1) (SplitMix64).
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes a study of `trials` finished trials (80 % complete, 15 % pruned, 5 % failed).
async fn build(db: &Path, trials: u64) -> Result<(), String> {
    let err = |e: hypersearch_coordinator::Error| e.to_string();
    let location = Location::parse(path_str(db)?).map_err(err)?;
    let mut conn = open_for_writing(&location).await.map_err(err)?;
    let definition = StudyDefinition {
        name: "large".into(),
        metric: "value".into(),
        direction: Direction::Minimize,
        algorithm: "random".into(),
        budget: trials,
        config: branin_study("large", trials, 8, ""),
        objective_metrics: Vec::new(),
    };
    let study = create_or_resume(&mut conn, &definition, &location.to_string())
        .await
        .map_err(err)?;
    drop(conn);
    let writer = Writer::open_at(&location, study.id, HashMap::new())
        .await
        .map_err(err)?;
    let worker = writer
        .submit(WriteOp::RegisterWorker {
            name: "bench".into(),
            hostname: "bench".into(),
            slots: 8,
            version: "bench".into(),
            credential_sha256: String::new(),
        })
        .await
        .map_err(err)?;
    let worker_id = u64::try_from(worker).unwrap_or(1);
    let mut draws = Draws(7);
    let mut acks = Vec::new();
    for number in 0..trials {
        let (x1, x2) = (-5.0 + 15.0 * draws.next(), 15.0 * draws.next());
        let params = format!("{{\"x1\":{x1},\"x2\":{x2}}}");
        let lease = LeaseId {
            trial: number,
            attempt: 1,
            token: number.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        };
        let value = 0.4 + 300.0 * draws.next();
        let kind = draws.next();
        let (end, update) = if kind < 0.80 {
            (
                AttemptEnd {
                    state: "complete",
                    failure: None,
                    error: None,
                },
                TrialUpdate::Terminal {
                    state: TrialState::Complete,
                    value: Some(value),
                    metrics: Some(format!("{{\"value\":{value}}}")),
                    error: None,
                    infra_failures: 0,
                    user_failures: 0,
                },
            )
        } else if kind < 0.95 {
            (
                AttemptEnd {
                    state: "pruned",
                    failure: None,
                    error: None,
                },
                TrialUpdate::Terminal {
                    state: TrialState::Pruned,
                    value: Some(value),
                    metrics: None,
                    error: None,
                    infra_failures: 0,
                    user_failures: 0,
                },
            )
        } else {
            (
                AttemptEnd {
                    state: "failed",
                    failure: Some(FailureKind::User),
                    error: Some("diverged".into()),
                },
                TrialUpdate::Terminal {
                    state: TrialState::Failed,
                    value: None,
                    metrics: None,
                    error: Some("diverged".into()),
                    infra_failures: 0,
                    user_failures: 1,
                },
            )
        };
        acks.push(writer.enqueue(WriteOp::InsertTrial {
            number,
            params: params.clone(),
            overrides: params,
        }));
        acks.push(writer.enqueue(WriteOp::StartAttempt {
            number,
            lease,
            worker_id,
        }));
        acks.push(writer.enqueue(WriteOp::FinishAttempt {
            number,
            lease,
            end,
            trial: update,
        }));
        if acks.len() >= 30_000 {
            for ack in acks.drain(..) {
                ack.wait().await.map_err(err)?;
            }
        }
    }
    for ack in acks {
        ack.wait().await.map_err(err)?;
    }
    writer.submit(WriteOp::FinishStudy).await.map_err(err)?;
    Ok(())
}

/// The `best` row on a study of `trials` trials.
pub async fn best_row(bin: &Path, parent: &Path, trials: u64) -> Result<Row, String> {
    let dir = tempfile::Builder::new()
        .prefix("hypersearch-best-")
        .tempdir_in(parent)
        .map_err(|err| format!("cannot create a directory in {}: {err}", parent.display()))?;
    let db = tokio::task::block_in_place(|| crate::cluster::new_database(dir.path()))?;
    if std::env::var_os("KEEP_DB").is_some() {
        eprintln!("keeping the database: {}", db.display());
        let _ = dir.keep();
    }
    let started = Instant::now();
    build(&db, trials).await?;
    eprintln!(
        "wrote a {trials}-trial study in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let load = load_average()[0];
    let args = [
        "best",
        "--db",
        path_str(&db)?,
        "--top",
        "10",
        "--format",
        "json",
    ];
    let mut times = Vec::with_capacity(RUNS);
    let mut errors = Vec::new();
    for run in 0..=RUNS {
        let started = Instant::now();
        let output = Command::new(bin)
            .args(args)
            .output()
            .map_err(|err| format!("cannot run {}: {err}", bin.display()))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if !output.status.success() {
            errors.push(String::from_utf8_lossy(&output.stderr).into_owned());
            continue;
        }
        let shown: serde_json::Value = serde_json::from_slice(&output.stdout)
            .map_err(|err| format!("best printed no JSON: {err}"))?;
        if shown.as_array().map(Vec::len) != Some(10) {
            errors.push(format!("best printed {shown}"));
        }
        if run > 0 {
            times.push(ms);
        }
    }
    // Every trial as CSV, streamed to a pipe: rows per second.
    let started = Instant::now();
    let output = Command::new(bin)
        .args(["trials", "--db", path_str(&db)?, "--format", "csv"])
        .output()
        .map_err(|err| format!("cannot run {}: {err}", bin.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let rows = output
        .stdout
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        .saturating_sub(1);
    if !output.status.success() || rows as u64 != trials {
        errors.push(format!(
            "trials --format csv printed {rows} rows: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    eprintln!(
        "trials --format csv: {rows} rows in {seconds:.2} s = {:.0} rows/s",
        rows as f64 / seconds
    );
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    let worst = times.last().copied().unwrap_or(f64::NAN);
    Ok(Row {
        mode: "best",
        slots: 0,
        processes: RUNS as u32,
        requested: trials,
        recorded: trials,
        seconds: 0.0,
        wall_seconds: 0.0,
        reports: 0,
        report_calls: 0,
        cpu_ms_per_trial: None,
        errors: errors.len() as u64,
        error_kinds: errors,
        load,
        best_ms: Some((median, worst)),
    })
}
