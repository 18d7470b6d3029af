//! The systemd units of `deploy/systemd`, as they are in the repository: each passes
//! `systemd-analyze verify` without a word, is rated 2.5 or better ("OK") by
//! `systemd-analyze security`, and its `ExecStart=` line runs: with systemd's specifiers
//! and variables filled in as systemd would, and every absolute path moved into a
//! temporary directory that stands for the machine's root, the coordinator's line serves a
//! study and the worker's line (with the environment file its header documents) runs it to
//! the end, so the flags, the credential and the directories all fit the real binary.
//!
//! `systemd-analyze` comes with Debian's `systemd` package, which `./test.sh` installs; the
//! test fails, saying so, where it is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sqlx::Row;

use super::{start, tool};
use crate::faults::support::assert_exits_ok;
use crate::harness::{Scratch, assert_integrity, bin, repo, run_program, sql, sql_count};

/// Where the units live in the repository.
const UNIT_DIR: &str = "deploy/systemd";

/// The instance the tests give a template unit (`name@.service`).
const INSTANCE: &str = "1";

/// The host name the tests give `%H`.
const HOST: &str = "testhost";

/// The worst overall exposure `systemd-analyze security` may rate a unit.
const MAX_EXPOSURE: f64 = 2.5;

/// A unit file of `deploy/systemd`.
struct Unit {
    /// Its file name (`hypersearch-worker@.service`).
    file: String,
    /// Its path in the repository.
    path: PathBuf,
    /// Its text.
    text: String,
    /// Its settings, in order: (section, key, value), continuation lines joined.
    settings: Vec<(String, String, String)>,
}

impl Unit {
    fn load(path: PathBuf) -> Unit {
        let text = std::fs::read_to_string(&path).expect("read a unit file");
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a unit file name")
            .to_string();
        let settings = parse_settings(&text);
        Unit {
            file,
            path,
            text,
            settings,
        }
    }

    /// The name systemd runs it under: a template gets the instance [`INSTANCE`].
    fn name(&self) -> String {
        self.file.replace("@.", &format!("@{INSTANCE}."))
    }

    /// The values of `key` in `[Service]`.
    fn all(&self, key: &str) -> Vec<&str> {
        self.settings
            .iter()
            .filter(|(section, k, _)| section == "Service" && k == key)
            .map(|(_, _, value)| value.as_str())
            .collect()
    }

    /// The one value of `key` in `[Service]`, if set.
    fn get(&self, key: &str) -> Option<&str> {
        let values = self.all(key);
        assert!(
            values.len() <= 1,
            "{}: {key}= is set {} times",
            self.file,
            values.len()
        );
        values.first().copied()
    }

    /// The words of its one `ExecStart=` line, as written.
    fn exec_start(&self) -> Vec<String> {
        let line = self
            .get("ExecStart")
            .unwrap_or_else(|| panic!("{}: no ExecStart=", self.file));
        assert!(
            !line.contains(['"', '\'', '\\']),
            "{}: the test splits ExecStart= at spaces and knows no quoting: {line}",
            self.file
        );
        line.split_whitespace().map(str::to_string).collect()
    }

    /// The program `ExecStart=` runs.
    fn program(&self) -> String {
        let program = self.exec_start().remove(0);
        assert!(
            program.starts_with('/') && program.ends_with("/hypersearch"),
            "{}: ExecStart= runs {program}, not an absolute path to hypersearch",
            self.file
        );
        program
    }
}

/// The unit files of `deploy/systemd`, by name.
fn units() -> Vec<Unit> {
    let dir = repo(UNIT_DIR);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("list deploy/systemd")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "service"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no unit files in {}", dir.display());
    paths.into_iter().map(Unit::load).collect()
}

/// The unit `file` of `deploy/systemd`.
fn unit(file: &str) -> Unit {
    Unit::load(repo(UNIT_DIR).join(file))
}

/// The settings of a unit file: comments and blank lines dropped, a line ending in `\`
/// joined to the next with a space (as systemd does).
fn parse_settings(text: &str) -> Vec<(String, String, String)> {
    let mut settings = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with(['#', ';'])) {
            continue;
        }
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((key, value)) = line.split_once('=') {
            settings.push((section.clone(), key.trim().into(), value.trim().into()));
        } else {
            panic!("not a setting: {line}");
        }
    }
    settings
}

