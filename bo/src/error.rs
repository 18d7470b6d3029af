//! The crate's error type.

/// Everything that can be wrong with the input of the Bayesian-optimization engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The column list is empty.
    #[error("the encoding has no columns")]
    NoColumns,
    /// A column description is unusable.
    #[error("column {column}: {reason}")]
    InvalidColumn {
        /// Index of the column.
        column: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A flat point buffer is not a whole number of rows.
    #[error("{what} hold {len} numbers, which is not a multiple of the {dims} columns")]
    Shape {
        /// Which buffer (observed points or pending points).
        what: &'static str,
        /// Its length.
        len: usize,
        /// Number of columns.
        dims: usize,
    },
    /// Observed points and values differ in number.
    #[error("{points} observed points but {values} observed values")]
    ValueCount {
        /// Number of observed points.
        points: usize,
        /// Number of observed values.
        values: usize,
    },
    /// Fewer than two objectives, or objective values not one per objective and observed
    /// point.
    #[error(
        "{values} objective values for {points} observed points and {objectives} objectives: \
         at least two objectives, each with one value per point, are needed"
    )]
    ObjectiveCount {
        /// Number of observed points.
        points: usize,
        /// Number of objectives.
        objectives: usize,
        /// Number of objective values given.
        values: usize,
    },
    /// Constraint margins are not one per constraint and observed point.
    #[error(
        "{margins} constraint margins for {points} observed points and {constraints} constraints"
    )]
    MarginCount {
        /// Number of observed points.
        points: usize,
        /// Number of constraints.
        constraints: usize,
        /// Number of margins given.
        margins: usize,
    },
    /// A coordinate is outside the unit interval or not a number.
    #[error("{what} row {row}, column {column}: coordinate {value} is not in [0, 1]")]
    OutsideCube {
        /// Which buffer (observed points or pending points).
        what: &'static str,
        /// Row index.
        row: usize,
        /// Column index.
        column: usize,
        /// The offending coordinate.
        value: f64,
    },
    /// Zero suggestions were asked for.
    #[error("asked for 0 suggestions")]
    ZeroCount,
}
