//! Throwaway PostgreSQL clusters for tests: `initdb` into a temporary directory, a server on
//! a free loopback port started with `pg_ctl`, databases created on demand, everything
//! stopped and removed when the [`Cluster`] is dropped. Run as root, the server runs as the
//! `postgres` user (PostgreSQL refuses root).
//!
//! The PostgreSQL server programs must be installed (Debian's `postgresql`; the repository's
//! `test.sh` installs them): without them [`Cluster::start`] panics with a message saying
//! so, so a test never passes without having run.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Where `initdb` and `pg_ctl` are: `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
fn find_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "the PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             run the tests with ./test.sh, which installs it, or set PG_BIN"
        )
    })
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

impl Cluster {
    /// Starts a new cluster (a few seconds).
    pub fn start() -> Cluster {
        let bin = find_bin();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("hypersearch-pg-")
            .tempdir()
            .unwrap();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(
                status.success(),
                "cannot hand {} to postgres",
                dir.path().display()
            );
        }
        let cluster = Cluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.data_dir();
        cluster.run_ok(
            "initdb",
            &[
                "-D",
                path(&data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
            cluster.port,
            path(cluster.dir.path())
        );
        let log = cluster.dir.path().join("server.log");
        cluster.run_ok(
            "pg_ctl",
            &[
                "-D",
                path(&data),
                "-o",
                &options,
                "-l",
                path(&log),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe).args(args);
            c
        } else {
            let mut c = Command::new(exe);
            c.args(args);
            c
        }
    }

    fn run_ok(&self, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(program, args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new empty database; its `postgres://` URL (user `postgres`, no password).
    pub fn database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.psql(&format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` on the `postgres` database; its output (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        self.psql_on("postgres", sql)
    }

    /// Runs `sql` on database `name`; its output (unaligned, tuples only).
    pub fn psql_on(&self, name: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let out = self.run_ok(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                name,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self
            .command(
                "pg_ctl",
                &["-D", path(&data), "-m", "immediate", "-w", "stop"],
            )
            .output();
    }
}
