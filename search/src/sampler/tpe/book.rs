//! What TPE keeps of the history between calls, so a suggestion does not re-read it: each
//! trial's encoded params (once), and the usable trials indexed by what the split needs —
//! the completed ones by loss, the pruned ones by depth, all of them by number. A call takes
//! in the new trials and those that ended since the previous call.

use std::collections::{BTreeSet, HashSet};

use super::split::{self, PrunedKey};
use crate::order::Total;
use crate::trial::{Direction, TrialRecord, TrialState};

/// The "bad" side holds at most this many trials, the newest: the estimator's weights
/// already fade the older ones, and this bounds a suggestion's cost in a large study.
pub(super) const MAX_ABOVE: usize = 1024;

/// Where a trial stands for the split.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Informs nothing (failed, a NaN result, params outside the space, or running without
    /// the constant liar).
    Unusable,
    /// Running, under the constant liar.
    Running,
    /// Completed with this loss.
    Complete(Total),
    /// Pruned, ordered by this key.
    Pruned(PrunedKey),
}

/// The indexed history.
#[derive(Debug, Clone, Default)]
pub(super) struct Book {
    /// Per trial (by index in the history), its kind.
    kinds: Vec<Kind>,
    /// Per trial, whether its params fit the space.
    fits: Vec<bool>,
    /// The encoded params of every trial, `width` values each (NaN where absent).
    encoded: Vec<f64>,
    width: usize,
    complete: BTreeSet<(Total, u64)>,
    pruned: BTreeSet<(PrunedKey, u64)>,
    /// Every usable trial's number (running ones included).
    usable: BTreeSet<u64>,
    running: usize,
}

/// The split of the usable trials, as numbers in trial order.
pub(super) struct Split {
    pub below: Vec<u64>,
    pub above: Vec<u64>,
}

impl Book {
    /// An empty book for params encoded as `width` values.
    pub fn new(width: usize) -> Self {
        Book {
            width,
            ..Book::default()
        }
    }

    /// How many trials it holds (a prefix of the history).
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// Forgets everything (another history).
    pub fn clear(&mut self) {
        *self = Book::new(self.width);
    }

    /// Takes in a new trial (the next index) with its encoded params, if they fit.
    pub fn push(
        &mut self,
        trial: &TrialRecord,
        encoded: Option<Vec<f64>>,
        direction: Direction,
        liar: bool,
    ) {
        self.fits.push(encoded.is_some());
        match encoded {
            Some(values) => self.encoded.extend(values),
            None => self
                .encoded
                .extend(std::iter::repeat_n(f64::NAN, self.width)),
        }
        self.kinds.push(Kind::Unusable);
        self.refresh(self.kinds.len() - 1, trial, direction, liar);
    }

    /// Re-reads trial `index`'s state (it may have ended).
    pub fn refresh(&mut self, index: usize, trial: &TrialRecord, direction: Direction, liar: bool) {
        let Some(&old) = self.kinds.get(index) else {
            return;
        };
        let new = if self.fits[index] {
            kind_of(trial, direction, liar)
        } else {
            Kind::Unusable
        };
        if new == old {
            return;
        }
        let number = trial.number;
        match old {
            Kind::Unusable => {}
            Kind::Running => self.running -= 1,
            Kind::Complete(loss) => {
                self.complete.remove(&(loss, number));
            }
            Kind::Pruned(key) => {
                self.pruned.remove(&(key, number));
            }
        }
        match new {
            Kind::Unusable => {}
            Kind::Running => self.running += 1,
            Kind::Complete(loss) => {
                self.complete.insert((loss, number));
            }
            Kind::Pruned(key) => {
                self.pruned.insert((key, number));
            }
        }
        if new == Kind::Unusable {
            self.usable.remove(&number);
        } else {
            self.usable.insert(number);
        }
        self.kinds[index] = new;
    }

    /// The encoded params of trial `index`.
    pub fn encoded(&self, index: usize) -> &[f64] {
        &self.encoded[index * self.width..(index + 1) * self.width]
    }

    /// Usable trials that are not running.
    pub fn finished(&self) -> usize {
        self.usable.len() - self.running
    }

