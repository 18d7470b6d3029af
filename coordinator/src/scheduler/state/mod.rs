//! The scheduler's state machine: trials, their leases and the workers holding them.
//!
//! Layout: this file holds the state and its sampling and progress bookkeeping; `lease`
//! the transitions of an attempt (lease, report, complete, heartbeat, expiry).
//!
//! Every method is synchronous and takes the time as an argument, so the transitions are
//! tested without a runtime. Each returns the [`WriteOp`]s that record it; the caller queues
//! them on the writer *while still holding the lock*, so the database sees changes in the
//! order they happened, and answers the worker only after they are committed.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use hypersearch_proto::{
    Assignment, FailureKind, JsonObject, LeaseId, Metrics, Outcome, StopDecision,
};
use hypersearch_search::order::{OrderStats, Total};
use hypersearch_search::{Direction, EpochObjectives, Judged, Params, Pruner, TrialRecord};
use tokio::time::Instant;

use super::Progress;
mod checkpoint;
mod kept;
mod lease;
#[cfg(test)]
mod tests;

use crate::Error;
use crate::store::{StoredAttempt, StoredStudy, TrialState, WriteOp, found_text};

/// The study's rules the state machine enforces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rules {
    /// The metric the pruner and the result read.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// Total trials.
    pub budget: u64,
    /// Trials running at once, at most.
    pub parallel: u32,
    /// Trials sampled ahead beyond `parallel`, so a worker finishing one finds the next
    /// queued (for samplers that ignore the history). Model-based samplers sample none
    /// ahead: a trial sampled ahead is proposed knowing fewer results, with more in flight.
    pub prefetch: u32,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// Attempts per trial lost to infrastructure before it fails.
    pub max_attempts: u32,
    /// Re-runs of a trial whose run failed (user error).
    pub failure_retries: u32,
    /// Epochs one attempt may report.
    pub max_epochs: u32,
    /// Metric values the study may store in all.
    pub max_stored_values: u64,
    /// The plausible results, if the study says.
    pub value_range: Option<(f64, f64)>,
    /// The wall time an attempt may run, if limited.
    pub trial_timeout: Option<Duration>,
    /// Refuted failures after which a worker is quarantined, if any.
    pub quarantine_after: Option<u32>,
    /// Trained networks kept (`[study] keep_models`): those of the best this many complete
    /// trials. `None` when workers send none (not a training study, or 0).
    pub keep_models: Option<u32>,
    /// Workers send a checkpoint of a running training after every epoch (`[study]
    /// checkpoints`, trainings only), and a retry of a lost attempt resumes from it.
    pub checkpoints: bool,
    /// Several objectives or constraints: what a complete trial must report besides the
    /// metric, and how the samplers see it. `None` for one unconstrained metric.
    pub objectives: Option<hypersearch_search::Objectives>,
}

struct Attempt {
    lease: LeaseId,
    worker: u64,
    /// Granted while its worker was held to one trial (after leases of it expired).
    on_probation: bool,
    /// When it was granted (or, after a coordinator restart, reloaded).
    started: Instant,
    deadline: Instant,
    last_epoch: Option<(u32, Metrics)>,
    stop: Option<StopDecision>,
    /// The epoch of the checkpoint it goes on from, when it resumed (its epochs come after).
    resumed_from: Option<u32>,
}

/// How an attempt ended, to recognize an identical retry of its completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Finished,
    Pruned,
    Failed(FailureKind),
    Lost,
}

impl Ending {
    fn of(outcome: &Outcome) -> Ending {
        match outcome {
            Outcome::Finished(_) => Ending::Finished,
            Outcome::Pruned => Ending::Pruned,
            Outcome::Failed { kind, .. } => Ending::Failed(*kind),
        }
    }
}

