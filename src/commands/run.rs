//! `hypersearch run`: a whole study on this machine. The coordinator listens on loopback
//! (with a random token) and an in-process worker runs one slot per core, over real gRPC,
//! exactly as remote workers would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use hypersearch_coordinator::{Coordinator, Options};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::output::say;
use super::{failures, logging, progress, query, runtime, seconds, signals, study_file};
use crate::cli::{DbArg, Format, StudyArg};

/// How many trials the final summary lists.
const SHOWN_AT_THE_END: u64 = 5;

/// Resolves once `flag` becomes true.
pub async fn raised(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|raised| *raised).await;
}

/// A fresh random token for the in-process coordinator and worker.
fn session_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("cannot draw a token: {err}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Cores on this machine (at least 1).
pub fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
}

/// `hypersearch run`'s command line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  hypersearch run examples/digits-search.toml\n  \
    hypersearch run examples/digits-search.toml --workers 4 --db digits.db\n\n\
    Running the same command again resumes the study: finished trials are kept."
)]
pub struct RunArgs {
    /// The study config (e.g. examples/digits-search.toml).
    config: PathBuf,
    /// Local worker slots (trials trained at once); default one per core.
    #[arg(long)]
    workers: Option<u32>,
    /// The trials database (a SQLite file or a `postgres://` URL); default `[study]
    /// storage`, else `hypersearch.db`.
    #[arg(long, env = "HYPERSEARCH_DB")]
    db: Option<PathBuf>,
    /// Seconds a trial's lease lasts without a sign of life from its worker.
    #[arg(long, default_value_t = 10.0)]
    lease_seconds: f64,
    /// The directory the study's `data.path` must lie in; default anywhere (only this
    /// run's own local workers read the data; `serve` confines it to the config's
    /// directory, as it streams it to remote workers).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Serve the live web dashboard on this address too (e.g. 127.0.0.1:8080; it prints
    /// the address to open; beyond loopback with a one-time token in it).
    #[arg(long)]
    dashboard: Option<SocketAddr>,
}

