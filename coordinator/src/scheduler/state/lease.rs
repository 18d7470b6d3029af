//! The transitions of an attempt: lease, report, complete, heartbeat, expiry. Each checks
//! the lease before it changes anything and returns the write that records it.

use std::collections::{BTreeSet, HashMap};

use hypersearch_proto::{
    Assignment, Completion, Epoch, FailureKind, Heartbeat, JsonObject, LeaseId, Metrics, Outcome,
    Report, StopDecision,
};
use hypersearch_search::{Decision, EpochObjectives, Judged, TrialRecord};
use tokio::time::Instant;

use super::{
    Attempt, Ended, Ending, OUTLIER_SPREADS, STRIKES, State, Taken, WorkerEntry, checkpoint,
    search_state,
};
use crate::Error;
use crate::store::{AttemptEnd, TrialState, TrialUpdate, WriteOp};

impl State {
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
        if let Some(reason) = &entry.quarantined {
            return Err(Error::Quarantined {
                worker,
                reason: reason.clone(),
            });
        }
        self.joined.insert(worker);
        if entry.leaving || entry.draining {
            return Ok(Taken::Nothing);
        }
        let on_probation = entry.expired_in_a_row > 0;
        let free = entry
            .allowed()
            .saturating_sub(entry.held.len() as u32)
            .min(self.rules.parallel.saturating_sub(self.running));
        let mut granted = Vec::new();
        // Retries this worker failed itself, left for another worker that can take them.
        let mut passed_over = Vec::new();
        while (granted.len() as u32) < max.min(free) {
            let Some(number) = self.queue.pop_front() else {
                break;
            };
            let Some(trial) = self.trials.get_mut(number as usize) else {
                continue;
            };
            if trial.user_failed_by.contains(&worker)
                && another_can_run(&self.workers, &self.joined, worker, &trial.user_failed_by)
            {
                passed_over.push(number);
                continue;
            }
            trial.attempts += 1;
            trial.state = TrialState::Running;
            let lease = LeaseId {
                trial: number,
                attempt: trial.attempts,
                token: tokens(),
            };
            let held = trial.checkpoint.filter(|_| self.rules.checkpoints);
            let resume = held.map(|h| h.resume());
            trial.running = Some(Attempt {
                lease,
                worker,
                on_probation,
                started: now,
                deadline: now + self.rules.lease,
                last_epoch: None,
                stop: None,
                resumed_from: resume.map(|r| r.epoch),
            });
            if trial.attempts > 1 {
                self.checkpoint_writes
                    .extend(checkpoint::continue_curve(trial, lease, held));
                if let Some(record) = self.records.get_mut(number as usize) {
                    // A retry starts its curve afresh, or after its checkpoint's epoch.
                    let kept = resume.map_or(0, |r| r.epoch);
                    record.intermediate.retain(|&(epoch, _)| epoch <= kept);
                    record
                        .intermediate_objectives
                        .retain(|report| report.epoch <= kept);
                    self.pruner.restart(number);
                }
            }
            self.running += 1;
            self.running_set.insert(number);
            granted.push((
                Assignment {
                    lease,
                    params: trial.params.clone(),
                    overrides: trial.overrides.clone(),
                    resume,
                },
                WriteOp::StartAttempt {
                    number,
                    lease,
                    worker_id: worker,
                },
            ));
        }
        for number in passed_over.into_iter().rev() {
            self.queue.push_front(number);
        }
        if let Some(entry) = self.workers.get_mut(&worker) {
            entry
                .held
                .extend(granted.iter().map(|(assignment, _)| assignment.lease.trial));
        }
        Ok(if granted.is_empty() {
            Taken::Nothing
        } else {
            Taken::Trials(granted)
        })
    }

    /// The index of the trial whose running attempt `lease` names, if `worker` holds it;
    /// else why not.
    pub(super) fn check_held(&self, worker: u64, lease: LeaseId) -> Result<usize, Error> {
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
        if last.epoch > self.rules.max_epochs {
            return Err(protocol(format!(
                "epoch {} is past the study's limit of {} epochs per attempt \
                 ([search] max_epochs)",
                last.epoch, self.rules.max_epochs
            )));
        }
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
        if let Some(resumed) = attempt.resumed_from
            && first.epoch <= resumed
        {
            return Err(protocol(format!(
                "epoch {} reported by an attempt that resumed after epoch {resumed} (a \
                 worker that cannot use the checkpoint refuses it first)",
                first.epoch
            )));
        }
        let values: u64 = report.epochs.iter().map(|e| e.metrics.len() as u64).sum();
        if self.stored_values + values > self.rules.max_stored_values {
            return Err(Error::StorageFull {
                lease: report.lease,
                budget: self.rules.max_stored_values,
            });
        }
        self.stored_values += values;
        if let Some(entry) = self.workers.get_mut(&report.worker_id) {
            entry.vouched();
        }
        let Some(attempt) = self.trials[index].running.as_mut() else {
            return Err(protocol("the attempt is not running".into()));
        };
        attempt.last_epoch = Some((last.epoch, last.metrics.clone()));
        let mut recorded: Vec<Epoch> = Vec::with_capacity(report.epochs.len());
        let mut stop = None;
        for epoch in &report.epochs {
            recorded.push(epoch.clone());
            let record = &mut self.records[index];
            let first = epoch.metrics.get(&self.rules.metric).copied();
            if let Some(goals) = self.rules.objectives.as_ref().filter(|o| o.is_multi()) {
                // Every objective the report carries; the pruner judges by all of them.
                let values: Vec<Option<f64>> = goals
                    .goals
                    .iter()
                    .map(|g| epoch.metrics.get(&g.metric).copied())
                    .collect();
                if values.iter().all(Option::is_none) {
                    continue;
                }
                record.intermediate_objectives.push(EpochObjectives {
                    epoch: epoch.epoch,
                    values,
                });
            }
            match first {
                Some(value) => record.intermediate.push((epoch.epoch, value)),
                None if record.intermediate_objectives.is_empty() => continue,
                None => {}
            }
            if let Decision::Stop(reason) = self.pruner.decide(&self.records[index]) {
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
            stop: stop.clone().map(|s| (self.judged_metrics(), s)),
        };
        Ok((Some(op), stop))
    }

    /// Whether the study has several objectives (early stopping judges them all).
    fn several_objectives(&self) -> bool {
        self.rules.objectives.as_ref().is_some_and(|o| o.is_multi())
    }

    /// What early stopping judges, as `early_stops.metric` records it: the study metric, or
    /// every objective's, comma-separated, in a study with several.
    fn judged_metrics(&self) -> String {
        match self
            .rules
            .objectives
            .as_ref()
            .filter(|_| self.several_objectives())
        {
            Some(objectives) => objectives
                .goals
                .iter()
                .map(|g| g.metric.as_str())
                .collect::<Vec<_>>()
                .join(","),
            None => self.rules.metric.clone(),
        }
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
        if let Some(entry) = self.workers.get_mut(&completion.worker_id) {
            match &completion.outcome {
                // It is shutting down: it takes no more trials.
                Outcome::Failed {
                    kind: FailureKind::Preempted,
                    ..
                } => entry.leaving = true,
                _ => entry.vouched(),
            }
        }
        let metric = &self.rules.metric;
        let trial = &self.trials[index];
        let stop = trial.running.as_ref().and_then(|a| a.stop.clone());
        let last_value = self.records[index].intermediate.last().map(|&(_, v)| v);
        let resolution = match (&completion.outcome, stop) {
            (Outcome::Finished(_) | Outcome::Pruned, Some(stop)) => {
                Resolution::Pruned {
                    // With several objectives the decision's value counts dominators; the
                    // trial's own value is the study metric's last.
                    value: if self.several_objectives() {
                        last_value.unwrap_or(f64::NAN)
                    } else {
                        stop.value
                    },
                }
            }
            (Outcome::Pruned, None) => {
                return Err(Error::Protocol {
                    lease,
                    problem: "reported as pruned, but no stop decision was sent".into(),
                });
            }
            (Outcome::Finished(metrics), None) => match metrics.get(metric).copied().or(last_value)
            {
                Some(value) => match self.implausible(value) {
                    Some(reason) => Resolution::Failed {
                        kind: FailureKind::User,
                        error: reason,
                        lost: false,
                    },
                    None => match self.rules.objectives.as_ref().map(|o| o.judge(metrics)) {
                        Some(Err(missing)) => Resolution::Failed {
                            kind: FailureKind::User,
                            error: format!(
                                "the objective finished without reporting `{missing}`, which \
                                 the study's objectives or constraints need"
                            ),
                            lost: false,
                        },
                        judged => Resolution::Complete {
                            value,
                            metrics: metrics.clone(),
                            judged: judged.and_then(Result::ok),
                        },
                    },
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

    /// A piece of the trained network of `lease`'s attempt: accepted while `worker` holds
    /// the lease (which it renews, like a report) and the study keeps models.
    pub fn model_piece(&mut self, worker: u64, lease: LeaseId, now: Instant) -> Result<(), Error> {
        let index = self.check_held(worker, lease)?;
        if self.rules.keep_models.is_none() {
            return Err(Error::ModelRefused(
                "this study keeps no trained networks ([study] keep_models = 0, or its \
                 objective is not a training)"
                    .into(),
            ));
        }
        if let Some(attempt) = self.trials[index].running.as_mut() {
            attempt.deadline = now + self.rules.lease;
        }
        Ok(())
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
        self.joined.insert(heartbeat.worker_id);
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

    /// Ends every attempt whose lease expired before `now` (worker lost: infrastructure),
    /// and every attempt that ran past the study's `trial_timeout` (a user error).
    pub fn reap(&mut self, now: Instant) -> Vec<(WriteOp, Option<Ended>)> {
        let timeout = self.rules.trial_timeout;
        // Only the running trials: the pass costs what is in flight, not the study's size.
        let over: Vec<(usize, u64, bool)> = self
            .running_set
            .iter()
            .filter_map(|&number| {
                let index = usize::try_from(number).ok()?;
                let attempt = self.trials.get(index)?.running.as_ref()?;
                let timed_out = timeout.is_some_and(|t| now >= attempt.started + t);
                (timed_out || attempt.deadline <= now).then_some((index, attempt.worker, timed_out))
            })
            .collect();
        over.into_iter()
            .map(|(index, worker, timed_out)| {
                if timed_out {
                    let limit = timeout.unwrap_or_default();
                    let error = format!(
                        "the trial ran past [search] trial_timeout = {} and was stopped",
                        humantime::format_duration(limit)
                    );
                    return self.end_attempt(
                        index,
                        Resolution::Failed {
                            kind: FailureKind::User,
                            error,
                            lost: false,
                        },
                        Ending::Failed(FailureKind::User),
                    );
                }
                let on_probation = self.trials[index]
                    .running
                    .as_ref()
                    .is_some_and(|a| a.on_probation);
                self.lease_expired(worker, on_probation);
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

    /// Why `value` cannot be taken as a trial's result, if it cannot: it lies outside the
    /// study's `value_range`, or (without one) it would be the best by a distance no real
    /// result covers: more than a million interquartile ranges past the median of at
    /// least ten completed trials.
    fn implausible(&self, value: f64) -> Option<String> {
        let metric = &self.rules.metric;
        if let Some((low, high)) = self.rules.value_range {
            return (!(low..=high).contains(&value)).then(|| {
                format!(
                    "the result {metric} = {value} lies outside [study] value_range \
                     [{low}, {high}]; recorded as failed, not as a result"
                )
            });
        }
        let done = &self.completed_values;
        if done.len() < 10
            || self
                .best
                .is_some_and(|(_, best)| !self.rules.direction.better(value, best))
        {
            return None;
        }
        let (Some(q1), Some(median), Some(q3)) = (
            done.percentile(25.0),
            done.percentile(50.0),
            done.percentile(75.0),
        ) else {
            return None;
        };
        let spread = (q3 - q1).max(median.abs() * 1e-3).max(1e-12);
        ((value - median).abs() > OUTLIER_SPREADS * spread).then(|| {
            format!(
                "the result {metric} = {value:e} is implausible: it lies more than {OUTLIER_SPREADS:e} \
                 interquartile ranges ({spread:e}) from the median ({median:e}) of the {} \
                 completed trials; recorded as failed, not as the best (set [study] \
                 value_range to accept such results)",
                done.len()
            )
        })
    }

    /// Notes that a lease of `worker` expired: it is held to one trial at a time until a
    /// report or completion of it is accepted, and quarantined when leases granted under
    /// that limit keep expiring.
    fn lease_expired(&mut self, worker: u64, on_probation: bool) {
        let Some(entry) = self.workers.get_mut(&worker) else {
            return;
        };
        entry.expired_in_a_row += 1;
        if on_probation {
            entry.strikes += 1;
        }
        if entry.strikes >= STRIKES && entry.quarantined.is_none() {
            let reason = format!(
                "{} of its leases expired in a row without a report or completion, {STRIKES} \
                 of them while it was held to one trial",
                entry.expired_in_a_row
            );
            tracing::warn!(worker, %reason, "worker quarantined: it may lease no more trials");
            entry.quarantined = Some(reason.clone());
            self.quarantine_changes.push((worker, Some(reason)));
        }
    }

    /// Counts a trial's success on `worker` against the failures other workers had on it:
    /// its own failing streak ends, and a worker whose streak this refutes for the
    /// `quarantine_after`-th time is quarantined.
    fn refute_failures(&mut self, index: usize, worker: Option<u64>) {
        let number = index as u64;
        if let Some(entry) = worker.and_then(|w| self.workers.get_mut(&w)) {
            entry.failing.clear();
            entry.refuted = 0;
        }
        let failed_by = std::mem::take(&mut self.trials[index].user_failed_by);
        for other in failed_by {
            if Some(other) == worker {
                continue;
            }
            let Some(entry) = self.workers.get_mut(&other) else {
                continue;
            };
            let Some(at) = entry.failing.iter().position(|&t| t == number) else {
                continue;
            };
            entry.failing.swap_remove(at);
            entry.refuted += 1;
            if let Some(limit) = self.rules.quarantine_after
                && entry.refuted >= limit
                && entry.quarantined.is_none()
            {
                let reason = format!(
                    "its last {limit} failed trials (user errors, with no success since) ran \
                     successfully on other workers, the last of them trial {number}: its \
                     environment is broken, not the configurations"
                );
                tracing::warn!(worker = other, %reason, "worker quarantined: it may lease no more trials");
                entry.quarantined = Some(reason.clone());
                self.quarantine_changes.push((other, Some(reason)));
            }
        }
    }

    /// Notes that `worker` failed trial `index` with a user error.
    fn note_user_failure(&mut self, index: usize, worker: Option<u64>) {
        let Some(worker) = worker else {
            return;
        };
        let trial = &mut self.trials[index];
        if !trial.user_failed_by.contains(&worker) {
            trial.user_failed_by.push(worker);
        }
        if let Some(entry) = self.workers.get_mut(&worker)
            && !entry.failing.contains(&(index as u64))
        {
            entry.failing.push(index as u64);
        }
    }

    /// Releases the running attempt of trial `index` and applies `resolution` to the trial.
    fn end_attempt(
        &mut self,
        index: usize,
        resolution: Resolution,
        ending: Ending,
    ) -> (WriteOp, Option<Ended>) {
        let worker = self.trials[index].running.as_ref().map(|a| a.worker);
        // A retry after a lost or handed-back attempt resumes from the checkpoint; one after
        // a user error (which the checkpoint may hold) starts from scratch.
        let keeps_checkpoint = matches!(
            resolution,
            Resolution::Failed {
                kind: FailureKind::Infrastructure | FailureKind::Preempted,
                ..
            }
        );
        match &resolution {
            Resolution::Complete { .. } | Resolution::Pruned { .. } => {
                self.refute_failures(index, worker);
            }
            Resolution::Failed {
                kind: FailureKind::User,
                ..
            } => self.note_user_failure(index, worker),
            Resolution::Failed { .. } => {}
        }
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
        self.running_set.remove(&number);
        trial.ended = Some((lease, ending));
        let (end, terminal) = match resolution {
            Resolution::Complete {
                value,
                metrics,
                judged,
            } => {
                self.records[index].judged = judged;
                (
                    AttemptEnd {
                        state: "complete",
                        failure: None,
                        error: None,
                    },
                    Some((TrialState::Complete, Some(value), Some(metrics), None)),
                )
            }
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
                    state: match (kind, lost) {
                        (FailureKind::Preempted, _) => "preempted",
                        (_, true) => "lost",
                        _ => "failed",
                    },
                    failure: Some(kind),
                    error: Some(error.clone()),
                };
                let give_up = match kind {
                    FailureKind::Preempted => false,
                    FailureKind::User => {
                        trial.user_failures += 1;
                        trial.user_failures > rules.failure_retries
                    }
                    FailureKind::Infrastructure => {
                        // Once per worker: a client that keeps losing (or hoarding and
                        // abandoning) a trial cannot use up its attempts alone.
                        let worker = attempt.as_ref().map(|a| a.worker);
                        if worker.is_none_or(|w| !trial.lost_by.contains(&w)) {
                            trial.infra_failures += 1;
                            trial.lost_by.extend(worker);
                        }
                        trial.infra_failures >= rules.max_attempts
                    }
                };
                let reason = match kind {
                    FailureKind::User if trial.user_failures > 1 => {
                        format!("failed {} times; last error: {error}", trial.user_failures)
                    }
                    FailureKind::User | FailureKind::Preempted => error,
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
                // Never leased again: what a worker is sent is not needed any more.
                trial.params = JsonObject::new();
                trial.overrides = JsonObject::new();
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
        let terminal = matches!(update, TrialUpdate::Terminal { .. });
        if (terminal && self.rules.checkpoints) || (!keeps_checkpoint && trial.checkpoint.is_some())
        {
            trial.checkpoint = None;
            self.checkpoint_writes.push(WriteOp::DropCheckpoints {
                numbers: vec![number],
            });
        }
        let ended = if let TrialUpdate::Terminal { state, value, .. } = &update {
            let (state, value) = (*state, *value);
            let judged = self.records[index].judged.clone();
            if let Some(drop) = self.count_terminal(number, state, value, judged.as_ref()) {
                self.model_drops.push(drop);
            }
            let record = &mut self.records[index];
            record.state = search_state(state);
            record.value = value.filter(|_| state == TrialState::Complete);
            self.pruner.observe(record);
            // The curve of a trial that is over is the pruner's and the store's now: the
            // state keeps a constant amount per finished trial.
            let intermediate = std::mem::take(&mut record.intermediate);
            let intermediate_objectives = std::mem::take(&mut record.intermediate_objectives);
            Some(Ended {
                record: TrialRecord {
                    intermediate,
                    intermediate_objectives,
                    ..record.clone()
                },
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
        /// Every objective and constraint, when the study has several or any.
        judged: Option<Judged>,
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

/// Whether a worker other than `worker`, active in this run and free to lease, and not
/// among `failed_by`, could run a trial.
fn another_can_run(
    workers: &HashMap<u64, WorkerEntry>,
    joined: &BTreeSet<u64>,
    worker: u64,
    failed_by: &[u64],
) -> bool {
    joined.iter().any(|&other| {
        other != worker
            && !failed_by.contains(&other)
            && workers.get(&other).is_some_and(|entry| {
                entry.quarantined.is_none() && !entry.leaving && !entry.draining
            })
    })
}
