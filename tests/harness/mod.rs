//! What the end-to-end tests share: the `hypersearch` binary, temporary directories, child
//! processes that are killed when a test fails, and read-only SQL on the trials database.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hypersearch")
}

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

static HEAVY: Mutex<()> = Mutex::new(());

/// A training program in shell for `command` objectives: it reads the float `x` from the
/// trial's parameters and prints, for each epoch `e` from 1 to `epochs`, the line
/// `epoch=E ` followed by awk's `printf` of `format` with `values` (in terms of `x` and `e`),
/// e.g. `curve_script(8, "loss=%.6f", "(1 + 4 * x) / e")`.
pub fn curve_script(epochs: u32, format: &str, values: &str) -> String {
    format!(
        r#"#!/bin/sh
x=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"x":\([-0-9.eE+]*\).*/\1/')
e=1
while [ "$e" -le {epochs} ]; do
  awk -v x="$x" -v e="$e" 'BEGIN {{ printf "epoch=%d {format}\n", e, {values} }}'
  e=$((e + 1))
done
"#
    )
}

/// A random search over the built-in branin function, the study most end-to-end tests run
/// when what they check is not the objective: `trials` in all, `parallel` at a time.
pub fn branin_study(name: &str, trials: u32, parallel: u32, seed: u64) -> String {
    format!(
        r#"
[study]
name = "{name}"

[objective]
function = "branin"

[search]
algorithm = "random"
trials = {trials}
parallel = {parallel}
seed = {seed}

[search.space]
x1 = {{ float = [-5, 10] }}
x2 = {{ float = [0, 15] }}
"#
    )
}

