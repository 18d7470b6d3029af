//! `deploy/slurm` for real, on a one-node Slurm cluster the test starts: munged, slurmctld
//! and slurmd as root in a temporary directory, on free ports, with one node of 4 CPUs.
//! `sbatch study.sbatch` runs a whole study in one allocation (coordinator and two workers);
//! `sbatch workers-array.sbatch` joins a coordinator the test started, and every task of
//! the array exits 0, also those held back by its `%K` until after the study's end.
//!
//! Needs Debian's `slurm-wlm` and `munge` (./test.sh installs them) and root: slurmd runs
//! each job as its owner. Slurm writes nothing outside the cluster's directory: no
//! accounting (`scontrol show job` gives the exit codes), job completions in a text file.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::Row;

use super::tool;
use crate::faults::support::{assert_all_over, serve_on, signal, wait_for};
use crate::harness::{
    Proc, Scratch, assert_best_matches_sql, bin, heavy, repo, run_program, spawn_program, sql,
};

/// 12 digits trials of 10 epochs: about two seconds on two workers of two slots.
const DIGITS_12: &str = r#"
[study]
name = "slurm-digits"
metric = "val_accuracy"
direction = "maximize"

[data]
source = "digits"
validation_fraction = 0.2

[training]
epochs = 10
patience = 4
seed = 1
threads = 1

[search]
algorithm = "random"
trials = 12
parallel = 4
seed = 7

[search.space]
"training.learning_rate" = { float = [1e-4, 3e-2], log = true }
"training.batch_size" = { choice = [32, 64, 128] }

[search.architecture]
layers = { int = [1, 2] }
units = { choice = [16, 32, 64] }
activation = { choice = ["relu", "tanh"] }
dropout = { float = [0.0, 0.3] }
batch_norm = { choice = [true, false] }
"#;

/// 24 trials of 0.3 s: the first four tasks of the array share them.
const SLEEPY_24: &str = r#"
[study]
name = "slurm-array"
metric = "loss"

[objective]
command = "sleep 0.3; echo epoch=1 loss=1"

[search]
algorithm = "random"
trials = 24
parallel = 4
seed = 5

[search.space]
x = { float = [0, 1] }
"#;

#[test]
fn a_study_runs_to_completion_in_one_allocation() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let cluster = Cluster::start();
    let config = dir.write("study.toml", DIGITS_12);
    let db = dir.path("trials.db");
    let token = dir.path("token");
    let port = free_ports(1)[0].to_string();
    let job = cluster.sbatch(
        &repo("deploy/slurm/study.sbatch"),
        &dir,
        &[
            // One node here: two workers of two CPUs each fill its four.
            "--nodes=1",
            "--ntasks-per-node=2",
            "--cpus-per-task=2",
            &format!("--output={}", utf8(&dir.path("study-%j.out"))),
        ],
        &[
            ("HYPERSEARCH_STUDY", utf8(&config)),
            ("HYPERSEARCH_DB", utf8(&db)),
            ("HYPERSEARCH_PORT", port.as_str()),
            ("HYPERSEARCH_TOKEN_FILE", utf8(&token)),
            ("HYPERSEARCH_BIN", bin()),
        ],
    );
    let records = cluster.wait_for_job(job, Duration::from_secs(60));
    let output = outputs_of(&dir, "study-");
    assert_eq!(records.len(), 1, "{records:?}{output}");
    assert_eq!(
        (records[0].state.as_str(), records[0].exit_code.as_str()),
        ("COMPLETED", "0:0"),
        "the batch script failed:{output}"
    );
    assert_all_over(&db, 12);
    assert_best_matches_sql(&dir, &db, 3);
    // Both tasks of the allocation ran a worker, named after its job and task.
    assert_eq!(
        worker_names(&db),
        [format!("slurm-{job}.0"), format!("slurm-{job}.1")],
        "{output}"
    );
    // The token the script made for the coordinator is the user's alone.
    let mode = fs::metadata(&token)
        .expect("the token file the script made")
        .mode();
    assert_eq!(mode & 0o077, 0, "token file mode {mode:o}");
}

