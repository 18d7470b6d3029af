//! Samplers for studies with several objectives or constraints: the history is rewritten
//! with one loss per complete trial ([`crate::multi::scalarize`]) and handed to the
//! single-objective sampler, which minimizes it.
//!
//! - TPE becomes MOTPE: its "good" trials are the best γ(n) by constrained non-domination
//!   rank, a front split by greedy hypervolume subset selection; infeasible trials only go
//!   "good" when fewer than γ(n) trials are feasible.
//! - Evolution's tournament picks the best rank, then the least crowded.
//! - Bayes becomes ParEGO: per suggestion, weights drawn from the trial's seeded RNG
//!   scalarize the normalized objectives; infeasible trials score worse than any feasible
//!   one, by their violation.
//! - Random and grid never read values and are not wrapped.
//!
//! The scores of old trials change as trials complete, so the inner sampler is always told
//! that any trial may have changed.

use rand::RngExt;

use super::{SampleContext, Sampler, Suggestion, trial_rng};
use crate::error::SearchError;
use crate::multi::scalarize::{parego_scores, rank_scores, simplex_weights};
use crate::multi::{Objectives, pareto, violation};
use crate::trial::{TrialRecord, TrialState};

/// Mixed into the study seed for ParEGO's weights, so they do not repeat the inner
/// sampler's draws.
const WEIGHT_STREAM: u64 = 0x9a4e_60c7_13d2_58b1;

/// How the objectives become one loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalarization {
    /// Non-domination rank and place in the front (TPE, evolution).
    Rank,
    /// ParEGO's random augmented Chebyshev scalarization (bayes).
    ParEgo,
}

/// A single-objective sampler fed scalarized losses.
pub struct Scalarized {
    inner: Box<dyn Sampler>,
    objectives: Objectives,
    method: Scalarization,
    seed: u64,
}

impl Scalarized {
    /// Wraps `inner`, which must have been built to minimize.
    pub fn new(
        inner: Box<dyn Sampler>,
        objectives: Objectives,
        method: Scalarization,
        seed: u64,
    ) -> Self {
        Scalarized {
            inner,
            objectives,
            method,
            seed,
        }
    }

    /// The history with each complete trial's value replaced by its scalarized loss and
    /// every curve turned into losses of the first objective.
    fn rewrite(&self, ctx: &SampleContext<'_>) -> Vec<TrialRecord> {
        let directions = self.objectives.directions();
        let first = directions[0];
        let mut scored: Vec<usize> = Vec::new();
        let (mut losses, mut violations) = (Vec::new(), Vec::new());
        for (i, t) in ctx.trials.iter().enumerate() {
            if let (TrialState::Complete, Some(judged)) = (t.state, &t.judged)
                && judged.values.iter().all(|v| !v.is_nan())
            {
                scored.push(i);
                losses.push(pareto::losses(&judged.values, &directions));
                violations.push(violation(&judged.margins));
            }
        }
        let scores = match self.method {
            Scalarization::Rank => rank_scores(&losses, &violations),
            Scalarization::ParEgo => {
                let mut rng = trial_rng(self.seed ^ WEIGHT_STREAM, ctx.trial_number);
                let uniforms: Vec<f64> = directions.iter().map(|_| rng.random()).collect();
                parego_scores(&losses, &violations, &simplex_weights(&uniforms))
            }
        };
        let mut records: Vec<TrialRecord> = ctx
            .trials
            .iter()
            .map(|t| TrialRecord {
                value: None,
                intermediate: t
                    .intermediate
                    .iter()
                    .map(|&(e, v)| (e, first.as_loss(v)))
                    .collect(),
                ..t.clone()
            })
            .collect();
        for (&i, s) in scored.iter().zip(scores) {
            records[i].value = Some(s);
        }
        records
    }
}

impl Sampler for Scalarized {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError> {
        let records = self.rewrite(ctx);
        self.inner
            .suggest(&SampleContext::new(ctx.trial_number, &records))
    }
}
