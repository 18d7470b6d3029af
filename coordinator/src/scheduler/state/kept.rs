//! Which trials' trained networks are kept (`[study] keep_models`): those of the best K
//! complete trials, ranked by their value in the study's direction, ties to the earlier
//! trial; with several objectives or constraints, ranked as `hypersearch best --top` ranks
//! them (feasible first, then non-dominated sorting and crowding among the kept and the new
//! one, ties to the earlier). A trial that completes outside the best K, or pushes another
//! out, names the model to drop; a trial that ends otherwise drops its own.

use hypersearch_search::multi::{Judged, pareto, violation};
use hypersearch_search::{Direction, Objectives};

/// The best complete trials, at most `limit`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeptModels {
    limit: usize,
    ranking: Ranking,
}

/// How kept trials are compared, and the kept ones.
#[derive(Debug, Clone, PartialEq)]
enum Ranking {
    /// By one value, best first.
    Value {
        direction: Direction,
        best: Vec<(f64, u64)>,
    },
    /// By objectives and constraints, in the order they completed.
    Pareto {
        directions: Vec<Direction>,
        kept: Vec<Kept>,
    },
}

/// A kept trial of a study with several objectives or constraints.
#[derive(Debug, Clone, PartialEq)]
struct Kept {
    number: u64,
    /// Its objectives as losses (smaller is better).
    losses: Vec<f64>,
    /// Its constraints' total violation (0 when feasible).
    violation: f64,
}

impl KeptModels {
    /// None kept yet; at most `limit` will be, ranked by one value in `direction`, or by
    /// `objectives` when the study has several or any constraint.
    pub fn new(limit: u32, direction: Direction, objectives: Option<&Objectives>) -> KeptModels {
        let ranking = match objectives {
            Some(objectives) => Ranking::Pareto {
                directions: objectives.directions(),
                kept: Vec::new(),
            },
            None => Ranking::Value {
                direction,
                best: Vec::with_capacity(limit.min(1024) as usize + 1),
            },
        };
        KeptModels {
            limit: limit as usize,
            ranking,
        }
    }

    /// Trial `number` completed with `value` (and `judged`, its objectives and constraints,
    /// in a study that has several or any): the trial whose model is to be dropped now, if
    /// any (`number` itself when it is not among the best, or the one it pushed out).
    pub fn completed(&mut self, number: u64, value: f64, judged: Option<&Judged>) -> Option<u64> {
        match &mut self.ranking {
            Ranking::Value { direction, best } => {
                let at = best
                    .iter()
                    .position(|&(v, _)| direction.better(value, v))
                    .unwrap_or(best.len());
                best.insert(at, (value, number));
                (best.len() > self.limit)
                    .then(|| best.pop().map(|(_, n)| n))
                    .flatten()
            }
            Ranking::Pareto { directions, kept } => {
                // A complete trial of such a study is always judged; one that is not is
                // not ranked.
                let Some(judged) = judged else {
                    return Some(number);
                };
                kept.push(Kept {
                    number,
                    losses: pareto::losses(&judged.values, directions),
                    violation: violation(&judged.margins),
                });
                if kept.len() <= self.limit {
                    return None;
                }
                let points: Vec<Vec<f64>> = kept.iter().map(|k| k.losses.clone()).collect();
                let violations: Vec<f64> = kept.iter().map(|k| k.violation).collect();
                let worst = *pareto::rank_order(&points, &violations).last()?;
                Some(kept.remove(worst).number)
            }
        }
    }

    /// The kept trials (best first when ranked by one value; in the order they completed
    /// otherwise).
    #[cfg(test)]
    pub fn trials(&self) -> Vec<u64> {
        match &self.ranking {
            Ranking::Value { best, .. } => best.iter().map(|&(_, n)| n).collect(),
            Ranking::Pareto { kept, .. } => kept.iter().map(|k| k.number).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_k_are_kept_and_the_one_pushed_out_is_dropped() {
        let mut kept = KeptModels::new(2, Direction::Maximize, None);
        assert_eq!(kept.completed(0, 0.5, None), None);
        assert_eq!(kept.completed(1, 0.7, None), None);
        // Worse than both: its own model goes.
        assert_eq!(kept.completed(2, 0.4, None), Some(2));
        // Better than trial 0: trial 0's goes.
        assert_eq!(kept.completed(3, 0.6, None), Some(0));
        // A tie keeps the earlier trial.
        assert_eq!(kept.completed(4, 0.6, None), Some(4));
        assert_eq!(kept.trials(), vec![1, 3]);
    }

    #[test]
    fn minimizing_keeps_the_lowest_and_zero_keeps_none() {
        let mut kept = KeptModels::new(1, Direction::Minimize, None);
        assert_eq!(kept.completed(0, 2.0, None), None);
        assert_eq!(kept.completed(1, 1.0, None), Some(0));
        assert_eq!(kept.trials(), vec![1]);
        let mut none = KeptModels::new(0, Direction::Minimize, None);
        assert_eq!(none.completed(5, 1.0, None), Some(5));
    }

    fn judged(values: &[f64], margins: &[f64]) -> Judged {
        Judged {
            values: values.to_vec(),
            margins: margins.to_vec(),
        }
    }

    #[test]
    fn with_two_objectives_the_front_is_kept_and_the_dominated_or_infeasible_go_first() {
        let objectives = Objectives {
            goals: vec![
                hypersearch_search::multi::Goal {
                    metric: "val_accuracy".into(),
                    direction: Direction::Maximize,
                },
                hypersearch_search::multi::Goal {
                    metric: "parameters".into(),
                    direction: Direction::Minimize,
                },
            ],
            constraints: Vec::new(),
        };
        let mut kept = KeptModels::new(3, Direction::Maximize, Some(&objectives));
        assert_eq!(
            kept.completed(0, 0.90, Some(&judged(&[0.90, 5e4], &[]))),
            None
        );
        assert_eq!(
            kept.completed(1, 0.95, Some(&judged(&[0.95, 2e5], &[]))),
            None
        );
        assert_eq!(
            kept.completed(2, 0.80, Some(&judged(&[0.80, 1e4], &[]))),
            None
        );
        // Dominated by trial 0 (less accurate and larger): its own model goes, although its
        // accuracy beats trial 2's.
        assert_eq!(
            kept.completed(3, 0.85, Some(&judged(&[0.85, 6e4], &[]))),
            Some(3)
        );
        // Dominates trial 0: trial 0 is the one dominated now.
        assert_eq!(
            kept.completed(4, 0.92, Some(&judged(&[0.92, 4e4], &[]))),
            Some(0)
        );
        assert_eq!(kept.trials(), vec![1, 2, 4]);

        // With a constraint, an infeasible trial goes before any feasible one.
        let constrained = Objectives {
            constraints: vec![hypersearch_search::multi::Constraint {
                metric: "parameters".into(),
                operator: hypersearch_search::multi::Operator::AtMost,
                bound: 1e5,
            }],
            ..objectives
        };
        let mut kept = KeptModels::new(2, Direction::Maximize, Some(&constrained));
        assert_eq!(
            kept.completed(0, 0.99, Some(&judged(&[0.99, 2e5], &[1e5]))),
            None
        );
        assert_eq!(
            kept.completed(1, 0.90, Some(&judged(&[0.90, 5e4], &[-5e4]))),
            None
        );
        assert_eq!(
            kept.completed(2, 0.80, Some(&judged(&[0.80, 9e4], &[-1e4]))),
            Some(0)
        );
        assert_eq!(kept.trials(), vec![1, 2]);
    }
}
