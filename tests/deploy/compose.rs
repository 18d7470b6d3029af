//! `deploy/docker` and `deploy/compose` for real: the test starts its own Docker engine (no
//! registry: the image is built from the binary under test with the repository's Dockerfile
//! and `rootfs.sh`), brings up the compose file's coordinator and three workers on a
//! 30-trial study, kills one worker container mid-trial, and checks that every trial ended
//! exactly once, the killed worker's trial was re-run, and `best` agrees with SQL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sqlx::Row;

use super::tool;
use crate::faults::support::{assert_all_over, wait_for};
use crate::harness::{
    Proc, Scratch, assert_best_matches_sql, bin, heavy, repo, run_program, spawn_program, sql,
};

/// Long enough trials (about a second each) that a worker killed at a random moment is
/// almost surely mid-trial; the test waits until it is.
const STUDY: &str = r#"
[study]
name = "compose"
metric = "val_accuracy"
direction = "maximize"

[data]
source = "digits"
validation_fraction = 0.2

[training]
epochs = 300
threads = 1
seed = 1

[search]
algorithm = "random"
trials = 30
parallel = 3
seed = 5

[search.space]
"training.learning_rate" = { float = [1e-3, 1e-1], log = true }

[search.architecture]
layers = { int = [1, 2] }
units = { choice = [64, 128] }
"#;

const PROJECT: &str = "hse2e";
const IMAGE: &str = "hypersearch:e2e";
const DB_IN_VOLUME: &str = "/var/lib/hypersearch/hypersearch.db";

/// A Docker engine of the test's own: its state, sockets and containers under the test's
/// directory, no bridge or iptables changes to the host; stopped (containers first) when
/// the test ends, also on failure.
struct Engine {
    daemon: Proc,
    host: String,
}

impl Engine {
    fn start(dir: &Scratch) -> Engine {
        let dockerd = tool("dockerd", "Debian's docker.io");
        let root = dir.path("docker");
        let socket = root.join("docker.sock");
        for sub in ["data", "exec"] {
            std::fs::create_dir_all(root.join(sub)).expect("the engine's directories");
        }
        let path = |p: &Path| p.to_str().expect("utf-8 path").to_string();
        let daemon = spawn_program(
            Command::new(dockerd).args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                &format!("--data-root={}", path(&root.join("data"))),
                &format!("--exec-root={}", path(&root.join("exec"))),
                &format!("--pidfile={}", path(&root.join("dockerd.pid"))),
                &format!("--host=unix://{}", path(&socket)),
            ]),
            &dir.path("dockerd.log"),
        );
        let engine = Engine {
            daemon,
            host: format!("unix://{}", path(&socket)),
        };
        wait_for(
            "the Docker engine to answer",
            Duration::from_secs(60),
            || {
                engine
                    .docker(&["info", "--format", "{{.ServerVersion}}"])
                    .status
                    .success()
                    .then_some(())
            },
        );
        engine
    }

    /// `docker ARGS` against this engine, to completion.
    fn docker(&self, args: &[&str]) -> Output {
        run_program(
            Command::new(tool("docker", "Debian's docker.io"))
                .args(args)
                .env("DOCKER_HOST", &self.host),
            Duration::from_secs(120),
        )
    }

    /// `docker ARGS`, which must succeed; its stdout.
    fn docker_ok(&self, args: &[&str]) -> String {
        let output = self.docker(args);
        assert!(
            output.status.success(),
            "docker {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr),
            self.daemon.log_text()
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// `docker-compose -p PROJECT -f deploy/compose/compose.yaml ARGS`, with the settings
    /// a user puts in the environment (the token file `token`), to success.
    fn compose(&self, dir: &Scratch, args: &[&str]) -> String {
        let output = self.compose_with_token(dir, args, &dir.path("token"));
        assert!(
            output.status.success(),
            "docker-compose {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// [`Engine::compose`] with the token file `token`, to its end.
    fn compose_with_token(&self, dir: &Scratch, args: &[&str], token: &Path) -> Output {
        let file = repo("deploy/compose/compose.yaml");
        run_program(
            Command::new(tool("docker-compose", "Debian's docker-compose"))
                .args(["-p", PROJECT, "-f", file.to_str().expect("utf-8 path")])
                .args(args)
                .env("DOCKER_HOST", &self.host)
                .env("HYPERSEARCH_IMAGE", IMAGE)
                .env("HYPERSEARCH_STUDY", dir.path("study.toml"))
                .env("HYPERSEARCH_TOKEN_FILE", token)
                .env("HYPERSEARCH_PORT", "0")
                .env("HYPERSEARCH_SLOTS", "1"),
            Duration::from_secs(180),
        )
    }

    /// A container's state (`running`, `exited`, ...) and exit code.
    fn state(&self, container: &str) -> (String, i64) {
        let state = self.docker_ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            container,
        ]);
        let (status, code) = state.split_once(' ').expect("status and exit code");
        (status.to_string(), code.parse().expect("an exit code"))
    }

    /// `hypersearch ARGS` run inside the coordinator's container (the image has no shell).
    fn in_coordinator(&self, args: &[&str]) -> String {
        let mut command = vec!["exec", "hse2e_coordinator_1", "hypersearch"];
        command.extend_from_slice(args);
        self.docker_ok(&command)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let containers = self.docker(&["ps", "-aq"]);
        let ids = String::from_utf8_lossy(&containers.stdout).into_owned();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = self.docker(&args);
        }
        // SIGINT: the engine unmounts and stops its containerd before it exits.
        self.daemon.interrupt();
        self.daemon.wait(Duration::from_secs(60));
    }
}