struct Trial {
    state: TrialState,
    params: JsonObject,
    overrides: JsonObject,
    attempts: u32,
    infra_failures: u32,
    user_failures: u32,
    /// Workers whose attempts at it were lost to infrastructure in this run: each burns
    /// the trial's infrastructure budget once, so one client cannot fail a trial alone.
    lost_by: Vec<u64>,
    /// Workers whose attempts at it failed with a user error: a retry goes to another
    /// worker when one can take it, and its success there refutes their failures.
    user_failed_by: Vec<u64>,
    running: Option<Attempt>,
    ended: Option<(LeaseId, Ending)>,
    /// Its latest stored checkpoint, while a retry may resume from it.
    checkpoint: Option<checkpoint::Held>,
    /// The first attempt of its curve, when the latest resumed from a checkpoint.
    curve_from: Option<u32>,
}

struct WorkerEntry {
    slots: u32,
    held: BTreeSet<u64>,
    /// Leases of this worker that expired since its last accepted report or completion:
    /// while any did, it holds one trial at a time.
    expired_in_a_row: u32,
    /// Leases granted while it was held to one trial that expired too.
    strikes: u32,
    /// Why it may lease no more, once it may not.
    quarantined: Option<String>,
    /// It handed a trial back because it is shutting down: it gets no more.
    leaving: bool,
    /// An operator drained it: it finishes what it runs and gets no more until resumed.
    draining: bool,
    /// The trials whose attempts it failed (user errors) since its last success.
    failing: Vec<u64>,
    /// How many of those other workers then ran successfully.
    refuted: u32,
}

impl WorkerEntry {
    fn new(slots: u32) -> WorkerEntry {
        WorkerEntry {
            slots,
            held: BTreeSet::new(),
            expired_in_a_row: 0,
            strikes: 0,
            quarantined: None,
            leaving: false,
            draining: false,
            failing: Vec::new(),
            refuted: 0,
        }
    }

    /// Trials it may hold at once now.
    fn allowed(&self) -> u32 {
        if self.expired_in_a_row > 0 {
            self.slots.min(1)
        } else {
            self.slots
        }
    }

    /// A report or completion of it was accepted: it is working.
    fn vouched(&mut self) {
        self.expired_in_a_row = 0;
        self.strikes = 0;
    }
}

/// Leases granted while held to one trial that may expire before a worker is quarantined.
const STRIKES: u32 = 3;

/// Without a `value_range`, a new best result further than this many interquartile ranges
/// from the median of the completed trials is taken for a forgery or a bug.
const OUTLIER_SPREADS: f64 = 1e6;

/// A trial that reached a terminal state: what the sampler learns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ended {
    /// The trial's record, now terminal.
    pub record: TrialRecord,
}

/// What an operator asks of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steer {
    /// It finishes its running trials and gets no more.
    Drain,
    /// It gets trials again (undoes a drain or a quarantine).
    Resume,
    /// Its next lease request is refused and it stops.
    Quarantine,
}

/// What a lease request gets.
pub(crate) enum Taken {
    /// Trials, each with the write that records its new attempt.
    Trials(Vec<(Assignment, WriteOp)>),
    /// Nothing now: wait.
    Nothing,
    /// Nothing ever again.
    StudyFinished,
}

