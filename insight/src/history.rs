//! The optimization history: every complete trial's value by trial number (thinned past a
//! few thousand) and the best-so-far line as its change points.

use serde::Serialize;

use crate::sample;
use crate::trials::StudyTrials;

/// Trials drawn at most in a history scatter (the line is exact whatever the study's size).
pub const HISTORY_POINTS: usize = 4000;

/// The optimization history of a study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// The metric.
    pub metric: String,
    /// Whether higher is better.
    pub maximize: bool,
    /// Trial numbers of the points drawn (complete trials, a thinned sample past
    /// [`HISTORY_POINTS`] that keeps every change point of the best-so-far line).
    pub numbers: Vec<u64>,
    /// Their values.
    pub values: Vec<f64>,
    /// The best-so-far line: `(trial number, best value)` at each trial that improved it.
    pub best: Vec<(u64, f64)>,
    /// Complete trials with a value (the points drawn are `numbers.len()` of them).
    pub complete: usize,
    /// Whether the values span two decades or more, all positive: draw them on a log axis.
    pub log_scale: bool,
}

/// The history of `trials`' complete trials.
pub fn history(trials: &StudyTrials) -> History {
    let mut numbers = Vec::new();
    let mut values = Vec::new();
    let mut best: Vec<(u64, f64)> = Vec::new();
    let mut change_points = Vec::new();
    for row in trials.complete() {
        let Some(value) = row.value else { continue };
        if best
            .last()
            .is_none_or(|&(_, so_far)| trials.better(value, so_far))
        {
            best.push((row.number, value));
            change_points.push(numbers.len());
        }
        numbers.push(row.number);
        values.push(value);
    }
    let complete = numbers.len();
    let log_scale = spans_decades(&values);
    let chosen = sample::envelope(&values, HISTORY_POINTS, &change_points);
    History {
        metric: trials.metric.clone(),
        maximize: trials.maximize,
        numbers: chosen.iter().map(|&at| numbers[at]).collect(),
        values: chosen.iter().map(|&at| values[at]).collect(),
        best,
        complete,
        log_scale,
    }
}

/// Whether every value is positive and the largest is at least 100 times the smallest.
pub fn spans_decades(values: &[f64]) -> bool {
    let (low, high) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &v| {
            (low.min(v), high.max(v))
        });
    low > 0.0 && high.is_finite() && high / low >= 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trials::tests::study;

    #[test]
    fn the_best_line_changes_only_where_a_trial_beats_every_earlier_one() {
        let trials = study(false, &[5.0, 7.0, 3.0, 4.0, 1.0, 2.0]);
        let drawn = history(&trials);
        assert_eq!(drawn.best, vec![(0, 5.0), (2, 3.0), (4, 1.0)]);
        assert_eq!(drawn.values.len(), 6);
        assert!(!drawn.log_scale);
        let trials = study(true, &[5.0, 7.0, 3.0, 8.0]);
        assert_eq!(history(&trials).best, vec![(0, 5.0), (1, 7.0), (3, 8.0)]);
    }

    #[test]
    fn a_large_study_is_thinned_but_keeps_its_best_line() {
        let values: Vec<f64> = (0..100_000)
            .map(|i| 1.0 + ((i * 7919) % 100_003) as f64 / (1.0 + i as f64))
            .collect();
        let trials = study(false, &values);
        let drawn = history(&trials);
        assert_eq!(drawn.complete, 100_000);
        assert!(drawn.numbers.len() <= HISTORY_POINTS + drawn.best.len());
        for (number, value) in &drawn.best {
            let at = drawn.numbers.iter().position(|n| n == number).unwrap();
            assert_eq!(drawn.values[at], *value);
        }
    }

    #[test]
    fn values_spanning_decades_ask_for_a_log_axis() {
        assert!(spans_decades(&[0.001, 0.5, 3.0]));
        assert!(!spans_decades(&[-1.0, 500.0]));
        assert!(!spans_decades(&[1.0, 50.0]));
    }
}
