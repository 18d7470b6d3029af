//! The scheduler: which trial runs where, under which lease, and when it is over.
//!
//! One [`State`](state::State) behind a mutex holds the truth; every gRPC handler takes the
//! lock briefly, applies a transition, queues the matching database write on the single
//! writer before letting go, and answers only once that write is committed. The sampler runs
//! on its own thread (`sampling`), the reaper on a timer. Leases expire on this process's
//! monotonic clock (`tokio::time::Instant`), never on a worker's.

mod checkpoints;
mod commits;
mod sampling;
mod state;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use hypersearch_proto::visible::Visible;
use hypersearch_proto::{
    Completion, Heartbeat, LeaseGrant, LeaseId, LeaseRequest, Report, StopDecision, StudyInfo,
    Welcome, WorkerHello,
};
use hypersearch_search::{Pruner, Sampler, SearchSpace};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use crate::Error;
use crate::store::{Ack, ModelBytes, StoredStudy, WriteOp, Writer};
use commits::PendingCommits;
use sampling::{Sampled, SamplerEvent};
use state::{Ended, State, Taken};
pub(crate) use state::{Rules, Steer};

/// The longest a lease request is held waiting for a trial.
const MAX_LEASE_WAIT: Duration = Duration::from_secs(30);

/// The study's figures, as the progress bar shows them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Progress {
    /// Trials the study runs in total.
    pub budget: u64,
    /// Trials sampled so far.
    pub created: u64,
    /// Trials waiting for a worker.
    pub queued: u64,
    /// Trials running.
    pub running: u64,
    /// Trials complete.
    pub complete: u64,
    /// Trials pruned.
    pub pruned: u64,
    /// Trials failed for good.
    pub failed: u64,
    /// The best complete trial's number and value.
    pub best: Option<(u64, f64)>,
    /// Every trial is over.
    pub finished: bool,
}

impl Progress {
    /// Trials over (complete, pruned or failed).
    pub fn done(&self) -> u64 {
        self.complete + self.pruned + self.failed
    }
}

/// The scheduler shared by the gRPC handlers and its background tasks.
pub(crate) struct Scheduler {
    state: Mutex<State>,
    writer: Writer,
    /// The last write of each attempt, until committed: what identical retries wait for.
    commits: PendingCommits,
    sampler: Mutex<std::sync::mpsc::Sender<SamplerEvent>>,
    changed: Notify,
    progress: watch::Sender<Progress>,
    study: StudyInfo,
    heartbeat_interval: Duration,
}

/// What the scheduler needs to start.
pub(crate) struct Parts {
    pub rules: Rules,
    pub study: StudyInfo,
    pub stored: StoredStudy,
    pub sampler: Box<dyn Sampler>,
    pub pruner: Box<dyn Pruner>,
    pub space: SearchSpace,
    pub writer: Writer,
    /// `[search] deterministic`: proposals wait for the trials they may see (see `sampling`).
    pub deterministic: bool,
}

fn new_token() -> u64 {
    // Lease tokens are capabilities, not search randomness: they come from the OS, so they
    // cannot be guessed from the study seed.
    getrandom::u64().unwrap_or_else(|_| {
        use std::sync::atomic::{AtomicU64, Ordering};
        static FALLBACK: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
        let x = FALLBACK.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    })
}