#[test]
fn a_worker_array_joins_a_running_coordinator_and_every_task_exits_0() {
    let _heavy = heavy();
    let dir = Scratch::new();
    let cluster = Cluster::start();
    let config = dir.write("study.toml", SLEEPY_24);
    let token = dir.write("token", "array-secret\n");
    let db = dir.path("trials.db");
    // Beyond loopback with a token, as on a real cluster (the node's name leads back here);
    // serving on after the study's end, as the script asks.
    let (mut serve, address) = serve_on(
        &dir,
        &config,
        &db,
        "0.0.0.0:0",
        "serve.log",
        &["--token-file", utf8(&token), "--keep-serving"],
    );
    let port = address.rsplit_once(':').expect("a port in the address").1;
    let coordinator = format!("http://{}:{port}", cluster.node);
    let job = cluster.sbatch(
        &repo("deploy/slurm/workers-array.sbatch"),
        &dir,
        &[
            // Tasks 0-3 of one CPU fill the node; %4 holds 4 and 5 back until one ends,
            // which is after the study's end.
            "--array=0-5%4",
            "--cpus-per-task=1",
            &format!("--output={}", utf8(&dir.path("worker-%A_%a.out"))),
        ],
        &[
            ("HYPERSEARCH_COORDINATOR", coordinator.as_str()),
            ("HYPERSEARCH_TOKEN_FILE", utf8(&token)),
            ("HYPERSEARCH_PATIENCE", "20"),
            ("HYPERSEARCH_BIN", bin()),
        ],
    );
    let records = cluster.wait_for_job(job, Duration::from_secs(60));
    let outputs = outputs_of(&dir, "worker-");
    let mut ended: Vec<(Option<u32>, &str, &str)> = records
        .iter()
        .map(|r| (r.array_task, r.state.as_str(), r.exit_code.as_str()))
        .collect();
    ended.sort();
    let every_task_exits_0: Vec<_> = (0..6u32).map(|t| (Some(t), "COMPLETED", "0:0")).collect();
    assert_eq!(ended, every_task_exits_0, "{outputs}");

    signal(&serve, "TERM");
    assert!(
        serve.wait(Duration::from_secs(30)).success(),
        "{}",
        serve.log_text()
    );
    assert_all_over(&db, 24);
    // Every task joined as a worker, the last two after the study's end.
    let joined: Vec<String> = (0..6).map(|t| format!("slurm-{job}_{t}")).collect();
    assert_eq!(worker_names(&db), joined, "{outputs}");
}

/// `path` as text (the scratch directories are UTF-8).
fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The names of the study's workers, sorted.
fn worker_names(db: &Path) -> Vec<String> {
    sql(db, "SELECT name FROM workers ORDER BY name", |r| {
        r.get::<String, _>(0)
    })
}

/// What the files of `dir` named `prefix*` hold, for failure messages.
fn outputs_of(dir: &Scratch, prefix: &str) -> String {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir.path(""))
        .expect("list the scratch directory")
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            format!("\n--- {} ---\n{text}", path.display())
        })
        .collect()
}

/// `n` distinct ports free now on every address.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("0.0.0.0:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("its address").port())
        .collect()
}

/// A Slurm or munge program (the daemons live in /usr/sbin, which ./test.sh puts on PATH).
fn slurm_tool(name: &str) -> PathBuf {
    tool(name, "Debian's slurm-wlm and munge")
}

/// A one-node Slurm cluster in a temporary directory: munged with a key and socket of its
/// own, slurmctld and slurmd on free ports, node `HOST CPUs=4` in partition `debug`.
/// Dropping it kills the daemons, then every process still running with its `SLURM_CONF`
/// (job steps outlive slurmd), then munged.
struct Cluster {
    /// The node's name: this host's short name, as slurmd finds itself.
    node: String,
    conf: PathBuf,
    slurmd: Option<Proc>,
    slurmctld: Option<Proc>,
    munged: Option<Proc>,
    dir: Scratch,
}

impl Cluster {
    /// Starts the daemons; returns once the node is idle.
    fn start() -> Cluster {
        let uid = fs::metadata("/proc/self").expect("/proc/self").uid();
        assert_eq!(
            uid, 0,
            "the Slurm tests start slurmd, which runs jobs as their owners: run them as root"
        );
        for name in [
            "munged",
            "mungekey",
            "slurmctld",
            "slurmd",
            "sbatch",
            "srun",
            "scontrol",
            "scancel",
            "sinfo",
        ] {
            slurm_tool(name);
        }
        let dir = Scratch::new();
        // munged refuses a socket under a directory that others cannot traverse.
        fs::set_permissions(dir.path(""), fs::Permissions::from_mode(0o711))
            .expect("open the cluster's directory for traversal");
        for sub in ["state", "spool"] {
            fs::create_dir(dir.path(sub)).expect("a directory for Slurm");
        }
        let node = fs::read_to_string("/proc/sys/kernel/hostname")
            .expect("the host name")
            .trim()
            .split('.')
            .next()
            .expect("a short host name")
            .to_string();
        let mut cluster = Cluster {
            node,
            conf: dir.path("slurm.conf"),
            slurmd: None,
            slurmctld: None,
            munged: None,
            dir,
        };
        cluster.start_munged();
        let ports = free_ports(2);
        fs::write(&cluster.conf, cluster.slurm_conf(ports[0], ports[1])).expect("slurm.conf");
        fs::write(cluster.dir.path("plugstack.conf"), "").expect("plugstack.conf");
        cluster.slurmctld = Some(cluster.daemon("slurmctld", &["-D", "-c"]));
        cluster.slurmd = Some(cluster.daemon("slurmd", &["-D"]));
        cluster.wait_until_idle();
        cluster
    }

