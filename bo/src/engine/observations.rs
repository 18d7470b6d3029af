//! The observations a model is fitted on: non-finite values dropped or clipped, and past
//! [`GLOBAL_POINTS`] a subset of them.

use super::GLOBAL_POINTS;

/// The observations the global model is fitted on: all of them up to [`GLOBAL_POINTS`];
/// past that the best quarter, and the rest spread evenly over the history (in order), so
/// a suggestion costs the same at 10,000 observations as at 1,000.
pub(super) fn global_subset(rows: &[Vec<f64>], values: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = values.len();
    if n <= GLOBAL_POINTS {
        return (rows.to_vec(), values.to_vec());
    }
    let mut by_value: Vec<usize> = (0..n).collect();
    by_value.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    let best = GLOBAL_POINTS / 4;
    let mut taken = vec![false; n];
    by_value[..best].iter().for_each(|&i| taken[i] = true);
    let rest: Vec<usize> = (0..n).filter(|&i| !taken[i]).collect();
    let spread = GLOBAL_POINTS - best;
    for k in 0..spread {
        taken[rest[k * rest.len() / spread]] = true;
    }
    let chosen: Vec<usize> = (0..n).filter(|&i| taken[i]).collect();
    (
        chosen.iter().map(|&i| rows[i].clone()).collect(),
        chosen.iter().map(|&i| values[i]).collect(),
    )
}

/// The smallest and the largest of `values` (`(+inf, -inf)` when there are none).
pub(super) fn min_max(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// The rows and values a model can use, and the index of each among the rows given.
pub(super) struct Usable {
    /// The rows kept.
    pub rows: Vec<Vec<f64>>,
    /// Their values.
    pub values: Vec<f64>,
    /// Their indices among the rows given.
    pub kept: Vec<usize>,
}

/// Rows and values with NaN values dropped and ±inf clipped to the finite range (all
/// non-finite values dropped if none is finite).
pub(super) fn usable(rows: &[Vec<f64>], values: &[f64]) -> Usable {
    let (lo, hi) = min_max(values.iter().copied().filter(|v| v.is_finite()));
    let mut out = Usable {
        rows: Vec::new(),
        values: Vec::new(),
        kept: Vec::new(),
    };
    for (i, (row, &v)) in rows.iter().zip(values).enumerate() {
        let v = if v == f64::INFINITY {
            hi
        } else if v == f64::NEG_INFINITY {
            lo
        } else {
            v
        };
        if v.is_finite() {
            out.rows.push(row.clone());
            out.values.push(v);
            out.kept.push(i);
        }
    }
    out
}