/// The scheduler's whole state.
pub(crate) struct State {
    rules: Rules,
    trials: Vec<Trial>,
    records: Vec<TrialRecord>,
    /// The early-stopping rule, told of every trial that ends (under the same lock).
    pruner: Box<dyn Pruner>,
    /// The trials with a running attempt: what the reaper looks at.
    running_set: BTreeSet<u64>,
    queue: VecDeque<u64>,
    workers: HashMap<u64, WorkerEntry>,
    next_number: u64,
    sampling: u32,
    exhausted: bool,
    running: u32,
    complete: u64,
    pruned: u64,
    failed: u64,
    best: Option<(u64, f64)>,
    finished: bool,
    fatal: Option<String>,
    /// Workers active since this coordinator started: they joined, or (after a restart)
    /// came back asking for trials or renewing leases. Each must hear the study is over.
    joined: BTreeSet<u64>,
    told: BTreeSet<u64>,
    /// Metric values stored (or queued to be) so far.
    stored_values: u64,
    /// The results of the completed trials, for the plausibility check.
    completed_values: OrderStats<Total>,
    /// Workers quarantined (with the reason) or resumed (`None`) since the scheduler last
    /// took these to record them.
    quarantine_changes: Vec<(u64, Option<String>)>,
    /// The trials whose trained networks are kept, when the study keeps any.
    kept: Option<kept::KeptModels>,
    /// Trials whose kept models are to be dropped, since the scheduler last took them.
    model_drops: Vec<u64>,
    /// Writes of checkpoints and curves (drops, where a retry's curve starts), in order,
    /// since the scheduler last took them.
    checkpoint_writes: Vec<WriteOp>,
}

fn search_state(state: TrialState) -> hypersearch_search::TrialState {
    match state {
        TrialState::Queued | TrialState::Running => hypersearch_search::TrialState::Running,
        TrialState::Complete => hypersearch_search::TrialState::Complete,
        TrialState::Pruned => hypersearch_search::TrialState::Pruned,
        TrialState::Failed => hypersearch_search::TrialState::Failed,
    }
}

/// How a stored attempt that is over ended, so that an identical retry of its completion,
/// sent again because the coordinator died before answering, is recognized after a restart.
fn ended_attempt(number: u64, latest: &StoredAttempt) -> (LeaseId, Ending) {
    let ending = match (latest.state.as_str(), latest.failure.as_deref()) {
        ("complete", _) => Ending::Finished,
        ("pruned", _) => Ending::Pruned,
        ("preempted", _) => Ending::Failed(FailureKind::Preempted),
        ("failed", Some("infrastructure")) => Ending::Failed(FailureKind::Infrastructure),
        ("failed", _) => Ending::Failed(FailureKind::User),
        _ => Ending::Lost,
    };
    let lease = LeaseId {
        trial: number,
        attempt: latest.attempt,
        token: latest.token,
    };
    (lease, ending)
}

/// The JSON object a trial's `column` (`trials.params`) stores.
fn parse_object(number: u64, column: &str, text: &str) -> Result<JsonObject, Error> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(Error::Corrupt {
            what: format!("trial {number}, column {column}"),
            value: format!("expected a JSON object, found {}", found_text(text)),
        }),
    }
}

