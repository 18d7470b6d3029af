//! The one error type of the crate: every variant carries the offending value and where it
//! came from (file, key, line), so a caller can print it as it is.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, loading data or training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config text is not valid TOML or does not have the expected shape (unknown key,
    /// wrong type); `message` is the parser's, with line and column.
    #[error("{origin}: {message}")]
    ConfigSyntax {
        /// The file (or other origin) of the text.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A config value parsed but is out of range or not one of the allowed choices.
    #[error("{origin}{location}: `{key}` = {value}: {problem}")]
    InvalidValue {
        /// The file (or other origin) of the text.
        origin: String,
        /// `:LINE` when the value came from the file, ` (override)` when from an override.
        location: String,
        /// The dotted key, e.g. `network.activation`.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it and what is allowed.
        problem: String,
    },
    /// An override names a key that is not a training key, or carries a value of the wrong
    /// type.
    #[error("{origin}: override `{key}`: {problem}")]
    Override {
        /// The file (or other origin) of the base config.
        origin: String,
        /// The dotted key of the override.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A data file was read but its content is not what its format requires.
    #[error("{path}: {problem}")]
    Data {
        /// The file (or `built-in digits`).
        path: PathBuf,
        /// What is wrong, with the offending value (magic number, count, line, column).
        problem: String,
    },
    /// The training diverged: the loss stopped being a finite number.
    #[error("training diverged at epoch {epoch}: loss is {loss}")]
    Diverged {
        /// The epoch (1-based) where the loss became non-finite.
        epoch: usize,
        /// The loss value (NaN or infinite).
        loss: f64,
    },
    /// The network does not fit the data set (e.g. more classes in the data than the
    /// network can output), or a thread pool could not be started.
    #[error("{0}")]
    Setup(String),
    /// A kept model's or a checkpoint's bytes ([`crate::model::file`],
    /// [`crate::Checkpoint`]) are not what this version reads: truncated, damaged (the
    /// checksum does not match), of another format version, or of another network.
    #[error("{0}")]
    ModelFile(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
