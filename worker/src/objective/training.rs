//! The default objective: nn-core trains the study's base config with the trial's
//! overrides, on a thread of its own (one thread per trial), reporting every epoch. Trials on
//! one worker share one loaded copy of each data set.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use hypersearch_proto::{Assignment, FailureKind, Outcome};
use nn_core::config::DataConfig;
use nn_core::model::file::KeptModel;
use nn_core::{Checkpoint, CheckpointSink, Control, Dataset, EpochMetrics, TrainConfig};

use super::{Event, Events, ResumeFrom, finite};
use crate::checkpoints::Pace;
use crate::held::Cancel;

/// Data sets kept loaded at once; a study uses one, so this only matters if trials vary it.
const CACHED_DATASETS: usize = 2;

/// A loaded data set and the config it was loaded from.
type Loaded = (DataConfig, Arc<Dataset>);

/// The data sets this worker has loaded, shared read-only by its trials.
#[derive(Clone, Default)]
pub(crate) struct DatasetCache {
    loaded: Arc<Mutex<Vec<Loaded>>>,
}

impl DatasetCache {
    /// The data set `config` describes, loading it on first use. Trials asking at the same
    /// time wait for one load rather than each loading a copy.
    fn get(&self, config: &DataConfig) -> Result<Arc<Dataset>, nn_core::Error> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, data)) = loaded.iter().find(|(c, _)| c == config) {
            return Ok(data.clone());
        }
        let data = Arc::new(Dataset::load(config)?);
        if loaded.len() >= CACHED_DATASETS {
            loaded.remove(0);
        }
        loaded.push((config.clone(), data.clone()));
        Ok(data)
    }
}

/// What a training sends besides its epochs, and where it starts.
pub(crate) struct Options {
    /// A training that finishes sends its trained network ([`Event::Model`]) before its
    /// outcome.
    pub keep_model: bool,
    /// A checkpoint ([`Event::Checkpoint`]) after each epoch but the last whose turn comes
    /// (none without).
    pub checkpoints: Option<Arc<Pace>>,
    /// The checkpoint to go on from; one that cannot be used is refused
    /// ([`Event::CheckpointRefused`]) and the training starts from scratch.
    pub resume: Option<ResumeFrom>,
}

/// Starts training `assignment` on its own thread, as `options` say.
pub(crate) fn start(
    base_config: String,
    options: Options,
    datasets: DatasetCache,
    assignment: Assignment,
    cancel: Arc<Cancel>,
    events: Events,
) {
    let thread_events = events.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("trial-{}", assignment.lease.trial))
        .spawn(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                train_one(
                    &base_config,
                    options,
                    &datasets,
                    &assignment,
                    &cancel,
                    &thread_events,
                )
            }))
            .unwrap_or_else(|panic| Outcome::Failed {
                error: format!("training crashed: {}", panic_message(&*panic)),
                kind: FailureKind::User,
            });
            let _ = thread_events.send(Event::Done(super::limits::within_limits(outcome)));
        });
    if let Err(err) = spawned {
        let _ = events.send(Event::Done(Outcome::Failed {
            error: format!("cannot start a training thread: {err}"),
            kind: FailureKind::Infrastructure,
        }));
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn epoch_metrics(m: &EpochMetrics) -> Vec<(String, f64)> {
    [
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "learning_rate",
        "seconds",
    ]
    .into_iter()
    .filter_map(|name| m.get(name).map(|v| (name.to_string(), v)))
    .collect()
}

fn train_one(
    base_config: &str,
    options: Options,
    datasets: &DatasetCache,
    assignment: &Assignment,
    cancel: &Cancel,
    events: &Events,
) -> Outcome {
    let config = match TrainConfig::from_toml_with_overrides(
        base_config,
        "the study's training config",
        &assignment.overrides,
    ) {
        Ok(config) => config,
        Err(err) => {
            return Outcome::Failed {
                error: format!("invalid training config for this trial: {err}"),
                kind: FailureKind::User,
            };
        }
    };
    let data = match datasets.get(config.data()) {
        Ok(data) => data,
        Err(err) => {
            return Outcome::Failed {
                error: format!("cannot load the data set on this worker: {err}"),
                kind: FailureKind::Infrastructure,
            };
        }
    };
    let seen = std::cell::Cell::new(0u32);
    // The architecture's cost rides with epoch 1 (each curve has it once, however many
    // attempts it resumed through), so early stopping can weigh it while the trial runs.
    let cost = nn_core::train::architecture_cost(&config, &data).ok();
    let mut observer = |m: &EpochMetrics| {
        seen.set(seen.get() + 1);
        let mut metrics = epoch_metrics(m);
        if let (1, Some((parameters, flops))) = (m.epoch, cost) {
            metrics.push(("parameters".to_string(), parameters as f64));
            metrics.push(("flops".to_string(), flops as f64));
        }
        let _ = events.send(Event::Epoch {
            epoch: u32::try_from(m.epoch).unwrap_or(u32::MAX),
            metrics: finite(metrics),
        });
        if cancel.cause().is_some() {
            Control::Stop
        } else {
            Control::Continue
        }
    };
    let mut checkpoints = options.checkpoints.map(|pace| Checkpoints {
        pace,
        epochs: config.training().epochs,
        events,
    });
    let resumed = options.resume.and_then(|resume| usable(resume, events));
    let mut result = nn_core::train_from(
        &config,
        &data,
        &mut observer,
        resumed.as_ref(),
        checkpoints
            .as_mut()
            .map(|sink| sink as &mut dyn CheckpointSink),
    );
    if let Err(nn_core::Error::ModelFile(problem)) = &result
        && resumed.is_some()
        && seen.get() == 0
    {
        // The checkpoint decoded but does not fit this trial's network or data.
        let _ = events.send(Event::CheckpointRefused(format!(
            "it does not fit this trial's training: {problem}"
        )));
        let sink = checkpoints
            .as_mut()
            .map(|sink| sink as &mut dyn CheckpointSink);
        result = nn_core::train_from(&config, &data, &mut observer, None, sink);
    }
    match result {
        Ok(trained) => {
            if options.keep_model
                && trained.report.stop_reason != Some(nn_core::StopReason::Observer)
            {
                send_model(trained.model.clone(), &data, &config, events);
            }
            let report = trained.report;
            let mut last: Vec<(String, f64)> =
                report.history.last().map(epoch_metrics).unwrap_or_default();
            if let Some(v) = report.test_accuracy {
                last.push(("test_accuracy".into(), v));
            }
            if let Some(v) = report.test_loss {
                last.push(("test_loss".into(), v));
            }
            // `[training] quantize = "int8"`: the int8 model's accuracy and both sizes.
            if let Some(int8) = &report.int8 {
                let accuracies = [
                    ("int8_val_accuracy", int8.int8_val_accuracy),
                    ("int8_test_accuracy", int8.int8_test_accuracy),
                ];
                last.extend(
                    accuracies
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.into(), v?))),
                );
                last.push(("model_bytes".into(), int8.model_bytes as f64));
                last.push(("int8_model_bytes".into(), int8.int8_model_bytes as f64));
            }
            // The architecture's cost, so a study can weigh it (`metric = "parameters"`).
            last.extend([
                ("parameters".to_string(), report.parameters as f64),
                ("flops".to_string(), report.flops as f64),
                ("inference_ms".to_string(), report.inference_ms),
            ]);
            Outcome::Finished(finite(last))
        }
        Err(err) => Outcome::Failed {
            error: err.to_string(),
            kind: FailureKind::User,
        },
    }
}