/// Runs `systemd-analyze ARGS` to completion.
fn systemd_analyze(args: &[&str]) -> Output {
    run_program(
        Command::new(tool("systemd-analyze", "systemd")).args(args),
        Duration::from_secs(60),
    )
}

/// Both output streams of a command.
fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Puts `from` at `to`: a hard link where it can, else a copy (the binary is large).
fn place(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().expect("a parent directory"))
        .expect("create a directory in the root");
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).expect("copy a file into the root");
    }
}

/// The directory of this machine's own system units (the targets every service needs).
fn system_unit_dir() -> PathBuf {
    ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(PathBuf::from)
        .find(|dir| dir.join("sysinit.target").exists())
        .expect(
            "no system units on this machine: run the tests with ./test.sh, which installs systemd",
        )
}

/// A root for `systemd-analyze --root`: this machine's system units, the repository's unit
/// files unchanged in /etc/systemd/system, and the binary where their `ExecStart=` runs it.
fn analysis_root(root: &Scratch, units: &[Unit]) -> PathBuf {
    let dir = root.path("root");
    let system = dir.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&system).expect("create the root's unit directory");
    for entry in std::fs::read_dir(system_unit_dir()).expect("list the system units") {
        let entry = entry.expect("a directory entry");
        if entry.file_type().expect("a file type").is_file() {
            std::fs::copy(entry.path(), system.join(entry.file_name())).expect("copy a unit");
        }
    }
    let local = dir.join("etc/systemd/system");
    std::fs::create_dir_all(&local).expect("create the root's /etc/systemd/system");
    for unit in units {
        std::fs::copy(&unit.path, local.join(&unit.file)).expect("copy a unit file");
        let program = dir.join(unit.program().trim_start_matches('/'));
        if !program.exists() {
            place(Path::new(bin()), &program);
        }
    }
    dir
}

#[test]
fn every_unit_verifies_clean() {
    let scratch = Scratch::new();
    let units = units();
    let root = analysis_root(&scratch, &units);
    let root_arg = format!("--root={}", root.display());
    for unit in &units {
        let name = unit.name();
        let output = systemd_analyze(&["verify", &root_arg, &name]);
        let text = said(&output);
        assert!(
            output.status.success() && text.trim().is_empty(),
            "`systemd-analyze verify {root_arg} {name}` (exit {:?}) says:\n{text}",
            output.status.code()
        );
    }
}

/// The overall exposure `systemd-analyze security` prints last
/// (`→ Overall exposure level for NAME: 1.2 OK 🙂`).
fn overall_exposure(report: &str) -> f64 {
    report
        .lines()
        .find(|line| line.contains("Overall exposure level for"))
        .and_then(|line| line.rsplit(": ").next())
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{report}"))
}

#[test]
fn every_unit_scores_at_most_2_5_in_the_security_analysis() {
    // --threshold counts tenths: 25 is 2.5, and a worse rating exits non-zero.
    let threshold = format!("--threshold={}", (MAX_EXPOSURE * 10.0).round());
    for unit in units() {
        let path = unit.path.to_str().expect("a UTF-8 path");
        let output = systemd_analyze(&["security", "--offline=true", &threshold, path]);
        let report = said(&output);
        let exposure = overall_exposure(&report);
        println!("{}: overall exposure {exposure:.1}", unit.file);
        assert!(
            exposure <= MAX_EXPOSURE,
            "{} is rated {exposure:.1}, above {MAX_EXPOSURE}:\n{report}",
            unit.file
        );
        assert!(
            output.status.success(),
            "`systemd-analyze security --offline=true {threshold} {path}` failed:\n{report}"
        );
    }
}

/// The `KEY=VALUE` lines of the environment file `path` as the unit's header comment writes
/// it (`cat > PATH <<'EOF'` ... `EOF`), comments dropped.
fn documented_environment(unit: &Unit, path: &str) -> BTreeMap<String, String> {
    let opening = format!("cat > {path} <<'EOF'");
    let mut lines = unit
        .text
        .lines()
        .map(|line| line.trim_start_matches('#').trim())
        .skip_while(|line| *line != opening);
    assert!(
        lines.next().is_some(),
        "{}: its header does not show how to write {path} (`{opening}`)",
        unit.file
    );
    lines
        .take_while(|line| *line != "EOF")
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: not KEY=VALUE in {path}: {line}", unit.file));
            (key.to_string(), value.to_string())
        })
        .collect()
}

