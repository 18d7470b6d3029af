//! `deploy/k8s`: every overlay rendered by `kubectl kustomize` and validated strictly (unknown
//! fields fail) against the Kubernetes 1.30 API schemas by `kubernetes-validate`; then the
//! rendered coordinator's and workers' command lines, exactly as written, run against the real
//! binary on loopback: volumes become directories holding what their ConfigMap or Secret would,
//! `$(VAR)` references are expanded from the container's environment, and only the addresses
//! (0.0.0.0 ports, the Service's DNS name) change. A short study completes, the coordinator
//! keeps serving until SIGTERM, and exits 0.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hypersearch_testpg::Cluster;
use rcgen::ExtendedKeyUsagePurpose;
use serde_json::Value;

use super::{start, tool};
use crate::faults::support::assert_all_over;
use crate::harness::{Proc, Scratch, branin_study, heavy, repo, run_program};

/// What the schemas are checked against: the oldest Kubernetes the manifests support.
const KUBERNETES_VERSION: &str = "1.30.0";

const TOKEN: &str = "kubernetes-e2e-token-0123456789\n";

/// The Secrets the manifests name, as `secret name -> [(key, content)]`.
type Secrets = HashMap<String, Vec<(String, String)>>;

fn installed_by() -> &'static str {
    "kubectl and kubernetes-validate (a Python virtual environment)"
}

/// `kubectl kustomize deploy/k8s/overlays/OVERLAY`, validated; the rendered objects.
fn render(dir: &Scratch, overlay: &str) -> Vec<Value> {
    let kubectl = tool("kubectl", installed_by());
    let rendered = run_program(
        Command::new(kubectl)
            .arg("kustomize")
            .arg(repo(&format!("deploy/k8s/overlays/{overlay}"))),
        Duration::from_secs(60),
    );
    assert!(
        rendered.status.success(),
        "kubectl kustomize {overlay} failed: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let file = dir.path(&format!("{overlay}.yaml"));
    std::fs::write(&file, &rendered.stdout).expect("write the rendered manifests");
    let validated = run_program(
        Command::new(tool("kubernetes-validate", installed_by()))
            .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
            .arg(&file),
        Duration::from_secs(120),
    );
    assert!(
        validated.status.success(),
        "the {overlay} overlay does not validate against Kubernetes {KUBERNETES_VERSION}:\n{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
    let json = run_program(
        Command::new(tool("python3", installed_by()))
            .args([
                "-c",
                "import json, sys, yaml\n\
                 json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)",
            ])
            .arg(&file),
        Duration::from_secs(60),
    );
    assert!(
        json.status.success(),
        "YAML to JSON: {}",
        String::from_utf8_lossy(&json.stderr)
    );
    serde_json::from_slice(&json.stdout).expect("the rendered manifests as JSON")
}

/// The pod template of the object `name` (of any workload kind).
fn pod<'a>(objects: &'a [Value], name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["metadata"]["name"] == name && !o["spec"]["template"].is_null())
        .map(|o| &o["spec"]["template"]["spec"])
        .unwrap_or_else(|| panic!("no workload named {name} in the rendered manifests"))
}

/// A container's command line and environment as the test runs it.
struct Launch {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// Makes `pod`'s volumes as directories under `dir` (a ConfigMap holds the test's study, a
/// Secret what `secrets` says, anything else starts empty) and returns the one container's
/// command line with its mount paths mapped onto them, `$(VAR)`s expanded and `addresses`
/// (rendered text -> loopback text) replaced.
fn launch(
    dir: &Scratch,
    label: &str,
    pod: &Value,
    secrets: &Secrets,
    addresses: &[(&str, String)],
) -> Launch {
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{label}: one container per pod");
    let container = &containers[0];
    assert!(
        container["command"].is_null(),
        "{label}: the image's entrypoint (the binary) runs the args"
    );
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = mount["name"].as_str().expect("a volume name");
        let path = mount["mountPath"].as_str().expect("a mount path");
        let local = dir.path(&format!("{label}-{name}"));
        std::fs::create_dir_all(&local).expect("a volume directory");
        let volume = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name);
        if let Some(volume) = volume {
            if !volume["configMap"].is_null() {
                std::fs::write(
                    local.join("study.toml"),
                    branin_study("kubernetes", 8, 2, 5),
                )
                .expect("the study");
            } else if let Some(secret) = volume["secret"]["secretName"].as_str() {
                let files = secrets
                    .get(secret)
                    .unwrap_or_else(|| panic!("{label}: the test has no Secret {secret}"));
                for (key, content) in files {
                    std::fs::write(local.join(key), content).expect("a Secret's file");
                }
            }
        }
        mounts.push((path.to_string(), local));
    }
    // Longest first, so that a mount inside another maps to its own directory.
    mounts.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));

    let mut env = Vec::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().expect("an env name").to_string();
        let value = match var["value"].as_str() {
            Some(value) => value.to_string(),
            None => {
                let key = &var["valueFrom"]["secretKeyRef"];
                let secret = key["name"].as_str().expect("a secretKeyRef name");
                let key = key["key"].as_str().expect("a secretKeyRef key");
                secrets
                    .get(secret)
                    .and_then(|files| files.iter().find(|(k, _)| k == key))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("{label}: no Secret {secret} key {key}"))
            }
        };
        env.push((name, value));
    }
    let args = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|arg| {
            let mut arg = arg.as_str().expect("a string arg").to_string();
            for (name, value) in &env {
                arg = arg.replace(&format!("$({name})"), value);
            }
            assert!(
                !arg.contains("$("),
                "{label}: {arg} names an undefined variable"
            );
            for (rendered, local) in addresses {
                arg = arg.replace(rendered, local);
            }
            for (path, local) in &mounts {
                arg = arg.replace(path.as_str(), local.to_str().expect("utf-8 path"));
            }
            arg
        })
        .collect();
    Launch { args, env }
}