/// Builds the image the way `deploy/docker/build-image.sh` does, from the binary under test.
fn build_image(engine: &Engine, dir: &Scratch) {
    let context = dir.path("context");
    std::fs::create_dir_all(&context).expect("the build context");
    std::fs::copy(repo("deploy/docker/Dockerfile"), context.join("Dockerfile"))
        .expect("copy the Dockerfile");
    let made = run_program(
        Command::new(repo("deploy/docker/rootfs.sh")).args([Path::new(bin()), &context]),
        Duration::from_secs(60),
    );
    assert!(
        made.status.success(),
        "rootfs.sh failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    engine.docker_ok(&["build", "-q", "-t", IMAGE, context.to_str().expect("utf-8")]);
    let version = engine.docker_ok(&["run", "--rm", IMAGE, "--version"]);
    assert!(version.starts_with("hypersearch "), "{version}");
}

/// The trials running now, as `(trial, worker name)`, read by `hypersearch trials` in the
/// coordinator's container.
fn running(engine: &Engine) -> Vec<(String, String)> {
    let csv = engine.in_coordinator(&[
        "trials",
        "--db",
        DB_IN_VOLUME,
        "--state",
        "running",
        "--format",
        "csv",
    ]);
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            Some((fields.first()?.to_string(), fields.get(4)?.to_string()))
        })
        .collect()
}

/// Copies the coordinator's state volume out; returns the database's path.
fn copy_database(engine: &Engine, dir: &Scratch) -> PathBuf {
    let out = dir.path("state");
    engine.docker_ok(&[
        "cp",
        "hse2e_coordinator_1:/var/lib/hypersearch/.",
        out.to_str().expect("utf-8"),
    ]);
    out.join("hypersearch.db")
}

