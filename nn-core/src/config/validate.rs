//! Raw config → [`TrainConfig`]: defaults filled in, every value range-checked, every error
//! naming its key and line (or the override it came from).

use std::path::Path;

use toml::Spanned;

use super::keys::{self, ACTIVATIONS, INITS, OPTIMIZERS};
use super::raw::{RawAugment, RawData, RawDropout, RawFile, RawNetwork, RawSchedule, RawTraining};
use super::{
    Activation, Augmentation, DataConfig, DataSource, Init, NetworkConfig, Optimizer, Overrides,
    Quantize, Schedule, TrainConfig, TrainingConfig,
};
use crate::error::Error;

/// The widest hidden layer accepted: wider layers are typos (10^9 units would need terabytes).
pub(crate) const MAX_UNITS: usize = 65_536;
/// The most weights accepted between hidden layers (400 MB of f32).
pub(crate) const MAX_WEIGHTS: usize = 100_000_000;
/// The deepest network accepted.
const MAX_LAYERS: usize = 64;
/// The largest image side `data.image_shape` accepts.
const MAX_IMAGE_SIDE: i64 = 65_536;
/// The largest `data.augment.shift`, in pixels.
pub(crate) const MAX_SHIFT: f64 = 64.0;
/// The largest `data.augment.rotate`, in degrees.
pub(crate) const MAX_ROTATE: f64 = 180.0;

