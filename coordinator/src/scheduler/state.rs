//! The scheduler's state machine: trials, their leases and the workers holding them.
//!
//! Every method is synchronous and takes the time as an argument, so the transitions are
//! tested without a runtime. Each returns the [`WriteOp`]s that record it; the caller queues
//! them on the writer *while still holding the lock*, so the database sees changes in the
//! order they happened, and answers the worker only after they are committed.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use hypersearch_proto::{
    Assignment, Completion, Epoch, FailureKind, Heartbeat, JsonObject, LeaseId, Metrics, Outcome,
    Report, StopDecision,
};
use hypersearch_search::{Decision, Direction, Params, Pruner, TrialRecord};
use tokio::time::Instant;

use super::Progress;
use crate::Error;
use crate::store::{AttemptEnd, StoredStudy, TrialState, TrialUpdate, WriteOp};

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
    /// queued (more for samplers that ignore the history, fewer for model-based ones, which
    /// would otherwise see more pending trials).
    pub prefetch: u32,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// Attempts per trial lost to infrastructure before it fails.
    pub max_attempts: u32,
    /// Re-runs of a trial whose run failed (user error).
    pub failure_retries: u32,
}

struct Attempt {
    lease: LeaseId,
    worker: u64,
    deadline: Instant,
    last_epoch: Option<(u32, Metrics)>,
    stop: Option<StopDecision>,
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
    running: Option<Attempt>,
    ended: Option<(LeaseId, Ending)>,
}

struct WorkerEntry {
    slots: u32,
    held: BTreeSet<u64>,
}

/// A trial that reached a terminal state: what the sampler learns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ended {
    /// The trial's record, now terminal.
    pub record: TrialRecord,
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
    joined: BTreeSet<u64>,
    told: BTreeSet<u64>,
}

fn search_state(state: TrialState) -> hypersearch_search::TrialState {
    match state {
        TrialState::Queued | TrialState::Running => hypersearch_search::TrialState::Running,
        TrialState::Complete => hypersearch_search::TrialState::Complete,
        TrialState::Pruned => hypersearch_search::TrialState::Pruned,
        TrialState::Failed => hypersearch_search::TrialState::Failed,
    }
}

fn parse_object(what: &str, text: &str) -> Result<JsonObject, Error> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(Error::Corrupt {
            what: what.to_string(),
            value: text.to_string(),
        }),
    }
}

impl State {
    /// The state of a new study, or of a resumed one: queued trials go back to the queue;
    /// running attempts keep their leases for one more lease period, so workers that are
    /// still running them can go on (and re-attach) after a coordinator restart.
    pub fn new(rules: Rules, stored: &StoredStudy, now: Instant) -> Result<State, Error> {
        let mut state = State {
            rules,
            trials: Vec::with_capacity(stored.trials.len()),
            records: Vec::with_capacity(stored.trials.len()),
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
        };
        // Workers of an earlier run of this study keep their ids: after a coordinator
        // restart they go on reporting, renewing and leasing as before.
        for &(worker, slots) in &stored.workers {
            state.workers.insert(
                worker,
                WorkerEntry {
                    slots,
                    held: BTreeSet::new(),
                },
            );
        }
        for (index, stored_trial) in stored.trials.iter().enumerate() {
            if stored_trial.number != index as u64 {
                return Err(Error::Corrupt {
                    what: "trials.number (numbers must be 0, 1, 2, ... without gaps)".into(),
                    value: stored_trial.number.to_string(),
                });
            }
            let params: Params =
                serde_json::from_str(&stored_trial.params).map_err(|_| Error::Corrupt {
                    what: "trials.params".into(),
                    value: stored_trial.params.clone(),
                })?;
            let mut trial = Trial {
                state: stored_trial.state,
                params: parse_object("trials.params", &stored_trial.params)?,
                overrides: parse_object("trials.overrides", &stored_trial.overrides)?,
                attempts: stored_trial.attempts,
                infra_failures: stored_trial.infra_failures,
                user_failures: stored_trial.user_failures,
                running: None,
                ended: None,
            };
            match (stored_trial.state, &stored_trial.latest) {
                (TrialState::Running, Some(latest)) => {
                    let entry = state
                        .workers
                        .entry(latest.worker_id)
                        .or_insert(WorkerEntry {
                            slots: 0,
                            held: BTreeSet::new(),
                        });
                    entry.held.insert(stored_trial.number);
                    trial.running = Some(Attempt {
                        lease: LeaseId {
                            trial: stored_trial.number,
                            attempt: latest.attempt,
                            token: latest.token,
                        },
                        worker: latest.worker_id,
                        deadline: now + state.rules.lease,
                        last_epoch: latest.last_epoch.clone(),
                        stop: latest.stop.clone(),
                    });
                    state.running += 1;
                }
                (TrialState::Running, None) => {
                    return Err(Error::Corrupt {
                        what: format!("trial {} (running without an attempt)", stored_trial.number),
                        value: "running".into(),
                    });
                }
                (TrialState::Queued, _) => state.queue.push_back(stored_trial.number),
                (_, Some(latest)) => {
                    let ending = match latest.state.as_str() {
                        "complete" => Ending::Finished,
                        "pruned" => Ending::Pruned,
                        "failed" => Ending::Failed(FailureKind::User),
                        _ => Ending::Lost,
                    };
                    trial.ended = Some((
                        LeaseId {
                            trial: stored_trial.number,
                            attempt: latest.attempt,
                            token: latest.token,
                        },
                        ending,
                    ));
                }
                (_, None) => {}
            }
            state.count_terminal(stored_trial.number, stored_trial.state, stored_trial.value);
            state.records.push(TrialRecord {
                number: stored_trial.number,
                params,
                state: search_state(stored_trial.state),
                value: stored_trial.value,
                intermediate: stored_trial.intermediate.clone(),
            });
            state.trials.push(trial);
        }
        state.next_number = state.trials.len() as u64;
        Ok(state)
    }