/// The secrets every overlay reads, plus the TLS ones (a CA and a coordinator certificate
/// for the Service's name and 127.0.0.1).
fn secrets(dir: &Scratch, database: &str) -> Secrets {
    let ca = crate::tls::authority("kubernetes-e2e-ca");
    let (cert, key) = crate::tls::leaf(
        dir,
        "coordinator",
        &ca,
        &["127.0.0.1", "hypersearch-coordinator"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let read = |p: &Path| std::fs::read_to_string(p).expect("a certificate file");
    let entry = |k: &str, v: String| (k.to_string(), v);
    HashMap::from([
        (
            "hypersearch-token".to_string(),
            vec![entry("token", TOKEN.to_string())],
        ),
        (
            "hypersearch-postgres".to_string(),
            vec![entry("url", database.to_string())],
        ),
        (
            "hypersearch-tls".to_string(),
            vec![entry("tls.crt", read(&cert)), entry("tls.key", read(&key))],
        ),
        (
            "hypersearch-ca".to_string(),
            vec![entry("ca.pem", ca.pem())],
        ),
    ])
}

/// Renders `overlay` and runs its coordinator and two of its workers to the end of a study;
/// `db` is where the coordinator's flags put the trials (as the test maps them).
fn run_overlay(overlay: &str, database_secret: Option<&str>) {
    let dir = Scratch::new();
    let objects = render(&dir, overlay);
    let secrets = secrets(&dir, database_secret.unwrap_or("unused"));
    let loopback = [
        ("0.0.0.0:50051", "127.0.0.1:0".to_string()),
        ("0.0.0.0:9090", "127.0.0.1:0".to_string()),
    ];
    let coordinator = launch(
        &dir,
        "coordinator",
        pod(&objects, "hypersearch-coordinator"),
        &secrets,
        &loopback,
    );
    assert_eq!(coordinator.args[0], "serve", "{:?}", coordinator.args);
    let mut serve = start(&dir, &coordinator.args, &coordinator.env, "coordinator.log");
    let address = serve.listening();
    let port = address.rsplit(':').next().expect("a port").to_string();
    let service = [("hypersearch-coordinator:50051", format!("127.0.0.1:{port}"))];
    let worker = launch(
        &dir,
        "worker",
        pod(&objects, "hypersearch-worker"),
        &secrets,
        &service,
    );
    assert_eq!(worker.args[0], "worker", "{:?}", worker.args);
    let mut workers: Vec<Proc> = (0..2)
        .map(|n| start(&dir, &worker.args, &worker.env, &format!("worker-{n}.log")))
        .collect();
    for worker in &mut workers {
        let status = worker.wait(Duration::from_secs(60));
        assert!(
            status.success(),
            "{overlay}: a worker failed ({status}){}",
            worker.log_text()
        );
    }
    // The coordinator keeps serving once the study is finished, until SIGTERM.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        serve
            .child
            .try_wait()
            .expect("poll the coordinator")
            .is_none(),
        "{overlay}: the coordinator exited although it should keep serving{}",
        serve.log_text()
    );
    crate::faults::support::signal(&serve, "TERM");
    let status = serve.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "{overlay}: the coordinator failed on SIGTERM ({status}){}",
        serve.log_text()
    );
    let db = match database_secret {
        Some(url) => PathBuf::from(url),
        None => dir.path("coordinator-state").join("hypersearch.db"),
    };
    assert_all_over(&db, 8);
}

#[test]
fn the_sqlite_overlay_validates_and_its_command_lines_run_a_study() {
    let _heavy = heavy();
    run_overlay("sqlite", None);
}

#[test]
fn the_job_overlay_validates_and_its_workers_exit_0_when_the_study_is_done() {
    let _heavy = heavy();
    run_overlay("job", None);
}

#[test]
fn the_tls_overlay_validates_and_its_workers_reach_the_coordinator_over_tls() {
    let _heavy = heavy();
    run_overlay("tls", None);
}

#[test]
fn the_postgres_overlay_validates_and_its_coordinator_uses_the_secret_database_url() {
    let _heavy = heavy();
    let cluster = Cluster::start();
    run_overlay("postgres", Some(&cluster.database()));
}
