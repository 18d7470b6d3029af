//! Random search, including random architecture search: every active parameter drawn
//! uniformly (log-uniformly on log scales), conditions obeyed, no point proposed twice.

use super::history::{Visited, ensure_new};
use super::{SampleContext, Sampler, Suggestion, trial_rng};
use crate::config::StudyConfig;
use crate::error::SearchError;
use crate::space::SearchSpace;

/// Independent uniform draws.
#[derive(Debug, Clone)]
pub struct RandomSampler {
    space: SearchSpace,
    seed: u64,
    visited: Visited,
}

impl RandomSampler {
    /// A random sampler over the study's space and seed.
    pub fn new(config: &StudyConfig) -> Self {
        Self::with_space(config.space.clone(), config.search.seed)
    }

    /// A random sampler over `space` with `seed` (for other samplers' start-up phase).
    pub fn with_space(space: SearchSpace, seed: u64) -> Self {
        RandomSampler {
            space,
            seed,
            visited: Visited::default(),
        }
    }
}

impl Sampler for RandomSampler {
    fn name(&self) -> &'static str {
        "random"
    }

    fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError> {
        let mut rng = trial_rng(self.seed, ctx.trial_number);
        self.visited.update(&self.space, ctx.trials);
        let candidate = self.space.sample(&mut rng);
        Ok(ensure_new(&self.space, &self.visited, candidate, &mut rng))
    }
}
