//! A trained network as bytes, as a worker sends it to the coordinator to keep and
//! `hypersearch model` reads it back: the f32 [`Model`] (batch norm folded, standardization
//! kept) and the int8 activation scales calibrated on training samples, so that the int8
//! model can be rebuilt exactly without the data set ([`KeptModel::int8`]).
//!
//! The format (little-endian, version [`VERSION`]):
//!
//! | bytes | what |
//! |---|---|
//! | 8 | [`MAGIC`] |
//! | 4 | format version |
//! | 1 | activation (0 relu, 1 leaky_relu, 2 elu, 3 sigmoid, 4 tanh, 5 swish, 6 gelu) |
//! | 4 | features |
//! | 4 | layers, the output layer included |
//! | per layer | outputs (4), inputs (4), residual (1), weights (4 · outputs · inputs, row `c` for output `c`), bias (4 · outputs) |
//! | 8 · features | standardization: means, then scales |
//! | 4 + 4 · n | int8 input scales: their count, then one per layer |
//! | 4 | CRC-32 of every byte before it |
//!
//! Decoding checks every length against the bytes left before allocating, the checksum, and
//! the shapes (through [`Model::new`]): damaged or hostile bytes give an
//! [`Error::ModelFile`], never a panic.

use ndarray::{Array1, Array2};

use crate::config::Activation;
use crate::data::{Split, Standardization};
use crate::error::Error;
use crate::model::{DenseLayer, Model};
use crate::quantize::{QuantizedModel, calibration_samples};

/// The first bytes of a kept model.
pub const MAGIC: &[u8; 8] = b"HSMODEL\0";
/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;
/// Most layers a kept model may have (far above any network the config allows).
const MAX_LAYERS: u32 = 1024;

/// A trained network as kept: the f32 model and the int8 activation scales calibrated for
/// it (one per layer: the scale of that layer's input).
#[derive(Debug, Clone, PartialEq)]
pub struct KeptModel {
    /// The f32 inference model.
    pub model: Model,
    /// The int8 input scale of each layer (hidden layers, then the output layer), as
    /// [`QuantizedModel::input_scales`] calibrates them.
    pub int8_scales: Vec<f32>,
}

fn activation_code(activation: Activation) -> u8 {
    match activation {
        Activation::Relu => 0,
        Activation::LeakyRelu => 1,
        Activation::Elu => 2,
        Activation::Sigmoid => 3,
        Activation::Tanh => 4,
        Activation::Swish => 5,
        Activation::Gelu => 6,
    }
}

fn activation_of(code: u8) -> Result<Activation, Error> {
    Ok(match code {
        0 => Activation::Relu,
        1 => Activation::LeakyRelu,
        2 => Activation::Elu,
        3 => Activation::Sigmoid,
        4 => Activation::Tanh,
        5 => Activation::Swish,
        6 => Activation::Gelu,
        other => return Err(bad(format!("unknown activation code {other}"))),
    })
}

pub(crate) fn bad(problem: impl Into<String>) -> Error {
    Error::ModelFile(problem.into())
}

impl KeptModel {
    /// `model` with its int8 scales calibrated on training samples of `train` drawn with
    /// `seed`: the same samples, so the same scales, as `[training] quantize = "int8"`.
    ///
    /// # Errors
    /// [`Error::Setup`] when `train` has no samples or not the model's features.
    pub fn calibrated(model: Model, train: &Split<'_>, seed: u64) -> Result<Self, Error> {
        let int8_scales =
            QuantizedModel::input_scales(&model, calibration_samples(train, seed).view())?;
        Ok(Self { model, int8_scales })
    }

    /// The int8 model: the f32 model quantized at the kept scales.
    ///
    /// # Errors
    /// [`Error::Setup`] when the scales do not fit the model (count, or a scale that is not
    /// a positive finite number).
    pub fn int8(&self) -> Result<QuantizedModel, Error> {
        QuantizedModel::with_input_scales(&self.model, &self.int8_scales)
    }

