//! Samplers for studies with several objectives or constraints: the history is rewritten
//! with one loss per complete trial ([`crate::multi::scalarize`]) and handed to the
//! single-objective sampler, which minimizes it.
//!
//! - TPE becomes MOTPE: its "good" trials are the best γ(n) by constrained non-domination
//!   rank, a front split by greedy hypervolume subset selection; infeasible trials only go
//!   "good" when fewer than γ(n) trials are feasible.
//! - Evolution's tournament picks the best rank, then the member greedy hypervolume
//!   selection picks first.
//! - Bayes under [`super::ConstraintHandling::Penalty`] becomes ParEGO (by default every
//!   objective is modelled by the engine itself, see [`super::bayes`]): per suggestion,
//!   weights drawn from the trial's seeded RNG scalarize the normalized objectives, and
//!   infeasible trials score worse than any feasible one, by their violation.
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
    /// ParEGO's random augmented Chebyshev scalarization (bayes), infeasible trials
    /// penalized.
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
                parego_scores(&losses, &violations, &self.weights(ctx.trial_number))
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

impl Scalarized {
    /// ParEGO's weights for trial `number`. With two objectives, a golden-ratio sequence
    /// from a seeded start spreads successive trials' weights evenly over [0, 1] (iid draws
    /// leave gaps and clumps in a short study); with more, a flat Dirichlet draw.
    fn weights(&self, number: u64) -> Vec<f64> {
        let m = self.objectives.goals.len();
        if m == 2 {
            let start: f64 = trial_rng(self.seed ^ WEIGHT_STREAM, 0).random();
            let t = (start + number as f64 * GOLDEN_FRACTION).fract();
            return vec![t, 1.0 - t];
        }
        let mut rng = trial_rng(self.seed ^ WEIGHT_STREAM, number);
        let uniforms: Vec<f64> = (0..m).map(|_| rng.random()).collect();
        simplex_weights(&uniforms)
    }
}

/// The fractional part of the golden ratio: steps of it fill [0, 1) evenly.
const GOLDEN_FRACTION: f64 = 0.618_033_988_749_895;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multi::Judged;
    use crate::params::{ParamValue, Params};
    use crate::{StudyConfig, make_sampler};

    fn config(algorithm: &str) -> StudyConfig {
        let text = format!(
            "[study]\nconstraints = [\"f2 <= 9\"]\n[objective]\nfunction = \"branin_currin\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = 40\nseed = 4\nn_startup_trials = 5\n[search.evolution]\npopulation = 5\nsample_size = 2\n[search.space]\nx1 = {{ float = [0, 1] }}\nx2 = {{ float = [0, 1] }}\n"
        );
        StudyConfig::from_toml_str(&text, "bc.toml").unwrap()
    }

    /// `n` complete trials on a fixed walk over the square, judged against `config`.
    fn history(config: &StudyConfig, n: u64) -> Vec<TrialRecord> {
        (0..n)
            .map(|k| {
                let x = [
                    (k as f64 * 0.618_034 + 0.1).fract(),
                    (k as f64 * 0.414_214 + 0.2).fract(),
                ];
                let mut params = Params::new();
                params.insert("x1".into(), ParamValue::Float(x[0]));
                params.insert("x2".into(), ParamValue::Float(x[1]));
                let metrics = hypersearch_testfns::evaluate_metrics(
                    "branin_currin",
                    &[("x1", x[0]), ("x2", x[1])],
                )
                .unwrap()
                .into_iter()
                .map(|(m, v)| (m.to_string(), v))
                .collect();
                let judged: Judged = config.objectives.judge(&metrics).unwrap();
                TrialRecord {
                    number: k,
                    params,
                    state: TrialState::Complete,
                    value: Some(judged.values[0]),
                    intermediate: vec![],
                    judged: Some(judged),
                    intermediate_objectives: Vec::new(),
                }
            })
            .collect()
    }

    #[test]
    fn the_same_seed_and_history_give_the_same_suggestion_for_every_learning_sampler() {
        for algorithm in ["tpe", "bayes", "evolution"] {
            let config = config(algorithm);
            let trials = history(&config, 20);
            let ask = || {
                make_sampler(&config)
                    .unwrap()
                    .suggest(&SampleContext::new(20, &trials))
                    .unwrap()
            };
            let first = ask();
            assert!(matches!(first, Suggestion::Params(_)), "{algorithm}");
            assert_eq!(first, ask(), "{algorithm}");
        }
    }

    #[test]
    fn infeasible_trials_score_below_every_feasible_one_for_every_scalarization() {
        let config = config("tpe");
        let trials = history(&config, 30);
        let infeasible: Vec<usize> = (0..trials.len())
            .filter(|&i| !trials[i].judged.as_ref().unwrap().feasible())
            .collect();
        assert!(!infeasible.is_empty() && infeasible.len() < trials.len());
        for method in [Scalarization::Rank, Scalarization::ParEgo] {
            let sampler = Scalarized::new(
                make_sampler(&config).unwrap(),
                config.objectives.clone(),
                method,
                config.search.seed,
            );
            let rewritten = sampler.rewrite(&SampleContext::new(30, &trials));
            let score = |i: usize| rewritten[i].value.unwrap();
            let worst_feasible = (0..trials.len())
                .filter(|i| !infeasible.contains(i))
                .map(score)
                .fold(f64::NEG_INFINITY, f64::max);
            for &i in &infeasible {
                assert!(score(i) > worst_feasible, "{method:?}: trial {i}");
            }
        }
    }

    #[test]
    fn parego_weights_for_two_objectives_spread_over_the_segment() {
        let config = config("bayes");
        let sampler = Scalarized::new(
            make_sampler(&config).unwrap(),
            config.objectives.clone(),
            Scalarization::ParEgo,
            config.search.seed,
        );
        let mut firsts: Vec<f64> = (0..10).map(|n| sampler.weights(n)[0]).collect();
        firsts.sort_by(f64::total_cmp);
        // Ten golden-ratio steps leave no gap wider than 0.2 on the unit segment.
        assert!(firsts.windows(2).all(|w| w[1] - w[0] < 0.2), "{firsts:?}");
        assert!(firsts[0] < 0.2 && firsts[9] > 0.8, "{firsts:?}");
    }
}