impl State {
    /// The state of a new study, or of a resumed one: queued trials go back to the queue;
    /// running attempts keep their leases for one more lease period, so workers that are
    /// still running them can go on (and re-attach) after a coordinator restart.
    pub fn new(
        rules: Rules,
        stored: &StoredStudy,
        now: Instant,
        pruner: Box<dyn Pruner>,
    ) -> Result<State, Error> {
        let kept = rules
            .keep_models
            .map(|limit| kept::KeptModels::new(limit, rules.direction, rules.objectives.as_ref()));
        let mut state = State {
            kept,
            model_drops: Vec::new(),
            checkpoint_writes: Vec::new(),
            rules,
            trials: Vec::with_capacity(stored.trials.len()),
            records: Vec::with_capacity(stored.trials.len()),
            pruner,
            running_set: BTreeSet::new(),
            queue: VecDeque::new(),
            workers: HashMap::new(),
            next_number: 0,
            sampling: 0,
            exhausted: false,
            running: 0,
            complete: 0,
            pruned: 0,
            failed: 0,
            best: None,
            finished: false,
            fatal: None,
            joined: BTreeSet::new(),
            told: BTreeSet::new(),
            stored_values: stored.stored_values,
            completed_values: OrderStats::new(),
            quarantine_changes: Vec::new(),
        };
        // Workers of an earlier run of this study keep their ids: after a coordinator
        // restart they go on reporting, renewing and leasing as before.
        for worker in &stored.workers {
            let mut entry = WorkerEntry::new(worker.slots);
            entry.quarantined.clone_from(&worker.quarantined);
            state.workers.insert(worker.id, entry);
        }
        for (index, stored_trial) in stored.trials.iter().enumerate() {
            if stored_trial.number != index as u64 {
                return Err(Error::Corrupt {
                    what: "column trials.number".into(),
                    value: format!(
                        "expected the numbers 0, 1, 2, ... without gaps, found {} where {index} \
                         belongs",
                        stored_trial.number
                    ),
                });
            }
            let params: Params =
                serde_json::from_str(&stored_trial.params).map_err(|_| Error::Corrupt {
                    what: format!("trial {}, column trials.params", stored_trial.number),
                    value: format!(
                        "expected sampled parameters, found {}",
                        found_text(&stored_trial.params)
                    ),
                })?;
            // Only a trial that may still be leased needs what a worker is sent.
            let leasable = matches!(stored_trial.state, TrialState::Queued | TrialState::Running);
            let mut trial = Trial {
                state: stored_trial.state,
                params: if leasable {
                    parse_object(stored_trial.number, "trials.params", &stored_trial.params)?
                } else {
                    JsonObject::new()
                },
                overrides: if leasable {
                    parse_object(
                        stored_trial.number,
                        "trials.overrides",
                        &stored_trial.overrides,
                    )?
                } else {
                    JsonObject::new()
                },
                attempts: stored_trial.attempts,
                infra_failures: stored_trial.infra_failures,
                user_failures: stored_trial.user_failures,
                lost_by: Vec::new(),
                user_failed_by: Vec::new(),
                running: None,
                ended: None,
                checkpoint: stored_trial
                    .checkpoint
                    .as_ref()
                    .filter(|_| leasable)
                    .and_then(checkpoint::Held::from_stored),
                curve_from: stored_trial.curve_from,
            };
            match (stored_trial.state, &stored_trial.latest) {
                (TrialState::Running, Some(latest)) => {
                    let entry = state
                        .workers
                        .entry(latest.worker_id)
                        .or_insert(WorkerEntry::new(0));
                    entry.held.insert(stored_trial.number);
                    trial.running = Some(Attempt {
                        lease: LeaseId {
                            trial: stored_trial.number,
                            attempt: latest.attempt,
                            token: latest.token,
                        },
                        worker: latest.worker_id,
                        on_probation: false,
                        started: now,
                        deadline: now + state.rules.lease,
                        last_epoch: latest.last_epoch.clone(),
                        stop: latest.stop.clone(),
                        resumed_from: latest.resumed_from,
                    });
                    state.running += 1;
                    state.running_set.insert(stored_trial.number);
                }
                (TrialState::Running, None) => {
                    return Err(Error::Corrupt {
                        what: format!("trial {}", stored_trial.number),
                        value: "it is running but table attempts has no attempt of it".into(),
                    });
                }
                (TrialState::Queued, latest) => {
                    state.queue.push_back(stored_trial.number);
                    trial.ended = latest
                        .as_ref()
                        .map(|l| ended_attempt(stored_trial.number, l));
                }
                (_, latest) => {
                    trial.ended = latest
                        .as_ref()
                        .map(|l| ended_attempt(stored_trial.number, l));
                }
            }
            let judged = match (&state.rules.objectives, &stored_trial.metrics) {
                (Some(objectives), Some(text)) if stored_trial.state == TrialState::Complete => {
                    serde_json::from_str(text)
                        .ok()
                        .and_then(|metrics| objectives.judge(&metrics).ok())
                }
                _ => None,
            };
            let _dropped_before = state.count_terminal(
                stored_trial.number,
                stored_trial.state,
                stored_trial.value,
                judged.as_ref(),
            );
            let record = TrialRecord {
                judged,
                number: stored_trial.number,
                params,
                state: search_state(stored_trial.state),
                value: stored_trial.value,
                intermediate: stored_trial.intermediate.clone(),
                intermediate_objectives: EpochObjectives::merge(&stored_trial.objective_curves),
            };
            state.pruner.observe(&record);
            state.records.push(record);
            state.trials.push(trial);
        }
        state.next_number = state.trials.len() as u64;
        Ok(state)
    }

