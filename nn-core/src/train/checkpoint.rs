//! A running training as bytes, after an epoch: enough to go on from there and end bit for
//! bit as the uninterrupted run with the same seed would (the weights, batch norm's running
//! statistics, the optimizer's moments and step count, the shuffle generator's position and
//! the order it shuffles, the dropout step, early stopping's state, the history). The
//! network's shapes come from the config, so a checkpoint resumes only the training of the
//! config it came from (a checkpoint of another shape is refused by its value count).
//!
//! Format (little-endian): magic `HSCKPT\0\0`, version, epochs done, optimizer step,
//! generator position (u128), dropout step, best validation loss, epochs since it, the
//! history (each epoch's seven numbers, a flag before each optional one), the shuffle order,
//! the f32 values (weights, running statistics, moments, in the network's order), CRC-32.

use crate::error::Error;
use crate::model::file::{Reader, bad};
use crate::network::Network;
use crate::optim::OptimizerState;
use crate::train::EpochMetrics;

/// The first bytes of a checkpoint.
const MAGIC: &[u8; 8] = b"HSCKPT\0\0";
/// The format version written and read.
const VERSION: u32 = 1;

/// A training's state after `epoch` epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Epochs finished.
    pub epoch: usize,
    /// Their metrics.
    pub history: Vec<EpochMetrics>,
    pub(crate) values: Vec<f32>,
    pub(crate) optimizer_step: i32,
    pub(crate) order: Vec<u32>,
    pub(crate) rng_word_pos: u128,
    pub(crate) step: u64,
    pub(crate) best_val: f64,
    pub(crate) since_best: usize,
}

/// Where a training's checkpoints go ([`crate::train_from`]). Taking one copies the network
/// and the optimizer's state, so the training asks first whether one is wanted after an
/// epoch; a closure `FnMut(Checkpoint)` wants every one.
pub trait CheckpointSink {
    /// Whether a checkpoint after `epoch` epochs is wanted.
    fn wants(&mut self, epoch: usize) -> bool {
        let _ = epoch;
        true
    }

    /// Takes the checkpoint after `checkpoint.epoch` epochs.
    fn keep(&mut self, checkpoint: Checkpoint);
}

impl<F: FnMut(Checkpoint)> CheckpointSink for F {
    fn keep(&mut self, checkpoint: Checkpoint) {
        self(checkpoint);
    }
}

/// The f32 state of a network and its optimizer, in one fixed order.
pub(crate) fn values(net: &Network, optimizer: &OptimizerState) -> (Vec<f32>, i32) {
    let mut out = Vec::new();
    for (_, t) in net.params.tensors() {
        out.extend_from_slice(t);
    }
    for running in net.hidden.iter().filter_map(|l| l.running.as_ref()) {
        out.extend(running.mean.iter().chain(running.var.iter()));
    }
    let (moments, step) = optimizer.state();
    for t in moments {
        out.extend_from_slice(t);
    }
    (out, step)
}

/// Overwrites the network's and optimizer's state with `values`.
pub(crate) fn restore_values(
    values: &[f32],
    optimizer_step: i32,
    net: &mut Network,
    optimizer: &mut OptimizerState,
) -> Result<(), Error> {
    let mut rest = values;
    let mut fill = |dst: &mut [f32]| -> Result<(), Error> {
        if rest.len() < dst.len() {
            return Err(bad("checkpoint: fewer values than the network has"));
        }
        let (head, tail) = rest.split_at(dst.len());
        dst.copy_from_slice(head);
        rest = tail;
        Ok(())
    };
    for (_, t) in net.params.tensors_mut() {
        fill(t)?;
    }
    for running in net.hidden.iter_mut().filter_map(|l| l.running.as_mut()) {
        for a in [&mut running.mean, &mut running.var] {
            for v in a.iter_mut() {
                let mut one = [0.0f32];
                fill(&mut one)?;
                *v = one[0];
            }
        }
    }
    let (moments, step) = optimizer.state_mut();
    for t in moments {
        fill(t)?;
    }
    *step = optimizer_step;
    if !rest.is_empty() {
        return Err(bad(format!(
            "checkpoint: {} values more than the network has (another config's?)",
            rest.len()
        )));
    }
    Ok(())
}