    /// munged in the foreground with a fresh key, its socket in the cluster's directory.
    fn start_munged(&mut self) {
        let file = |name: &str| utf8(&self.dir.path(name)).to_string();
        let made = run_program(
            Command::new(slurm_tool("mungekey"))
                .arg("--create")
                .arg(format!("--keyfile={}", file("munge.key"))),
            Duration::from_secs(30),
        );
        assert!(made.status.success(), "mungekey: {made:?}");
        let socket = self.dir.path("munge.sock");
        let mut munged = spawn_program(
            Command::new(slurm_tool("munged"))
                .arg("--foreground")
                .arg(format!("--socket={}", file("munge.sock")))
                .arg(format!("--key-file={}", file("munge.key")))
                .arg(format!("--pid-file={}", file("munged.pid")))
                .arg(format!("--log-file={}", file("munged.log")))
                .arg(format!("--seed-file={}", file("munged.seed"))),
            &self.dir.path("munged.stderr"),
        );
        wait_for("munged's socket", Duration::from_secs(10), || {
            if let Ok(Some(status)) = munged.child.try_wait() {
                panic!("munged exited with {status}{}", self.logs());
            }
            socket.exists().then_some(())
        });
        self.munged = Some(munged);
    }

    /// The cluster's slurm.conf: everything in its directory, no accounting, job
    /// completions in a text file, a node of 4 CPUs whatever the machine has.
    fn slurm_conf(&self, slurmctld_port: u16, slurmd_port: u16) -> String {
        let file = |name: &str| utf8(&self.dir.path(name)).to_string();
        let node = &self.node;
        format!(
            "ClusterName=hypersearch-test\n\
             SlurmctldHost={node}\n\
             SlurmctldPort={slurmctld_port}\n\
             SlurmdPort={slurmd_port}\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             CredType=cred/munge\n\
             AuthInfo=socket={socket}\n\
             StateSaveLocation={state}\n\
             SlurmdSpoolDir={spool}\n\
             SlurmctldPidFile={ctld_pid}\n\
             SlurmdPidFile={d_pid}\n\
             SlurmctldLogFile={ctld_log}\n\
             SlurmdLogFile={d_log}\n\
             PlugStackConfig={plugstack}\n\
             MailProg=/bin/true\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_CPU\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             MpiDefault=none\n\
             JobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\n\
             JobCompType=jobcomp/filetxt\n\
             JobCompLoc={jobcomp}\n\
             ReturnToService=2\n\
             SlurmdParameters=config_overrides\n\
             NodeName={node} CPUs=4 State=UNKNOWN\n\
             PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            socket = file("munge.sock"),
            state = file("state"),
            spool = file("spool"),
            ctld_pid = file("slurmctld.pid"),
            d_pid = file("slurmd.pid"),
            ctld_log = file("slurmctld.log"),
            d_log = file("slurmd.log"),
            plugstack = file("plugstack.conf"),
            jobcomp = file("jobcomp.log"),
        )
    }

    /// Starts daemon `name ARGS` in the foreground; its stderr goes to `NAME.stderr`.
    fn daemon(&self, name: &str, args: &[&str]) -> Proc {
        spawn_program(
            self.command(&slurm_tool(name)).args(args),
            &self.dir.path(&format!("{name}.stderr")),
        )
    }

