//! The trust region's side length, a function of the history.

/// TuRBO's trust-region side length replayed over the observations after the initial
/// design: start at 0.8, double (up to 1.6) after 3 successes in a row, halve after
/// `max(4, failure_limit)` failures in a row, back to 0.8 below `min_side`. A success
/// improves the best value by more than 1e-3 of its magnitude.
pub(super) fn trust_region_side(
    values: &[f64],
    design: usize,
    failure_limit: usize,
    min_side: f64,
) -> f64 {
    let split = design.min(values.len()).max(1);
    let mut best = values[..split]
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let (mut side, mut successes, mut failures) = (0.8f64, 0usize, 0usize);
    let failure_limit = failure_limit.max(4);
    for &v in &values[split..] {
        if v < best - 1e-3 * best.abs() {
            successes += 1;
            failures = 0;
        } else {
            failures += 1;
            successes = 0;
        }
        best = best.min(v);
        if successes >= 3 {
            side = (2.0 * side).min(1.6);
            successes = 0;
        }
        if failures >= failure_limit {
            side /= 2.0;
            failures = 0;
        }
        if side < min_side {
            side = 0.8;
        }
    }
    side
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_region_shrinks_on_failures_and_grows_on_successes() {
        let design = [5.0; 4];
        let failing: Vec<f64> = design
            .iter()
            .copied()
            .chain(std::iter::repeat_n(6.0, 8))
            .collect();
        assert_eq!(trust_region_side(&failing, 4, 2, 1.0 / 128.0), 0.2);
        let improving: Vec<f64> = design.iter().copied().chain([4.0, 3.0, 2.0]).collect();
        assert_eq!(trust_region_side(&improving, 4, 2, 1.0 / 128.0), 1.6);
        let collapsed: Vec<f64> = design
            .iter()
            .copied()
            .chain(std::iter::repeat_n(6.0, 28))
            .collect();
        assert_eq!(trust_region_side(&collapsed, 4, 2, 1.0 / 128.0), 0.8);
        // A lower floor keeps the collapsed region: seven halvings of 0.8.
        assert_eq!(
            trust_region_side(&collapsed, 4, 2, 1.0 / 1024.0),
            0.8 / 128.0
        );
    }
}
