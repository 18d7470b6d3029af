//! The training loop: mini-batches in a seeded order, forward, loss, backward, clipping and an
//! optimizer step over preallocated buffers; evaluation and the observer after every epoch.

mod checkpoint;
mod cost;
mod report;

use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub use checkpoint::{Checkpoint, CheckpointSink};
pub use cost::architecture_cost;
pub use report::{Control, EpochMetrics, Int8Report, Observer, StopReason, TrainReport};

use crate::augment::Augmenter;
use crate::config::{Quantize, TrainConfig};
use crate::data::{Dataset, Split};
use crate::error::Error;
use crate::linalg::{Threads, flat, flat_mut};
use crate::model::Model;
use crate::network::pass::{self, Mode, Workspace};
use crate::network::{Network, dropout::mix, loss};
use crate::optim::{OptimizerState, clip_global_norm};
use crate::quantize::{QuantizedModel, calibration_samples};

/// A finished training: its report and the trained network, ready for inference and export.
#[derive(Debug, Clone)]
pub struct Trained {
    /// What [`train`] returns.
    pub report: TrainReport,
    /// The network as trained (batch norm folded), f32.
    pub model: Model,
    /// Its int8 version, when `training.quantize` is `int8`.
    pub int8: Option<QuantizedModel>,
}

/// Trains the network `config` describes on `data`, calling `observer` after every epoch.
///
/// With `threads = 1` everything runs on the calling thread; with more, the matrix products
/// are split over a thread pool local to this call. The same config, seed and thread count
/// give a bit-identical history.
///
/// # Errors
/// [`Error::Setup`] when the network is too large or the thread pool cannot start;
/// [`Error::Diverged`] when the training loss stops being finite.
///
/// # Example
/// ```
/// use nn_core::{Control, Dataset, TrainConfig, train};
/// let config = TrainConfig::from_toml(
///     "[data]\nsource = \"digits\"\n[network]\nhidden = [32]\n[training]\nepochs = 2\n",
///     "example").unwrap();
/// let data = Dataset::load(config.data()).unwrap();
/// let report = train(&config, &data, &mut |m: &nn_core::EpochMetrics| {
///     println!("epoch {} val_accuracy {:?}", m.epoch, m.val_accuracy);
///     Control::Continue
/// }).unwrap();
/// assert_eq!(report.history.len(), 2);
/// ```
pub fn train<O: Observer + ?Sized>(
    config: &TrainConfig,
    data: &Dataset,
    observer: &mut O,
) -> Result<TrainReport, Error> {
    train_model(config, data, observer).map(|trained| trained.report)
}

/// Refuses, before any epoch, what [`train`] would refuse about `data` at its start
/// (augmentation of samples whose image shape is unknown), so that a caller can say so before
/// it prints anything.
///
/// # Errors
/// [`Error::Setup`] naming the key to set.
pub fn check_setup(config: &TrainConfig, data: &Dataset) -> Result<(), Error> {
    crate::augment::check(config.augment(), data)
}

/// [`train`], keeping the trained network: as an f32 [`Model`] and, when `training.quantize`
/// is `int8`, as a [`QuantizedModel`] calibrated on training samples (chosen by the seed),
/// whose accuracy the report gives next to f32's.
///
/// # Errors
/// As [`train`].
pub fn train_model<O: Observer + ?Sized>(
    config: &TrainConfig,
    data: &Dataset,
    observer: &mut O,
) -> Result<Trained, Error> {
    train_from(config, data, observer, None, None)
}