/// Serializes the tests that train networks or run many processes (CI has 2 cores).
pub fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A temporary directory for one test.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// A fresh directory.
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// The path of `name` inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name`; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write a test file");
        path
    }

    /// Runs `hypersearch ARGS` here to completion (at most `limit`).
    pub fn hs(&self, args: &[&str], limit: Duration) -> Output {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = Proc::new(child.expect("start hypersearch"), args);
        child.wait(limit);
        child.output()
    }

    /// Runs `hypersearch ARGS --format json` here (at most 60 s), which must succeed, and
    /// parses what it prints.
    pub fn hs_json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.extend_from_slice(&["--format", "json"]);
        let output = self.hs(&args, Duration::from_secs(60));
        assert_ok(&output);
        serde_json::from_str(&stdout(&output)).expect("JSON output")
    }

    /// Runs `hypersearch run CONFIG --db DB --workers WORKERS` here to completion (at most
    /// `limit`).
    pub fn run_study(&self, config: &Path, db: &Path, workers: u32, limit: Duration) -> Output {
        let workers = workers.to_string();
        self.hs(
            &["run", path(config), "--db", path(db), "--workers", &workers],
            limit,
        )
    }

    /// `hypersearch ARGS` run from this directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bin());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("HYPERSEARCH_LOG")
            .env_remove("HYPERSEARCH_DB")
            .env_remove("HYPERSEARCH_TOKEN_FILE");
        command
    }

    /// Starts `hypersearch ARGS` in the background, its output captured.
    pub fn spawn(&self, args: &[&str]) -> Proc {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hypersearch");
        Proc::new(child, args)
    }

    /// Starts `hypersearch ARGS` in the background, its stderr in the file `log` here (what
    /// [`Proc::log_text`] shows), its stdout dropped.
    pub fn spawn_logged(&self, args: &[&str], log: &str) -> Proc {
        self.spawn_logged_with_env(args, log, &[])
    }

    /// [`Scratch::spawn_logged`] with extra environment variables.
    pub fn spawn_logged_with_env(&self, args: &[&str], log: &str, env: &[(&str, &str)]) -> Proc {
        let log = self.path(log);
        let child = self
            .command(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("start hypersearch");
        let mut proc = Proc::new(child, args);
        proc.log = Some(log);
        proc
    }

    /// Starts `hypersearch serve CONFIG --listen 127.0.0.1:0 EXTRA...` and waits until it
    /// listens; returns it with its address.
    pub fn serve(&self, config: &Path, db: &Path, extra: &[&str]) -> (Proc, String) {
        self.serve_with_env(config, db, extra, &[])
    }

    /// [`Scratch::serve`] with extra environment variables for the coordinator.
    pub fn serve_with_env(
        &self,
        config: &Path,
        db: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (Proc, String) {
        let mut args = vec![
            "serve",
            config.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
            "--db",
            db.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        let log = self.path(&format!("serve-{}.log", std::process::id()));
        let child = self
            .command(&args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("start hypersearch serve");
        let mut proc = Proc::new(child, &args);
        proc.log = Some(log);
        let address = proc.listening();
        (proc, address)
    }
}

/// Runs any program to completion (at most `limit`), its output captured.
pub fn run_program(command: &mut Command, limit: Duration) -> Output {
    let what = format!("{command:?}");
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
    let mut proc = Proc::new(child, &[]);
    proc.what = what;
    proc.wait(limit);
    proc.output()
}

/// Starts any program in the background, its stdout and stderr in the file `log` (what
/// [`Proc::log_text`] shows); it is killed if the test ends first.
pub fn spawn_program(command: &mut Command, log: &Path) -> Proc {
    let what = format!("{command:?}");
    let file = std::fs::File::create(log).expect("a log file");
    let child = command
        .stdout(file.try_clone().expect("a second handle on the log file"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
    let mut proc = Proc::new(child, &[]);
    proc.what = what;
    proc.log = Some(log.to_path_buf());
    proc
}

/// A child process, killed if the test ends before it does.
pub struct Proc {
    /// The process.
    pub child: Child,
    what: String,
    status: Option<ExitStatus>,
    log: Option<PathBuf>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Proc {
    fn new(child: Child, args: &[&str]) -> Proc {
        Proc {
            child,
            what: format!("hypersearch {}", args.join(" ")),
            status: None,
            log: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Waits for the process to exit, reading its output; fails the test after `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        // Read the pipes on threads so a chatty child never blocks on a full pipe.
        let out = self.child.stdout.take().map(|mut s| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf);
                buf
            })
        });
        let err = self.child.stderr.take().map(|mut s| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf);
                buf
            })
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
                panic!(
                    "`{}` did not finish within {limit:?}; stderr:\n{}{}",
                    self.what,
                    String::from_utf8_lossy(&stderr),
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
        self.stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
        self.status = Some(status);
        status
    }

    /// Waits (at most 30 s) for a coordinator whose stderr goes to its log to say
    /// `listening on ADDRESS`; returns `http://ADDRESS`. Fails the test if it exits first.
    pub fn listening(&mut self) -> String {
        let started = Instant::now();
        loop {
            let text = self.log_text();
            if let Some(address) = text.lines().find_map(|l| l.strip_prefix("listening on ")) {
                return format!("http://{}", address.trim());
            }
            if let Some(status) = self.child.try_wait().expect("poll serve") {
                panic!(
                    "`{}` exited with {status} before listening:{text}",
                    self.what
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "`{}` did not start listening:{text}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.wait(Duration::from_secs(10));
    }

    /// Sends SIGINT (what Ctrl-C sends).
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// The process's stdout, stderr and status (after [`Proc::wait`]).
    pub fn output(&mut self) -> Output {
        let status = self.wait(Duration::from_secs(600));
        Output {
            status,
            stdout: std::mem::take(&mut self.stdout),
            stderr: std::mem::take(&mut self.stderr),
        }
    }

    /// What the process wrote to its log file, if it has one.
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .map(|log| {
                format!(
                    "\n--- log ---\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
            .unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Text of a process's stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Text of a process's stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the process succeeded, showing its output if not.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// Asserts the process failed with exactly one line on stderr containing each of `parts`,
/// and no panic.
pub fn assert_one_clear_error(output: &Output, parts: &[&str]) {
    let err = stderr(output);
    assert!(
        !output.status.success(),
        "expected a failure, got success:\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "expected one line:\n{err}"
    );
    for part in parts {
        assert!(err.contains(part), "`{part}` missing from:\n{err}");
    }
}

/// A runtime for a test's own async calls.
pub fn runtime_for_tests() -> tokio::runtime::Runtime {
    runtime()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Two tests of one scenario, `$body(&Scratch, &Path)`: `$sqlite` on a SQLite file and
/// `$postgres` on a database of its own throwaway PostgreSQL cluster; both take [`heavy`].
macro_rules! on_both_stores {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[test]
        fn $sqlite() {
            let _heavy = $crate::harness::heavy();
            let dir = $crate::harness::Scratch::new();
            let db = dir.path("trials.db");
            $body(&dir, &db);
        }

        #[test]
        fn $postgres() {
            let _heavy = $crate::harness::heavy();
            let cluster = hypersearch_testpg::Cluster::start();
            let dir = $crate::harness::Scratch::new();
            $body(&dir, std::path::Path::new(&cluster.database()));
        }
    };
}
pub(crate) use on_both_stores;

/// Whether `db` names a PostgreSQL database (a `postgres://` URL passed where a path goes).
pub fn is_postgres(db: &Path) -> bool {
    db.to_str().is_some_and(|t| t.starts_with("postgres://"))
}

/// Runs `sql` read-only on `db` (a SQLite file, or a `postgres://` URL); returns its rows.
pub fn sql<T: Send + 'static>(db: &Path, sql: &'static str, row: fn(&AnyRow) -> T) -> Vec<T> {
    sqlx::any::install_default_drivers();
    let options = if is_postgres(db) {
        db.to_str()
            .and_then(|url| url.parse::<AnyConnectOptions>().ok())
            .expect("a PostgreSQL URL")
    } else {
        let url = SqliteConnectOptions::new()
            .filename(db)
            .read_only(true)
            .to_url_lossy();
        AnyConnectOptions::from_url(&url).expect("a SQLite URL")
    };
    runtime().block_on(async {
        let mut conn = options
            .connect()
            .await
            .expect("open the database read-only");
        let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect(sql);
        let out = rows.iter().map(row).collect();
        let _ = conn.close().await;
        out
    })
}

/// Runs `sql` (one statement or several) on the SQLite file `db`, writing: a test's own
/// damage to a database, as a hand edit would make it.
pub fn sql_write(db: &Path, sql: &'static str) {
    sqlx::any::install_default_drivers();
    let url = SqliteConnectOptions::new().filename(db).to_url_lossy();
    let options = AnyConnectOptions::from_url(&url).expect("a SQLite URL");
    runtime().block_on(async {
        let mut conn = options.connect().await.expect("open the database");
        sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
        conn.close().await.expect("close the database");
    });
}

/// One integer from `sql`.
pub fn sql_count(db: &Path, query: &'static str) -> i64 {
    sql(db, query, |r| r.get::<i64, _>(0))[0]
}

/// Asserts the database is sound: SQLite's `PRAGMA integrity_check` says `ok`; PostgreSQL
/// answers a query over every table and its indexes check (`amcheck` where available is not
/// needed: every row of every table is read through its primary key's order).
pub fn assert_integrity(db: &Path) {
    if is_postgres(db) {
        let rows = sql_count(
            db,
            "SELECT (SELECT count(*) FROM studies) + (SELECT count(*) FROM workers) \
             + (SELECT count(*) FROM trials) + (SELECT count(*) FROM attempts) \
             + (SELECT count(*) FROM epoch_metrics) + (SELECT count(*) FROM early_stops)",
        );
        assert!(rows > 0, "an empty database at {}", db.display());
        return;
    }
    let result = sql(db, "PRAGMA integrity_check", |r| r.get::<String, _>(0));
    assert_eq!(
        result,
        vec!["ok".to_string()],
        "integrity check of {}",
        db.display()
    );
}

/// Asserts `hypersearch best --top TOP --format json` on `db` names the same trials with the
/// same values as SQL over a maximized study; returns the printed trials.
pub fn assert_best_matches_sql(dir: &Scratch, db: &Path, top: usize) -> Vec<serde_json::Value> {
    let top_arg = top.to_string();
    let output = dir.hs(
        &[
            "best",
            "--db",
            db.to_str().expect("utf-8"),
            "--top",
            &top_arg,
            "--format",
            "json",
        ],
        Duration::from_secs(30),
    );
    assert_ok(&output);
    let best: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("best prints JSON");
    let best = best.as_array().expect("best prints an array").clone();
    let from_cli: Vec<(i64, f64)> = best
        .iter()
        .map(|t| {
            (
                t["trial"].as_i64().expect("trial"),
                t["value"].as_f64().expect("value"),
            )
        })
        .collect();
    let mut from_sql = sql(
        db,
        "SELECT number, value FROM trials WHERE state = 'complete' ORDER BY value DESC, number",
        |r| (r.get::<i64, _>(0), r.get::<f64, _>(1)),
    );
    from_sql.truncate(top);
    // JSON text is parsed with at most one unit in the last place of error.
    assert_eq!(
        from_cli.len(),
        from_sql.len(),
        "{from_cli:?} vs {from_sql:?}"
    );
    for ((cli_trial, cli_value), (sql_trial, sql_value)) in from_cli.iter().zip(&from_sql) {
        assert_eq!(cli_trial, sql_trial, "{from_cli:?} vs {from_sql:?}");
        assert!(
            (cli_value - sql_value).abs() <= 1e-12,
            "{from_cli:?} vs {from_sql:?}"
        );
    }
    best
}

/// The program `name`: from the test tools' directory (`HYPERSEARCH_TEST_TOOLS`), else from
/// `PATH`; fails the test naming `installed_by` when it is in neither.
pub fn tool(name: &str, installed_by: &str) -> PathBuf {
    let tools = std::env::var_os("HYPERSEARCH_TEST_TOOLS").map(PathBuf::from);
    let path = std::env::var_os("PATH").unwrap_or_default();
    tools
        .into_iter()
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run the tests with ./test.sh, which installs \
                 {installed_by}"
            )
        })
}

/// A path as a command-line argument (the tests' scratch paths are UTF-8).
pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