/// Fills in the specifiers of `text` as systemd would for `unit` on a host named [`HOST`].
fn specifiers(unit: &Unit, text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let specifier = chars.next().unwrap_or('%');
        match specifier {
            '%' => out.push('%'),
            'i' | 'I' => out.push_str(INSTANCE),
            'n' => out.push_str(&unit.name()),
            'H' => out.push_str(HOST),
            'C' => out.push_str("/var/cache"),
            'S' => out.push_str("/var/lib"),
            'L' => out.push_str("/var/log"),
            't' => out.push_str("/run"),
            'd' => out.push_str(&format!("/run/credentials/{}", unit.name())),
            other => panic!(
                "{}: the test does not know the specifier %{other}; teach specifiers()",
                unit.file
            ),
        }
    }
    out
}

/// Fills in `${NAME}` and a whole-word `$NAME` (split at spaces into zero or more words) as
/// systemd does in `ExecStart=`.
fn variables(unit: &Unit, words: &[String], env: &BTreeMap<String, String>) -> Vec<String> {
    let value = |name: &str| {
        env.get(name)
            .unwrap_or_else(|| panic!("{}: ExecStart= uses ${name}, which nothing sets", unit.file))
    };
    let mut out = Vec::new();
    for word in words {
        if let Some(name) = word.strip_prefix('$').filter(|n| !n.starts_with('{')) {
            out.extend(value(name).split_whitespace().map(str::to_string));
            continue;
        }
        let mut word = word.clone();
        while let Some(start) = word.find("${") {
            let end = start
                + word[start..]
                    .find('}')
                    .unwrap_or_else(|| panic!("{}: an unclosed ${{ in {word}", unit.file));
            let name = word[start + 2..end].to_string();
            word.replace_range(start..=end, value(&name));
        }
        out.push(word);
    }
    out
}

/// The first word after `flag` in `words`.
fn flag<'a>(words: &'a [String], flag: &str) -> &'a str {
    words
        .iter()
        .position(|w| w == flag)
        .and_then(|i| words.get(i + 1))
        .unwrap_or_else(|| panic!("no {flag} in {words:?}"))
}

/// What systemd would start for `unit`, inside `root` (a directory standing for `/`): the
/// arguments after the program and the environment. `environment_file` is what the unit's
/// `EnvironmentFile=` holds. Makes the directories and credentials systemd would make.
fn launch(
    root: &Path,
    unit: &Unit,
    environment_file: BTreeMap<String, String>,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut env = environment_file;
    for setting in unit.all("Environment") {
        let (key, value) = setting
            .split_once('=')
            .unwrap_or_else(|| panic!("{}: Environment={setting}", unit.file));
        env.insert(key.into(), specifiers(unit, value));
    }
    let credentials = format!("/run/credentials/{}", unit.name());
    for credential in unit.all("LoadCredential") {
        let (id, source) = credential
            .split_once(':')
            .unwrap_or_else(|| panic!("{}: LoadCredential={credential}", unit.file));
        let source = root.join(specifiers(unit, source).trim_start_matches('/'));
        let copy = root.join(credentials.trim_start_matches('/')).join(id);
        std::fs::create_dir_all(copy.parent().expect("a parent")).expect("make the credentials");
        std::fs::copy(&source, &copy)
            .unwrap_or_else(|err| panic!("credential {id} from {}: {err}", source.display()));
        env.insert("CREDENTIALS_DIRECTORY".into(), credentials.clone());
    }
    let mut made = Vec::new();
    for (key, base, var) in [
        ("StateDirectory", "/var/lib", "STATE_DIRECTORY"),
        ("CacheDirectory", "/var/cache", "CACHE_DIRECTORY"),
        ("RuntimeDirectory", "/run", "RUNTIME_DIRECTORY"),
    ] {
        if let Some(name) = unit.get(key) {
            let dir = format!("{base}/{}", specifiers(unit, name));
            std::fs::create_dir_all(root.join(dir.trim_start_matches('/')))
                .expect("make a unit's directory");
            env.insert(var.into(), dir.clone());
            made.push(dir);
        }
    }
    if let Some(dir) = unit.get("WorkingDirectory") {
        let dir = specifiers(unit, dir);
        assert!(
            made.contains(&dir),
            "{}: WorkingDirectory={dir} is none of the directories systemd makes for it: \
             {made:?}",
            unit.file
        );
    }
    let words: Vec<String> = unit
        .exec_start()
        .iter()
        .map(|word| specifiers(unit, word))
        .collect();
    let words = variables(unit, &words[1..], &env);
    let rooted = |word: &str| {
        if word.starts_with('/') {
            root.join(word.trim_start_matches('/'))
                .to_str()
                .expect("a UTF-8 path")
                .to_string()
        } else {
            word.to_string()
        }
    };
    let args: Vec<String> = words
        .iter()
        .map(|word| match word.parse::<std::net::SocketAddr>() {
            Ok(_) => "127.0.0.1:0".to_string(),
            Err(_) => rooted(word),
        })
        .collect();
    for arg in &args {
        assert!(
            !arg.contains('/') || Path::new(arg).starts_with(root) || arg.contains("://"),
            "{}: ExecStart= passes {arg}, which the test cannot move into its root",
            unit.file
        );
    }
    let env = env
        .iter()
        .map(|(key, value)| (key.clone(), rooted(value)))
        .collect();
    (args, env)
}