    /// `program` run against this cluster, without the test's own hypersearch settings.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("SLURM_CONF", &self.conf)
            .env_remove("HYPERSEARCH_LOG")
            .env_remove("HYPERSEARCH_DB")
            .env_remove("HYPERSEARCH_TOKEN_FILE")
            .stdin(Stdio::null());
        command
    }

    /// Runs client command `name ARGS` to its end; fails the test if it fails.
    fn run(&self, name: &str, args: &[&str]) -> Output {
        let output = run_program(
            self.command(&slurm_tool(name)).args(args),
            Duration::from_secs(30),
        );
        assert!(
            output.status.success(),
            "{name} {}: {}{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        output
    }

    /// Which daemon has exited, if one has.
    fn exited(&mut self) -> Option<String> {
        let daemons = [
            ("munged", &mut self.munged),
            ("slurmctld", &mut self.slurmctld),
            ("slurmd", &mut self.slurmd),
        ];
        daemons.into_iter().find_map(|(name, daemon)| {
            let status = daemon.as_mut()?.child.try_wait().ok()??;
            Some(format!("{name} exited with {status}"))
        })
    }

    fn wait_until_idle(&mut self) {
        wait_for("the Slurm node to be idle", Duration::from_secs(30), || {
            if let Some(exited) = self.exited() {
                panic!("{exited}{}", self.logs());
            }
            let state = self
                .command(&slurm_tool("sinfo"))
                .args(["--noheader", "--format=%T"])
                .output()
                .ok()?;
            (String::from_utf8_lossy(&state.stdout).trim() == "idle").then_some(())
        });
    }

    /// Submits `script` from `workdir` with `sbatch ARGS`, the job's environment the test's
    /// plus `env`; returns the job's id.
    fn sbatch(&self, script: &Path, workdir: &Scratch, args: &[&str], env: &[(&str, &str)]) -> u64 {
        let mut all = vec!["--parsable"];
        all.extend_from_slice(args);
        all.push(utf8(script));
        let mut command = self.command(&slurm_tool("sbatch"));
        command
            .args(&all)
            .envs(env.iter().copied())
            .current_dir(workdir.path(""));
        let output = run_program(&mut command, Duration::from_secs(30));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "sbatch {}: {}{}",
            all.join(" "),
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        // `--parsable` prints `ID` or `ID;CLUSTER`.
        text.trim()
            .split(';')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no job id from sbatch: {text:?}"))
    }

    /// Every record of job `job`: one per array task started, one for those not started.
    fn records(&self, job: u64) -> Vec<Record> {
        let id = job.to_string();
        let output = self.run("scontrol", &["--oneliner", "show", "job", &id]);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(Record::parse)
            .collect()
    }

    /// Waits until every record of `job` has ended; returns them.
    fn wait_for_job(&self, job: u64, limit: Duration) -> Vec<Record> {
        let deadline = Instant::now() + limit;
        wait_for(&format!("job {job} to end"), limit * 2, || {
            let records = self.records(job);
            if records.iter().all(Record::ended) {
                return Some(records);
            }
            assert!(
                Instant::now() < deadline,
                "job {job} did not end within {limit:?}: {records:?}{}",
                self.logs()
            );
            None
        })
    }

    /// The ends of the daemons' logs (their stderr when they wrote no log), for failure
    /// messages.
    fn logs(&self) -> String {
        let mut text = String::new();
        for (name, before_the_log) in [
            ("munged.log", "munged.stderr"),
            ("slurmctld.log", "slurmctld.stderr"),
            ("slurmd.log", "slurmd.stderr"),
            ("jobcomp.log", "jobcomp.log"),
        ] {
            let read = |name: &str| fs::read_to_string(self.dir.path(name)).unwrap_or_default();
            let mut log = read(name);
            if log.trim().is_empty() {
                log = read(before_the_log);
            }
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            if !tail.is_empty() {
                text.push_str(&format!("\n--- {name} (end) ---\n{tail}"));
            }
        }
        text
    }

    /// Processes started under this cluster's slurm.conf: the daemons, slurmstepd and the
    /// jobs' processes (sbatch passes `SLURM_CONF` on to them).
    fn processes(&self) -> Vec<u32> {
        let marker = format!("SLURM_CONF={}", utf8(&self.conf));
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != std::process::id())
            .filter(|pid| {
                fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                    environ
                        .split(|&byte| byte == 0)
                        .any(|var| var == marker.as_bytes())
                })
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.slurmd.take());
        drop(self.slurmctld.take());
        // Job steps and their processes outlive slurmd: kill what is left of them.
        for _ in 0..5 {
            let left = self.processes();
            if left.is_empty() {
                break;
            }
            for pid in left {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        drop(self.munged.take());
    }
}

/// One line of `scontrol --oneliner show job`.
#[derive(Debug)]
struct Record {
    /// `ArrayTaskId` of a task that was started (the record of those not started carries
    /// a range, or a placeholder once they are cancelled).
    array_task: Option<u32>,
    /// `JobState`: `COMPLETED`, `FAILED`, `CANCELLED`, ...
    state: String,
    /// `ExitCode`: `STATUS:SIGNAL`.
    exit_code: String,
}

impl Record {
    fn parse(line: &str) -> Record {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_default()
                .to_string()
        };
        let array_task = field("ArrayTaskId")
            .parse()
            .ok()
            .filter(|&task: &u32| task < 1 << 20);
        Record {
            array_task,
            state: field("JobState"),
            exit_code: field("ExitCode"),
        }
    }

    /// Whether the record is in a final state (not pending, running or completing).
    fn ended(&self) -> bool {
        matches!(
            self.state.as_str(),
            "COMPLETED"
                | "FAILED"
                | "CANCELLED"
                | "TIMEOUT"
                | "NODE_FAIL"
                | "PREEMPTED"
                | "BOOT_FAIL"
                | "DEADLINE"
                | "OUT_OF_MEMORY"
        )
    }
}