/// [`train_model`], going on from `resume` (a [`Checkpoint`] of the same config's training:
/// the observer sees the epochs after it, the report has the whole history) and, with
/// `checkpoints`, handing it a checkpoint after every epoch it wants. A resumed training ends bit for
/// bit as the uninterrupted one (the `seconds` metric aside: it is wall time).
///
/// # Errors
/// As [`train`]; [`Error::ModelFile`] when `resume` does not fit the config's network.
pub fn train_from<O: Observer + ?Sized>(
    config: &TrainConfig,
    data: &Dataset,
    observer: &mut O,
    resume: Option<&Checkpoint>,
    mut checkpoints: Option<&mut dyn CheckpointSink>,
) -> Result<Trained, Error> {
    let tc = config.training();
    let mut net = Network::new(config.network(), data.features(), data.classes(), tc.seed)?;
    let pool = match tc.threads {
        1 => None,
        n => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| Error::Setup(format!("cannot start {n} threads: {e}")))?,
        ),
    };
    let threads = pool.as_ref().map_or(Threads::One, Threads::Pool);
    let train_split = data.train();
    let batch = tc.batch_size.min(train_split.len()).max(1);
    let mut augmenter = Augmenter::new(config.augment(), tc.seed, data, batch)?;
    let mut ws = Workspace::new(&net, batch);
    let mut grads = net.params.zeros_like();
    let mut optimizer = OptimizerState::new(tc.optimizer, tc.momentum, tc.l2, &net.params);
    let mut order: Vec<u32> = (0..train_split.len() as u32).collect();
    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(mix(tc.seed, 0x5eed));
    let mut history = Vec::with_capacity(tc.epochs);
    let mut best_val = f64::INFINITY;
    let mut since_best = 0;
    let mut stop_reason = None;
    let mut step = 0u64;
    let mut first = 0;
    if let Some(resume) = resume {
        checkpoint::restore_values(
            &resume.values,
            resume.optimizer_step,
            &mut net,
            &mut optimizer,
        )?;
        if resume.order.len() != order.len() {
            return Err(crate::model::file::bad(format!(
                "checkpoint: {} training rows, the data set has {}",
                resume.order.len(),
                order.len()
            )));
        }
        order.clone_from(&resume.order);
        shuffle_rng.set_word_pos(resume.rng_word_pos);
        step = resume.step;
        best_val = resume.best_val;
        since_best = resume.since_best;
        history.clone_from(&resume.history);
        first = resume.epoch;
    }

    for epoch in first..tc.epochs {
        let started = Instant::now();
        let lr = tc
            .lr_schedule
            .learning_rate(tc.learning_rate, epoch, tc.epochs);
        order.shuffle(&mut shuffle_rng);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for chunk in order.chunks(batch) {
            let rows = match augmenter.as_mut() {
                None => gather(&train_split, chunk.iter().map(|&i| i as usize), &mut ws),
                Some(augmenter) => {
                    gather_augmented(&train_split, chunk, &mut ws, augmenter, epoch, threads)
                }
            };
            step += 1;
            let mode = Mode::Train {
                dropout_key: mix(tc.seed, step),
            };
            let (l, c) = pass::forward_loss(&mut net, &mut ws, rows, mode, threads);
            loss_sum += l;
            correct += c;
            pass::backward(&net, &mut ws, &mut grads, rows, threads);
            if let Some(max_norm) = tc.clip_norm {
                clip_global_norm(&mut grads, max_norm);
            }
            optimizer.step(&mut net.params, &grads, lr as f32);
        }
        let n = train_split.len() as f64;
        let train_loss = loss_sum / n;
        if !train_loss.is_finite() {
            return Err(Error::Diverged {
                epoch: epoch + 1,
                loss: train_loss,
            });
        }
        let val = (!data.validation().is_empty())
            .then(|| evaluate(&mut net, &mut ws, &data.validation(), threads));
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            train_loss,
            val_loss: val.map(|v| v.0),
            train_accuracy: correct as f64 / n,
            val_accuracy: val.map(|v| v.1),
            learning_rate: lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        let control = observer.on_epoch(&metrics);
        history.push(metrics);
        if let Some((val_loss, _)) = val {
            if val_loss < best_val {
                best_val = val_loss;
                since_best = 0;
            } else {
                since_best += 1;
            }
        }
        if let Some(sink) = checkpoints.as_mut()
            && sink.wants(epoch + 1)
        {
            let (values, optimizer_step) = checkpoint::values(&net, &optimizer);
            sink.keep(Checkpoint {
                epoch: epoch + 1,
                history: history.clone(),
                values,
                optimizer_step,
                order: order.clone(),
                rng_word_pos: shuffle_rng.get_word_pos(),
                step,
                best_val,
                since_best,
            });
        }
        if control == Control::Stop {
            stop_reason = Some(StopReason::Observer);
        } else if tc.patience.is_some_and(|p| since_best >= p) {
            stop_reason = Some(StopReason::Patience);
        }
        if stop_reason.is_some() && epoch + 1 < tc.epochs {
            break;
        }
        stop_reason = None;
    }
    let test = data
        .test()
        .map(|t| evaluate(&mut net, &mut ws, &t, threads));
    let model = Model::from_network(&net, data.standardization());
    let int8 = match tc.quantize {
        Quantize::None => None,
        Quantize::Int8 => Some(QuantizedModel::calibrate(
            &model,
            calibration_samples(&train_split, tc.seed).view(),
        )?),
    };
    let report = TrainReport {
        history,
        test_loss: test.map(|t| t.0),
        test_accuracy: test.map(|t| t.1),
        parameters: net.parameter_count(),
        flops: net.flops(),
        inference_ms: cost::inference_ms(&mut net, data),
        stopped_early: stop_reason.is_some(),
        stop_reason,
        int8: int8.as_ref().map(|q| int8_report(&model, q, data)),
    };
    Ok(Trained {
        report,
        model,
        int8,
    })
}