const STUDY: &str = r#"
[study]
name = "under-systemd"
metric = "loss"

[objective]
command = "echo epoch=1 loss=2; echo epoch=2 loss=1"

[search]
algorithm = "random"
trials = 4
parallel = 2
seed = 1

[search.space]
x = { float = [0, 1] }
"#;

#[test]
fn the_exec_start_lines_run_a_study_with_the_real_binary() {
    let dir = Scratch::new();
    let root = dir.path("root");
    let etc = root.join("etc/hypersearch");
    std::fs::create_dir_all(&etc).expect("make the root's /etc/hypersearch");
    std::fs::write(etc.join("study.toml"), STUDY).expect("write the study");
    std::fs::write(etc.join("token"), "a-token-for-the-units-test\n").expect("write the token");

    let coordinator = unit("hypersearch-coordinator.service");
    let (args, env) = launch(&root, &coordinator, BTreeMap::new());
    assert_eq!(args[0], "serve", "{args:?}");
    let metrics = coordinator.exec_start();
    let metrics = flag(&metrics, "--metrics");
    assert!(
        metrics.starts_with("127.0.0.1:") || metrics.starts_with("[::1]:"),
        "--metrics {metrics}: it answers without a token, so it stays on loopback"
    );
    let db = PathBuf::from(flag(&args, "--db"));
    let state = root
        .join("var/lib")
        .join(coordinator.get("StateDirectory").expect("a state"));
    assert!(
        db.starts_with(&state),
        "--db {} lies outside StateDirectory= {}, where it may not write",
        db.display(),
        state.display()
    );
    let mut serve = start(&dir, &args, &env, "coordinator.log");
    let address = serve.listening();
    assert!(
        serve.log_text().contains("token required"),
        "the coordinator took no token:{}",
        serve.log_text()
    );

    let worker = unit("hypersearch-worker@.service");
    let env_file = worker
        .get("EnvironmentFile")
        .expect("the worker's EnvironmentFile=");
    let mut environment = documented_environment(&worker, env_file.trim_start_matches('-'));
    assert!(
        environment.contains_key("HYPERSEARCH_COORDINATOR"),
        "{environment:?}"
    );
    environment.insert("HYPERSEARCH_COORDINATOR".into(), address);
    let (args, env) = launch(&root, &worker, environment);
    assert_eq!(args[0], "worker", "{args:?}");
    let cache = root.join("var/cache").join(specifiers(
        &worker,
        worker.get("CacheDirectory").expect("a cache"),
    ));
    assert_eq!(
        PathBuf::from(flag(&args, "--data-dir")),
        cache,
        "--data-dir is not the CacheDirectory="
    );
    let mut running = start(&dir, &args, &env, "worker.log");
    assert_exits_ok(&mut running, Duration::from_secs(60));
    assert!(
        serve.wait(Duration::from_secs(30)).success(),
        "the coordinator failed:{}",
        serve.log_text()
    );

    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM trials WHERE state = 'complete'"),
        4,
        "{}{}",
        serve.log_text(),
        running.log_text()
    );
    let names = sql(&db, "SELECT name FROM workers", |r| r.get::<String, _>(0));
    assert_eq!(
        names,
        vec![format!("{HOST}-{INSTANCE}")],
        "the worker's --name"
    );
    assert_integrity(&db);
}