/// Parses `text`, applies `overrides`, validates. See `TrainConfig::from_toml_with_overrides`.
pub(crate) fn parse(
    text: &str,
    origin: &str,
    overrides: &Overrides,
    base_dir: Option<&Path>,
) -> Result<TrainConfig, Error> {
    let mut raw: RawFile = toml::from_str(text).map_err(|e| Error::ConfigSyntax {
        origin: origin.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    for (key, value) in overrides {
        keys::apply_override(&mut raw, key, value, origin)?;
    }
    let checker = Checker { text, origin };
    let Some(data) = raw.data else {
        return Err(Error::ConfigSyntax {
            origin: origin.to_string(),
            message: "missing table [data] (source = \"idx\" | \"csv\" | \"digits\")".to_string(),
        });
    };
    let mut data = data.into_inner();
    let augment = checker.augment(data.augment.take())?;
    let data = checker.data(data, base_dir)?;
    let network = checker.network(raw.network)?;
    let patience_span = raw.training.patience.clone();
    let training = checker.training(raw.training)?;
    if let (Some(p), true) = (patience_span, data.validation_fraction == 0.0) {
        return Err(checker.invalid(
            "training.patience",
            &p,
            "patience watches the validation loss, but data.validation_fraction is 0",
        ));
    }
    Ok(TrainConfig {
        data,
        augment,
        network,
        training,
    })
}

struct Checker<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Checker<'_> {
    fn invalid<T: serde::Serialize>(&self, key: &str, value: &Spanned<T>, problem: &str) -> Error {
        let span = value.span();
        let location = if span.is_empty() && span.start == 0 {
            " (override)".to_string()
        } else {
            let line = self.text[..span.start.min(self.text.len())]
                .matches('\n')
                .count()
                + 1;
            format!(":{line}")
        };
        Error::InvalidValue {
            origin: self.origin.to_string(),
            location,
            key: key.to_string(),
            value: serde_json::to_string(value.get_ref()).unwrap_or_else(|_| "?".to_string()),
            problem: problem.to_string(),
        }
    }

    fn choice<T: Copy>(
        &self,
        key: &str,
        value: Option<Spanned<String>>,
        names: &[&str],
        values: &[T],
        default: T,
    ) -> Result<T, Error> {
        let Some(value) = value else {
            return Ok(default);
        };
        match names.iter().position(|n| *n == value.get_ref().as_str()) {
            Some(i) => Ok(values[i]),
            None => Err(self.invalid(
                key,
                &value,
                &format!("expected one of {}", names.join(", ")),
            )),
        }
    }

    fn float(
        &self,
        key: &str,
        value: Option<Spanned<f64>>,
        default: f64,
        ok: impl Fn(f64) -> bool,
        range: &str,
    ) -> Result<f64, Error> {
        match value {
            None => Ok(default),
            Some(v) if v.get_ref().is_finite() && ok(*v.get_ref()) => Ok(*v.get_ref()),
            Some(v) => Err(self.invalid(key, &v, &format!("must be {range}"))),
        }
    }

    fn int(
        &self,
        key: &str,
        value: &Option<Spanned<i64>>,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, Error> {
        match value {
            None => Ok(None),
            Some(v) if range.contains(v.get_ref()) => Ok(Some(*v.get_ref())),
            Some(v) => Err(self.invalid(
                key,
                v,
                &format!("must be between {} and {}", range.start(), range.end()),
            )),
        }
    }

    fn data(&self, raw: RawData, base_dir: Option<&Path>) -> Result<DataConfig, Error> {
        let path = |kind: &str| -> Result<std::path::PathBuf, Error> {
            let Some(path) = &raw.path else {
                return Err(self.invalid(
                    "data.source",
                    &raw.source,
                    &format!("source \"{kind}\" needs `data.path`"),
                ));
            };
            let p = Path::new(path.get_ref());
            Ok(match base_dir {
                Some(dir) if p.is_relative() => dir.join(p),
                _ => p.to_path_buf(),
            })
        };
        let source = match raw.source.get_ref().as_str() {
            "idx" => DataSource::Idx(path("idx")?),
            "csv" => DataSource::Csv(path("csv")?),
            "digits" => DataSource::Digits,
            _ => {
                return Err(self.invalid(
                    "data.source",
                    &raw.source,
                    "expected one of idx, csv, digits",
                ));
            }
        };
        let validation_fraction = self.float(
            "data.validation_fraction",
            raw.validation_fraction,
            0.2,
            |f| (0.0..=0.9).contains(&f),
            "between 0 and 0.9",
        )?;
        let split_seed = self.int("data.split_seed", &raw.split_seed, 0..=i64::MAX)?;
        let image_shape = match &raw.image_shape {
            None => None,
            Some(shape) => match shape.get_ref()[..] {
                [h, w]
                    if (1..=MAX_IMAGE_SIDE).contains(&h) && (1..=MAX_IMAGE_SIDE).contains(&w) =>
                {
                    Some((h as usize, w as usize))
                }
                _ => {
                    return Err(self.invalid(
                        "data.image_shape",
                        shape,
                        &format!("expected [height, width], each 1 to {MAX_IMAGE_SIDE} pixels"),
                    ));
                }
            },
        };
        Ok(DataConfig {
            source,
            validation_fraction,
            split_seed: split_seed.unwrap_or(0) as u64,
            image_shape,
        })
    }

    /// `[data] augment`: both parts optional, each off (0) by default.
    fn augment(&self, raw: Option<Spanned<RawAugment>>) -> Result<Augmentation, Error> {
        let Some(raw) = raw else {
            return Ok(Augmentation::default());
        };
        let raw = raw.into_inner();
        let shift = self.float(
            "data.augment.shift",
            raw.shift,
            0.0,
            |v| (0.0..=MAX_SHIFT).contains(&v),
            &format!("between 0 and {MAX_SHIFT} pixels"),
        )?;
        let rotate = self.float(
            "data.augment.rotate",
            raw.rotate,
            0.0,
            |v| (0.0..=MAX_ROTATE).contains(&v),
            &format!("between 0 and {MAX_ROTATE} degrees"),
        )?;
        Ok(Augmentation { shift, rotate })
    }

    fn network(&self, raw: RawNetwork) -> Result<NetworkConfig, Error> {
        let hidden = match &raw.hidden {
            None => vec![256, 128],
            Some(h) => {
                if h.get_ref().len() > MAX_LAYERS {
                    return Err(self.invalid(
                        "network.hidden",
                        h,
                        &format!("at most {MAX_LAYERS} hidden layers"),
                    ));
                }
                let mut units = Vec::new();
                for &u in h.get_ref() {
                    if !(1..=MAX_UNITS as i64).contains(&u) {
                        return Err(self.invalid(
                            "network.hidden",
                            h,
                            &format!("{u} units: each layer needs 1 to {MAX_UNITS} units"),
                        ));
                    }
                    units.push(u as usize);
                }
                let between: usize = units.windows(2).map(|w| w[0] * w[1]).sum();
                if between > MAX_WEIGHTS {
                    return Err(self.invalid(
                        "network.hidden",
                        h,
                        &format!("{between} weights between hidden layers: at most {MAX_WEIGHTS}"),
                    ));
                }
                units
            }
        };
        use Activation::*;
        let activation = self.choice(
            "network.activation",
            raw.activation,
            ACTIVATIONS,
            &[Relu, LeakyRelu, Elu, Sigmoid, Tanh, Swish, Gelu],
            Relu,
        )?;
        let init = self.choice(
            "network.init",
            raw.init,
            INITS,
            &[Init::He, Init::Xavier, Init::SmallRandom, Init::Zeros],
            Init::He,
        )?;
        let dropout = match &raw.dropout {
            None => vec![0.0; hidden.len()],
            Some(d) => {
                let list = match d.get_ref() {
                    RawDropout::One(p) => vec![*p; hidden.len()],
                    RawDropout::PerLayer(ps) if ps.len() == hidden.len() => ps.clone(),
                    RawDropout::PerLayer(ps) => {
                        return Err(self.invalid(
                            "network.dropout",
                            d,
                            &format!(
                                "{} values for {} hidden layers: give one number or one per layer",
                                ps.len(),
                                hidden.len()
                            ),
                        ));
                    }
                };
                if let Some(p) = list.iter().find(|p| !(0.0..1.0).contains(*p)) {
                    return Err(self.invalid(
                        "network.dropout",
                        d,
                        &format!("{p}: a dropout probability must be at least 0 and below 1"),
                    ));
                }
                list.into_iter().map(|p| p as f32).collect()
            }
        };
        Ok(NetworkConfig {
            hidden,
            activation,
            batch_norm: raw.batch_norm.map(|b| b.into_inner()).unwrap_or(false),
            dropout,
            residual: raw.residual.map(|b| b.into_inner()).unwrap_or(false),
            init,
        })
    }

    fn training(&self, raw: RawTraining) -> Result<TrainingConfig, Error> {
        use Optimizer::*;
        let optimizer = self.choice(
            "training.optimizer",
            raw.optimizer,
            OPTIMIZERS,
            &[Sgd, Momentum, Adam, AdamW],
            Adam,
        )?;
        let learning_rate = self.float(
            "training.learning_rate",
            raw.learning_rate,
            0.001,
            |v| v > 0.0 && v <= 10.0,
            "above 0 and at most 10",
        )?;
        let momentum = self.float(
            "training.momentum",
            raw.momentum,
            0.9,
            |v| (0.0..1.0).contains(&v),
            "at least 0 and below 1",
        )?;
        let l2 = self.float(
            "training.l2",
            raw.l2,
            0.0,
            |v| (0.0..=1.0).contains(&v),
            "between 0 and 1",
        )?;
        let clip_norm = match raw.clip_norm {
            None => None,
            Some(c) => {
                Some(self.float("training.clip_norm", Some(c), 0.0, |v| v > 0.0, "above 0")?)
            }
        };
        let batch_size = self.int("training.batch_size", &raw.batch_size, 1..=65_536)?;
        let epochs = self.int("training.epochs", &raw.epochs, 1..=100_000)?;
        let patience = self.int("training.patience", &raw.patience, 1..=100_000)?;
        let seed = self.int("training.seed", &raw.seed, 0..=i64::MAX)?;
        let threads = self.int("training.threads", &raw.threads, 1..=1024)?;
        let epochs = epochs.unwrap_or(10) as usize;
        let quantize = self.choice(
            "training.quantize",
            raw.quantize,
            &["none", "int8"],
            &[Quantize::None, Quantize::Int8],
            Quantize::None,
        )?;
        let lr_schedule = match raw.lr_schedule {
            None => Schedule::Constant,
            Some(s) => self.schedule(s)?,
        };
        Ok(TrainingConfig {
            optimizer,
            learning_rate,
            momentum,
            batch_size: batch_size.unwrap_or(128) as usize,
            epochs,
            l2,
            lr_schedule,
            clip_norm,
            patience: patience.map(|p| p as usize),
            seed: seed.unwrap_or(1) as u64,
            threads: threads.unwrap_or(1) as usize,
            quantize,
        })
    }

    fn schedule(&self, s: Spanned<RawSchedule>) -> Result<Schedule, Error> {
        let key = "training.lr_schedule";
        Ok(match *s.get_ref() {
            RawSchedule::None => Schedule::Constant,
            RawSchedule::Cosine(true) => Schedule::Cosine,
            RawSchedule::Cosine(false) => Schedule::Constant,
            RawSchedule::Exponential(r) if r.is_finite() && r > 0.0 && r <= 1.0 => {
                Schedule::Exponential(r)
            }
            RawSchedule::Exponential(_) => {
                return Err(self.invalid(
                    key,
                    &s,
                    "the exponential rate must be above 0 and at most 1",
                ));
            }
            RawSchedule::Step(every, factor)
                if every >= 1 && factor.is_finite() && factor > 0.0 && factor <= 1.0 =>
            {
                Schedule::Step {
                    every: every as usize,
                    factor,
                }
            }
            RawSchedule::Step(..) => {
                return Err(self.invalid(
                    key,
                    &s,
                    "step = [every, factor] needs every ≥ 1 epoch and 0 < factor ≤ 1",
                ));
            }
        })
    }
}
