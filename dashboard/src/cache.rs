//! A study's trials loaded read-only, kept until the database changes, then loaded again
//! ahead of the next request when a page asked for it lately (on blocking threads: the SQLite
//! reads are synchronous). Every request of one version shares one load; when the dashboard
//! starts, the first few studies are loaded before any page asks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hypersearch_coordinator::store::Location;
use hypersearch_coordinator::store::query::{Pace, Reader, StudyRef, StudySummary};
use hypersearch_insight::StudyTrials;
use hypersearch_insight::timeline::AttemptSpan;
use hypersearch_search::{Objectives, SearchSpace, StudyConfig};

use crate::Error;

/// Everything the study views draw from, as of one version of the database.
pub struct Snapshot {
    /// The watcher's version when it was loaded.
    pub version: u64,
    /// The study's counts and best value.
    pub summary: StudySummary,
    /// How fast its trials end.
    pub pace: Pace,
    /// Every trial with its learning curve.
    pub trials: StudyTrials,
    /// Every attempt, for the worker timeline.
    pub spans: Vec<AttemptSpan>,
    /// The config text the study was created with.
    pub config: String,
    /// Its search space, when the config still parses.
    pub space: Option<SearchSpace>,
    /// What it optimizes, when the config still parses.
    pub objectives: Option<Objectives>,
    /// When it was loaded, in seconds since the Unix epoch (running attempts end here).
    pub loaded_at: f64,
    /// The study page's JSON, made by the first request that needs it.
    pub overview: OnceLock<String>,
}

/// How long after a page last asked for a study its snapshot is still loaded again as soon
/// as the database changes (so the next request finds it ready).
pub const HOT: Duration = Duration::from_secs(120);
/// Studies loaded ahead when the dashboard starts, at most.
pub const WARM_AT_START: usize = 8;

/// The snapshots loaded, one per study.
#[derive(Default)]
pub struct Cache {
    studies: Mutex<HashMap<String, Arc<Entry>>>,
}

/// One study's snapshot; its lock makes a second request wait for a load in progress
/// rather than load again.
struct Entry {
    snapshot: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
    asked: Mutex<Instant>,
}

impl Cache {
    /// Study `name` as of `version`, for a page: the kept snapshot, or a fresh load.
    ///
    /// # Errors
    /// The store's: an unknown study, an unreadable database.
    pub async fn study(
        &self,
        db: &Location,
        name: &str,
        version: u64,
    ) -> Result<Arc<Snapshot>, Error> {
        self.get(db, name, version, true).await
    }

    /// Loads again, as of `version`, the studies pages asked for lately ([`HOT`]), or all
    /// of them (at most [`WARM_AT_START`]) when `all`.
    pub async fn warm(&self, db: &Location, version: u64, all: bool) {
        let names: Vec<String> = if all {
            match Reader::open(db).await {
                Ok(mut reader) => reader
                    .studies()
                    .await
                    .map(|studies| studies.into_iter().map(|study| study.study).collect())
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            }
        } else {
            let studies = self.studies.lock().unwrap_or_else(PoisonError::into_inner);
            studies
                .iter()
                .filter(|(_, entry)| {
                    entry
                        .asked
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .elapsed()
                        < HOT
                })
                .map(|(name, _)| name.clone())
                .collect()
        };
        for name in names
            .into_iter()
            .take(if all { WARM_AT_START } else { usize::MAX })
        {
            if let Err(err) = self.get(db, &name, version, false).await {
                tracing::warn!(study = %name, error = %err, "cannot load the study ahead");
            }
        }
    }

    async fn get(
        &self,
        db: &Location,
        name: &str,
        version: u64,
        asked: bool,
    ) -> Result<Arc<Snapshot>, Error> {
        let entry = {
            let mut studies = self.studies.lock().unwrap_or_else(PoisonError::into_inner);
            studies
                .entry(name.to_string())
                .or_insert_with(|| {
                    Arc::new(Entry {
                        snapshot: tokio::sync::Mutex::new(None),
                        asked: Mutex::new(Instant::now()),
                    })
                })
                .clone()
        };
        if asked {
            *entry.asked.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        }
        let mut slot = entry.snapshot.lock().await;
        if let Some(kept) = slot.as_ref()
            && kept.version >= version
        {
            return Ok(kept.clone());
        }
        match load(db, name, version).await {
            Ok(loaded) => {
                let loaded = Arc::new(loaded);
                *slot = Some(loaded.clone());
                Ok(loaded)
            }
            Err(err) => {
                drop(slot);
                // An unknown name leaves nothing behind.
                if slot_is_empty(&entry).await {
                    self.studies
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(name);
                }
                Err(err)
            }
        }
    }
}

async fn slot_is_empty(entry: &Entry) -> bool {
    entry.snapshot.lock().await.is_none()
}

/// Loads study `name` from `db`: the trials and the attempts on two threads at once (each
/// is a few hundred milliseconds at 100,000 trials).
async fn load(db: &Location, name: &str, version: u64) -> Result<Snapshot, Error> {
    let mut reader = Reader::open(db).await?;
    let study = reader.study(Some(name)).await?;
    let attempts = blocking(db, study.clone(), async |reader, study| {
        reader.attempt_spans(&study).await
    });
    let trials = blocking(db, study.clone(), async |reader, study| {
        reader.study_trials(&study).await
    });
    let config = reader.study_config(&study).await?;
    let summary = reader
        .studies()
        .await?
        .into_iter()
        .find(|summary| summary.study == study.name)
        .ok_or_else(|| hypersearch_coordinator::Error::UnknownStudy {
            name: name.to_string(),
            database: reader.database().to_string(),
            available: Vec::new(),
        })?;
    let stopped = |err: tokio::task::JoinError| Error::Load {
        study: name.to_string(),
        reason: err.to_string(),
    };
    let trials = trials.await.map_err(stopped)??;
    let spans = attempts.await.map_err(stopped)??;
    let (space, objectives) = match StudyConfig::from_toml_str(&config, &study.name) {
        Ok(parsed) => (Some(parsed.space), Some(parsed.objectives)),
        Err(_) => (None, None),
    };
    Ok(Snapshot {
        version,
        summary,
        pace: pace(&trials),
        trials,
        spans,
        config,
        space,
        objectives,
        loaded_at: now(),
        overview: OnceLock::new(),
    })
}

/// Runs `body` over a reader of its own on a blocking thread (the SQLite reads are
/// synchronous, and two of them then run at once).
pub(crate) fn blocking<T: Send + 'static>(
    db: &Location,
    study: StudyRef,
    body: impl AsyncFnOnce(&mut Reader, StudyRef) -> Result<T, hypersearch_coordinator::Error>
    + Send
    + 'static,
) -> tokio::task::JoinHandle<Result<T, hypersearch_coordinator::Error>> {
    let db = db.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            let mut reader = Reader::open(&db).await?;
            body(&mut reader, study).await
        })
    })
}

/// The pace of the trials that ended, from the first start to the last end.
fn pace(trials: &StudyTrials) -> Pace {
    let ended = trials.rows.iter().filter(|row| row.finished.is_some());
    let (mut count, mut first, mut last) = (0, f64::INFINITY, f64::NEG_INFINITY);
    for row in ended {
        count += 1;
        first = row.started.map_or(first, |started| first.min(started));
        last = row.finished.map_or(last, |finished| last.max(finished));
    }
    Pace {
        ended: count,
        first_started: first.is_finite().then_some(first),
        last_finished: last.is_finite().then_some(last),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs_f64())
        .unwrap_or(0.0)
}