    /// Optuna's split: below, the best γ(n) completed trials topped up with pruned ones by
    /// depth; above, every other usable trial (running ones always), at most
    /// [`MAX_ABOVE`] of them, the newest.
    pub fn split(&self) -> Split {
        let n_below = split::gamma(self.finished());
        let from_complete = n_below.min(self.complete.len());
        let mut below: Vec<u64> = self
            .complete
            .iter()
            .take(from_complete)
            .map(|&(_, n)| n)
            .chain(
                self.pruned
                    .iter()
                    .take(n_below - from_complete)
                    .map(|&(_, n)| n),
            )
            .collect();
        below.sort_unstable();
        let in_below: HashSet<u64> = below.iter().copied().collect();
        let mut above: Vec<u64> = self
            .usable
            .iter()
            .rev()
            .filter(|n| !in_below.contains(n))
            .take(MAX_ABOVE)
            .copied()
            .collect();
        above.reverse();
        Split { below, above }
    }
}

fn kind_of(trial: &TrialRecord, direction: Direction, liar: bool) -> Kind {
    match trial.state {
        TrialState::Complete => match trial.complete_value() {
            Some(v) => Kind::Complete(Total(direction.as_loss(v))),
            None => Kind::Unusable,
        },
        TrialState::Pruned => Kind::Pruned(split::pruned_key(trial, direction)),
        TrialState::Running if liar => Kind::Running,
        TrialState::Running | TrialState::Failed => Kind::Unusable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use rand::{RngExt, SeedableRng};

    fn random_trial(rng: &mut rand_chacha::ChaCha8Rng, number: u64) -> TrialRecord {
        let (state, value, curve) = match rng.random_range(0..5) {
            0 => (TrialState::Running, None, vec![]),
            1 => (TrialState::Failed, None, vec![]),
            2 => {
                let depth = rng.random_range(0..4u32);
                let curve = (1..=depth)
                    .map(|e| (e, f64::from(rng.random_range(0..5u8))))
                    .collect();
                (TrialState::Pruned, None, curve)
            }
            3 => (TrialState::Complete, Some(f64::NAN), vec![]),
            // Few distinct values: ties are broken by number.
            _ => (
                TrialState::Complete,
                Some(f64::from(rng.random_range(0..20u8))),
                vec![],
            ),
        };
        TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number,
            params: Params::new(),
            state,
            value,
            intermediate: curve,
        }
    }

    fn reference(trials: &[TrialRecord], liar: bool) -> (Vec<u64>, Vec<u64>) {
        let params = Params::new();
        let entries: Vec<split::Entry<'_>> = trials
            .iter()
            .filter(|t| split::usable(t, liar))
            .map(|t| (t, &params))
            .collect();
        let (below, above) = split::split(&entries, Direction::Maximize);
        let numbers = |v: Vec<split::Entry<'_>>| v.iter().map(|(t, _)| t.number).collect();
        (numbers(below), numbers(above))
    }

    #[test]
    fn the_incremental_split_equals_the_reference_one_as_trials_end() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for liar in [true, false] {
            let mut trials: Vec<TrialRecord> = Vec::new();
            let mut book = Book::new(0);
            for number in 0..600u64 {
                trials.push(random_trial(&mut rng, number));
                book.push(
                    &trials[trials.len() - 1],
                    Some(vec![]),
                    Direction::Maximize,
                    liar,
                );
                // Some running trial ends.
                if let Some(i) = (0..trials.len())
                    .rev()
                    .find(|&i| trials[i].state == TrialState::Running && rng.random_bool(0.5))
                {
                    let ended = random_trial(&mut rng, i as u64);
                    trials[i] = ended;
                    book.refresh(i, &trials[i], Direction::Maximize, liar);
                }
                let split = book.split();
                let (below, above) = reference(&trials, liar);
                assert_eq!(split.below, below, "after trial {number}");
                assert_eq!(split.above, above, "after trial {number}");
            }
        }
    }

    #[test]
    fn the_bad_side_keeps_the_newest_trials() {
        let mut book = Book::new(0);
        for number in 0..3000u64 {
            let t = TrialRecord {
                judged: None,
                intermediate_objectives: Vec::new(),
                number,
                params: Params::new(),
                state: TrialState::Complete,
                value: Some(number as f64),
                intermediate: vec![],
            };
            book.push(&t, Some(vec![]), Direction::Minimize, true);
        }
        let split = book.split();
        assert_eq!(split.below, (0..25).collect::<Vec<u64>>());
        assert_eq!(split.above.len(), MAX_ABOVE);
        assert_eq!(split.above[0], 3000 - MAX_ABOVE as u64);
        assert_eq!(split.above.last(), Some(&2999));
    }
}
