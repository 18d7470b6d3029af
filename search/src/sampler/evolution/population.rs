//! The population of aging evolution: the newest finished trials, and the tournament that
//! picks a parent among them.
//!
//! Who belongs: finished trials with a value: completed ones with their final value, and
//! pruned ones with their last report (as Optuna's TPE uses them). A pruned trial was
//! stopped for being behind and its early-epoch value is not comparable with final ones, so
//! it ranks below every completed member: it wins a tournament only when the sample holds
//! no completed trial, and then the deepest pruned trial wins (the best value among equally
//! deep ones). Leaving pruned trials out would make a study with aggressive early stopping
//! (ASHA stops three in four) random search for most of its budget. Failed trials have no
//! value and do not join; like every trial they are never proposed again.
//!
//! Aging: the population is the `size` finished trials with the highest numbers, so when a
//! newer one finishes the oldest member dies, however good it was. Trial numbers, not
//! completion times, order them: the history a sampler sees holds no times, and this keeps
//! a suggestion a function of the history and the seed.

use rand::Rng;
use rand::seq::index;

use crate::trial::{Direction, TrialRecord, TrialState};

/// A finished trial of the population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Member<'a> {
    /// The trial.
    pub(super) trial: &'a TrialRecord,
    /// Its final value, or a pruned trial's last report (a number).
    pub(super) value: f64,
    /// `None` for a completed trial; a pruned trial's last reported epoch.
    pub(super) pruned_at: Option<u32>,
}

impl<'a> Member<'a> {
    /// `trial` as a member, or `None` when it is running, failed or has no value.
    fn of(trial: &'a TrialRecord) -> Option<Self> {
        match trial.state {
            TrialState::Complete => Some(Member {
                trial,
                value: trial.complete_value()?,
                pruned_at: None,
            }),
            TrialState::Pruned => {
                let &(epoch, value) = trial.intermediate.last()?;
                (!value.is_nan()).then_some(Member {
                    trial,
                    value,
                    pruned_at: Some(epoch),
                })
            }
            TrialState::Running | TrialState::Failed => None,
        }
    }
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
    /// The newest `size` finished trials of `trials` (ordered by number) with a value, read
    /// from the end of the history: the cost does not grow with the study.
    pub(super) fn newest(trials: &'a [TrialRecord], size: usize) -> Self {
        let mut members = Vec::with_capacity(size);
        let mut running = 0;
        for trial in trials.iter().rev() {
            if members.len() == size {
                break;
            }
            if trial.state == TrialState::Running {
                running += 1;
            } else if let Some(member) = Member::of(trial) {
                members.push(member);
            }
        }
        Population { members, running }
    }

    /// Whether the warm-up is over: `size` trials are members or running (running trials
    /// count, so that parallel workers at the start draw the first `size` trials at random
    /// instead of all waiting for them) and there are at least `sample_size` members (a
    /// tournament needs that many distinct ones).
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

/// Whether `a` beats `b` in a tournament: a completed trial beats a pruned one, a deeper
/// pruned trial a shallower one; then the better value, then the newer trial.
///
/// The one place two members are compared. In a study with several objectives a member's
/// value is its score from non-dominated rank and greedy hypervolume order (see
/// `multi::scalarize::rank_scores`), compared the same way.
fn fitter(direction: Direction, a: &Member<'_>, b: &Member<'_>) -> bool {
    // `None` (completed) above any epoch: compare the negated depth the other way round.
    let depth = |m: &Member<'_>| m.pruned_at.map_or(u64::MAX, u64::from);
    match depth(a).cmp(&depth(b)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => {
            direction.better(a.value, b.value)
                || (a.value == b.value && a.trial.number > b.trial.number)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use crate::sampler::trial_rng;

    fn trial(number: u64, state: TrialState, value: Option<f64>) -> TrialRecord {
        TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
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

    fn pruned(number: u64, epoch: u32, value: f64) -> TrialRecord {
        TrialRecord {
            intermediate: vec![(1, 100.0), (epoch, value)],
            ..trial(number, TrialState::Pruned, None)
        }
    }

    #[test]
    fn failed_trials_are_not_members_and_running_ones_count_for_the_warm_up() {
        let trials = vec![
            trial(0, TrialState::Complete, Some(1.0)),
            trial(1, TrialState::Failed, None),
            pruned(2, 3, 5.0),
            trial(3, TrialState::Running, None),
            trial(4, TrialState::Complete, Some(2.0)),
            trial(5, TrialState::Running, None),
            trial(6, TrialState::Pruned, None),
        ];
        let p = Population::newest(&trials, 4);
        assert_eq!(
            numbers(&p),
            vec![4, 2, 0],
            "a pruned trial without a report is out"
        );
        assert_eq!(p.running, 2);
        assert!(p.ready(5, 2));
        assert!(!p.ready(6, 2), "3 members + 2 running is not 6");
        assert!(!p.ready(5, 4), "a tournament of 4 needs 4 members");
    }

    #[test]
    fn a_pruned_trial_wins_only_against_pruned_ones_and_the_deepest_wins() {
        let trials = vec![
            trial(0, TrialState::Complete, Some(9.0)),
            pruned(1, 5, 0.1),
            pruned(2, 8, 3.0),
            pruned(3, 8, 2.0),
        ];
        let all = Population::newest(&trials, 4);
        let best = |p: &Population<'_>| {
            p.tournament(4, Direction::Minimize, &mut trial_rng(0, 0))
                .unwrap()
                .trial
                .number
        };
        assert_eq!(best(&all), 0, "completed beats any pruned value");
        let only_pruned = Population::newest(&trials[1..], 3);
        assert_eq!(best(&only_pruned), 3, "deepest, then the better value");
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
