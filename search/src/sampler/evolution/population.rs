//! The population of aging evolution: the newest completed trials, and the tournament that
//! picks a parent among them.
//!
//! Who belongs: completed trials with a value. Failed trials have no value and pruned ones
//! only an early-epoch value that is not comparable with final ones (and a pruned trial was
//! stopped for being behind), so neither joins; both still count as proposed points, so
//! they are never proposed again. Aging: the population is the `size` completed trials with
//! the highest numbers, so when a newer one completes the oldest member dies, however good
//! it was. Trial numbers, not completion times, order them: the history a sampler sees
//! holds no times, and this keeps a suggestion a function of the history and the seed.

use rand::Rng;
use rand::seq::index;

use crate::trial::{Direction, TrialRecord, TrialState};

/// A completed trial of the population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Member<'a> {
    /// The trial.
    pub(super) trial: &'a TrialRecord,
    /// Its final value (a number).
    pub(super) value: f64,
}

/// The population and the trials still running.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Population<'a> {
    /// At most `size` members, newest first.
    pub(super) members: Vec<Member<'a>>,
    /// Running trials seen while collecting the members (all of them while the population is
    /// not full).
    pub(super) running: usize,
}

impl<'a> Population<'a> {
    /// The newest `size` completed trials of `trials` (ordered by number), read from the end
    /// of the history: the cost does not grow with the study.
    pub(super) fn newest(trials: &'a [TrialRecord], size: usize) -> Self {
        let mut members = Vec::with_capacity(size);
        let mut running = 0;
        for trial in trials.iter().rev() {
            if members.len() == size {
                break;
            }
            match (trial.state, trial.complete_value()) {
                (TrialState::Complete, Some(value)) => members.push(Member { trial, value }),
                (TrialState::Running, _) => running += 1,
                _ => {}
            }
        }
        Population { members, running }
    }

    /// Whether the warm-up is over: `size` trials are complete or running (running trials
    /// count, so that parallel workers at the start draw the first `size` trials at random
    /// instead of all waiting for them) and at least `sample_size` are complete (a
    /// tournament needs that many distinct members).
    pub(super) fn ready(&self, size: usize, sample_size: usize) -> bool {
        self.members.len() >= sample_size && self.members.len() + self.running >= size
    }

    /// The best of `sample_size` members drawn uniformly without replacement (all of them
    /// when there are fewer); ties go to the newer trial. `None` for an empty population.
    pub(super) fn tournament<R: Rng + ?Sized>(
        &self,
        sample_size: usize,
        direction: Direction,
        rng: &mut R,
    ) -> Option<Member<'a>> {
        let n = self.members.len();
        index::sample(rng, n, sample_size.min(n))
            .into_iter()
            .map(|i| self.members[i])
            .reduce(|best, m| {
                if fitter(direction, &m, &best) {
                    m
                } else {
                    best
                }
            })
    }
}

/// Whether `a` beats `b` in a tournament: the better value, then the newer trial.
///
/// The one place two members are compared: a study with several objectives will rank them
/// here by non-dominated rank and crowding distance instead.
fn fitter(direction: Direction, a: &Member<'_>, b: &Member<'_>) -> bool {
    direction.better(a.value, b.value) || (a.value == b.value && a.trial.number > b.trial.number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use crate::sampler::trial_rng;

    fn trial(number: u64, state: TrialState, value: Option<f64>) -> TrialRecord {
        TrialRecord {
            number,
            params: Params::new(),
            state,
            value,
            intermediate: vec![],
        }
    }

    fn numbers(p: &Population<'_>) -> Vec<u64> {
        p.members.iter().map(|m| m.trial.number).collect()
    }

    #[test]
    fn the_population_is_the_newest_completed_trials_so_the_oldest_dies() {
        let mut trials: Vec<TrialRecord> = (0..6)
            .map(|n| trial(n, TrialState::Complete, Some(n as f64)))
            .collect();
        let p = Population::newest(&trials, 4);
        assert_eq!(numbers(&p), vec![5, 4, 3, 2]);
        trials.push(trial(6, TrialState::Complete, Some(0.5)));
        assert_eq!(numbers(&Population::newest(&trials, 4)), vec![6, 5, 4, 3]);
    }

    #[test]
    fn failed_and_pruned_trials_are_not_members_and_running_ones_count_for_the_warm_up() {
        let trials = vec![
            trial(0, TrialState::Complete, Some(1.0)),
            trial(1, TrialState::Failed, None),
            trial(2, TrialState::Pruned, None),
            trial(3, TrialState::Running, None),
            trial(4, TrialState::Complete, Some(2.0)),
            trial(5, TrialState::Running, None),
        ];
        let p = Population::newest(&trials, 4);
        assert_eq!(numbers(&p), vec![4, 0]);
        assert_eq!(p.running, 2);
        assert!(p.ready(4, 2));
        assert!(!p.ready(5, 2), "2 complete + 2 running is not 5");
        assert!(!p.ready(4, 3), "a tournament of 3 needs 3 complete trials");
    }

    #[test]
    fn a_tournament_picks_the_best_of_its_sample_in_the_studys_direction() {
        let trials: Vec<TrialRecord> = (0..10)
            .map(|n| trial(n, TrialState::Complete, Some(((n * 7) % 10) as f64)))
            .collect();
        let p = Population::newest(&trials, 10);
        for direction in [Direction::Minimize, Direction::Maximize] {
            // A sample of the whole population is the whole population.
            let best = p.tournament(10, direction, &mut trial_rng(0, 0)).unwrap();
            let want = if direction == Direction::Minimize {
                0.0
            } else {
                9.0
            };
            assert_eq!(best.value, want);
            for t in 0..50 {
                let mut rng = trial_rng(1, t);
                let winner = p.tournament(3, direction, &mut rng).unwrap();
                // The same draws, replayed: the winner is the best of them.
                let mut replay = trial_rng(1, t);
                let drawn: Vec<f64> = index::sample(&mut replay, 10, 3)
                    .into_iter()
                    .map(|i| p.members[i].value)
                    .collect();
                let best = drawn
                    .iter()
                    .copied()
                    .reduce(|a, b| if direction.better(a, b) { a } else { b })
                    .unwrap();
                assert_eq!(winner.value, best, "{direction:?} {drawn:?}");
            }
        }
    }

    #[test]
    fn ties_go_to_the_newer_trial() {
        let trials = vec![
            trial(0, TrialState::Complete, Some(1.0)),
            trial(1, TrialState::Complete, Some(1.0)),
        ];
        let p = Population::newest(&trials, 2);
        let best = p
            .tournament(2, Direction::Minimize, &mut trial_rng(0, 0))
            .unwrap();
        assert_eq!(best.trial.number, 1);
    }
}