fn put_opt(out: &mut Vec<u8>, v: Option<f64>) {
    out.push(u8::from(v.is_some()));
    out.extend_from_slice(&v.unwrap_or(0.0).to_bits().to_le_bytes());
}

fn get_opt(r: &mut Reader<'_>, what: &str) -> Result<Option<f64>, Error> {
    let flag = r.u8(what)?;
    let v = r.f64(what)?;
    Ok((flag != 0).then_some(v))
}

impl Checkpoint {
    /// The checkpoint as bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + 4 * self.values.len() + 4 * self.order.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.epoch as u64).to_le_bytes());
        out.extend_from_slice(&self.optimizer_step.to_le_bytes());
        out.extend_from_slice(&self.rng_word_pos.to_le_bytes());
        out.extend_from_slice(&self.step.to_le_bytes());
        out.extend_from_slice(&self.best_val.to_bits().to_le_bytes());
        out.extend_from_slice(&(self.since_best as u64).to_le_bytes());
        out.extend_from_slice(&(self.history.len() as u32).to_le_bytes());
        for m in &self.history {
            out.extend_from_slice(&(m.epoch as u64).to_le_bytes());
            out.extend_from_slice(&m.train_loss.to_bits().to_le_bytes());
            put_opt(&mut out, m.val_loss);
            out.extend_from_slice(&m.train_accuracy.to_bits().to_le_bytes());
            put_opt(&mut out, m.val_accuracy);
            out.extend_from_slice(&m.learning_rate.to_bits().to_le_bytes());
            out.extend_from_slice(&m.seconds.to_bits().to_le_bytes());
        }
        out.extend_from_slice(&(self.order.len() as u32).to_le_bytes());
        for o in &self.order {
            out.extend_from_slice(&o.to_le_bytes());
        }
        out.extend_from_slice(&(self.values.len() as u64).to_le_bytes());
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// A checkpoint from its bytes.
    ///
    /// # Errors
    /// [`Error::ModelFile`] naming what is wrong: not a checkpoint, another version, the
    /// checksum does not match (damaged or truncated), counts past the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not a checkpoint (its first bytes are not HSCKPT)"));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        let mut r = Reader {
            bytes: &body[MAGIC.len()..],
        };
        let version = r.u32("version")?;
        if version != VERSION {
            return Err(bad(format!(
                "checkpoint format version {version}; this hypersearch reads version {VERSION}"
            )));
        }
        if crc32fast::hash(body) != stored {
            return Err(bad(format!(
                "the checkpoint's checksum does not match ({} bytes): damaged or truncated",
                bytes.len()
            )));
        }
        let epoch = r.u64("epoch")? as usize;
        let optimizer_step = r.u32("optimizer step")? as i32;
        let rng_word_pos = r.u128("generator position")?;
        let step = r.u64("dropout step")?;
        let best_val = r.f64("best validation loss")?;
        let since_best = r.u64("epochs since the best")? as usize;
        let epochs = r.u32("history length")? as usize;
        let mut history = Vec::with_capacity(epochs.min(r.bytes.len() / 40));
        for _ in 0..epochs {
            history.push(EpochMetrics {
                epoch: r.u64("history")? as usize,
                train_loss: r.f64("history")?,
                val_loss: get_opt(&mut r, "history")?,
                train_accuracy: r.f64("history")?,
                val_accuracy: get_opt(&mut r, "history")?,
                learning_rate: r.f64("history")?,
                seconds: r.f64("history")?,
            });
        }
        let count = r.u32("order length")? as usize;
        let raw = r.take(count.saturating_mul(4), "order")?;
        let order = raw
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let count = usize::try_from(r.u64("value count")?).ok();
        let values = r.f32s(count, "values")?;
        if !r.bytes.is_empty() {
            return Err(bad("checkpoint: bytes after the values"));
        }
        Ok(Self {
            epoch,
            history,
            values,
            optimizer_step,
            order,
            rng_word_pos,
            step,
            best_val,
            since_best,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Control, Dataset, TrainConfig, train_from, train_model};

    /// Batch norm, dropout, Adam, augmentation and a schedule: every piece of state.
    fn config(epochs: usize) -> TrainConfig {
        let text = format!(
            "[data]\nsource = \"digits\"\naugment = {{ shift = 1, rotate = 5 }}\n\
             [network]\nhidden = [32, 32]\nbatch_norm = true\ndropout = 0.1\n\
             [training]\nepochs = {epochs}\nseed = 9\nbatch_size = 64\n\
             lr_schedule = {{ cosine = true }}\n"
        );
        TrainConfig::from_toml(&text, "test").unwrap()
    }

    fn without_seconds(history: &[EpochMetrics]) -> Vec<EpochMetrics> {
        history
            .iter()
            .map(|m| EpochMetrics {
                seconds: 0.0,
                ..m.clone()
            })
            .collect()
    }

    #[test]
    fn three_epochs_a_checkpoint_and_three_more_end_bit_for_bit_as_six() {
        let six = config(6);
        let data = Dataset::load(six.data()).unwrap();
        let whole = train_model(&six, &data, &mut |_: &EpochMetrics| Control::Continue).unwrap();

        // Epochs 1 to 3 of the same six-epoch training, keeping the checkpoint after the third.
        let mut kept = Vec::new();
        let mut stop_after_three = |m: &EpochMetrics| {
            if m.epoch == 3 {
                Control::Stop
            } else {
                Control::Continue
            }
        };
        let mut keep = |c: Checkpoint| kept.push(c.encode());
        let _first = train_from(&six, &data, &mut stop_after_three, None, Some(&mut keep)).unwrap();
        let resume = Checkpoint::decode(&kept[2]).unwrap();
        assert_eq!(resume.epoch, 3);

        let mut seen = Vec::new();
        let mut observe = |m: &EpochMetrics| {
            seen.push(m.epoch);
            Control::Continue
        };
        let resumed = train_from(&six, &data, &mut observe, Some(&resume), None).unwrap();
        assert_eq!(
            seen,
            vec![4, 5, 6],
            "the observer sees the epochs after the checkpoint"
        );
        assert_eq!(resumed.model, whole.model, "the weights, to the bit");
        assert_eq!(
            without_seconds(&resumed.report.history),
            without_seconds(&whole.report.history)
        );
        assert_eq!(
            resumed.report.test_accuracy.map(f64::to_bits),
            whole.report.test_accuracy.map(f64::to_bits)
        );
    }

    #[test]
    fn a_damaged_truncated_or_foreign_checkpoint_is_refused() {
        let two = config(2);
        let data = Dataset::load(two.data()).unwrap();
        let mut kept = Vec::new();
        let mut keep = |c: Checkpoint| kept.push(c.encode());
        train_from(
            &two,
            &data,
            &mut |_: &EpochMetrics| Control::Continue,
            None,
            Some(&mut keep),
        )
        .unwrap();
        let bytes = kept.remove(0);
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 4;
        let err = Checkpoint::decode(&flipped).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(Checkpoint::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // Another network's checkpoint does not resume this one.
        let other = TrainConfig::from_toml(
            "[data]\nsource = \"digits\"\n[network]\nhidden = [8]\n[training]\nepochs = 2\n",
            "other",
        )
        .unwrap();
        let resume = Checkpoint::decode(&bytes).unwrap();
        let err = train_from(
            &other,
            &data,
            &mut |_: &EpochMetrics| Control::Continue,
            Some(&resume),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("checkpoint"), "{err}");
    }
}
