//! The hypersearch worker: joins a coordinator, pulls trials, runs them (nn-core training, a
//! command, or a built-in test function), streams each epoch's metrics, obeys stop
//! decisions, and reports how each attempt ended.
//!
//! Layout:
//! - `client`: the typed gRPC calls, with the token, TLS, and retries through short outages.
//! - `tls`: [`ClientTls`], the CA the worker trusts and its own certificate (rustls, ring).
//! - `data`: the study's data set on this worker: used in place when the bytes match,
//!   else fetched from the coordinator in checksummed chunks into a cache.
//! - `slot`: one slot's loop (lease, run, report, complete).
//! - `objective`: the three objectives; training runs one thread per trial and trials share
//!   one loaded data set.
//! - `model_upload`: a finished trial's trained network sent to the coordinator in pieces,
//!   before its completion, when the study keeps models.
//! - `checkpoints`: a running training's checkpoints sent out (through `model_upload`),
//!   paced; the checkpoint a resumed attempt goes on from, fetched in checksummed pieces, and
//!   refused when it cannot be used.
//! - `held`: the leases held and the switches that stop their trials.
//! - `identity`: the worker's id, and joining again when a coordinator comes back without
//!   a record of it.
//! - `heartbeat` (in this file): renews the leases and drops those the coordinator revoked.
//!
//! ```no_run
//! # async fn example() -> Result<(), hypersearch_worker::Error> {
//! let options = hypersearch_worker::Options::new("http://127.0.0.1:50051", 4);
//! let summary = hypersearch_worker::run(options, std::future::pending()).await?;
//! println!("ran {} attempts", summary.attempts);
//! # Ok(()) }
//! ```

mod checkpoints;
mod client;
mod error;
mod held;
mod identity;
mod local_data;
mod model_upload;
mod objective;
mod slot;
mod tls;

/// The environment variable of the checkpoint testing hook (`test-hooks` builds only): with
/// `HYPERSEARCH_TEST_HOLD_AFTER_CHECKPOINT=N`, a training stops for good once it has handed
/// over its checkpoint after epoch N (the slot sends it; heartbeats go on), so a test can
/// kill the worker at a known epoch.
#[cfg(feature = "test-hooks")]
pub const HOLD_AFTER_CHECKPOINT_ENV: &str = "HYPERSEARCH_TEST_HOLD_AFTER_CHECKPOINT";

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hypersearch_proto::{Heartbeat, WorkerHello};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use local_data::default_data_dir;

/// The worker's parsers of outside input, for the fuzz targets in `fuzz/` (feature `fuzzing`,
/// which release builds never enable).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use hypersearch_proto::data_transfer::DataFile;
    use hypersearch_proto::{Metrics, pb};

    /// A command objective's stdout line: its epoch and numeric `key=value` pairs, `None` for
    /// a line without any, or why it is refused.
    ///
    /// # Errors
    /// The refusal, as the trial would fail with it.
    pub fn parse_command_line(
        line: &str,
        last_epoch: u32,
    ) -> Result<Option<(Option<u32>, Metrics)>, String> {
        crate::objective::parse_command_line(line, last_epoch)
    }

    /// A data-set chunk checked as the next piece of `file` at `offset`.
    ///
    /// # Errors
    /// What is wrong with the chunk.
    pub fn check_chunk(
        chunk: pb::DataChunk,
        offset: u64,
        file: &DataFile,
    ) -> Result<Vec<u8>, String> {
        crate::local_data::check_chunk(chunk, offset, file)
    }
}
pub use error::{Call, Error};
pub use tls::{ClientTls, identity_pair};

use client::{CallError, Client};
use held::{Held, StopCause};
use identity::Identity;
use slot::SlotContext;

