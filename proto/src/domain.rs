//! The protocol's plain Rust types: what the coordinator and the worker exchange, free of
//! prost. Conversions to and from the wire live in `convert`.

use std::collections::BTreeMap;
use std::fmt;

/// A trial's sampled point (parameter name to number, string or boolean), or the overrides the
/// objective applies (dotted training-config key to value).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Metric name to value, in name order.
pub type Metrics = BTreeMap<String, f64>;

/// One attempt of one trial, and the token proving its lease: every report and completion
/// carries it, and the coordinator's store updates are fenced on all three parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId {
    /// The trial's number within its study.
    pub trial: u64,
    /// 1 for the first attempt, incremented on every retry.
    pub attempt: u32,
    /// Random fencing token of this attempt.
    pub token: u64,
}

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a capability: never print it.
        write!(f, "trial {} attempt {}", self.trial, self.attempt)
    }
}

/// What a worker says about itself when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHello {
    /// A label for people (host and process).
    pub name: String,
    /// The machine's name.
    pub hostname: String,
    /// Trials the worker runs at once.
    pub slots: u32,
    /// The worker's hypersearch version.
    pub version: String,
}

/// Whether the study metric is minimized or maximized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Lower is better.
    Minimize,
    /// Higher is better.
    Maximize,
}

/// What a trial runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Objective {
    /// Train the base config with the trial's overrides (nn-core).
    Training,
    /// A shell command, run once per trial (`[objective] command`).
    Command(String),
    /// A built-in test function by name.
    Function(String),
}

/// The study as a worker needs to know it.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyInfo {
    /// The study's name.
    pub name: String,
    /// The metric the study optimizes.
    pub metric: String,
    /// Whether that metric is minimized or maximized.
    pub direction: Direction,
    /// What each trial runs.
    pub objective: Objective,
    /// The `[data]`, `[network]` and `[training]` tables of the study, as TOML text.
    pub base_config_toml: String,
    /// The files of the study's data set, for workers that lack them (none for the built-in
    /// digits set and for objectives other than training).
    pub data_files: Vec<crate::data_transfer::DataFile>,
    /// The coordinator keeps trained networks: a training worker sends each finished
    /// trial's model ([`crate::model_transfer`]) before completing it.
    pub keep_models: bool,
    /// The coordinator takes checkpoints of running trainings: a training worker sends one
    /// after every epoch ([`crate::model_transfer`]), so a retry of a lost attempt resumes.
    pub checkpoints: bool,
}

/// The coordinator's answer to a worker joining.
#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    /// The id the worker uses in every later request.
    pub worker_id: u64,
    /// The study it works on.
    pub study: StudyInfo,
    /// How often the worker must send heartbeats, in milliseconds.
    pub heartbeat_interval_ms: u32,
    /// The worker's own secret, sent with every later call
    /// ([`crate::auth::WORKER_CREDENTIAL`]).
    pub credential: String,
}

/// One trial granted to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The lease the worker now holds.
    pub lease: LeaseId,
    /// The sampled point.
    pub params: JsonObject,
    /// What the objective applies (dotted config key to value).
    pub overrides: JsonObject,
    /// The checkpoint this attempt goes on from, when an earlier attempt was lost after
    /// sending one.
    pub resume: Option<crate::model_transfer::Resume>,
}

/// The answer to a lease request.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseGrant {
    /// Trials to run now (possibly none: ask again).
    Trials(Vec<Assignment>),
    /// The study's budget is spent: no trial will come.
    StudyFinished,
}

/// One epoch's metrics of a running attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch {
    /// Counts from 1, increasing within an attempt.
    pub epoch: u32,
    /// The metrics of that epoch (finite values only).
    pub metrics: Metrics,
}

/// Why an early-stopping rule stopped a trial.
#[derive(Debug, Clone, PartialEq)]
pub struct StopDecision {
    /// The rule's name (`median`, `asha`, ...).
    pub rule: String,
    /// The epoch the decision was taken at.
    pub epoch: u32,
    /// The trial's value of the study metric at that epoch.
    pub value: f64,
    /// What the rule compared it with.
    pub threshold: f64,
    /// One sentence for people.
    pub explanation: String,
}

/// Whose fault a failure is: they are budgeted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The objective failed (non-zero exit, bad config, diverged training).
    User,
    /// The worker could not run the trial (lost, out of resources, crashed).
    Infrastructure,
    /// The worker is shutting down and hands the trial back: re-queued at once, counted
    /// against neither budget.
    Preempted,
}

/// How an attempt ended, as its worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The run ended by itself with these final metrics.
    Finished(Metrics),
    /// The run stopped after a stop decision.
    Pruned,
    /// The run failed.
    Failed {
        /// What went wrong (for a command: the tail of its stderr).
        error: String,
        /// Whose fault it is.
        kind: FailureKind,
    },
}

/// A worker asking for trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRequest {
    /// The asking worker.
    pub worker_id: u64,
    /// Its free slots: at most this many trials are granted.
    pub max_trials: u32,
    /// How long the coordinator may hold the request waiting for a trial, in milliseconds.
    pub wait_ms: u32,
}

/// Epoch metrics of a running attempt, from the worker holding its lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The reporting worker.
    pub worker_id: u64,
    /// The attempt's lease.
    pub lease: LeaseId,
    /// The epochs finished since the last report: at least one, epochs increasing.
    pub epochs: Vec<Epoch>,
}

/// How an attempt ended, from the worker holding its lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The reporting worker.
    pub worker_id: u64,
    /// The attempt's lease.
    pub lease: LeaseId,
    /// How it ended.
    pub outcome: Outcome,
    /// Lease up to this many trials in the same call (0: none).
    pub next_max_trials: u32,
}

/// A worker renewing every lease it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The worker.
    pub worker_id: u64,
    /// Every lease it holds.
    pub leases: Vec<LeaseId>,
}