/// Where a training's checkpoints go: to the slot, each after an epoch whose turn came.
struct Checkpoints<'a> {
    pace: Arc<Pace>,
    /// The training's epochs: the last one's checkpoint would never be resumed from.
    epochs: usize,
    events: &'a Events,
}

impl CheckpointSink for Checkpoints<'_> {
    fn wants(&mut self, epoch: usize) -> bool {
        #[cfg(feature = "test-hooks")]
        if held_after(epoch) {
            return true;
        }
        epoch < self.epochs && self.pace.claim()
    }

    fn keep(&mut self, checkpoint: Checkpoint) {
        let _ = self.events.send(Event::Checkpoint {
            epoch: u32::try_from(checkpoint.epoch).unwrap_or(u32::MAX),
            bytes: checkpoint.encode(),
        });
        #[cfg(feature = "test-hooks")]
        if held_after(checkpoint.epoch) {
            tracing::warn!(
                epoch = checkpoint.epoch,
                "test hook: the training holds after this checkpoint"
            );
            loop {
                std::thread::park();
            }
        }
    }
}

/// The checkpoint testing hook ([`crate::HOLD_AFTER_CHECKPOINT_ENV`]): the training thread
/// stops for good once it has handed over the checkpoint after the named epoch, so that
/// checkpoint is the attempt's last (its slot sends it, heartbeats go on).
#[cfg(feature = "test-hooks")]
fn held_after(epoch: usize) -> bool {
    std::env::var(crate::HOLD_AFTER_CHECKPOINT_ENV)
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        == Some(epoch)
}

/// The checkpoint `resume` holds, if it decodes and is the one its assignment names; else
/// `None`, having told the slot why ([`Event::CheckpointRefused`]).
fn usable(resume: ResumeFrom, events: &Events) -> Option<Checkpoint> {
    let refusal = match Checkpoint::decode(&resume.bytes) {
        Ok(checkpoint) if checkpoint.epoch == resume.epoch as usize => return Some(checkpoint),
        Ok(checkpoint) => format!(
            "it holds {} epochs, the attempt was granted it as holding {}",
            checkpoint.epoch, resume.epoch
        ),
        Err(err) => format!("it does not decode: {err}"),
    };
    let _ = events.send(Event::CheckpointRefused(refusal));
    None
}