/// `hypersearch run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let lease = seconds("--lease-seconds", args.lease_seconds)?;
    let dashboard = args.dashboard;
    logging::init("error");
    // Only this run's local workers read the data: no need to confine where it lies.
    let data_root = args.data_root.as_deref().unwrap_or(Path::new("/"));
    let study = study_file::load(&args.config, Some(data_root))?;
    let db_path = study_file::database(args.db.as_deref(), &study.config);
    let db = query::location(&db_path)?;
    let slots = args.workers.unwrap_or_else(cores);
    if slots == 0 {
        bail!("--workers must be at least 1");
    }
    let name = study.config.name.clone();
    let metric = study.config.metric.clone();
    let multi_objective = study.config.objectives.is_multi();
    let (interrupted, end, failing) = runtime()?.block_on(async {
        let coordinator = Coordinator::open(
            &study.config,
            &study.text,
            &db,
            &Options {
                lease,
                ..Options::default()
            },
        )
        .await
        .with_context(|| format!("cannot start study `{name}`"))?;
        let start = *coordinator.progress().borrow();
        say_how_resumed(&name, &coordinator);
        if coordinator.resumed() {
            eprintln!(
                "resuming study `{name}` from {}: {} of {} trials done",
                db,
                start.done(),
                start.budget
            );
        } else {
            eprintln!(
                "study `{name}`: {} trials, {slots} local workers, database {}",
                start.budget, db
            );
        }
        if let Some(address) = dashboard {
            // Beyond loopback the page asks for a token of its own, given once in the URL.
            let token = (!address.ip().is_loopback())
                .then(session_token)
                .transpose()?;
            let (bound, _serving) = super::dashboard::start(
                address,
                db.clone(),
                token.as_deref(),
                std::future::pending(),
            )
            .await?;
            match token {
                Some(token) => eprintln!("dashboard at http://{bound}/?token={token}"),
                None => eprintln!("dashboard at http://{bound}/"),
            }
        }
        if start.finished {
            eprintln!("study `{name}` is already finished");
            coordinator.close().await?;
            return Ok::<_, anyhow::Error>((None, start, None));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot listen on loopback")?;
        let address = listener.local_addr()?;
        let token = session_token()?;
        // Stopping is orderly: the worker first hands its running trials back to the
        // coordinator (which requeues them), then the coordinator stops.
        let (stop_worker, worker_stopping) = watch::channel(false);
        let (stop_serving, serving_stopping) = watch::channel(false);
        let progress = coordinator.progress();
        let mut serving = tokio::spawn(coordinator.serve(
            listener,
            Some(token.clone()),
            raised(serving_stopping),
        ));
        let mut options = hypersearch_worker::Options::new(&format!("http://{address}"), slots);
        options.token = Some(token);
        options.name = Some(format!("local:{}", std::process::id()));
        // A `command` runs next to the study file, as a script it names usually is.
        options.workdir = Some(study_file::study_dir(&args.config)?);
        let mut working = tokio::spawn(hypersearch_worker::run(options, raised(worker_stopping)));
        let (notes, noted) = tokio::sync::mpsc::unbounded_channel();
        let watching = tokio::spawn(failures::watch(
            progress.clone(),
            db_path.clone(),
            db.to_string(),
            name.clone(),
            notes,
        ));
        let display = tokio::spawn(progress::show(progress, metric.clone(), noted));
        let (stop_asked, stop) = signals::watch_stop();
        // Ctrl-C or SIGTERM stops the run; so do the first trials all failing the same way.
        let stopper = tokio::spawn(async move {
            let mut watching = watching;
            let failing = tokio::select! {
                () = raised(stop_asked.clone()) => None,
                failing = &mut watching => match failing.ok().flatten() {
                    Some(reason) => Some(reason),
                    None => {
                        raised(stop_asked).await;
                        None
                    }
                },
            };
            let _ = stop_worker.send(true);
            failing
        });
        let served = tokio::select! {
            served = &mut serving => {
                let _ = working.await;
                served
            }
            worked = &mut working => {
                let _ = stop_serving.send(true);
                if let Ok(Err(err)) = worked {
                    // The local worker cannot go on, so nothing would finish the study.
                    let _ = serving.await;
                    display.abort();
                    return Err(anyhow::Error::new(err).context("the local worker stopped"));
                }
                serving.await
            }
        };
        let failing = if stopper.is_finished() {
            stopper.await.ok().flatten()
        } else {
            stopper.abort();
            None
        };
        let served = served.context("the coordinator task failed")??;
        let _ = display.await;
        let stopped = *stop.borrow();
        let interrupted = (!served.finished).then(|| stopped.unwrap_or(signals::Stop::Interrupt));
        Ok((interrupted, served, failing))
    })?;
    if let Some((number, reason)) = failing
        && interrupted.is_some()
    {
        eprintln!(
            "stopped: the first {} trials all failed the same way:\n  {}\nfix the study file and run \
             the same command again (a study without a successful trial starts anew; its failed \
             trials are kept under another name); hypersearch show {number} --db {db} tells more",
            failures::FAIL_FAST,
            failures::indented(&reason)
        );
        return Ok(ExitCode::FAILURE);
    }
    if let Some(stop) = interrupted {
        eprintln!("interrupted: run the same command again to resume the study");
        return Ok(ExitCode::from(stop.exit_code()));
    }
    if end.complete == 0 {
        eprintln!(
            "study `{name}` ended without a complete trial ({} failed, {} pruned)",
            end.failed, end.pruned
        );
        if let Some((number, error)) = query::first_failure(&db_path, &name)? {
            eprintln!(
                "the first failure, trial {number}: {}",
                failures::indented(&error)
            );
            eprintln!("more: hypersearch show {number} --db {db}");
        }
        return Ok(ExitCode::FAILURE);
    }
    if multi_objective {
        say!(
            "best trials of study `{name}`, by Pareto front then crowding \
             (`hypersearch best` lists the whole front):"
        );
    } else {
        say!("best trials of study `{name}`:");
    }
    let study = StudyArg {
        db: DbArg { db: db_path },
        study: Some(name.clone()),
    };
    query::print_best(&study, Some(SHOWN_AT_THE_END), Format::Table)?;
    say!("more: hypersearch best --db {db} --study {name}");
    say!("      hypersearch show TRIAL --db {db}");
    Ok(ExitCode::SUCCESS)
}

/// Says so when this run changed a resumed study's trial budget, or set aside an earlier
/// study of the same name whose trials all failed.
pub(super) fn say_how_resumed(name: &str, coordinator: &hypersearch_coordinator::Coordinator) {
    if let Some(aside) = coordinator.set_aside() {
        eprintln!(
            "study `{name}` had no successful trial and its file changed: starting it anew; \
             the failed trials are kept as study `{aside}`"
        );
    }
    if let Some(before) = coordinator.budget_before() {
        let now = coordinator.progress().borrow().budget;
        eprintln!(
            "study `{name}`: trial budget {} from {before} to {now}",
            if now > before { "raised" } else { "lowered" }
        );
    }
}
