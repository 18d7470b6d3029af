//! The column description of the mixed unit-cube encoding: what each coordinate of a point
//! means, and how to snap an arbitrary coordinate onto the values it may take.

use crate::Error;

/// One coordinate of the encoding. Every coordinate lives in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Any value in `[0, 1]` (a float parameter, linear or log, already mapped).
    Continuous,
    /// An ordered finite set of positions in `[0, 1]`, strictly increasing (an integer or
    /// stepped parameter: e.g. the cell centres of its ±step/2-widened range).
    Grid(Vec<f64>),
    /// One of `k` unordered choices. Choice `i` is encoded as `(i + 0.5) / k`; two points are
    /// at distance 1 in this column if their choices differ, else 0 (Hamming).
    Categorical(usize),
}

impl Column {
    /// The encoded position of choice `index` of a categorical column with `choices` choices.
    pub fn category_position(index: usize, choices: usize) -> f64 {
        (index as f64 + 0.5) / choices as f64
    }

    /// The choice a coordinate of a categorical column with `choices` choices stands for.
    pub fn category_index(u: f64, choices: usize) -> usize {
        ((u * choices as f64).floor().max(0.0) as usize).min(choices.saturating_sub(1))
    }

    /// The nearest value this column can take.
    pub fn snap(&self, u: f64) -> f64 {
        match self {
            Column::Continuous => u.clamp(0.0, 1.0),
            Column::Grid(values) => nearest(values, u),
            Column::Categorical(k) => Self::category_position(Self::category_index(u, *k), *k),
        }
    }

    fn check(&self, column: usize) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::InvalidColumn { column, reason });
        match self {
            Column::Continuous => Ok(()),
            Column::Categorical(0) => {
                invalid("a categorical column needs at least 1 choice".into())
            }
            Column::Categorical(_) => Ok(()),
            Column::Grid(values) => {
                if values.is_empty() {
                    return invalid("a grid column needs at least 1 value".into());
                }
                if let Some(v) = values.iter().find(|v| !(0.0..=1.0).contains(*v)) {
                    return invalid(format!("grid value {v} is not in [0, 1]"));
                }
                if let Some(w) = values.windows(2).find(|w| w[0] >= w[1]) {
                    return invalid(format!(
                        "grid values must increase strictly, but {} is followed by {}",
                        w[0], w[1]
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The nearest element of a strictly increasing non-empty slice.
fn nearest(values: &[f64], u: f64) -> f64 {
    let i = values.partition_point(|&v| v < u);
    if i == 0 {
        values[0]
    } else if i == values.len() {
        values[values.len() - 1]
    } else if u - values[i - 1] <= values[i] - u {
        values[i - 1]
    } else {
        values[i]
    }
}

/// A validated list of columns with the index sets the engine needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    columns: Vec<Column>,
    categorical: Vec<bool>,
    continuous: Vec<usize>,
    discrete: Vec<usize>,
}

impl Columns {
    /// Checks the columns: at least one; grids non-empty, inside `[0, 1]` and strictly
    /// increasing; categoricals with at least one choice.
    ///
    /// # Errors
    /// [`Error::NoColumns`] or [`Error::InvalidColumn`] naming the column.
    pub fn new(columns: Vec<Column>) -> Result<Self, Error> {
        if columns.is_empty() {
            return Err(Error::NoColumns);
        }
        for (j, c) in columns.iter().enumerate() {
            c.check(j)?;
        }
        let categorical = columns
            .iter()
            .map(|c| matches!(c, Column::Categorical(_)))
            .collect();
        let continuous = (0..columns.len())
            .filter(|&j| columns[j] == Column::Continuous)
            .collect();
        let discrete = (0..columns.len())
            .filter(|&j| columns[j] != Column::Continuous)
            .collect();
        Ok(Self {
            columns,
            categorical,
            continuous,
            discrete,
        })
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Always false: a `Columns` holds at least one column.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Column `j`.
    pub fn get(&self, j: usize) -> &Column {
        &self.columns[j]
    }

    /// Whether column `j` is categorical (compared by equality).
    pub fn is_categorical(&self, j: usize) -> bool {
        self.categorical[j]
    }

    /// The per-column categorical flags.
    pub fn categorical_mask(&self) -> &[bool] {
        &self.categorical
    }

    /// Whether any column is categorical.
    pub fn has_categorical(&self) -> bool {
        self.categorical.iter().any(|&c| c)
    }

    /// Indices of the continuous columns (optimised by gradient).
    pub fn continuous(&self) -> &[usize] {
        &self.continuous
    }

    /// Indices of the grid and categorical columns (optimised by search over their values).
    pub fn discrete(&self) -> &[usize] {
        &self.discrete
    }

    /// Snaps every coordinate of `point` onto its column's values.
    pub fn snap(&self, point: &mut [f64]) {
        for (u, c) in point.iter_mut().zip(&self.columns) {
            *u = c.snap(*u);
        }
    }

    /// The values a discrete column can take (`None` for a continuous one).
    pub fn values(&self, j: usize) -> Option<Vec<f64>> {
        match &self.columns[j] {
            Column::Continuous => None,
            Column::Grid(v) => Some(v.clone()),
            Column::Categorical(k) => {
                Some((0..*k).map(|i| Column::category_position(i, *k)).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapping_lands_on_allowed_values() {
        let grid = Column::Grid(vec![0.1, 0.5, 0.9]);
        assert_eq!(grid.snap(0.0), 0.1);
        assert_eq!(grid.snap(0.29), 0.1);
        assert_eq!(grid.snap(0.31), 0.5);
        assert_eq!(grid.snap(1.0), 0.9);
        let cat = Column::Categorical(4);
        assert_eq!(cat.snap(0.0), 0.125);
        assert_eq!(cat.snap(0.26), 0.375);
        assert_eq!(cat.snap(1.0), 0.875);
        assert_eq!(Column::Continuous.snap(1.5), 1.0);
    }

    #[test]
    fn invalid_columns_are_named() {
        assert_eq!(Columns::new(vec![]), Err(Error::NoColumns));
        let err = Columns::new(vec![Column::Continuous, Column::Grid(vec![0.5, 0.2])]);
        assert!(
            matches!(&err, Err(Error::InvalidColumn { column: 1, reason }) if reason.contains("0.5 is followed by 0.2")),
            "{err:?}"
        );
        let err = Columns::new(vec![Column::Categorical(0)]);
        assert!(matches!(err, Err(Error::InvalidColumn { column: 0, .. })));
        let err = Columns::new(vec![Column::Grid(vec![1.5])]);
        assert!(matches!(err, Err(Error::InvalidColumn { column: 0, .. })));
    }

    #[test]
    fn index_sets_split_continuous_from_discrete() {
        let cols = Columns::new(vec![
            Column::Categorical(3),
            Column::Continuous,
            Column::Grid(vec![0.0, 1.0]),
        ])
        .expect("valid");
        assert_eq!(cols.continuous(), &[1]);
        assert_eq!(cols.discrete(), &[0, 2]);
        assert_eq!(cols.categorical_mask(), &[true, false, false]);
    }
}
