//! The crate's errors: [`ConfigError`] for a study file, [`SearchError`] for everything after.

use std::fmt;

/// A study file that cannot be used, with where the problem is.
///
/// `Display` gives one line: ``origin:line: `key`: what is wrong`` (no line when unknown).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    /// The file (or other origin) the text came from, as given to the parser.
    pub origin: String,
    /// The 1-based line of the offending key or value (0 when the problem has no single line).
    pub line: usize,
    /// The dotted key the problem is about, e.g. `search.space."training.learning_rate"`.
    pub key: String,
    /// What is wrong, carrying the offending value.
    pub kind: Box<ConfigErrorKind>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// What is wrong with a study file; each variant carries the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// TOML syntax, an unknown key or a value of the wrong type (the TOML parser's message).
    #[error("{0}")]
    Syntax(String),
    /// A required key is absent.
    #[error("missing; {0}")]
    Missing(String),
    /// A number is NaN or infinite.
    #[error("{value} is not a finite number")]
    NotFinite {
        /// The value found.
        value: f64,
    },
    /// A range whose low end is not below its high end.
    #[error("low {low} must be below high {high}")]
    EmptyRange {
        /// The low end.
        low: String,
        /// The high end.
        high: String,
    },
    /// A log-scaled range that includes zero or negative numbers.
    #[error("a log scale needs a positive low bound, got {low}")]
    NonPositiveLog {
        /// The low end.
        low: String,
    },
    /// A `choice` list with nothing in it.
    #[error("the choice list is empty")]
    EmptyChoice,
    /// A `choice` list holding the same value twice.
    #[error("the choice list holds {value} twice")]
    DuplicateChoice {
        /// The repeated value.
        value: String,
    },
    /// A value outside the range the key allows.
    #[error("{value} is out of range: {range}")]
    OutOfRange {
        /// The value found.
        value: String,
        /// The allowed range, in words.
        range: String,
    },
    /// A value of an acceptable type that makes no sense here.
    #[error("{value} is not allowed: {reason}")]
    Invalid {
        /// The value found.
        value: String,
        /// Why it is not allowed.
        reason: String,
    },
    /// A grid whose product of values is too large to enumerate.
    #[error("the grid has {size} points, more than the {cap} a grid search may enumerate")]
    GridTooLarge {
        /// The number of grid points (saturated at `u128::MAX`).
        size: u128,
        /// The cap.
        cap: u128,
    },
    /// A `[search.space]` key that is not a training-config key the search may set.
    #[error("not a training-config key the search can set; {hint}")]
    UnknownTrainingKey {
        /// Which keys are allowed, or what to use instead.
        hint: String,
    },
    /// The same setting chosen in two places.
    #[error("set twice: also by `{other}`")]
    Conflict {
        /// The other key that sets it.
        other: String,
    },
}

/// An error from the space, a sampler or a pruner after the config was accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// A point (from the history or an enqueued trial) does not fit the search space.
    #[error("parameter `{name}`: {problem}")]
    InvalidParams {
        /// The parameter name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The configured algorithm is not available in this build.
    #[error("the `{algorithm}` sampler is not available: {reason}")]
    Unavailable {
        /// The algorithm name.
        algorithm: String,
        /// Why.
        reason: String,
    },
    /// A sampler's internal model failed (e.g. a numerical failure in the GP).
    #[error("the `{sampler}` sampler failed: {reason}")]
    SamplerFailed {
        /// The sampler name.
        sampler: String,
        /// Why.
        reason: String,
    },
}

/// Helper to show a value in an error message.
pub(crate) fn shown(value: impl fmt::Display) -> String {
    value.to_string()
}
