//! The `flat` row: whether a trial costs the same at the end of a large study as at its
//! start. One `hypersearch run --workers 8` (coordinator and local workers in one process, as
//! a new user runs it) on a zero-cost random branin study; completions per second per block
//! of trials are read back from the stored `finished_at`, and the process's peak resident
//! memory is sampled from `/proc` while it runs.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::{Connection, Row as _};

use crate::cluster::{
    Proc, branin_study, new_database, path_str, read_connection, study_dir, trouble,
};

/// What one large study measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlatRow {
    /// Trials in the study.
    pub trials: u64,
    /// Local worker slots.
    pub slots: u32,
    /// Trials per block.
    pub block: u64,
    /// Completions per second of each block, in order.
    pub rates: Vec<f64>,
    /// The last block's rate over the first's.
    pub last_over_first: f64,
    /// Peak resident memory of the `run` process, in MiB.
    pub peak_rss_mib: f64,
    /// Wall seconds of the whole run.
    pub wall_seconds: f64,
    /// What went wrong (warnings in the log, trials missing).
    pub errors: Vec<String>,
}

impl FlatRow {
    /// One line for the terminal.
    pub fn summary(&self) -> String {
        let rates: Vec<String> = self.rates.iter().map(|r| format!("{r:.0}")).collect();
        format!(
            "flat: {} trials, {} slots, per {} trials: {} trials/s; last/first {:.2}; peak RSS {:.0} MiB; {:.1} s; {} errors",
            self.trials,
            self.slots,
            self.block,
            rates.join(" · "),
            self.last_over_first,
            self.peak_rss_mib,
            self.wall_seconds,
            self.errors.len()
        )
    }
}

/// Runs the study and reads the curve back.
pub fn flat_row(
    bin: &Path,
    parent: &Path,
    trials: u64,
    slots: u32,
    block: u64,
) -> Result<FlatRow, String> {
    let (dir, config) = study_dir(parent, "flat", &branin_study("flat", trials, slots, ""))?;
    let db = new_database(dir.path())?;
    let started = Instant::now();
    let slots_text = slots.to_string();
    let mut run = Proc::start(
        bin,
        &[
            "run",
            path_str(&config)?,
            "--workers",
            &slots_text,
            "--db",
            path_str(&db)?,
        ],
        dir.path().join("run.log"),
    )?;
    let mut peak_kib = 0u64;
    let ok = loop {
        peak_kib = peak_kib.max(run.peak_rss_kib().unwrap_or(0));
        if let Some(done) = run.try_done()? {
            break done;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            return Err("the study did not finish within an hour".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let wall_seconds = started.elapsed().as_secs_f64();
    let mut errors = trouble(&run.log_text());
    if !ok {
        errors.push(format!("run failed:\n{}", run.log_text()));
    }
    let rates = block_rates(&db, block)?;
    let done = rates.len() as u64 * block;
    if done < trials - trials % block {
        errors.push(format!("only {done} trials in full blocks of {trials}"));
    }
    let last_over_first = match (rates.first(), rates.last()) {
        (Some(first), Some(last)) if *first > 0.0 => last / first,
        _ => f64::NAN,
    };
    Ok(FlatRow {
        trials,
        slots,
        block,
        rates,
        last_over_first,
        peak_rss_mib: peak_kib as f64 / 1024.0,
        wall_seconds,
        errors,
    })
}

/// Completions per second of each full block of `block` trials, in finishing order.
fn block_rates(db: &Path, block: u64) -> Result<Vec<f64>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?;
    runtime.block_on(async {
        let mut conn = read_connection(db).await?;
        let seconds = if db.to_str().is_some_and(|t| t.starts_with("postgres://")) {
            "SELECT EXTRACT(EPOCH FROM finished_at::timestamptz)::float8 FROM trials \
             WHERE finished_at IS NOT NULL ORDER BY finished_at"
        } else {
            "SELECT julianday(finished_at) * 86400.0 FROM trials \
             WHERE finished_at IS NOT NULL ORDER BY finished_at"
        };
        let rows = sqlx::query(seconds)
            .fetch_all(&mut conn)
            .await
            .map_err(|err| format!("cannot read {}: {err}", db.display()))?;
        let _ = conn.close().await;
        let times: Vec<f64> = rows.iter().map(|r| r.get::<f64, _>(0)).collect();
        let block = block.max(1) as usize;
        let mut rates = Vec::new();
        let mut start = times.first().copied().unwrap_or(0.0);
        for chunk in times.chunks(block) {
            if chunk.len() < block {
                break;
            }
            let end = chunk[chunk.len() - 1];
            rates.push(block as f64 / (end - start).max(1e-3));
            start = end;
        }
        Ok(rates)
    })
}
