//! Early stopping in a deterministic search (`[search] deterministic`): trial t is judged
//! against trials 0 … t − lag alone (lag = the study's `parallel`). Those are exactly the
//! trials that had ended before t could be proposed, so whatever else has ended when t
//! reports, the decision is the same in every run.
//!
//! The rule's own state depends on what it was told, in order. So that no decision sees
//! more than it may, trials are fed by number, and each chain of trials t, t + lag,
//! t + 2·lag, … has a copy of the rule of its own: trial t's copy, fed trials up to
//! t − lag, is fed the next `lag` trials when t + lag first reports (all of them ended by
//! then). Each ended trial is fed once per chain, and a trial that goes back in numbers
//! (a retried trial) rebuilds its chain's copy from the start. The ended trials are kept,
//! curves and all, for the chains still to feed them.

use std::collections::{BTreeMap, HashMap};

use super::{Decision, Pruner};
use crate::trial::{TrialRecord, TrialState};

/// A new copy of the rule, told nothing yet.
pub type MakeRule = Box<dyn Fn() -> Box<dyn Pruner> + Send>;

/// One chain's copy of the rule and how far it was fed.
struct Chain {
    rule: Box<dyn Pruner>,
    /// Trials 0 …= `fed` have been fed (`None`: none).
    fed: Option<u64>,
}

/// A rule that judges trial t by trials 0 … t − lag only (see the module's doc).
pub struct Lagged {
    make: MakeRule,
    lag: u64,
    /// The ended trials, by number.
    ended: BTreeMap<u64, TrialRecord>,
    /// Per chain (trial number modulo `lag`).
    chains: HashMap<u64, Chain>,
}

impl Lagged {
    /// The rule `make` builds, judging trial t by trials 0 … t − `lag` (`lag` ≥ 1).
    pub fn new(lag: u64, make: MakeRule) -> Self {
        Self {
            make,
            lag: lag.max(1),
            ended: BTreeMap::new(),
            chains: HashMap::new(),
        }
    }

    /// Trial `number`'s chain, fed every trial it may see that has ended, in number order,
    /// up to the first one that has not.
    fn chain_for(&mut self, number: u64) -> &mut Chain {
        let visible = number.checked_sub(self.lag);
        let make = &self.make;
        let chain = self
            .chains
            .entry(number % self.lag)
            .or_insert_with(|| Chain {
                rule: make(),
                fed: None,
            });
        if chain.fed > visible {
            *chain = Chain {
                rule: make(),
                fed: None,
            };
        }
        if let Some(visible) = visible {
            let from = chain.fed.map_or(0, |f| f + 1);
            for next in from..=visible {
                let Some(trial) = self.ended.get(&next) else {
                    break;
                };
                chain.rule.observe(trial);
                chain.fed = Some(next);
            }
        }
        chain
    }
}

impl Pruner for Lagged {
    fn observe(&mut self, trial: &TrialRecord) {
        if trial.state != TrialState::Running {
            self.ended.insert(trial.number, trial.clone());
        }
    }

    fn restart(&mut self, number: u64) {
        if let Some(chain) = self.chains.get_mut(&(number % self.lag)) {
            chain.rule.restart(number);
        }
    }

    fn decide(&mut self, trial: &TrialRecord) -> Decision {
        self.chain_for(trial.number).rule.decide(trial)
    }
}

#[cfg(test)]
mod tests;