/// How a worker runs.
#[derive(Clone, PartialEq, Eq)]
pub struct Options {
    /// The coordinator's address, e.g. `http://10.0.0.5:50051` (`https://` for TLS).
    pub coordinator: String,
    /// The shared secret, if the coordinator requires one.
    pub token: Option<String>,
    /// How to check the coordinator's certificate (and present the worker's) for an
    /// `https://` address; the system's roots when `None`.
    pub tls: Option<ClientTls>,
    /// Where data sets fetched from the coordinator are kept, one folder per data set
    /// (default [`default_data_dir`]).
    pub data_dir: PathBuf,
    /// Trials run at once (one thread each).
    pub slots: u32,
    /// A label for people; defaults to `host:pid`.
    pub name: Option<String>,
    /// How long the coordinator may be unreachable before the worker gives up.
    pub patience: Duration,
    /// Where a `command` objective runs; the worker's own working directory when `None`.
    pub workdir: Option<PathBuf>,
}

impl Options {
    /// Options for `slots` slots against `coordinator`, without a token.
    pub fn new(coordinator: &str, slots: u32) -> Options {
        Options {
            coordinator: coordinator.to_string(),
            token: None,
            tls: None,
            data_dir: default_data_dir(),
            slots,
            name: None,
            patience: Duration::from_secs(30),
            workdir: None,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a secret: say whether there is one, never what it is.
        f.debug_struct("Options")
            .field("coordinator", &self.coordinator)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("data_dir", &self.data_dir)
            .field("slots", &self.slots)
            .field("name", &self.name)
            .field("patience", &self.patience)
            .field("workdir", &self.workdir)
            .finish()
    }
}

/// What a worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The study it worked on.
    pub study: String,
    /// Trial attempts it ran.
    pub attempts: u64,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Joins the coordinator and runs trials until the study is finished or `shutdown`
/// resolves (running trials are then handed back for a retry elsewhere).
///
/// # Errors
/// [`Error::Refused`] for a missing or wrong token, [`Error::Unreachable`] when the
/// coordinator cannot be reached for longer than `options.patience`.
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<Summary, Error> {
    let client = Client::new(
        &options.coordinator,
        options.token.as_deref(),
        options.tls.as_ref(),
        options.patience,
    )?;
    let host = hostname();
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| format!("{host}:{}", std::process::id()));
    let slots = options.slots.max(1);
    let hello = WorkerHello {
        name: name.clone(),
        hostname: host,
        slots,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let welcome = client
        .register(hello.clone())
        .await
        .map_err(|err| match err {
            CallError::Fatal(err) => err,
            CallError::LeaseLost(detail)
            | CallError::Unregistered(detail)
            | CallError::TrialRefused(detail) => Error::Rejected {
                url: options.coordinator.clone(),
                call: Call::Register,
                detail,
            },
        })?;
    tracing::info!(worker = welcome.worker_id, study = %welcome.study.name, slots, "joined");
    let study = local_data::prepare(
        &client,
        welcome.worker_id,
        &options.data_dir,
        welcome.study.clone(),
    )
    .await?;
    let held = Held::default();
    let identity = Identity::new(
        welcome.worker_id,
        hello,
        welcome.study.clone(),
        client.clone(),
        held.clone(),
    );
    let (stop_tx, stopping) = watch::channel(false);
    let ctx = SlotContext {
        client: client.clone(),
        identity: identity.clone(),
        study: Arc::new(study),
        held: held.clone(),
        datasets: Default::default(),
        stopping,
        workdir: options.workdir.clone().map(Arc::from),
    };
    let mut slots_running = JoinSet::new();
    for _ in 0..slots {
        slots_running.spawn(slot::run(ctx.clone()));
    }
    let interval = Duration::from_millis(u64::from(welcome.heartbeat_interval_ms));
    let heartbeats = heartbeat(client, identity, held.clone(), interval);
    tokio::pin!(heartbeats);
    tokio::pin!(shutdown);
    let mut attempts = 0;
    let mut first_error = None;
    let mut shutting_down = false;
    while !slots_running.is_empty() {
        tokio::select! {
            joined = slots_running.join_next() => match joined {
                Some(Ok(Ok(n))) => {
                    attempts += n;
                    // One slot heard the study is finished (or the worker is stopping): the
                    // others need not ask a coordinator that may be closing already.
                    let _ = stop_tx.send(true);
                }
                Some(Ok(Err(err))) => {
                    // One slot cannot go on: neither can the others.
                    let _ = stop_tx.send(true);
                    held.stop_all(StopCause::ShuttingDown);
                    first_error.get_or_insert(err);
                }
                Some(Err(join)) => {
                    // A bug, not a trial's fault: stop like any other slot error (its own
                    // lease was let go as it unwound, so the coordinator retries that trial).
                    let _ = stop_tx.send(true);
                    held.stop_all(StopCause::ShuttingDown);
                    first_error.get_or_insert(Error::SlotPanicked {
                        detail: join.to_string(),
                    });
                }
                None => break,
            },
            err = &mut heartbeats => {
                let _ = stop_tx.send(true);
                held.stop_all(StopCause::ShuttingDown);
                first_error.get_or_insert(err);
            }
            () = &mut shutdown, if !shutting_down => {
                shutting_down = true;
                tracing::info!("shutting down: handing running trials back");
                let _ = stop_tx.send(true);
                held.stop_all(StopCause::ShuttingDown);
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(Summary {
            study: welcome.study.name,
            attempts,
        }),
    }
}

/// What an operator asks of one worker (`hypersearch workers drain|resume|quarantine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steer {
    /// It finishes its running trials and gets no more until resumed.
    Drain,
    /// It gets trials again.
    Resume,
    /// Its next lease request is refused and it stops.
    Quarantine,
}

/// Asks the coordinator of `options` (its address, token and TLS settings) to steer
/// `worker`; returns the worker's state (`active`, `draining`, `quarantined`) and the trials
/// it still runs.
///
/// # Errors
/// [`Error::Refused`] for a bad token, [`Error::Rejected`] for an unknown worker,
/// [`Error::Unreachable`] when the coordinator cannot be reached.
pub async fn steer_worker(
    options: &Options,
    worker: u64,
    steer: Steer,
) -> Result<(String, u32), Error> {
    let client = Client::new(
        &options.coordinator,
        options.token.as_deref(),
        options.tls.as_ref(),
        options.patience,
    )?;
    let steer = match steer {
        Steer::Drain => hypersearch_proto::pb::Steer::Drain,
        Steer::Resume => hypersearch_proto::pb::Steer::Resume,
        Steer::Quarantine => hypersearch_proto::pb::Steer::Quarantine,
    };
    let request = hypersearch_proto::pb::SteerWorkerRequest {
        worker_id: worker,
        steer: steer.into(),
    };
    match client.steer_worker(request).await {
        Ok(reply) => Ok((reply.state, reply.running)),
        Err(CallError::Fatal(err)) => Err(err),
        Err(
            CallError::LeaseLost(detail)
            | CallError::Unregistered(detail)
            | CallError::TrialRefused(detail),
        ) => Err(Error::Rejected {
            url: options.coordinator.clone(),
            call: Call::SteerWorker,
            detail,
        }),
    }
}

/// Renews the held leases every `interval` and stops the trials whose leases the
/// coordinator says are gone. Returns only when the worker cannot go on.
async fn heartbeat(client: Client, identity: Identity, held: Held, interval: Duration) -> Error {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let leases = held.leases();
        if leases.is_empty() {
            continue;
        }
        let joined = identity.current();
        let heartbeat = Heartbeat {
            worker_id: joined.id,
            leases,
        };
        match client.heartbeat(heartbeat).await {
            Ok(lost) => {
                for lease in lost {
                    // A trial that ended while the heartbeat travelled (its completion got
                    // there first, as after a coordinator restart) lost nothing.
                    if held.stop(lease, StopCause::LeaseLost) {
                        tracing::warn!(trial = lease.trial, attempt = lease.attempt, "lease lost");
                    } else {
                        tracing::debug!(trial = lease.trial, "ended before its heartbeat");
                    }
                }
            }
            Err(CallError::Fatal(err)) => return err,
            Err(CallError::Unregistered(_)) => {
                if let Err(err) = identity.rejoin(joined).await {
                    return err;
                }
            }
            Err(CallError::LeaseLost(detail) | CallError::TrialRefused(detail)) => {
                return Error::Rejected {
                    url: client.url().to_string(),
                    call: Call::Heartbeat,
                    detail,
                };
            }
        }
    }
}