/// The int8 model's accuracy on the held-out splits and the two models' sizes.
fn int8_report(model: &Model, int8: &QuantizedModel, data: &Dataset) -> Int8Report {
    let validation = data.validation();
    Int8Report {
        int8_val_accuracy: (!validation.is_empty()).then(|| int8.accuracy(&validation)),
        int8_test_accuracy: data.test().map(|test| int8.accuracy(&test)),
        model_bytes: model.bytes(),
        int8_model_bytes: int8.bytes(),
    }
}

/// Copies the samples at `positions` of `split` into the workspace; returns how many.
fn gather(split: &Split<'_>, positions: impl Iterator<Item = usize>, ws: &mut Workspace) -> usize {
    let mut rows = 0;
    for (i, pos) in positions.enumerate() {
        let r = split.row(pos);
        // Whole contiguous rows: a plain memory copy.
        flat_mut(ws.input.row_mut(i)).copy_from_slice(flat(split.x.row(r)));
        ws.labels[i] = split.y[r];
        rows += 1;
    }
    rows
}

/// [`gather`] through the augmenter: each sample is transformed as `epoch` draws it for
/// its row of the data set, over `threads`.
fn gather_augmented(
    split: &Split<'_>,
    positions: &[u32],
    ws: &mut Workspace,
    augmenter: &mut Augmenter,
    epoch: usize,
    threads: Threads<'_>,
) -> usize {
    let rows = positions.len();
    for (label, &pos) in ws.labels.iter_mut().zip(positions) {
        *label = split.y[split.row(pos as usize)];
    }
    let input = flat_mut(ws.input.slice_mut(ndarray::s![..rows, ..]));
    augmenter.fill(split, positions, input, epoch, threads);
    rows
}

/// Mean loss and accuracy of the network on a split, in inference mode.
fn evaluate(
    net: &mut Network,
    ws: &mut Workspace,
    split: &Split<'_>,
    threads: Threads<'_>,
) -> (f64, f64) {
    let (mut loss_sum, mut correct) = (0.0, 0);
    let mut start = 0;
    while start < split.len() {
        let end = (start + ws.capacity()).min(split.len());
        let rows = gather(split, start..end, ws);
        pass::forward(net, ws, rows, Mode::Eval, threads);
        let (l, c) = loss::evaluate(ws.logits(rows), &ws.labels[..rows]);
        loss_sum += l;
        correct += c;
        start = end;
    }
    let n = split.len().max(1) as f64;
    (loss_sum / n, correct as f64 / n)
}

#[cfg(test)]
mod tests;
