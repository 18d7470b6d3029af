//! Thinning a long series to a bounded number of points without losing its shape.

/// The indices (increasing) of at most about `limit` points of `values` (in series order)
/// that keep both the series' envelope and its density: half the budget goes to the
/// smallest and the largest value of each of `limit / 4` consecutive strata (min-max
/// decimation: no outlier is lost), half to every k-th point (a systematic sample: where the
/// points are dense stays dense). `keep` indices are added whatever their stratum (the best
/// trials, the change points of a best-so-far line). All of them when there are no more than
/// `limit`. Deterministic: no randomness.
pub fn envelope(values: &[f64], limit: usize, keep: &[usize]) -> Vec<usize> {
    let mut chosen: Vec<usize> = if values.len() <= limit.max(2) {
        (0..values.len()).collect()
    } else {
        let strata = (limit / 4).max(1);
        let every = values.len().div_ceil((limit / 2).max(1));
        let mut chosen: Vec<usize> = (0..values.len()).step_by(every).collect();
        for stratum in 0..strata {
            let from = stratum * values.len() / strata;
            let to = (stratum + 1) * values.len() / strata;
            if let Some((low, high)) = extremes(values, from..to) {
                chosen.push(low);
                chosen.push(high);
            }
        }
        chosen
    };
    chosen.extend(keep.iter().copied().filter(|&at| at < values.len()));
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// The indices of the smallest and the largest finite value in `range` (NaN skipped); `None`
/// when it has no finite value.
fn extremes(values: &[f64], range: std::ops::Range<usize>) -> Option<(usize, usize)> {
    let mut found: Option<(usize, usize)> = None;
    for at in range {
        let value = values[at];
        if !value.is_finite() {
            continue;
        }
        found = Some(match found {
            None => (at, at),
            Some((low, high)) => (
                if value < values[low] { at } else { low },
                if value > values[high] { at } else { high },
            ),
        });
    }
    found
}

/// The `q` quantile (0 to 1) of `values` by linear interpolation between order statistics
/// (NumPy's default); reorders `values`. `None` when empty.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let position = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let (_, &mut low, above) = values.select_nth_unstable_by(below, f64::total_cmp);
    let fraction = position - below as f64;
    if fraction == 0.0 || above.is_empty() {
        return Some(low);
    }
    let high = above.iter().copied().fold(f64::INFINITY, f64::min);
    Some(low + fraction * (high - low))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_series_is_kept_whole() {
        assert_eq!(envelope(&[3.0, 1.0, 2.0], 10, &[]), vec![0, 1, 2]);
    }

    #[test]
    fn a_long_series_keeps_each_strata_extremes_and_the_points_asked_for() {
        let values: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1000) as f64).collect();
        let chosen = envelope(&values, 100, &[5]);
        assert!(chosen.len() <= 101, "{}", chosen.len());
        assert!(chosen.contains(&5));
        let lowest = values.iter().position(|&v| v == 0.0).unwrap();
        let highest = values.iter().position(|&v| v == 999.0).unwrap();
        assert!(chosen.contains(&lowest) && chosen.contains(&highest));
        assert!(chosen.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let mut values = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut values, 0.5), Some(2.5));
        assert_eq!(quantile(&mut values, 0.0), Some(1.0));
        assert_eq!(quantile(&mut values, 1.0), Some(4.0));
        assert!((quantile(&mut values, 0.1).unwrap() - 1.3).abs() < 1e-12);
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
