//! The training-config keys (`examples/digits.toml` shows them) a study may search, with the values each accepts.
//! `tests/training_keys.rs` checks this list against nn-core's own: same keys, matching kinds, every bound accepted.

/// What values a training key accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrainingKeyKind {
    /// A float in `[min, max]` (`max` excluded when `max_exclusive`).
    Float {
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
        /// Whether `max` itself is excluded.
        max_exclusive: bool,
    },
    /// An integer in `[min, max]`.
    Int {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// `true` or `false`.
    Bool,
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// Set through `[search.architecture]`, not `[search.space]` (e.g. `network.hidden`).
    Architecture,
    /// A table value (e.g. `training.lr_schedule`): fixed in the base config, not searched.
    Table,
}

/// A training-config key and what it accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingKey {
    /// The dotted key, e.g. `training.learning_rate`.
    pub key: &'static str,
    /// The values it accepts.
    pub kind: TrainingKeyKind,
}

/// Most hidden layers an architecture may have.
pub const MAX_LAYERS: i64 = 64;
/// Most units a hidden layer may have.
pub const MAX_UNITS: i64 = 16_384;
/// Most weights between hidden layers (Σ units_k · units_k+1), as nn-core allows.
pub const MAX_WEIGHTS_BETWEEN_HIDDEN: i64 = 100_000_000;
/// Most epochs a trial may train.
pub const MAX_EPOCHS: i64 = 10_000;
/// Largest mini-batch.
pub const MAX_BATCH_SIZE: i64 = 65_536;

/// Activations nn-core implements.
pub const ACTIVATIONS: &[&str] = &[
    "relu",
    "leaky_relu",
    "elu",
    "sigmoid",
    "tanh",
    "swish",
    "gelu",
];

const fn float(min: f64, max: f64, max_exclusive: bool) -> TrainingKeyKind {
    TrainingKeyKind::Float {
        min,
        max,
        max_exclusive,
    }
}

/// Every `network.*` and `training.*` key of a training config, and the augmentation keys of
/// `[data]`.
pub const TRAINING_KEYS: &[TrainingKey] = &[
    TrainingKey {
        key: "data.augment.shift",
        kind: float(0.0, 64.0, false),
    },
    TrainingKey {
        key: "data.augment.rotate",
        kind: float(0.0, 180.0, false),
    },
    TrainingKey {
        key: "network.hidden",
        kind: TrainingKeyKind::Architecture,
    },
    TrainingKey {
        key: "network.activation",
        kind: TrainingKeyKind::Choice(ACTIVATIONS),
    },
    TrainingKey {
        key: "network.batch_norm",
        kind: TrainingKeyKind::Bool,
    },
    TrainingKey {
        key: "network.dropout",
        kind: float(0.0, 1.0, true),
    },
    TrainingKey {
        key: "network.residual",
        kind: TrainingKeyKind::Bool,
    },
    TrainingKey {
        key: "network.init",
        kind: TrainingKeyKind::Choice(&["he", "xavier", "small_random", "zeros"]),
    },
    TrainingKey {
        key: "training.optimizer",
        kind: TrainingKeyKind::Choice(&["sgd", "momentum", "adam", "adamw"]),
    },
    TrainingKey {
        key: "training.learning_rate",
        kind: float(f64::MIN_POSITIVE, 10.0, false),
    },
    TrainingKey {
        key: "training.momentum",
        kind: float(0.0, 1.0, true),
    },
    TrainingKey {
        key: "training.batch_size",
        kind: TrainingKeyKind::Int {
            min: 1,
            max: MAX_BATCH_SIZE,
        },
    },
    TrainingKey {
        key: "training.epochs",
        kind: TrainingKeyKind::Int {
            min: 1,
            max: MAX_EPOCHS,
        },
    },
    TrainingKey {
        key: "training.l2",
        kind: float(0.0, 1.0, false),
    },
    TrainingKey {
        key: "training.lr_schedule",
        kind: TrainingKeyKind::Table,
    },
    TrainingKey {
        key: "training.clip_norm",
        kind: float(f64::MIN_POSITIVE, 1.0e6, false),
    },
    TrainingKey {
        key: "training.patience",
        kind: TrainingKeyKind::Int {
            min: 1,
            max: MAX_EPOCHS,
        },
    },
    TrainingKey {
        key: "training.seed",
        kind: TrainingKeyKind::Int {
            min: 0,
            max: u32::MAX as i64,
        },
    },
    TrainingKey {
        key: "training.threads",
        kind: TrainingKeyKind::Int { min: 1, max: 1024 },
    },
];

/// The entry for `key`, if it is a training key.
pub fn training_key(key: &str) -> Option<&'static TrainingKey> {
    TRAINING_KEYS.iter().find(|k| k.key == key)
}

impl TrainingKeyKind {
    /// The allowed range in words, for error messages.
    pub fn describe(&self) -> String {
        match self {
            TrainingKeyKind::Float {
                min,
                max,
                max_exclusive,
            } => {
                let close = if *max_exclusive { ")" } else { "]" };
                if *min == f64::MIN_POSITIVE {
                    format!("a float in (0, {max}{close}")
                } else {
                    format!("a float in [{min}, {max}{close}")
                }
            }
            TrainingKeyKind::Int { min, max } => format!("an integer in [{min}, {max}]"),
            TrainingKeyKind::Bool => "true or false".to_string(),
            TrainingKeyKind::Choice(c) => format!("one of {}", c.join(", ")),
            TrainingKeyKind::Architecture => "set through [search.architecture]".to_string(),
            TrainingKeyKind::Table => "a table, fixed in the base config".to_string(),
        }
    }

    /// Whether the float `v` is allowed.
    pub fn allows_float(&self, v: f64) -> bool {
        match *self {
            TrainingKeyKind::Float {
                min,
                max,
                max_exclusive,
            } => v >= min && (v < max || (!max_exclusive && v == max)),
            TrainingKeyKind::Int { min, max } => {
                v.fract() == 0.0 && v >= min as f64 && v <= max as f64
            }
            _ => false,
        }
    }
}
