//! Hyperband with Optuna's `HyperbandPruner` semantics: brackets of successive halving with
//! `min_early_stopping_rate` 0, 1, …; a trial's bracket is crc32("{study}_{number}") walked
//! through the brackets' budgets, and it competes only with trials of its bracket (each
//! bracket keeps its own rungs' order statistics).

use crate::config::{HyperbandRule, Resource};
use crate::pruner::halving::{Ladder, Rungs};
use crate::pruner::{Decision, Pruner};
use crate::trial::{Direction, TrialRecord, TrialState};

/// Hyperband.
#[derive(Debug, Clone)]
pub struct Hyperband {
    rule: HyperbandRule,
    direction: Direction,
    study_name: String,
    /// The brackets' budgets, once the maximum resource is known.
    budgets: Option<Vec<u64>>,
    /// One ladder per bracket.
    ladders: Vec<Ladder>,
}

impl Hyperband {
    /// The rule for study `study_name` (brackets depend on it, as in Optuna) optimizing in
    /// `direction`; `max_epochs` (the configured training length, if known) sets an `auto`
    /// maximum resource, else the first completed trial's length does.
    pub fn new(
        rule: HyperbandRule,
        direction: Direction,
        study_name: String,
        max_epochs: Option<u32>,
    ) -> Self {
        let max_resource = match rule.max_resource {
            Resource::Epochs(r) => Some(r),
            Resource::Auto => max_epochs,
        };
        let mut hyperband = Hyperband {
            rule,
            direction,
            study_name,
            budgets: None,
            ladders: Vec::new(),
        };
        if let Some(max) = max_resource {
            hyperband.set_max_resource(max);
        }
        hyperband
    }

    fn set_max_resource(&mut self, max_resource: u32) {
        let budgets = bracket_budgets(
            max_resource,
            self.rule.min_resource,
            self.rule.reduction_factor,
        );
        self.ladders = vec![Ladder::default(); budgets.len()];
        self.budgets = Some(budgets);
    }

    /// Trial `number`'s bracket among `budgets`.
    pub fn bracket(&self, number: u64, budgets: &[u64]) -> usize {
        bracket_of(&self.study_name, number, budgets)
    }

    /// The ladder of trial `number` and its shape, once the budgets are known.
    fn ladder_of(&mut self, number: u64) -> Option<(&mut Ladder, Rungs)> {
        let budgets = self.budgets.as_ref()?;
        let bracket = bracket_of(&self.study_name, number, budgets);
        let rungs = Rungs {
            min_resource: self.rule.min_resource,
            reduction_factor: self.rule.reduction_factor,
            min_early_stopping_rate: bracket as u32,
            bootstrap_count: self.rule.bootstrap_count,
            direction: self.direction,
            rule: "hyperband",
        };
        Some((self.ladders.get_mut(bracket)?, rungs))
    }
}

impl Pruner for Hyperband {
    fn observe(&mut self, trial: &TrialRecord) {
        if self.budgets.is_none()
            && trial.state == TrialState::Complete
            && let Some(longest) = trial.last_epoch()
        {
            self.set_max_resource(longest);
        }
        if let Some((ladder, rungs)) = self.ladder_of(trial.number) {
            ladder.observe(&rungs, trial);
        }
    }

    fn restart(&mut self, number: u64) {
        if let Some((ladder, _)) = self.ladder_of(number) {
            ladder.forget(number);
        }
    }

    fn decide(&mut self, trial: &TrialRecord) -> Decision {
        match self.ladder_of(trial.number) {
            Some((ladder, rungs)) => ladder.decide(&rungs, trial),
            None => Decision::Continue,
        }
    }
}

/// Budgets of the brackets: n_b = ⌊log_η(R/r)⌋ + 1 brackets, bracket i gets
/// ⌈n_b·η^s/(s+1)⌉ with s = n_b − 1 − i.
pub(crate) fn bracket_budgets(max_resource: u32, min_resource: u32, eta: u32) -> Vec<u64> {
    let ratio = f64::from(max_resource) / f64::from(min_resource.max(1));
    let n = ((ratio.ln() / f64::from(eta).ln()).floor().max(0.0) as usize) + 1;
    (0..n)
        .map(|i| {
            let s = (n - 1 - i) as i32;
            (n as f64 * f64::from(eta).powi(s) / f64::from(s + 1)).ceil() as u64
        })
        .collect()
}

/// Bracket index of trial `number` in study `study`.
pub(crate) fn bracket_of(study: &str, number: u64, budgets: &[u64]) -> usize {
    let mut h = crc32fast::Hasher::new();
    h.update(study.as_bytes());
    h.update(b"_");
    bracket_from(h, number, budgets)
}

/// Bracket index from a hasher that has read `"{study}_"`: crc32("{study}_{number}")
/// modulo the total budget, walked through the brackets' budgets.
fn bracket_from(mut h: crc32fast::Hasher, number: u64, budgets: &[u64]) -> usize {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = number;
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    h.update(&digits[i..]);
    let total: u64 = budgets.iter().sum();
    let mut n = i128::from(u64::from(h.finalize()) % total.max(1));
    for (i, &b) in budgets.iter().enumerate() {
        n -= i128::from(b);
        if n < 0 {
            return i;
        }
    }
    budgets.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use crate::pruner::decide_after;

    #[test]
    fn budgets_match_optuna() {
        // R = 81, r = 1, η = 3: 5 brackets with budgets ⌈5·3^s/(s+1)⌉ for s = 4..0.
        assert_eq!(bracket_budgets(81, 1, 3), vec![81, 34, 15, 8, 5]);
        assert_eq!(bracket_budgets(10, 1, 3), vec![9, 5, 3]);
        assert_eq!(bracket_budgets(1, 1, 3), vec![1]);
    }

    #[test]
    fn crc32_matches_python_binascii() {
        // The standard CRC-32 check value; Python's binascii.crc32(b"fashion_12") is
        // 1759976662, so with 1000 brackets of budget 1 trial 12 lands in bracket 662.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(bracket_of("fashion", 12, &[1; 1000]), 1_759_976_662 % 1000);
        let budgets = bracket_budgets(27, 1, 3);
        let spread: std::collections::BTreeSet<usize> =
            (0..200).map(|n| bracket_of("s", n, &budgets)).collect();
        assert_eq!(spread.len(), budgets.len());
    }

    #[test]
    fn trials_compete_within_their_bracket() {
        let rule = HyperbandRule {
            reduction_factor: 3,
            min_resource: 1,
            max_resource: Resource::Epochs(9),
            bootstrap_count: 0,
        };
        let hb = Hyperband::new(rule, Direction::Minimize, "s".into(), None);
        let budgets = bracket_budgets(9, 1, 3);
        // Find two trials in bracket 0 (rungs at epochs 1, 3, 9).
        let in0: Vec<u64> = (0..100)
            .filter(|&n| hb.bracket(n, &budgets) == 0)
            .take(2)
            .collect();
        let other = (0..100).find(|&n| hb.bracket(n, &budgets) != 0).unwrap();
        let rec = |number: u64, curve: &[f64]| TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number,
            params: Params::new(),
            state: TrialState::Running,
            value: None,
            intermediate: curve
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as u32 + 1, v))
                .collect(),
        };
        // A better trial in another bracket does not count.
        let history = vec![rec(other, &[0.0])];
        assert_eq!(
            decide_after(&hb, &rec(in0[1], &[0.5]), &history),
            Decision::Continue
        );
        let history = vec![rec(in0[0], &[0.1])];
        assert!(decide_after(&hb, &rec(in0[1], &[0.5]), &history).is_stop());
    }
}