    /// Counts a trial that reached `state`; returns the trial whose kept model is to be
    /// dropped now, if any (on a restart, the caller ignores it: what it names was dropped
    /// when that trial completed).
    fn count_terminal(
        &mut self,
        number: u64,
        state: TrialState,
        value: Option<f64>,
        judged: Option<&Judged>,
    ) -> Option<u64> {
        let mut drop = None;
        match state {
            TrialState::Complete => {
                self.complete += 1;
                if let Some(value) = value.filter(|v| v.is_finite()) {
                    drop = self
                        .kept
                        .as_mut()
                        .and_then(|k| k.completed(number, value, judged));
                    self.completed_values.insert(Total(value));
                    let better = self
                        .best
                        .is_none_or(|(_, best)| self.rules.direction.better(value, best));
                    if better {
                        self.best = Some((number, value));
                    }
                }
            }
            TrialState::Pruned => self.pruned += 1,
            TrialState::Failed => self.failed += 1,
            TrialState::Queued | TrialState::Running => {}
        }
        // A trial that ended other than complete keeps no model (it may have sent one before
        // its result was refused or it was stopped).
        if matches!(state, TrialState::Pruned | TrialState::Failed) && self.kept.is_some() {
            drop = Some(number);
        }
        drop
    }

    /// Every trial as the pruner sees it, by number (params left out once handed over by
    /// [`State::take_known`]).
    #[cfg(test)]
    pub fn records(&self) -> &[TrialRecord] {
        &self.records
    }

    /// Every trial of a resumed study with its params, for the sampler; the state keeps
    /// them without params (the sampler owns those from now on).
    pub fn take_known(&mut self) -> Vec<TrialRecord> {
        self.records
            .iter_mut()
            .map(|record| TrialRecord {
                params: std::mem::take(&mut record.params),
                ..record.clone()
            })
            .collect()
    }

    /// Numbers of the trials to sample now so that `parallel` trials can run and
    /// `prefetch` more wait in the queue.
    pub fn samples_wanted(&mut self) -> Vec<u64> {
        let mut wanted = Vec::new();
        if self.exhausted || self.fatal.is_some() || self.finished {
            return wanted;
        }
        let in_flight =
            |s: &State| s.queue.len() as u64 + u64::from(s.running) + u64::from(s.sampling);
        let target = u64::from(self.rules.parallel) + u64::from(self.rules.prefetch);
        while self.next_number < self.rules.budget && in_flight(self) < target {
            wanted.push(self.next_number);
            self.next_number += 1;
            self.sampling += 1;
        }
        wanted
    }

