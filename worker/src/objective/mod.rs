//! The three kinds of objective a trial can run (`[objective]` in a study file): nn-core training, a command, a
//! built-in test function. Each runs one attempt and streams [`Event`]s: epoch metrics as
//! they come, then exactly one `Done` with how it ended.

mod command;
mod function;
pub(crate) mod limits;
mod training;

use std::sync::Arc;

use hypersearch_proto::{Assignment, Metrics, Objective, Outcome, StudyInfo};
use tokio::sync::mpsc::UnboundedSender;

use crate::checkpoints::Pace;
use crate::held::Cancel;
pub(crate) use training::DatasetCache;

/// A command's stdout line as (epoch, metrics), for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_command_line(
    line: &str,
    last_epoch: u32,
) -> Result<Option<(Option<u32>, hypersearch_proto::Metrics)>, String> {
    command::parse_line(line, last_epoch).map(|parsed| parsed.map(|l| (l.epoch, l.metrics)))
}

/// What an objective tells its slot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// One epoch's metrics (finite values only).
    Epoch {
        /// From 1, increasing.
        epoch: u32,
        /// The metrics.
        metrics: Metrics,
    },
    /// The trained network of a training that finished, in nn-core's `model::file` format,
    /// for the coordinator to keep (sent just before `Done`, only when the study keeps
    /// models).
    Model(Vec<u8>),
    /// A checkpoint of the running training after `epoch` (sent after that epoch's
    /// metrics, only when the study takes checkpoints), in nn-core's `train::Checkpoint`
    /// format.
    Checkpoint {
        /// The last epoch it includes.
        epoch: u32,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// The checkpoint the attempt was to resume from cannot be used, for this reason: the
    /// training starts from scratch (sent before any epoch).
    CheckpointRefused(String),
    /// The attempt is over.
    Done(Outcome),
}

/// Where an objective sends its events.
pub(crate) type Events = UnboundedSender<Event>;

/// The checkpoint a resumed training goes on from, as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResumeFrom {
    /// The epoch its assignment names.
    pub epoch: u32,
    /// Its bytes (checked against their digest, not yet decoded).
    pub bytes: Vec<u8>,
}

/// A training attempt's checkpoints: the one it goes on from, and the turns it takes new
/// ones by.
pub(crate) struct Checkpointing {
    /// The checkpoint to go on from.
    pub resume: Option<ResumeFrom>,
    /// When to take one.
    pub pace: Arc<Pace>,
}

/// Starts the attempt `assignment` of `study`'s objective (a training going on from and
/// taking `checkpoints`); it stops early when `cancel` fires, and always ends with
/// [`Event::Done`].
pub(crate) fn start(
    study: &StudyInfo,
    datasets: &DatasetCache,
    workdir: Option<Arc<std::path::Path>>,
    assignment: Assignment,
    checkpoints: Checkpointing,
    cancel: Arc<Cancel>,
    events: Events,
) {
    match &study.objective {
        Objective::Function(name) => {
            let outcome = function::evaluate(name, &assignment.overrides);
            let _ = events.send(Event::Done(outcome));
        }
        Objective::Command(command) => {
            tokio::spawn(command::run(
                command::Program {
                    command: command.clone(),
                    metric: study.metric.clone(),
                    workdir,
                },
                assignment,
                cancel,
                events,
            ));
        }
        Objective::Training => training::start(
            study.base_config_toml.clone(),
            training::Options {
                keep_model: study.keep_models,
                checkpoints: study.checkpoints.then_some(checkpoints.pace),
                resume: checkpoints.resume,
            },
            datasets.clone(),
            assignment,
            cancel,
            events,
        ),
    }
}

/// `metrics` without its non-finite values (a diverging run reports NaN; the protocol
/// carries only finite numbers).
fn finite(metrics: impl IntoIterator<Item = (String, f64)>) -> Metrics {
    metrics.into_iter().filter(|(_, v)| v.is_finite()).collect()
}
