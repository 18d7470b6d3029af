//! Regularized (aging) evolution (Real et al. 2019, "Regularized Evolution for Image
//! Classifier Architecture Search"): the population is the newest `population` finished
//! trials; each new trial mutates the best of `sample_size` members drawn at random, and
//! the oldest member dies as newer ones finish, so a lucky early trial cannot rule the
//! search for ever.
//!
//! - Warm-up: until `population` trials are members or running, trials are drawn at
//!   random (running trials count, so parallel workers do not wait on the first results).
//! - Failed trials are not members; pruned ones are, ranked below completed ones (see
//!   `population`).
//! - A child is its parent with exactly one change (see `mutation`); a child equal to a
//!   running or finished trial is mutated again, a few times, before a random new point
//!   is drawn instead.
//! - Deterministic: every choice comes from the trial's RNG, and the answer depends only on
//!   the history and the seed, so a long-lived sampler and a fresh one agree.
//!
//! Layout: `population` (members, warm-up, tournament), `mutation` (the kinds of change),
//! `layers` (inserting and removing hidden layers), `step` (one value's local moves).

mod layers;
mod mutation;
mod population;
mod step;
#[cfg(test)]
mod tests;

use super::history::{Visited, ensure_new};
use super::{SampleContext, Sampler, Suggestion, trial_rng};
use crate::config::{EvolutionSettings, StudyConfig};
use crate::error::SearchError;
use crate::space::SearchSpace;
use crate::trial::Direction;
use population::Population;

/// Mutations of the tournament's winner tried before a child that is new is given up on.
/// Each costs microseconds; a parent whose every neighbour but one was tried already (the
/// population converged on one point of a small space) still finds the new one.
const MUTATION_RETRIES: usize = 32;

/// The regularized evolution sampler.
#[derive(Debug, Clone)]
pub struct EvolutionSampler {
    space: SearchSpace,
    seed: u64,
    direction: Direction,
    settings: EvolutionSettings,
    visited: Visited,
}

impl EvolutionSampler {
    /// An evolution sampler with the study's space, seed, direction and
    /// `[search.evolution]` settings.
    pub fn new(config: &StudyConfig) -> Self {
        Self::with_settings(
            config.space.clone(),
            config.search.seed,
            config.direction,
            config.search.evolution,
        )
    }

    /// An evolution sampler from its parts.
    pub fn with_settings(
        space: SearchSpace,
        seed: u64,
        direction: Direction,
        settings: EvolutionSettings,
    ) -> Self {
        EvolutionSampler {
            space,
            seed,
            direction,
            settings,
            visited: Visited::default(),
        }
    }
}

impl Sampler for EvolutionSampler {
    fn name(&self) -> &'static str {
        "evolution"
    }

    fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError> {
        let mut rng = trial_rng(self.seed, ctx.trial_number);
        self.visited.update(&self.space, ctx.trials);
        let size = self.settings.population as usize;
        let sample_size = self.settings.sample_size as usize;
        let population = Population::newest(ctx.trials, size);
        if population.ready(size, sample_size)
            && let Some(parent) = population.tournament(sample_size, self.direction, &mut rng)
        {
            // The parent's params as the space holds them (a value read back from storage,
            // `3` for `3.0`, in canonical form).
            let parent = mutation::completed(&self.space, &parent.trial.params, &mut rng);
            for _ in 0..MUTATION_RETRIES {
                match mutation::mutate(&self.space, &parent, &mut rng) {
                    Some(child) if !self.visited.contains(&child) => {
                        return Ok(Suggestion::Params(child));
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        }
        let candidate = self.space.sample(&mut rng);
        Ok(ensure_new(&self.space, &self.visited, candidate, &mut rng))
    }
}