    /// A sampled trial (whose insert is queued on the writer) joins the queue. Returns
    /// false, adding nothing, if it comes out of order or after the sampling stopped.
    pub fn add_sampled(
        &mut self,
        number: u64,
        params_json: JsonObject,
        overrides: JsonObject,
    ) -> bool {
        self.sampling = self.sampling.saturating_sub(1);
        if number != self.trials.len() as u64 || self.exhausted || self.fatal.is_some() {
            return false;
        }
        self.trials.push(Trial {
            state: TrialState::Queued,
            params: params_json,
            overrides,
            attempts: 0,
            infra_failures: 0,
            user_failures: 0,
            lost_by: Vec::new(),
            user_failed_by: Vec::new(),
            running: None,
            ended: None,
            checkpoint: None,
            curve_from: None,
        });
        // The sampler keeps the params; the pruner reads curves only.
        self.records.push(TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number,
            params: Params::new(),
            state: hypersearch_search::TrialState::Running,
            value: None,
            intermediate: Vec::new(),
        });
        self.queue.push_back(number);
        true
    }

    /// Whether sampling has stopped (space exhausted or study failed).
    pub fn sampling_stopped(&self) -> bool {
        self.exhausted || self.fatal.is_some()
    }

    /// A sample request that produced no trial (the space is exhausted, or it failed).
    pub fn sample_dropped(&mut self) {
        self.sampling = self.sampling.saturating_sub(1);
    }

    /// The (finite) space has no point left: the study ends with the trials it has.
    pub fn mark_exhausted(&mut self) {
        self.exhausted = true;
    }

    /// The study cannot go on (sampler or database failure).
    pub fn mark_fatal(&mut self, why: String) {
        if self.fatal.is_none() {
            self.fatal = Some(why);
        }
    }

    /// Why the study cannot go on, if it cannot.
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// Marks the study finished if it just became so; returns whether it did.
    pub fn check_finished(&mut self) -> bool {
        let no_more = self.exhausted || self.next_number >= self.rules.budget;
        if !self.finished
            && no_more
            && self.sampling == 0
            && self.queue.is_empty()
            && self.running == 0
        {
            self.finished = true;
            return true;
        }
        false
    }

    /// Notes that `worker` heard the study is finished.
    pub fn told_finished(&mut self, worker: u64) {
        self.told.insert(worker);
    }

    /// Whether every worker that joined or came back (after a restart) since this
    /// coordinator started heard the study is finished.
    pub fn every_worker_told(&self) -> bool {
        self.joined.is_subset(&self.told)
    }

    /// Records a worker that joined with `slots` slots.
    pub fn add_worker(&mut self, worker: u64, slots: u32) {
        self.joined.insert(worker);
        self.workers.insert(worker, WorkerEntry::new(slots));
    }

    /// An operator's steer of `worker`; returns its state and the trials it still runs.
    pub fn steer(&mut self, worker: u64, steer: Steer) -> Result<(&'static str, usize), Error> {
        let entry = self
            .workers
            .get_mut(&worker)
            .ok_or(Error::NoSuchWorker(worker))?;
        match steer {
            Steer::Drain => entry.draining = true,
            Steer::Resume => {
                entry.draining = false;
                if entry.quarantined.take().is_some() {
                    self.quarantine_changes.push((worker, None));
                }
                entry.vouched();
                entry.failing.clear();
                entry.refuted = 0;
            }
            Steer::Quarantine => {
                let reason = "quarantined by an operator".to_string();
                entry.quarantined = Some(reason.clone());
                self.quarantine_changes.push((worker, Some(reason)));
            }
        }
        let state = match (&entry.quarantined, entry.draining) {
            (Some(_), _) => "quarantined",
            (None, true) => "draining",
            (None, false) => "active",
        };
        Ok((state, entry.held.len()))
    }

    /// The trials whose kept models are to be dropped, once each.
    pub fn take_model_drops(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.model_drops)
    }

    /// The checkpoint and curve writes to queue (after the attempt starts they follow), once
    /// each.
    pub fn take_checkpoint_writes(&mut self) -> Vec<WriteOp> {
        std::mem::take(&mut self.checkpoint_writes)
    }

    /// The quarantines and resumptions to record, once each.
    pub fn take_quarantine_changes(&mut self) -> Vec<(u64, Option<String>)> {
        std::mem::take(&mut self.quarantine_changes)
    }

    /// The trials `worker` runs now.
    pub fn leases_held(&self, worker: u64) -> usize {
        self.workers
            .get(&worker)
            .map_or(0, |entry| entry.held.len())
    }

    /// The progress figures.
    pub fn progress(&self) -> Progress {
        Progress {
            budget: self.rules.budget,
            created: self.trials.len() as u64,
            queued: self.queue.len() as u64,
            running: u64::from(self.running),
            complete: self.complete,
            pruned: self.pruned,
            failed: self.failed,
            best: self.best,
            finished: self.finished,
        }
    }
}