/// Sends the trained network, with its int8 scales calibrated as `quantize = "int8"` would,
/// for the coordinator to keep. A model that cannot be calibrated is not sent (the trial's
/// result does not depend on it).
fn send_model(model: nn_core::Model, data: &Dataset, config: &TrainConfig, events: &Events) {
    match KeptModel::calibrated(model, &data.train(), config.training().seed) {
        Ok(kept) => {
            let _ = events.send(Event::Model(kept.encode()));
        }
        Err(err) => tracing::warn!(%err, "the trained network cannot be kept"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hypersearch_proto::LeaseId;

    /// Starts training `base` with `overrides` (a JSON object) as trial 0's first attempt;
    /// the events it sends.
    fn started(
        base: &str,
        overrides: serde_json::Value,
    ) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
        let options = Options {
            keep_model: true,
            checkpoints: None,
            resume: None,
        };
        started_with(base, overrides, options)
    }

    /// [`started`], as `options` say.
    fn started_with(
        base: &str,
        overrides: serde_json::Value,
        options: Options,
    ) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
        let overrides = overrides.as_object().unwrap().clone();
        let assignment = Assignment {
            lease: LeaseId {
                trial: 0,
                attempt: 1,
                token: 1,
            },
            params: overrides.clone(),
            overrides,
            resume: None,
        };
        let (events, received) = tokio::sync::mpsc::unbounded_channel();
        start(
            base.into(),
            options,
            DatasetCache::default(),
            assignment,
            Arc::default(),
            events,
        );
        received
    }

    #[tokio::test]
    async fn trains_the_base_config_with_the_overrides_and_streams_epochs() {
        let base =
            "[data]\nsource = \"digits\"\n[network]\nhidden = [16]\n[training]\nepochs = 3\n";
        let overrides = serde_json::json!({"training.learning_rate": 0.01, "network.hidden": [24]});
        let mut received = started(base, overrides);
        let mut epochs = 0;
        let mut kept = None;
        loop {
            match received.recv().await.unwrap() {
                Event::Epoch { epoch, metrics } => {
                    epochs += 1;
                    assert_eq!(epoch, epochs);
                    assert!(metrics.contains_key("val_accuracy"));
                    // The architecture's cost comes with epoch 1 only.
                    let cost = (metrics.get("parameters"), metrics.get("flops"));
                    if epoch == 1 {
                        assert_eq!(
                            cost,
                            (
                                Some(&((64 * 24 + 24 + 24 * 10 + 10) as f64)),
                                Some(&((2 * 64 * 24 + 24 + 2 * 24 * 10 + 10) as f64))
                            )
                        );
                    } else {
                        assert_eq!(cost, (None, None));
                    }
                }
                Event::Model(bytes) => {
                    assert_eq!(epochs, 3, "the model comes after the last epoch");
                    kept = Some(KeptModel::decode(&bytes).unwrap());
                }
                Event::Checkpoint { .. } | Event::CheckpointRefused(_) => {
                    panic!("no checkpoints were asked for")
                }
                Event::Done(outcome) => {
                    let Outcome::Finished(last) = outcome else {
                        panic!("{outcome:?}");
                    };
                    assert!(last["val_accuracy"] > 0.5, "{last:?}");
                    // 64 inputs, [24] hidden, 10 classes.
                    assert_eq!(last["parameters"], (64 * 24 + 24 + 24 * 10 + 10) as f64);
                    assert_eq!(last["flops"], (2 * 64 * 24 + 24 + 2 * 24 * 10 + 10) as f64);
                    assert!(last["inference_ms"] > 0.0, "{last:?}");
                    let kept = kept.expect("the trained network, before the outcome");
                    assert_eq!(kept.model.parameter_count() as f64, last["parameters"]);
                    break;
                }
            }
        }
        assert_eq!(epochs, 3);
    }

    #[tokio::test]
    async fn a_quantized_study_reports_the_int8_accuracy_with_the_final_metrics() {
        let base = "[data]\nsource = \"digits\"\n[network]\nhidden = [32]\n\
                    [training]\nepochs = 3\nlearning_rate = 0.01\nquantize = \"int8\"\n";
        let mut received = started(base, serde_json::json!({}));
        loop {
            if let Event::Done(outcome) = received.recv().await.unwrap() {
                let Outcome::Finished(last) = outcome else {
                    panic!("{outcome:?}");
                };
                let (fp32, int8) = (last["val_accuracy"], last["int8_val_accuracy"]);
                assert!(int8 > 0.5 && (fp32 - int8).abs() < 0.02, "{last:?}");
                assert_eq!(
                    last["model_bytes"],
                    (4 * (64 * 32 + 32 + 32 * 10 + 10)) as f64
                );
                assert!(
                    last["int8_model_bytes"] * 3.0 < last["model_bytes"],
                    "{last:?}"
                );
                assert!(
                    !last.contains_key("int8_test_accuracy"),
                    "digits has no test split"
                );
                break;
            }
        }
    }

    #[tokio::test]
    async fn a_bad_override_fails_the_trial_as_a_user_error() {
        let base = "[data]\nsource = \"digits\"\n";
        let overrides = serde_json::json!({"training.no_such_key": 1});
        let mut received = started(base, overrides);
        let Some(Event::Done(Outcome::Failed { error, kind })) = received.recv().await else {
            panic!("expected a failure");
        };
        assert_eq!(kind, FailureKind::User);
        assert!(error.contains("no_such_key"), "{error}");
    }

    mod checkpoints;
}