impl Scheduler {
    /// Starts the scheduler, its sampler thread, the intake of suggestions and the reaper.
    pub fn start(parts: Parts) -> Result<Arc<Scheduler>, Error> {
        let lease = parts.rules.lease;
        let lag = parts
            .deterministic
            .then_some(u64::from(parts.rules.parallel));
        let mut state = State::new(parts.rules, &parts.stored, Instant::now(), parts.pruner)?;
        let (results, incoming) = mpsc::unbounded_channel();
        let sampler = sampling::spawn(parts.sampler, parts.space, results, lag)
            .map_err(|err| Error::Sampler(format!("cannot start the sampler thread: {err}")))?;
        for record in state.take_known() {
            let _ = sampler.send(SamplerEvent::Known(record));
        }
        let (progress, _) = watch::channel(state.progress());
        let scheduler = Arc::new(Scheduler {
            state: Mutex::new(state),
            writer: parts.writer,
            commits: PendingCommits::default(),
            sampler: Mutex::new(sampler),
            changed: Notify::new(),
            progress,
            study: parts.study,
            heartbeat_interval: (lease / 3).max(Duration::from_millis(10)),
        });
        tokio::spawn(intake(Arc::downgrade(&scheduler), incoming));
        tokio::spawn(reaper(Arc::downgrade(&scheduler), lease));
        {
            let mut state = scheduler.lock();
            scheduler.after_change(&mut state);
        }
        Ok(scheduler)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent state (transitions validate
        // before they mutate), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follow-ups of every transition: ask for samples, finish the study, publish progress.
    /// Returns the acknowledgement of the kept models it drops (a completion that makes a
    /// model no longer among the best waits for it before it is acknowledged).
    fn after_change(&self, state: &mut State) -> Option<Ack> {
        let wanted = state.samples_wanted();
        if !wanted.is_empty() {
            let sampler = self.sampler.lock().unwrap_or_else(PoisonError::into_inner);
            for number in wanted {
                if sampler.send(SamplerEvent::Suggest(number)).is_err() {
                    state.sample_dropped();
                    state.mark_fatal("the sampler thread stopped".into());
                }
            }
        }
        for (worker_id, reason) in state.take_quarantine_changes() {
            // Recorded in order with the other writes; a failure shows in theirs.
            drop(
                self.writer
                    .enqueue(WriteOp::QuarantineWorker { worker_id, reason }),
            );
        }
        for op in state.take_checkpoint_writes() {
            // After the attempt starts or ends that caused it; a failure shows in later writes.
            drop(self.writer.enqueue(op));
        }
        let numbers = state.take_model_drops();
        // In order with the completion that caused it.
        let dropped =
            (!numbers.is_empty()).then(|| self.writer.enqueue(WriteOp::DropModels { numbers }));
        state.check_finished();
        self.progress.send_replace(state.progress());
        self.changed.notify_waiters();
        dropped
    }

    fn tell_sampler(&self, ended: Option<Ended>) {
        if let Some(ended) = ended {
            let sampler = self.sampler.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = sampler.send(SamplerEvent::Ended(ended.record));
        }
    }

    /// Marks the study failed when the database refused a write: memory and disk would
    /// disagree from here on.
    fn fail(&self, err: Error) -> Error {
        if matches!(err, Error::Database { .. }) {
            let mut state = self.lock();
            state.mark_fatal(err.to_string());
            self.after_change(&mut state);
        }
        err
    }

    /// Figures for the progress bar, updated on every change.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Why the study cannot go on, if it cannot.
    pub fn fatal(&self) -> Option<String> {
        self.lock().fatal().map(str::to_string)
    }

    /// A worker joins, holding the credential whose SHA-256 (hex) is `credential_sha256`.
    /// The welcome's `credential` is left empty: the caller, which made the credential,
    /// fills it in.
    pub async fn register(
        &self,
        hello: WorkerHello,
        credential_sha256: String,
    ) -> Result<Welcome, Error> {
        let worker_id = self
            .writer
            .submit(WriteOp::RegisterWorker {
                name: hello.name.clone(),
                hostname: hello.hostname,
                slots: hello.slots,
                version: hello.version,
                credential_sha256,
            })
            .await
            .map_err(|err| self.fail(err))?;
        let worker_id = u64::try_from(worker_id).unwrap_or(0);
        self.lock().add_worker(worker_id, hello.slots);
        tracing::info!(worker = worker_id, name = %Visible(&hello.name), slots = hello.slots, "worker joined");
        Ok(Welcome {
            worker_id,
            study: self.study.clone(),
            heartbeat_interval_ms: u32::try_from(self.heartbeat_interval.as_millis())
                .unwrap_or(u32::MAX),
            credential: String::new(),
        })
    }

    /// Grants queued trials to a worker, waiting up to its `wait_ms` for one.
    pub async fn lease(&self, request: LeaseRequest) -> Result<LeaseGrant, Error> {
        let wait = Duration::from_millis(u64::from(request.wait_ms)).min(MAX_LEASE_WAIT);
        let until = Instant::now() + wait;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let pending = {
                let mut state = self.lock();
                match state.take_trials(
                    request.worker_id,
                    request.max_trials,
                    Instant::now(),
                    &mut new_token,
                )? {
                    Taken::StudyFinished => return Ok(LeaseGrant::StudyFinished),
                    Taken::Nothing => None,
                    Taken::Trials(granted) => {
                        let pending: Vec<_> = granted
                            .into_iter()
                            .map(|(assignment, op)| (assignment, self.writer.enqueue(op)))
                            .collect();
                        self.after_change(&mut state);
                        Some(pending)
                    }
                }
            };
            if let Some(pending) = pending {
                let mut trials = Vec::with_capacity(pending.len());
                for (assignment, ack) in pending {
                    ack.wait().await.map_err(|err| self.fail(err))?;
                    tracing::debug!(
                        trial = assignment.lease.trial,
                        attempt = assignment.lease.attempt,
                        worker = request.worker_id,
                        "leased"
                    );
                    trials.push(assignment);
                }
                return Ok(LeaseGrant::Trials(trials));
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return Ok(LeaseGrant::Trials(Vec::new()));
            }
        }
    }

    /// One epoch's metrics; the answer is the early-stopping decision.
    pub async fn report(&self, report: Report) -> Result<Option<StopDecision>, Error> {
        let (write, stop) = {
            let mut state = self.lock();
            let (op, stop) = state.report(&report, Instant::now())?;
            let write = match op {
                Some(op) => Ok(self.commits.track(report.lease, self.writer.enqueue(op))),
                // A retry, or epochs after a stop: acknowledged once what came before is.
                None => Err(self.commits.original(report.lease)),
            };
            (write, stop)
        };
        match write {
            Ok(committed) => {
                committed.wait().await.map_err(|err| self.fail(err))?;
            }
            Err(original) => original.wait().await?,
        }
        if let Some(stop) = &stop {
            tracing::info!(trial = report.lease.trial, epoch = stop.epoch, rule = %stop.rule, "stop");
        }
        Ok(stop)
    }

    /// How an attempt ended; acknowledged once recorded. With `next_max_trials`, also leases
    /// the worker's next trials in the same call (none if none is queued right now).
    pub async fn complete(&self, completion: Completion) -> Result<LeaseGrant, Error> {
        let (write, dropped, next) = {
            let mut state = self.lock();
            let write = match state.complete(&completion)? {
                Some((op, ended)) => {
                    let committed = self
                        .commits
                        .track(completion.lease, self.writer.enqueue(op));
                    self.tell_sampler(ended);
                    Ok(committed)
                }
                // An identical retry: acknowledged once the original is committed.
                None => Err(self.commits.original(completion.lease)),
            };
            let dropped = self.after_change(&mut state);
            let next = if completion.next_max_trials == 0 {
                Taken::Nothing
            } else {
                // A worker that may lease no more (quarantined) still has its completion
                // recorded: it hears why on its next lease request.
                state
                    .take_trials(
                        completion.worker_id,
                        completion.next_max_trials,
                        Instant::now(),
                        &mut new_token,
                    )
                    .unwrap_or(Taken::Nothing)
            };
            let next = match next {
                Taken::StudyFinished => None,
                Taken::Nothing => Some(Vec::new()),
                Taken::Trials(granted) => {
                    let pending = granted
                        .into_iter()
                        .map(|(assignment, op)| (assignment, self.writer.enqueue(op)))
                        .collect();
                    self.after_change(&mut state);
                    Some(pending)
                }
            };
            (write, dropped, next)
        };
        match write {
            Ok(committed) => {
                committed.wait().await.map_err(|err| self.fail(err))?;
            }
            Err(original) => original.wait().await?,
        }
        if let Some(dropped) = dropped {
            dropped.wait().await.map_err(|err| self.fail(err))?;
        }
        match next {
            None => Ok(LeaseGrant::StudyFinished),
            Some(pending) => {
                let mut trials = Vec::with_capacity(pending.len());
                for (assignment, ack) in pending {
                    ack.wait().await.map_err(|err| self.fail(err))?;
                    trials.push(assignment);
                }
                Ok(LeaseGrant::Trials(trials))
            }
        }
    }

    /// A piece of the trained network of `lease`'s attempt from `worker`: accepted while the
    /// worker holds the lease (renewed) and the study keeps models.
    pub fn model_piece(&self, worker: u64, lease: LeaseId) -> Result<(), Error> {
        self.lock().model_piece(worker, lease, Instant::now())
    }

    /// Keeps `model`, the trained network of `lease`'s attempt (its SHA-256 `sha256`, hex),
    /// replacing an earlier attempt's; returns once committed. Refused once the attempt is
    /// over, here and (fenced on the lease) in the database.
    pub async fn store_model(
        &self,
        worker: u64,
        lease: LeaseId,
        sha256: String,
        model: Vec<u8>,
    ) -> Result<(), Error> {
        let ack = {
            let mut state = self.lock();
            state.model_piece(worker, lease, Instant::now())?;
            self.writer.enqueue(WriteOp::StoreModel {
                number: lease.trial,
                lease,
                sha256,
                model: ModelBytes(model.into()),
            })
        };
        ack.wait().await.map_err(|err| self.fail(err))?;
        tracing::debug!(
            trial = lease.trial,
            attempt = lease.attempt,
            worker,
            "model kept"
        );
        Ok(())
    }

    /// An operator's steer of `worker`: its state now and the trials it still runs.
    pub fn steer(&self, worker: u64, steer: Steer) -> Result<(&'static str, usize), Error> {
        let mut state = self.lock();
        let answer = state.steer(worker, steer)?;
        self.after_change(&mut state);
        tracing::info!(
            worker,
            state = answer.0,
            running = answer.1,
            "worker steered"
        );
        Ok(answer)
    }

    /// The trials `worker` runs now.
    pub fn leases_held(&self, worker: u64) -> usize {
        self.lock().leases_held(worker)
    }

    /// Renews a worker's leases; returns those it no longer holds.
    pub fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<Vec<LeaseId>, Error> {
        self.lock().heartbeat(heartbeat, Instant::now())
    }

    /// Ends the attempts whose leases expired.
    async fn reap(&self) {
        let acks = {
            let mut state = self.lock();
            let reaped = state.reap(Instant::now());
            if reaped.is_empty() {
                return;
            }
            let mut acks = Vec::with_capacity(reaped.len());
            for (op, ended) in reaped {
                if let WriteOp::FinishAttempt { lease, end, .. } = &op {
                    if end.state == "lost" {
                        crate::observe::lease_expired();
                    }
                    tracing::warn!(
                        trial = lease.trial,
                        attempt = lease.attempt,
                        "{}",
                        if end.state == "lost" {
                            "lease expired"
                        } else {
                            "the trial ran past its time limit"
                        }
                    );
                }
                acks.push(self.writer.enqueue(op));
                self.tell_sampler(ended);
            }
            self.after_change(&mut state);
            acks
        };
        for ack in acks {
            if let Err(err) = ack.wait().await {
                self.fail(err);
            }
        }
    }

    /// Notes that `worker` heard the study is finished.
    pub fn told_finished(&self, worker: u64) {
        let mut state = self.lock();
        state.told_finished(worker);
        drop(state);
        self.changed.notify_waiters();
    }

    /// Resolves once every worker that joined this run heard the study is finished.
    pub async fn every_worker_told(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().every_worker_told() {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once every trial is over (or the study cannot go on).
    pub async fn finished(&self) {
        let mut progress = self.progress.subscribe();
        loop {
            if progress.borrow_and_update().finished || self.fatal().is_some() {
                return;
            }
            if progress.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Queues each suggestion's trial, in trial-number order. Its insert is queued on the writer
/// first, so the trial can be leased at once: the lease's own write commits after it.
async fn intake(scheduler: Weak<Scheduler>, mut incoming: mpsc::UnboundedReceiver<Sampled>) {
    let mut batch = Vec::new();
    while incoming.recv_many(&mut batch, 1024).await > 0 {
        let Some(scheduler) = scheduler.upgrade() else {
            return;
        };
        let mut acks = Vec::with_capacity(batch.len());
        {
            let mut state = scheduler.lock();
            for sampled in batch.drain(..) {
                match sampled.outcome {
                    Ok(Some(proposal)) if !state.sampling_stopped() => {
                        let op = WriteOp::InsertTrial {
                            number: sampled.number,
                            params: serde_json::Value::Object(proposal.params_json.clone())
                                .to_string(),
                            overrides: serde_json::Value::Object(proposal.overrides.clone())
                                .to_string(),
                        };
                        let ack = scheduler.writer.enqueue(op);
                        if state.add_sampled(
                            sampled.number,
                            proposal.params_json,
                            proposal.overrides,
                        ) {
                            acks.push(ack);
                        }
                    }
                    Ok(_) => {
                        state.sample_dropped();
                        state.mark_exhausted();
                    }
                    Err(problem) => {
                        tracing::error!(%problem, "sampling failed; the study stops");
                        state.sample_dropped();
                        state.mark_exhausted();
                        state.mark_fatal(format!("sampler failed: {problem}"));
                    }
                }
            }
            scheduler.after_change(&mut state);
        }
        let watcher = Arc::downgrade(&scheduler);
        tokio::spawn(async move {
            for ack in acks {
                if let Err(err) = ack.wait().await
                    && let Some(scheduler) = watcher.upgrade()
                {
                    scheduler.fail(err);
                }
            }
        });
    }
}

/// Expires leases: one pass every quarter lease, so an abandoned trial is retried at most
/// a lease and a quarter after its last sign of life.
async fn reaper(scheduler: Weak<Scheduler>, lease: Duration) {
    let period = (lease / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(scheduler) = scheduler.upgrade() else {
            return;
        };
        scheduler.reap().await;
    }
}
