//! Enqueued configurations (`[[search.enqueue]]`) run first, in order; parameters an entry
//! leaves out are drawn at random. Then the wrapped sampler takes over.

use rand::RngExt;

use super::{SampleContext, Sampler, Suggestion, trial_rng};
use crate::config::StudyConfig;
use crate::error::SearchError;
use crate::params::Params;
use crate::space::SearchSpace;

/// Serves the enqueued configurations to the first trials, then defers to `inner`.
pub struct Enqueued {
    space: SearchSpace,
    seed: u64,
    queue: Vec<Params>,
    inner: Box<dyn Sampler>,
}

impl Enqueued {
    /// Wraps `inner` with the study's enqueued configurations.
    pub fn new(config: &StudyConfig, inner: Box<dyn Sampler>) -> Self {
        Enqueued {
            space: config.space.clone(),
            seed: config.search.seed,
            queue: config.enqueued.clone(),
            inner,
        }
    }
}

impl Sampler for Enqueued {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError> {
        // The k-th trial of the study (whatever its number) runs the k-th entry.
        match self.queue.get(ctx.trials.len()) {
            Some(partial) => {
                // A stream apart from the inner sampler's, so filling in is independent.
                let mut rng = trial_rng(self.seed ^ 0x9e37_79b9_7f4a_7c15, ctx.trial_number);
                let _: u64 = rng.random();
                Ok(Suggestion::Params(self.space.complete(partial, &mut rng)?))
            }
            None => self.inner.suggest(ctx),
        }
    }
}
