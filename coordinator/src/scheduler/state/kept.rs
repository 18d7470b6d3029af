//! Which trials' trained networks are kept (`[study] keep_models`): those of the best K
//! complete trials, ranked by their value in the study's direction, ties to the earlier
//! trial. A trial that completes outside the best K, or pushes another out, names the model
//! to drop; a trial that ends otherwise drops its own.

use hypersearch_search::Direction;

/// The best complete trials, at most `limit`, best first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeptModels {
    limit: usize,
    direction: Direction,
    best: Vec<(f64, u64)>,
}

impl KeptModels {
    /// None kept yet; at most `limit` will be.
    pub fn new(limit: u32, direction: Direction) -> KeptModels {
        KeptModels {
            limit: limit as usize,
            direction,
            best: Vec::with_capacity(limit.min(1024) as usize + 1),
        }
    }

    /// Trial `number` completed with `value`: the trial whose model is to be dropped now, if
    /// any (`number` itself when it is not among the best, or the one it pushed out).
    pub fn completed(&mut self, number: u64, value: f64) -> Option<u64> {
        let at = self
            .best
            .iter()
            .position(|&(v, _)| self.direction.better(value, v))
            .unwrap_or(self.best.len());
        self.best.insert(at, (value, number));
        if self.best.len() > self.limit {
            return self.best.pop().map(|(_, n)| n);
        }
        None
    }

    /// The kept trials, best first.
    #[cfg(test)]
    pub fn trials(&self) -> Vec<u64> {
        self.best.iter().map(|&(_, n)| n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_k_are_kept_and_the_one_pushed_out_is_dropped() {
        let mut kept = KeptModels::new(2, Direction::Maximize);
        assert_eq!(kept.completed(0, 0.5), None);
        assert_eq!(kept.completed(1, 0.7), None);
        // Worse than both: its own model goes.
        assert_eq!(kept.completed(2, 0.4), Some(2));
        // Better than trial 0: trial 0's goes.
        assert_eq!(kept.completed(3, 0.6), Some(0));
        // A tie keeps the earlier trial.
        assert_eq!(kept.completed(4, 0.6), Some(4));
        assert_eq!(kept.trials(), vec![1, 3]);
    }

    #[test]
    fn minimizing_keeps_the_lowest_and_zero_keeps_none() {
        let mut kept = KeptModels::new(1, Direction::Minimize);
        assert_eq!(kept.completed(0, 2.0), None);
        assert_eq!(kept.completed(1, 1.0), Some(0));
        assert_eq!(kept.trials(), vec![1]);
        let mut none = KeptModels::new(0, Direction::Minimize);
        assert_eq!(none.completed(5, 1.0), Some(5));
    }
}