    fn count_terminal(&mut self, number: u64, state: TrialState, value: Option<f64>) {
        match state {
            TrialState::Complete => {
                self.complete += 1;
                if let Some(value) = value.filter(|v| v.is_finite()) {
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
    }

    /// Every trial as the samplers and pruners see it, by number.
    pub fn records(&self) -> &[TrialRecord] {
        &self.records
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
        params: Params,
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
            running: None,
            ended: None,
        });
        self.records.push(TrialRecord {
            number,
            params,
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

    /// Whether every worker that joined since this coordinator started heard the study is
    /// finished.
    pub fn every_worker_told(&self) -> bool {
        self.joined.is_subset(&self.told)
    }

    /// Records a worker that joined with `slots` slots.
    pub fn add_worker(&mut self, worker: u64, slots: u32) {
        self.joined.insert(worker);
        self.workers.insert(
            worker,
            WorkerEntry {
                slots,
                held: BTreeSet::new(),
            },
        );
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

    /// Leases up to `max` queued trials to `worker`, within its free slots.
    pub fn take_trials(
        &mut self,
        worker: u64,
        max: u32,
        now: Instant,
        tokens: &mut dyn FnMut() -> u64,
    ) -> Result<Taken, Error> {
        if self.finished || self.fatal.is_some() {
            return Ok(Taken::StudyFinished);
        }
        let entry = self
            .workers
            .get_mut(&worker)
            .ok_or(Error::UnknownWorker(worker))?;
        let free = entry
            .slots
            .saturating_sub(entry.held.len() as u32)
            .min(self.rules.parallel.saturating_sub(self.running));
        let mut granted = Vec::new();
        while (granted.len() as u32) < max.min(free) {
            let Some(number) = self.queue.pop_front() else {
                break;
            };
            let Some(trial) = self.trials.get_mut(number as usize) else {
                continue;
            };
            trial.attempts += 1;
            trial.state = TrialState::Running;
            let lease = LeaseId {
                trial: number,
                attempt: trial.attempts,
                token: tokens(),
            };
            trial.running = Some(Attempt {
                lease,
                worker,
                deadline: now + self.rules.lease,
                last_epoch: None,
                stop: None,
            });
            if let Some(record) = self.records.get_mut(number as usize) {
                // A retry starts its curve afresh.
                record.intermediate.clear();
            }
            entry.held.insert(number);
            self.running += 1;
            granted.push((
                Assignment {
                    lease,
                    params: trial.params.clone(),
                    overrides: trial.overrides.clone(),
                },
                WriteOp::StartAttempt {
                    number,
                    lease,
                    worker_id: worker,
                },
            ));
        }
        Ok(if granted.is_empty() {
            Taken::Nothing
        } else {
            Taken::Trials(granted)
        })
    }

    /// The index of the trial whose running attempt `lease` names, if `worker` holds it;
    /// else why not.
    fn check_held(&self, worker: u64, lease: LeaseId) -> Result<usize, Error> {
        let not_held = |reason: &str| Error::LeaseNotHeld {
            lease,
            worker,
            reason: reason.to_string(),
        };
        if !self.workers.contains_key(&worker) {
            return Err(Error::UnknownWorker(worker));
        }
        let index = usize::try_from(lease.trial).unwrap_or(usize::MAX);
        let trial = self
            .trials
            .get(index)
            .ok_or_else(|| not_held("the study has no such trial"))?;
        let Some(attempt) = trial.running.as_ref() else {
            return Err(not_held(if lease.attempt < trial.attempts {
                "a later attempt superseded it"
            } else {
                "the attempt is over (finished, or its lease expired)"
            }));
        };
        if attempt.lease.attempt != lease.attempt {
            return Err(not_held(if lease.attempt < attempt.lease.attempt {
                "its lease expired and the trial was retried"
            } else {
                "no such attempt"
            }));
        }
        if attempt.lease.token != lease.token || attempt.worker != worker {
            return Err(not_held("the lease belongs to another worker"));
        }
        Ok(index)
    }

    /// Epoch metrics: renews the lease, feeds the pruner once per epoch (stopping at the first
    /// stop decision), and returns the write that records them with the decision. An
    /// identical retry of the last report gets the same answer and writes nothing.
    pub fn report(
        &mut self,
        report: &Report,
        now: Instant,
        pruner: &dyn Pruner,
    ) -> Result<(Option<WriteOp>, Option<StopDecision>), Error> {
        let index = self.check_held(report.worker_id, report.lease)?;
        let lease_period = self.rules.lease;
        let protocol = |problem: String| Error::Protocol {
            lease: report.lease,
            problem,
        };
        let (Some(first), Some(last)) = (report.epochs.first(), report.epochs.last()) else {
            return Err(protocol("a report without epochs".into()));
        };
        let Some(attempt) = self.trials[index].running.as_mut() else {
            return Err(protocol("the attempt is not running".into()));
        };
        attempt.deadline = now + lease_period;
        if let Some((recorded, metrics)) = &attempt.last_epoch
            && last.epoch == *recorded
            && last.metrics == *metrics
        {
            return Ok((None, attempt.stop.clone()));
        }
        if attempt.stop.is_some() {
            // Told to stop already: these epochs ran while the decision travelled.
            return Ok((None, attempt.stop.clone()));
        }
        if let Some((recorded, _)) = &attempt.last_epoch
            && first.epoch <= *recorded
        {
            return Err(protocol(format!(
                "epoch {} reported after epoch {recorded}",
                first.epoch
            )));
        }
        attempt.last_epoch = Some((last.epoch, last.metrics.clone()));
        let mut recorded: Vec<Epoch> = Vec::with_capacity(report.epochs.len());
        let mut stop = None;
        for epoch in &report.epochs {
            recorded.push(epoch.clone());
            let Some(&value) = epoch.metrics.get(&self.rules.metric) else {
                continue;
            };
            self.records[index].intermediate.push((epoch.epoch, value));
            if let Decision::Stop(reason) = pruner.decide(&self.records[index], &self.records) {
                stop = Some(StopDecision {
                    rule: reason.rule,
                    epoch: reason.epoch,
                    value: reason.value,
                    threshold: reason.threshold,
                    explanation: reason.detail,
                });
                break;
            }
        }
        if let Some(attempt) = self.trials[index].running.as_mut() {
            attempt.stop.clone_from(&stop);
        }
        let op = WriteOp::RecordEpochs {
            number: index as u64,
            lease: report.lease,
            epochs: recorded,
            stop: stop.clone().map(|s| (self.rules.metric.clone(), s)),
        };
        Ok((Some(op), stop))
    }

    /// How an attempt ended. Returns the write recording it and, if the trial is now over,
    /// what the sampler learns; `None` for an identical retry of a recorded completion.
    pub fn complete(
        &mut self,
        completion: &Completion,
    ) -> Result<Option<(WriteOp, Option<Ended>)>, Error> {
        let lease = completion.lease;
        if let Some(trial) = self
            .trials
            .get(usize::try_from(lease.trial).unwrap_or(usize::MAX))
        {
            let is_running = trial.running.as_ref().is_some_and(|a| a.lease == lease);
            if !is_running && trial.ended == Some((lease, Ending::of(&completion.outcome))) {
                return Ok(None);
            }
        }
        let index = self.check_held(completion.worker_id, lease)?;
        let metric = &self.rules.metric;
        let trial = &self.trials[index];
        let stop = trial.running.as_ref().and_then(|a| a.stop.clone());
        let last_value = self.records[index].intermediate.last().map(|&(_, v)| v);
        let resolution = match (&completion.outcome, stop) {
            (Outcome::Finished(_) | Outcome::Pruned, Some(stop)) => {
                Resolution::Pruned { value: stop.value }
            }
            (Outcome::Pruned, None) => {
                return Err(Error::Protocol {
                    lease,
                    problem: "reported as pruned, but no stop decision was sent".into(),
                });
            }
            (Outcome::Finished(metrics), None) => match metrics.get(metric).copied().or(last_value)
            {
                Some(value) => Resolution::Complete {
                    value,
                    metrics: metrics.clone(),
                },
                None => Resolution::Failed {
                    kind: FailureKind::User,
                    error: format!(
                        "the objective finished without reporting the study metric `{metric}`"
                    ),
                    lost: false,
                },
            },
            (Outcome::Failed { error, kind }, _) => Resolution::Failed {
                kind: *kind,
                error: error.clone(),
                lost: false,
            },
        };
        Ok(Some(self.end_attempt(
            index,
            resolution,
            Ending::of(&completion.outcome),
        )))
    }

    /// Renews every lease `heartbeat` lists that its worker holds; returns the others.
    pub fn heartbeat(
        &mut self,
        heartbeat: &Heartbeat,
        now: Instant,
    ) -> Result<Vec<LeaseId>, Error> {
        if !self.workers.contains_key(&heartbeat.worker_id) {
            return Err(Error::UnknownWorker(heartbeat.worker_id));
        }
        let mut lost = Vec::new();
        for &lease in &heartbeat.leases {
            match self.check_held(heartbeat.worker_id, lease) {
                Ok(index) => {
                    if let Some(attempt) = self.trials[index].running.as_mut() {
                        attempt.deadline = now + self.rules.lease;
                    }
                }
                Err(_) => lost.push(lease),
            }
        }
        Ok(lost)
    }

    /// Ends every attempt whose lease expired before `now` (worker lost: infrastructure).
    pub fn reap(&mut self, now: Instant) -> Vec<(WriteOp, Option<Ended>)> {
        let expired: Vec<(usize, u64)> = self
            .trials
            .iter()
            .enumerate()
            .filter_map(|(index, trial)| {
                let attempt = trial.running.as_ref()?;
                (attempt.deadline <= now).then_some((index, attempt.worker))
            })
            .collect();
        expired
            .into_iter()
            .map(|(index, worker)| {
                let error = format!(
                    "lease expired: worker {worker} sent no heartbeat or report for {:.1} s",
                    self.rules.lease.as_secs_f64()
                );
                self.end_attempt(
                    index,
                    Resolution::Failed {
                        kind: FailureKind::Infrastructure,
                        error,
                        lost: true,
                    },
                    Ending::Lost,
                )
            })
            .collect()
    }

    /// Releases the running attempt of trial `index` and applies `resolution` to the trial.
    fn end_attempt(
        &mut self,
        index: usize,
        resolution: Resolution,
        ending: Ending,
    ) -> (WriteOp, Option<Ended>) {
        let rules = &self.rules;
        let trial = &mut self.trials[index];
        let number = index as u64;
        let attempt = trial.running.take();
        let lease = attempt.as_ref().map_or(
            LeaseId {
                trial: number,
                attempt: trial.attempts,
                token: 0,
            },
            |a| a.lease,
        );
        if let Some(attempt) = &attempt
            && let Some(entry) = self.workers.get_mut(&attempt.worker)
        {
            entry.held.remove(&number);
        }
        self.running = self.running.saturating_sub(1);
        trial.ended = Some((lease, ending));
        let (end, terminal) = match resolution {
            Resolution::Complete { value, metrics } => (
                AttemptEnd {
                    state: "complete",
                    failure: None,
                    error: None,
                },
                Some((TrialState::Complete, Some(value), Some(metrics), None)),
            ),
            Resolution::Pruned { value } => (
                AttemptEnd {
                    state: "pruned",
                    failure: None,
                    error: None,
                },
                Some((TrialState::Pruned, Some(value), None, None)),
            ),
            Resolution::Failed { kind, error, lost } => {
                let end = AttemptEnd {
                    state: if lost { "lost" } else { "failed" },
                    failure: Some(kind),
                    error: Some(error.clone()),
                };
                let give_up = match kind {
                    FailureKind::User => {
                        trial.user_failures += 1;
                        trial.user_failures > rules.failure_retries
                    }
                    FailureKind::Infrastructure => {
                        trial.infra_failures += 1;
                        trial.infra_failures >= rules.max_attempts
                    }
                };
                let reason = match kind {
                    FailureKind::User if trial.user_failures > 1 => {
                        format!("failed {} times; last error: {error}", trial.user_failures)
                    }
                    FailureKind::User => error,
                    FailureKind::Infrastructure => format!(
                        "gave up after {} attempts lost to infrastructure; last: {error}",
                        trial.infra_failures
                    ),
                };
                (
                    end,
                    give_up.then_some((TrialState::Failed, None, None, Some(reason))),
                )
            }
        };
        let update = match terminal {
            None => {
                trial.state = TrialState::Queued;
                // A retry goes first: it has waited already.
                self.queue.push_front(number);
                TrialUpdate::Requeue {
                    infra_failures: trial.infra_failures,
                    user_failures: trial.user_failures,
                }
            }
            Some((state, value, metrics, error)) => {
                trial.state = state;
                TrialUpdate::Terminal {
                    state,
                    value,
                    metrics: metrics.map(|m| metrics_json(&m)),
                    error,
                    infra_failures: trial.infra_failures,
                    user_failures: trial.user_failures,
                }
            }
        };
        let ended = if let TrialUpdate::Terminal { state, value, .. } = &update {
            let (state, value) = (*state, *value);
            self.count_terminal(number, state, value);
            let record = &mut self.records[index];
            record.state = search_state(state);
            record.value = value.filter(|_| state == TrialState::Complete);
            Some(Ended {
                record: record.clone(),
            })
        } else {
            None
        };
        (
            WriteOp::FinishAttempt {
                number,
                lease,
                end,
                trial: update,
            },
            ended,
        )
    }
}

/// What an ended attempt means for its trial, decided before the trial is touched.
enum Resolution {
    Complete {
        value: f64,
        metrics: Metrics,
    },
    Pruned {
        value: f64,
    },
    Failed {
        kind: FailureKind,
        error: String,
        lost: bool,
    },
}

fn metrics_json(metrics: &Metrics) -> String {
    serde_json::to_string(metrics).unwrap_or_else(|_| "{}".to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hypersearch_search::pruner::NoPruner;
    use hypersearch_search::{ParamValue, StopReason};

    const WORKER: u64 = 1;
    const OTHER: u64 = 2;

    fn rules() -> Rules {
        Rules {
            metric: "loss".into(),
            direction: Direction::Minimize,
            budget: 3,
            parallel: 2,
            prefetch: 0,
            lease: Duration::from_secs(10),
            max_attempts: 2,
            failure_retries: 0,
        }
    }

    fn empty() -> StoredStudy {
        StoredStudy {
            id: 1,
            resumed: false,
            trials: Vec::new(),
            workers: Vec::new(),
        }
    }

    /// A state whose first `parallel` trials are sampled, with two 1-slot workers.
    fn started(rules: Rules) -> (State, Instant) {
        let now = Instant::now();
        let mut state = State::new(rules, &empty(), now).unwrap();
        state.add_worker(WORKER, 1);
        state.add_worker(OTHER, 1);
        for number in state.samples_wanted() {
            sample(&mut state, number);
        }
        (state, now)
    }

    fn sample(state: &mut State, number: u64) {
        let params = Params::from([("x".to_string(), ParamValue::Float(number as f64))]);
        let json: JsonObject = params
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        assert!(state.add_sampled(number, params, json.clone(), json));
    }

    fn tokens() -> impl FnMut() -> u64 {
        let mut next = 1000;
        move || {
            next += 1;
            next
        }
    }

    fn lease_one(
        state: &mut State,
        worker: u64,
        now: Instant,
        tokens: &mut dyn FnMut() -> u64,
    ) -> Assignment {
        match state.take_trials(worker, 1, now, tokens).unwrap() {
            Taken::Trials(mut granted) => granted.remove(0).0,
            _ => panic!("expected a trial"),
        }
    }

    fn report(worker: u64, lease: LeaseId, epoch: u32, loss: f64) -> Report {
        Report {
            worker_id: worker,
            lease,
            epochs: vec![Epoch {
                epoch,
                metrics: Metrics::from([("loss".to_string(), loss)]),
            }],
        }
    }

    fn finished(worker: u64, lease: LeaseId, loss: f64) -> Completion {
        Completion {
            worker_id: worker,
            lease,
            outcome: Outcome::Finished(Metrics::from([("loss".to_string(), loss)])),
            next_max_trials: 0,
        }
    }

    #[test]
    fn sampling_keeps_parallel_trials_in_flight_within_the_budget() {
        let now = Instant::now();
        let mut state = State::new(rules(), &empty(), now).unwrap();
        assert_eq!(state.samples_wanted(), vec![0, 1]);
        assert!(
            state.samples_wanted().is_empty(),
            "two are in flight already"
        );
        sample(&mut state, 0);
        sample(&mut state, 1);
        assert!(state.samples_wanted().is_empty());
        assert!(!state.check_finished());
    }

    #[test]
    fn reports_and_completions_are_fenced_on_the_lease_and_retries_are_idempotent() {
        let (mut state, now) = started(rules());
        let mut tokens = tokens();
        let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
        let forged = LeaseId { token: 7, ..lease };
        assert!(matches!(
            state.report(&report(WORKER, forged, 1, 1.0), now, &NoPruner),
            Err(Error::LeaseNotHeld { .. })
        ));
        assert!(matches!(
            state.report(&report(OTHER, lease, 1, 1.0), now, &NoPruner),
            Err(Error::LeaseNotHeld { .. })
        ));
        assert!(matches!(
            state.report(&report(99, lease, 1, 1.0), now, &NoPruner),
            Err(Error::UnknownWorker(99))
        ));
        let (op, stop) = state
            .report(&report(WORKER, lease, 1, 1.0), now, &NoPruner)
            .unwrap();
        assert!(op.is_some() && stop.is_none());
        // The same report again (a retry after a lost reply) writes nothing.
        let (op, _) = state
            .report(&report(WORKER, lease, 1, 1.0), now, &NoPruner)
            .unwrap();
        assert!(op.is_none());
        assert_eq!(
            state.records()[0].intermediate,
            vec![(1, 1.0)],
            "the pruner saw it once"
        );
        // Going backwards, or the same epoch with other values, is refused.
        assert!(matches!(
            state.report(&report(WORKER, lease, 1, 0.5), now, &NoPruner),
            Err(Error::Protocol { .. })
        ));
        state
            .report(&report(WORKER, lease, 2, 0.5), now, &NoPruner)
            .unwrap();
        assert!(matches!(
            state.report(&report(WORKER, lease, 1, 0.9), now, &NoPruner),
            Err(Error::Protocol { .. })
        ));

        let (op, ended) = state
            .complete(&finished(WORKER, lease, 0.4))
            .unwrap()
            .unwrap();
        assert!(
            matches!(op, WriteOp::FinishAttempt { trial: TrialUpdate::Terminal { state: TrialState::Complete, value: Some(v), .. }, .. } if v == 0.4)
        );
        assert_eq!(ended.unwrap().record.value, Some(0.4));
        // An identical retry is acknowledged without a second write; a different one is not.
        assert!(
            state
                .complete(&finished(WORKER, lease, 0.4))
                .unwrap()
                .is_none()
        );
        let failed = Completion {
            outcome: Outcome::Failed {
                error: "x".into(),
                kind: FailureKind::User,
            },
            ..finished(WORKER, lease, 0.4)
        };
        assert!(matches!(
            state.complete(&failed),
            Err(Error::LeaseNotHeld { .. })
        ));
        assert!(
            state
                .report(&report(WORKER, lease, 3, 0.3), now, &NoPruner)
                .is_err()
        );
        assert_eq!(state.progress().complete, 1);
        assert_eq!(state.progress().best, Some((0, 0.4)));
    }

    #[test]
    fn an_expired_lease_is_retried_elsewhere_and_its_late_messages_are_refused() {
        let (mut state, now) = started(rules());
        let mut tokens = tokens();
        let first = lease_one(&mut state, WORKER, now, &mut tokens);
        let lease = first.lease;
        // Renewed by a heartbeat at +6 s, it survives the reaper at +12 s ...
        let later = now + Duration::from_secs(6);
        let lost = state
            .heartbeat(
                &Heartbeat {
                    worker_id: WORKER,
                    leases: vec![lease],
                },
                later,
            )
            .unwrap();
        assert!(lost.is_empty());
        assert!(state.reap(now + Duration::from_secs(12)).is_empty());
        // ... and expires without one by +17 s.
        let reaped = state.reap(now + Duration::from_secs(17));
        assert_eq!(reaped.len(), 1);
        assert!(matches!(
            &reaped[0].0,
            WriteOp::FinishAttempt {
                end: AttemptEnd {
                    state: "lost",
                    failure: Some(FailureKind::Infrastructure),
                    ..
                },
                trial: TrialUpdate::Requeue {
                    infra_failures: 1,
                    user_failures: 0
                },
                ..
            }
        ));
        // The retry goes to the next free worker first, with the same parameters.
        let retry = lease_one(&mut state, OTHER, now, &mut tokens);
        assert_eq!(retry.lease.trial, lease.trial);
        assert_eq!(retry.lease.attempt, 2);
        assert_eq!(retry.params, first.params);
        // The first worker wakes up: its report, completion and heartbeat are refused.
        assert!(matches!(
            state.report(&report(WORKER, lease, 1, 1.0), now, &NoPruner),
            Err(Error::LeaseNotHeld { .. })
        ));
        assert!(matches!(
            state.complete(&finished(WORKER, lease, 0.1)),
            Err(Error::LeaseNotHeld { .. })
        ));
        let lost = state
            .heartbeat(
                &Heartbeat {
                    worker_id: WORKER,
                    leases: vec![lease],
                },
                now,
            )
            .unwrap();
        assert_eq!(lost, vec![lease]);
        // A second loss exhausts max_attempts = 2: the trial fails with the reason.
        let reaped = state.reap(now + Duration::from_secs(60));
        assert!(matches!(
            &reaped[0].0,
            WriteOp::FinishAttempt { trial: TrialUpdate::Terminal { state: TrialState::Failed, error: Some(e), infra_failures: 2, .. }, .. }
                if e.contains("gave up after 2 attempts lost to infrastructure")
        ));
        assert_eq!(state.progress().failed, 1);
    }

    #[test]
    fn user_errors_have_their_own_budget() {
        let mut rules = rules();
        rules.failure_retries = 1;
        let (mut state, now) = started(rules);
        let mut tokens = tokens();
        let failure = |lease| Completion {
            worker_id: WORKER,
            lease,
            outcome: Outcome::Failed {
                error: "exit status 2".into(),
                kind: FailureKind::User,
            },
            next_max_trials: 0,
        };
        let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
        let (op, ended) = state.complete(&failure(lease)).unwrap().unwrap();
        assert!(ended.is_none());
        assert!(matches!(
            op,
            WriteOp::FinishAttempt {
                trial: TrialUpdate::Requeue {
                    user_failures: 1,
                    infra_failures: 0
                },
                ..
            }
        ));
        let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
        assert_eq!(lease.attempt, 2);
        let (op, ended) = state.complete(&failure(lease)).unwrap().unwrap();
        assert!(ended.is_some());
        assert!(
            matches!(op, WriteOp::FinishAttempt { trial: TrialUpdate::Terminal { state: TrialState::Failed, error: Some(e), .. }, .. }
            if e == "failed 2 times; last error: exit status 2")
        );
    }

    struct StopAtEpoch2;

    impl Pruner for StopAtEpoch2 {
        fn decide(&self, trial: &TrialRecord, _trials: &[TrialRecord]) -> Decision {
            match trial.intermediate.last() {
                Some(&(epoch, value)) if epoch >= 2 => Decision::Stop(StopReason {
                    rule: "test".into(),
                    epoch,
                    value,
                    threshold: 0.0,
                    detail: "epoch 2 is enough".into(),
                }),
                _ => Decision::Continue,
            }
        }
    }

    #[test]
    fn a_stop_decision_is_recorded_once_and_the_trial_ends_pruned() {
        let (mut state, now) = started(rules());
        let mut tokens = tokens();
        let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
        state
            .report(&report(WORKER, lease, 1, 0.9), now, &StopAtEpoch2)
            .unwrap();
        let (op, stop) = state
            .report(&report(WORKER, lease, 2, 0.8), now, &StopAtEpoch2)
            .unwrap();
        let stop = stop.unwrap();
        assert_eq!((stop.rule.as_str(), stop.epoch), ("test", 2));
        assert!(matches!(
            op,
            Some(WriteOp::RecordEpochs { stop: Some(_), .. })
        ));
        // An epoch that was already under way when the decision came is not recorded.
        let (op, again) = state
            .report(&report(WORKER, lease, 3, 0.7), now, &StopAtEpoch2)
            .unwrap();
        assert!(op.is_none());
        assert_eq!(again, Some(stop));
        let pruned = Completion {
            worker_id: WORKER,
            lease,
            outcome: Outcome::Pruned,
            next_max_trials: 0,
        };
        let (op, _) = state.complete(&pruned).unwrap().unwrap();
        assert!(
            matches!(op, WriteOp::FinishAttempt { trial: TrialUpdate::Terminal { state: TrialState::Pruned, value: Some(v), .. }, .. } if v == 0.8)
        );
        assert_eq!(state.progress().pruned, 1);
    }

    #[test]
    fn a_batch_of_epochs_stops_at_the_first_stop_decision() {
        let (mut state, now) = started(rules());
        let mut tokens = tokens();
        let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
        let epochs = (1..=4)
            .map(|epoch| Epoch {
                epoch,
                metrics: Metrics::from([("loss".to_string(), 1.0 / f64::from(epoch))]),
            })
            .collect();
        let batch = Report {
            worker_id: WORKER,
            lease,
            epochs,
        };
        let (op, stop) = state.report(&batch, now, &StopAtEpoch2).unwrap();
        assert_eq!(stop.as_ref().map(|s| s.epoch), Some(2));
        let Some(WriteOp::RecordEpochs { epochs, .. }) = op else {
            panic!("expected a write");
        };
        assert_eq!(
            epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(state.records()[0].intermediate, vec![(1, 1.0), (2, 0.5)]);
        // The retry of the whole batch gets the same decision and writes nothing.
        let (op, again) = state.report(&batch, now, &StopAtEpoch2).unwrap();
        assert!(op.is_none());
        assert_eq!(again, stop);
    }

    #[test]
    fn a_worker_holds_no_more_leases_than_its_slots_and_the_study_finishes() {
        let (mut state, now) = started(rules());
        let mut tokens = tokens();
        let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
        assert!(matches!(
            state.take_trials(WORKER, 5, now, &mut tokens).unwrap(),
            Taken::Nothing
        ));
        assert!(matches!(
            state.take_trials(99, 1, now, &mut tokens),
            Err(Error::UnknownWorker(99))
        ));
        state.complete(&finished(WORKER, lease, 1.0)).unwrap();
        for number in state.samples_wanted() {
            sample(&mut state, number);
        }
        for _ in 0..2 {
            let lease = lease_one(&mut state, WORKER, now, &mut tokens).lease;
            state.complete(&finished(WORKER, lease, 2.0)).unwrap();
            for number in state.samples_wanted() {
                sample(&mut state, number);
            }
        }
        assert!(state.check_finished());
        assert!(matches!(
            state.take_trials(WORKER, 1, now, &mut tokens).unwrap(),
            Taken::StudyFinished
        ));
        let progress = state.progress();
        assert_eq!(
            (progress.complete, progress.created, progress.budget),
            (3, 3, 3)
        );
    }
}