    /// The kept model as bytes (see the module's table).
    pub fn encode(&self) -> Vec<u8> {
        let m = &self.model;
        let mut out = Vec::with_capacity(64 + 4 * (m.parameter_count() + 2 * m.features()));
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, VERSION);
        out.push(activation_code(m.activation()));
        put_u32(&mut out, m.features() as u32);
        put_u32(&mut out, m.layers().count() as u32);
        for layer in m.layers() {
            put_u32(&mut out, layer.outputs() as u32);
            put_u32(&mut out, layer.inputs() as u32);
            out.push(u8::from(layer.residual));
            put_f32s(&mut out, layer.weights.iter());
            put_f32s(&mut out, layer.bias.iter());
        }
        put_f32s(&mut out, m.standardization().mean.iter());
        put_f32s(&mut out, m.standardization().scale.iter());
        put_u32(&mut out, self.int8_scales.len() as u32);
        put_f32s(&mut out, self.int8_scales.iter());
        let crc = crc32fast::hash(&out);
        put_u32(&mut out, crc);
        out
    }

    /// A kept model from its bytes.
    ///
    /// # Errors
    /// [`Error::ModelFile`] naming what is wrong: not a kept model, another version, the
    /// checksum does not match, truncated, or shapes that do not chain.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not a kept model (its first bytes are not HSMODEL)"));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        let mut reader = Reader {
            bytes: &body[MAGIC.len()..],
        };
        let version = reader.u32("version")?;
        if version != VERSION {
            return Err(bad(format!(
                "format version {version}; this hypersearch reads version {VERSION}"
            )));
        }
        if crc32fast::hash(body) != stored {
            return Err(bad(format!(
                "the checksum does not match ({} bytes): the bytes are damaged",
                bytes.len()
            )));
        }
        let activation = activation_of(reader.u8("activation")?)?;
        let features = reader.u32("features")? as usize;
        let count = reader.u32("layer count")?;
        if count == 0 || count > MAX_LAYERS {
            return Err(bad(format!("{count} layers (1 to {MAX_LAYERS} allowed)")));
        }
        let mut layers = Vec::with_capacity(count as usize);
        for l in 1..=count {
            let outputs = reader.u32("layer outputs")? as usize;
            let inputs = reader.u32("layer inputs")? as usize;
            let residual = match reader.u8("residual flag")? {
                0 => false,
                1 => true,
                other => return Err(bad(format!("layer {l}: residual flag {other}"))),
            };
            let weights = reader.f32s(outputs.checked_mul(inputs), "weights")?;
            let weights = Array2::from_shape_vec((outputs, inputs), weights)
                .map_err(|e| bad(format!("layer {l}: {e}")))?;
            let bias = Array1::from(reader.f32s(Some(outputs), "biases")?);
            layers.push(DenseLayer {
                weights,
                bias,
                residual,
            });
        }
        let mean = Array1::from(reader.f32s(Some(features), "standardization means")?);
        let scale = Array1::from(reader.f32s(Some(features), "standardization scales")?);
        let scales = reader.u32("scale count")? as usize;
        let int8_scales = reader.f32s(Some(scales), "int8 scales")?;
        if !reader.bytes.is_empty() {
            return Err(bad(format!(
                "{} bytes after the int8 scales",
                reader.bytes.len()
            )));
        }
        let output = layers.pop().ok_or_else(|| bad("no output layer"))?;
        let model = Model::new(Standardization { mean, scale }, layers, output, activation)
            .map_err(|e| bad(e.to_string()))?;
        if int8_scales.len() != model.layers().count() {
            return Err(bad(format!(
                "{} int8 scales for {} layers",
                int8_scales.len(),
                model.layers().count()
            )));
        }
        Ok(Self { model, int8_scales })
    }
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_f32s<'a>(out: &mut Vec<u8>, values: impl Iterator<Item = &'a f32>) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// The bytes not read yet; every read checks there are enough (also the checkpoint's).
pub(crate) struct Reader<'a> {
    pub bytes: &'a [u8],
}

impl Reader<'_> {
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, Error> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn u128(&mut self, what: &str) -> Result<u128, Error> {
        let b = self.take(16, what)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(u128::from_le_bytes(a))
    }

    pub(crate) fn f64(&mut self, what: &str) -> Result<f64, Error> {
        Ok(f64::from_bits(self.u64(what)?))
    }

    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&[u8], Error> {
        if self.bytes.len() < n {
            return Err(bad(format!(
                "truncated: {what} need {n} bytes, {} are left",
                self.bytes.len()
            )));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `count` f32 values (`None`: a count that overflowed), checked against the bytes left
    /// before anything is allocated.
    pub(crate) fn f32s(&mut self, count: Option<usize>, what: &str) -> Result<Vec<f32>, Error> {
        let bytes = count
            .and_then(|c| c.checked_mul(4))
            .ok_or_else(|| bad(format!("{what}: a count past any memory")))?;
        let raw = self.take(bytes, what)?;
        Ok(raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Control, Dataset, EpochMetrics, TrainConfig, train_model};

    fn trained(quantize: bool) -> (crate::Trained, Dataset, TrainConfig) {
        let q = if quantize {
            "quantize = \"int8\"\n"
        } else {
            ""
        };
        let text = format!(
            "[data]\nsource = \"digits\"\n[network]\nhidden = [24, 24]\nbatch_norm = true\n\
             residual = true\n[training]\nepochs = 2\nseed = 5\n{q}"
        );
        let config = TrainConfig::from_toml(&text, "test").unwrap();
        let data = Dataset::load(config.data()).unwrap();
        let trained =
            train_model(&config, &data, &mut |_: &EpochMetrics| Control::Continue).unwrap();
        (trained, data, config)
    }

    #[test]
    fn a_kept_model_reads_back_equal_and_rebuilds_the_same_int8_model() {
        let (trained, data, config) = trained(true);
        let kept =
            KeptModel::calibrated(trained.model.clone(), &data.train(), config.training().seed)
                .unwrap();
        let back = KeptModel::decode(&kept.encode()).unwrap();
        assert_eq!(back, kept);
        assert_eq!(back.model, trained.model);
        // The int8 model from the kept scales is the one training calibrated itself.
        assert_eq!(Some(back.int8().unwrap()), trained.int8);
    }

    #[test]
    fn damaged_truncated_or_foreign_bytes_are_refused_with_the_reason() {
        let (trained, data, _) = trained(false);
        let bytes = KeptModel::calibrated(trained.model, &data.train(), 0)
            .unwrap()
            .encode();
        let message = |b: &[u8]| KeptModel::decode(b).unwrap_err().to_string();
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert!(
            message(&flipped).contains("checksum"),
            "{}",
            message(&flipped)
        );
        for cut in [0, 7, 12, 13, 50, bytes.len() - 1] {
            assert!(KeptModel::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(message(b"PK\x03\x04 not a model at all").contains("not a kept model"));
        let mut newer = bytes.clone();
        newer[8] = 9;
        assert!(message(&newer).contains("version 9"), "{}", message(&newer));
    }

    #[test]
    fn huge_declared_sizes_fail_before_allocating() {
        // A valid header claiming a 2^32-squared layer, with a checksum that matches.
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.push(0);
        for v in [64u32, 1, u32::MAX, u32::MAX] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.push(0);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        let err = KeptModel::decode(&bytes).unwrap_err().to_string();
        assert!(err.contains("weights"), "{err}");
    }
}
