//! Splitting the history into TPE's "good" (below) and "bad" (above) trials, as Optuna does.

use crate::order::Total;
#[cfg(test)]
use crate::params::Params;
#[cfg(test)]
use crate::trial::TrialState;
use crate::trial::{Direction, TrialRecord};

/// How a pruned trial ranks: deeper first, then better at its last epoch (NaN last).
pub(super) type PrunedKey = (i64, Total);

/// γ(n) = min(⌈0.1·n⌉, 25): how many finished trials go below.
pub(super) fn gamma(n: usize) -> usize {
    n.div_ceil(10).min(25)
}

/// Whether a trial informs the model: completed with a number, pruned, or running under
/// the constant liar.
#[cfg(test)]
pub(super) fn usable(t: &TrialRecord, constant_liar: bool) -> bool {
    match t.state {
        TrialState::Complete => t.complete_value().is_some(),
        TrialState::Pruned => true,
        TrialState::Running => constant_liar,
        TrialState::Failed => false,
    }
}

/// Whether the trial is still running.
#[cfg(test)]
pub(super) fn is_running(t: &TrialRecord) -> bool {
    t.state == TrialState::Running
}

/// Sort key of a pruned trial: deeper first, then better at its last epoch (NaN last).
pub(super) fn pruned_key(t: &TrialRecord, direction: Direction) -> PrunedKey {
    match t.intermediate.last() {
        Some(&(epoch, v)) if v.is_nan() => (-i64::from(epoch), Total(f64::INFINITY)),
        Some(&(epoch, v)) => (-i64::from(epoch), Total(direction.as_loss(v))),
        None => (1, Total(0.0)),
    }
}

/// A usable trial with its canonical params.
#[cfg(test)]
pub(super) type Entry<'a> = (&'a TrialRecord, &'a Params);

/// (below, above), each in trial-number order. Below: the best γ(n) completed trials, topped
/// up with pruned ones by depth; running trials always above. The reference the
/// incremental split of `book` is checked against.
#[cfg(test)]
pub(super) fn split<'a>(
    trials: &[Entry<'a>],
    direction: Direction,
) -> (Vec<Entry<'a>>, Vec<Entry<'a>>) {
    let n = trials.iter().filter(|(t, _)| !is_running(t)).count();
    let n_below = gamma(n);
    let mut complete: Vec<Entry<'a>> = trials
        .iter()
        .filter(|(t, _)| t.state == TrialState::Complete)
        .copied()
        .collect();
    let mut pruned: Vec<Entry<'a>> = trials
        .iter()
        .filter(|(t, _)| t.state == TrialState::Pruned)
        .copied()
        .collect();
    complete.sort_by(|a, b| {
        let key = |e: &Entry<'_>| direction.as_loss(e.0.value.unwrap_or(f64::NAN));
        key(a).total_cmp(&key(b))
    });
    pruned.sort_by_key(|e| pruned_key(e.0, direction));
    let from_complete = n_below.min(complete.len());
    let from_pruned = (n_below - from_complete).min(pruned.len());
    let mut below: Vec<Entry<'a>> = complete[..from_complete]
        .iter()
        .chain(&pruned[..from_pruned])
        .copied()
        .collect();
    let mut above: Vec<Entry<'a>> = complete[from_complete..]
        .iter()
        .chain(&pruned[from_pruned..])
        .copied()
        .chain(trials.iter().filter(|(t, _)| is_running(t)).copied())
        .collect();
    below.sort_by_key(|e| e.0.number);
    above.sort_by_key(|e| e.0.number);
    (below, above)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        number: u64,
        state: TrialState,
        value: Option<f64>,
        curve: &[(u32, f64)],
    ) -> TrialRecord {
        TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number,
            params: Params::new(),
            state,
            value,
            intermediate: curve.to_vec(),
        }
    }

    fn entries<'a>(records: &'a [TrialRecord], params: &'a Params) -> Vec<Entry<'a>> {
        records.iter().map(|r| (r, params)).collect()
    }

    #[test]
    fn gamma_matches_optuna() {
        assert_eq!(
            [gamma(1), gamma(10), gamma(11), gamma(250), gamma(1000)],
            [1, 1, 2, 25, 25]
        );
    }

    #[test]
    fn best_complete_go_below_then_deepest_pruned_and_running_above() {
        let empty = Params::new();
        let records = vec![
            record(0, TrialState::Complete, Some(0.5), &[]),
            record(1, TrialState::Pruned, None, &[(1, 0.1), (2, 0.2)]),
            record(2, TrialState::Running, None, &[]),
            record(3, TrialState::Pruned, None, &[(1, 0.05)]),
        ];
        let trials = entries(&records, &empty);
        for _ in 0..2 {
            let (below, above) = split(&trials, Direction::Minimize);
            // n = 3 finished → γ = 1: the complete trial.
            assert_eq!(
                below.iter().map(|e| e.0.number).collect::<Vec<_>>(),
                vec![0]
            );
            assert_eq!(
                above.iter().map(|e| e.0.number).collect::<Vec<_>>(),
                vec![1, 2, 3]
            );
        }
        let only_pruned = vec![trials[1], trials[3]];
        let (below, _) = split(&only_pruned, Direction::Minimize);
        // The deeper pruned trial wins, though its value is worse.
        assert_eq!(below[0].0.number, 1);
    }

    #[test]
    fn maximize_takes_the_largest() {
        let empty = Params::new();
        let records: Vec<TrialRecord> = (0..20)
            .map(|i| record(i, TrialState::Complete, Some(i as f64), &[]))
            .collect();
        let trials = entries(&records, &empty);
        let (below, above) = split(&trials, Direction::Maximize);
        assert_eq!(
            below.iter().map(|e| e.0.number).collect::<Vec<_>>(),
            vec![18, 19]
        );
        assert_eq!(above.len(), 18);
    }
}