#[test]
fn a_compose_study_survives_a_killed_worker_and_best_agrees_with_sql() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let engine = Engine::start(&dir);
    build_image(&engine, &dir);
    dir.write("study.toml", STUDY);
    let token = dir.write("token", "compose-e2e-token-0123456789abcdef\n");
    // The containers run as uid 65532; the secret is bind-mounted with the file's mode.
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod the token");

    // A token file that is not there: refused before anything starts, naming it.
    let missing = dir.path("no-such-token");
    let refused = engine.compose_with_token(&dir, &["up", "-d"], &missing);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("no-such-token"),
        "a missing token file: {said}"
    );
    engine.compose(&dir, &["down", "-v"]);

    compose_up(&engine, &dir);
    let victim = "hse2e_worker_2";
    let hostname = engine.docker_ok(&["inspect", "--format", "{{.Config.Hostname}}", victim]);
    let (trial, name) = wait_for(
        "the second worker to run a trial",
        Duration::from_secs(120),
        || {
            running(&engine)
                .into_iter()
                .find(|(_, worker)| worker.starts_with(&format!("{hostname}:")))
        },
    );
    engine.docker_ok(&["kill", victim]);

    wait_for(
        "the coordinator to finish",
        Duration::from_secs(240),
        || (engine.state("hse2e_coordinator_1").0 == "exited").then_some(()),
    );
    assert_eq!(engine.state("hse2e_coordinator_1"), ("exited".into(), 0));
    for survivor in ["hse2e_worker_1", "hse2e_worker_3"] {
        wait_for("a worker to exit", Duration::from_secs(60), || {
            (engine.state(survivor).0 == "exited").then_some(())
        });
        assert_eq!(engine.state(survivor).1, 0, "{survivor} exit code");
    }
    assert_eq!(engine.state(victim).1, 137, "the killed worker");

    let db = copy_database(&engine, &dir);
    assert_all_over(&db, 30);
    let attempts = sql(
        &db,
        "SELECT t.number, a.state, w.name FROM attempts a \
         JOIN trials t ON t.id = a.trial_id JOIN workers w ON w.id = a.worker_id",
        |r| {
            (
                r.get::<i64, _>(0).to_string(),
                r.get::<String, _>(1),
                r.get::<String, _>(2),
            )
        },
    );
    // The trial seen running may have ended between that look and the kill: then the one
    // the worker took next is what it lost. Either way the worker lost a trial, and another
    // worker ran each trial it lost to the end.
    let lost: Vec<&String> = attempts
        .iter()
        .filter(|(_, state, worker)| state == "lost" && *worker == name)
        .map(|(t, _, _)| t)
        .collect();
    assert!(
        !lost.is_empty(),
        "the killed worker {name} has no lost trial: {attempts:?}"
    );
    assert!(
        lost.contains(&&trial)
            || attempts
                .iter()
                .any(|(t, state, worker)| *t == trial && state == "complete" && *worker == name),
        "trial {trial}, seen running on {name}, is neither lost nor completed by it: {attempts:?}"
    );
    for lost in lost {
        assert!(
            attempts
                .iter()
                .any(|(t, state, worker)| t == lost && state == "complete" && *worker != name),
            "trial {lost} was not re-run to the end by another worker: {attempts:?}"
        );
    }
    assert_best_matches_sql(&dir, &db, 3);
    engine.compose(&dir, &["down", "-v"]);
}

/// `docker-compose up -d --scale worker=3`, then checks the three workers joined.
fn compose_up(engine: &Engine, dir: &Scratch) {
    engine.compose(dir, &["up", "-d", "--scale", "worker=3"]);
    for n in 1..=3 {
        let container = format!("hse2e_worker_{n}");
        wait_for("a worker container to run", Duration::from_secs(60), || {
            let (status, _) = engine.state(&container);
            (status == "running" || status == "exited").then_some(())
        });
    }
}

#[test]
fn the_postgres_variant_merges_into_a_valid_compose_file() {
    let dir = Scratch::new();
    dir.write("token", TOKEN_FOR_CONFIG);
    let base = repo("deploy/compose/compose.yaml");
    let postgres = repo("deploy/compose/compose.postgres.yaml");
    let output = run_program(
        Command::new(tool("docker-compose", "Debian's docker-compose"))
            .args(["-p", PROJECT, "-f"])
            .arg(&base)
            .arg("-f")
            .arg(&postgres)
            .arg("config")
            .env("HYPERSEARCH_TOKEN_FILE", dir.path("token"))
            .env("HYPERSEARCH_PG_PASSWORD", "secret-e2e"),
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "docker-compose config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let merged = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "--db=postgres://hypersearch:secret-e2e@postgres:5432/hypersearch",
        "condition: service_healthy",
        "image: postgres:16",
    ] {
        assert!(
            merged.contains(expected),
            "`{expected}` missing in:\n{merged}"
        );
    }
}

const TOKEN_FOR_CONFIG: &str = "compose-config-token\n";
