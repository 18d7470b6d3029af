//! The `trials` rows: a `hypersearch serve` process and `hypersearch worker` processes on a
//! zero-cost `function` study; the figures are read back from the database it wrote.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::any::AnyConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row as _};

use crate::table::{Row, load_average};

/// How long one configuration may take before it counts as failed.
const LIMIT: Duration = Duration::from_secs(600);

/// The PostgreSQL server the rows use instead of SQLite files (`--postgres`): a URL without
/// a database name, e.g. `postgres://postgres@127.0.0.1:5432`.
pub static POSTGRES: OnceLock<String> = OnceLock::new();

/// A fresh database for one row: a SQLite file in `dir`, or a new PostgreSQL database (its
/// URL in a path) when `--postgres` was given.
pub fn new_database(dir: &Path) -> Result<PathBuf, String> {
    let Some(base) = POSTGRES.get() else {
        return Ok(dir.join("trials.db"));
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "throughput_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?;
    runtime.block_on(async {
        let mut conn = sqlx::postgres::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .map_err(|err| format!("cannot connect to {base}: {err}"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(|err| format!("cannot create database {name}: {err}"))?;
        let _ = conn.close().await;
        Ok(PathBuf::from(format!("{base}/{name}")))
    })
}

/// A fresh directory under `parent` for one row (named `hypersearch-{name}-…`, removed when
/// dropped) holding the study file `study.toml` with `study`; returns it and the file.
pub fn study_dir(
    parent: &Path,
    name: &str,
    study: &str,
) -> Result<(tempfile::TempDir, PathBuf), String> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("hypersearch-{name}-"))
        .tempdir_in(parent)
        .map_err(|err| format!("cannot create a directory in {}: {err}", parent.display()))?;
    let config = dir.path().join("study.toml");
    std::fs::write(&config, study)
        .map_err(|err| format!("cannot write {}: {err}", config.display()))?;
    Ok((dir, config))
}

/// A read-only connection to `db` (a SQLite file, or a PostgreSQL URL in a path).
pub async fn read_connection(db: &Path) -> Result<sqlx::AnyConnection, String> {
    sqlx::any::install_default_drivers();
    let options = match db.to_str().filter(|t| t.starts_with("postgres://")) {
        Some(url) => url.parse::<AnyConnectOptions>(),
        None => AnyConnectOptions::from_url(
            &SqliteConnectOptions::new()
                .filename(db)
                .read_only(true)
                .to_url_lossy(),
        ),
    }
    .map_err(|err| format!("cannot open {}: {err}", db.display()))?;
    options
        .connect()
        .await
        .map_err(|err| format!("cannot open {}: {err}", db.display()))
}

/// The study every `trials` row runs: branin, two floats, random sampling.
pub fn branin_study(name: &str, trials: u64, parallel: u32, extra: &str) -> String {
    format!(
        "[study]\nname = \"{name}\"\nmetric = \"value\"\ndirection = \"minimize\"\n\n\
         [objective]\nfunction = \"branin\"\n\n\
         [search]\nalgorithm = \"random\"\ntrials = {trials}\nparallel = {parallel}\nseed = 1\n\n\
         [search.space]\nx1 = {{ float = [-5, 10] }}\nx2 = {{ float = [0, 15] }}\n{extra}"
    )
}

/// A child process whose stderr goes to a log file; killed if dropped while running.
pub struct Proc {
    child: Child,
    log: PathBuf,
    done: bool,
}

impl Proc {
    /// Starts `bin ARGS` with its stderr in `log`.
    pub fn start(bin: &Path, args: &[&str], log: PathBuf) -> Result<Proc, String> {
        let file = std::fs::File::create(&log)
            .map_err(|err| format!("cannot create {}: {err}", log.display()))?;
        let child = Command::new(bin)
            .args(args)
            .env_remove("HYPERSEARCH_LOG")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", bin.display()))?;
        Ok(Proc {
            child,
            log,
            done: false,
        })
    }

    /// Waits until the log has a line starting with `prefix`; returns the rest of it.
    pub fn wait_for_line(&mut self, prefix: &str) -> Result<String, String> {
        let started = Instant::now();
        loop {
            let text = self.log_text();
            if let Some(rest) = text.lines().find_map(|l| l.strip_prefix(prefix)) {
                return Ok(rest.trim().to_string());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.done = true;
                return Err(format!("exited with {status} before `{prefix}`:\n{text}"));
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!("no `{prefix}` within 30 s:\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the process to exit; true if it succeeded.
    pub fn wait(&mut self, limit: Duration) -> Result<bool, String> {
        let started = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.done = true;
                    return Ok(status.success());
                }
                Ok(None) if started.elapsed() > limit => {
                    return Err(format!(
                        "still running after {limit:?}:\n{}",
                        self.log_text()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(err) => return Err(format!("cannot wait for a child: {err}")),
            }
        }
    }

    /// Whether the process exited (and with success), without waiting.
    pub fn try_done(&mut self) -> Result<Option<bool>, String> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.done = true;
                Ok(Some(status.success()))
            }
            Ok(None) => Ok(None),
            Err(err) => Err(format!("cannot wait for a child: {err}")),
        }
    }

    /// The process's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// What the process logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU seconds (user + system) of this process's waited-for children so far.
pub fn children_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 16 and 17 of stat (cutime, cstime), counted from after the command name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Linux reports these in USER_HZ, which is 100 on every architecture it exports to.
    (ticks(13) + ticks(14)) / 100.0
}

/// Starts `hypersearch serve` on `config` and `db`; returns it and its address.
pub fn serve(bin: &Path, dir: &Path, config: &Path, db: &Path) -> Result<(Proc, String), String> {
    let mut serve = Proc::start(
        bin,
        &[
            "serve",
            path_str(config)?,
            "--listen",
            "127.0.0.1:0",
            "--db",
            path_str(db)?,
        ],
        dir.join("serve.log"),
    )?;
    let address = serve
        .wait_for_line("listening on ")
        .map_err(|err| format!("serve: {err}"))?;
    Ok((serve, format!("http://{address}")))
}

/// A path as UTF-8 text for a command line.
pub fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// Log lines that mean something went wrong (warnings, errors, a locked database).
pub fn trouble(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("database is locked"))
        .map(|l| l.chars().take(160).collect())
        .collect()
}

/// One `trials` row: `slots` worker slots in processes of `per_worker` slots.
pub fn trials_row(
    bin: &Path,
    parent: &Path,
    slots: u32,
    per_worker: u32,
    trials: u64,
) -> Result<Row, String> {
    let load = load_average()[0];
    let (dir, config) = study_dir(
        parent,
        "throughput",
        &branin_study("throughput", trials, slots, ""),
    )?;
    let db = new_database(dir.path())?;
    let cpu_before = children_cpu_seconds();
    let wall = Instant::now();
    let (mut serve, address) = serve(bin, dir.path(), &config, &db)?;
    let per_worker = per_worker.clamp(1, slots.max(1));
    let processes = slots.div_ceil(per_worker);
    let mut workers = Vec::new();
    for i in 0..processes {
        let mine = per_worker.min(slots - i * per_worker).to_string();
        let name = format!("w{i}");
        workers.push(Proc::start(
            bin,
            &[
                "worker",
                "--coordinator",
                &address,
                "--slots",
                &mine,
                "--name",
                &name,
            ],
            dir.path().join(format!("worker-{i}.log")),
        )?);
    }
    let mut errors = Vec::new();
    for (i, worker) in workers.iter_mut().enumerate() {
        if !worker.wait(LIMIT)? {
            errors.push(format!("worker {i} failed:\n{}", worker.log_text()));
        }
        errors.extend(trouble(&worker.log_text()));
    }
    if !serve.wait(LIMIT)? {
        errors.push(format!("serve failed:\n{}", serve.log_text()));
    }
    let wall = wall.elapsed().as_secs_f64();
    errors.extend(trouble(&serve.log_text()));
    let cpu = children_cpu_seconds() - cpu_before;
    let figures = read_figures(&db)?;
    errors.extend(figures.problems(trials));
    Ok(Row {
        mode: "trials",
        slots,
        processes,
        requested: trials,
        recorded: figures.terminal,
        seconds: figures.span,
        wall_seconds: wall,
        reports: 0,
        report_calls: 0,
        cpu_ms_per_trial: (figures.terminal > 0).then(|| 1000.0 * cpu / figures.terminal as f64),
        errors: errors.len() as u64,
        error_kinds: errors,
        load,
        best_ms: None,
    })
}

/// What a finished study's database says.
pub struct Figures {
    /// Trials complete or pruned.
    pub terminal: u64,
    /// Trials failed.
    pub failed: u64,
    /// Trials not over.
    pub unfinished: u64,
    /// Attempts beyond one per trial.
    pub retries: u64,
    /// Seconds from the first attempt's start to the last attempt's end.
    pub span: f64,
    /// Epoch metric rows.
    pub epochs: u64,
}

impl Figures {
    /// What is wrong with a study that should have run `trials` trials cleanly.
    pub fn problems(&self, trials: u64) -> Vec<String> {
        let mut problems = Vec::new();
        if self.terminal != trials {
            problems.push(format!("{} trials recorded of {trials}", self.terminal));
        }
        if self.failed + self.unfinished + self.retries > 0 {
            problems.push(format!(
                "{} failed, {} unfinished, {} retried",
                self.failed, self.unfinished, self.retries
            ));
        }
        problems
    }
}

/// Reads the figures back from `db` (read-only).
pub fn read_figures(db: &Path) -> Result<Figures, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?;
    runtime.block_on(async {
        let mut conn = read_connection(db).await?;
        let span = if db.to_str().is_some_and(|t| t.starts_with("postgres://")) {
            "SELECT EXTRACT(EPOCH FROM (max(finished_at)::timestamptz - \
             min(started_at)::timestamptz))::float8 FROM attempts"
        } else {
            "SELECT (julianday(max(finished_at)) - julianday(min(started_at))) * 86400.0 \
             FROM attempts"
        };
        let span: Option<f64> = sqlx::query_scalar(span)
            .fetch_one(&mut conn)
            .await
            .map_err(|err| format!("cannot read {}: {err}", db.display()))?;
        let row = sqlx::query(
            "SELECT \
               (SELECT count(*) FROM trials WHERE state IN ('complete', 'pruned')), \
               (SELECT count(*) FROM trials WHERE state = 'failed'), \
               (SELECT count(*) FROM trials WHERE state IN ('queued', 'running')), \
               (SELECT count(*) FROM attempts) - (SELECT count(*) FROM trials WHERE attempts > 0), \
               (SELECT count(*) FROM epoch_metrics)",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|err| format!("cannot read {}: {err}", db.display()))?;
        let count = |i: usize| u64::try_from(row.get::<i64, _>(i)).unwrap_or(0);
        let figures = Figures {
            terminal: count(0),
            failed: count(1),
            unfinished: count(2),
            retries: count(3),
            span: span.unwrap_or(0.0),
            epochs: count(4),
        };
        let _ = conn.close().await;
        Ok(figures)
    })
}
