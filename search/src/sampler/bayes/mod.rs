//! The Bayesian-optimization sampler (`algorithm = "bayes"`): the search space encoded into
//! the unit cube ([`encoding`]), the history handed to the Gaussian-process engine of
//! `hypersearch-bo` (finished trials as observations, running ones as pending points so
//! that parallel workers get different points), and its point decoded back.
//!
//! Under constraints (`[study] constraints`), each complete trial's margins go to the
//! engine too: it fits one GP per constraint and multiplies log-EI by the probability of
//! feasibility, with the best *feasible* trial as the incumbent (while none is feasible it
//! maximizes the probability of feasibility alone). Running trials carry no margins.
//!
//! With two objectives, each complete trial's objective values go to the engine instead,
//! which fits one GP per objective and proposes the point of largest expected hypervolume
//! improvement of the front (times the probability of feasibility under constraints).
//!
//! The first `n_startup_trials` finished trials come from the engine's scrambled Sobol
//! design. Failed and pruned trials carry no value for the model but are never proposed
//! again. The engine keeps its last hyperparameter fit as the next fit's start (as Optuna
//! does), so a long-lived sampler may answer differently from a fresh one given the same
//! history; two fresh samplers given the same history and seed always agree.

pub mod encoding;

use hypersearch_bo::{Engine, History, Margins, ParetoHistory, Settings};
use rand::RngExt;

use super::history::{Visited, ensure_new};
use super::{SampleContext, Sampler, Suggestion, trial_rng};
use crate::config::StudyConfig;
use crate::error::SearchError;
use crate::multi::Judged;
use crate::space::SearchSpace;
use crate::trial::{Direction, TrialState};
use encoding::Encoding;

/// Gaussian-process Bayesian optimization.
#[derive(Debug, Clone)]
pub struct BayesSampler {
    space: SearchSpace,
    seed: u64,
    direction: Direction,
    encoding: Encoding,
    engine: Engine,
    visited: Visited,
    /// Each trial's point in the unit cube (`None` when its params do not fit the space), by
    /// its index in the history: encoded once.
    encoded: Vec<Option<Vec<f64>>>,
    /// Number of constraints whose margins the engine learns from (0: the history's values
    /// are all it sees).
    constraints: usize,
    /// With several objectives, their directions: the engine models each and maximizes the
    /// expected hypervolume improvement (`None`: one objective, the trials' values).
    objectives: Option<Vec<Direction>>,
}

impl BayesSampler {
    /// A GP sampler over the study's space, seed, direction and `n_startup_trials`.
    ///
    /// # Errors
    /// [`SearchError::SamplerFailed`] if the space cannot be encoded (it always can for a
    /// checked config).
    pub fn new(config: &StudyConfig) -> Result<Self, SearchError> {
        let settings = Settings {
            initial_design: Some(config.search.n_startup_trials as usize),
            design_seed: config.search.seed,
            ..Settings::default()
        };
        Self::with_settings(
            config.space.clone(),
            config.search.seed,
            config.direction,
            settings,
        )
    }

    /// A GP sampler from its parts, with explicit engine settings.
    ///
    /// # Errors
    /// [`SearchError::SamplerFailed`] if the space cannot be encoded.
    pub fn with_settings(
        space: SearchSpace,
        seed: u64,
        direction: Direction,
        settings: Settings,
    ) -> Result<Self, SearchError> {
        let encoding = Encoding::new(&space);
        let engine = Engine::new(encoding.columns().to_vec(), settings).map_err(failed)?;
        Ok(Self {
            space,
            seed,
            direction,
            encoding,
            engine,
            visited: Visited::default(),
            encoded: Vec::new(),
            constraints: 0,
            objectives: None,
        })
    }

    /// The sampler learning the probability of feasibility of `count` constraints from each
    /// complete trial's margins ([`crate::multi::Judged::margins`]; a trial without them
    /// counts as not having reported any).
    pub fn learning_constraints(mut self, count: usize) -> Self {
        self.constraints = count;
        self
    }

    /// The sampler of a study of several objectives in `directions` (at least two): each
    /// complete trial's objective values ([`crate::multi::Judged::values`]) are modelled by
    /// a GP of their own, and the next trial maximizes the expected hypervolume improvement
    /// of the front.
    pub fn with_objectives(mut self, directions: Vec<Direction>) -> Self {
        self.objectives = Some(directions);
        self
    }
}

/// A complete trial's objective values as losses (NaN when it has not one per direction).
fn losses(judged: Option<&Judged>, directions: &[Direction]) -> Vec<f64> {
    match judged.map(|j| j.values.as_slice()) {
        Some(values) if values.len() == directions.len() => values
            .iter()
            .zip(directions)
            .map(|(&v, d)| d.as_loss(v))
            .collect(),
        _ => vec![f64::NAN; directions.len()],
    }
}

fn failed(e: hypersearch_bo::Error) -> SearchError {
    SearchError::SamplerFailed {
        sampler: "bayes".into(),
        reason: e.to_string(),
    }
}

impl Sampler for BayesSampler {
    fn name(&self) -> &'static str {
        "bayes"
    }

    fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError> {
        let mut rng = trial_rng(self.seed, ctx.trial_number);
        if self.visited.seen() > ctx.trials.len() {
            self.encoded.clear();
        }
        let (encoding, encoded) = (&self.encoding, &mut self.encoded);
        self.visited
            .update_with(&self.space, ctx.trials, |index, canonical| {
                encoded.truncate(index);
                encoded.push(canonical.map(|p| encoding.encode(p)));
            });
        let (mut points, mut values, mut pending) = (Vec::new(), Vec::new(), Vec::new());
        let (mut margins, mut objectives) = (Vec::new(), Vec::new());
        let unreported = vec![f64::NAN; self.constraints];
        let count = self.objectives.as_ref().map_or(0, Vec::len);
        for (t, u) in ctx.trials.iter().zip(&self.encoded) {
            let Some(u) = u else {
                continue;
            };
            let u = u.iter().copied();
            match t.state {
                TrialState::Running => pending.extend(u),
                TrialState::Complete => {
                    points.extend(u);
                    values.push(
                        t.complete_value()
                            .map_or(f64::NAN, |v| self.direction.as_loss(v)),
                    );
                    if let Some(directions) = &self.objectives {
                        objectives.extend(losses(t.judged.as_ref(), directions));
                    }
                    let judged = t.judged.as_ref().map(|j| &j.margins);
                    margins.extend_from_slice(
                        judged
                            .filter(|m| m.len() == self.constraints)
                            .unwrap_or(&unreported),
                    );
                }
                // Known, so never repeated, but without a value for the model.
                TrialState::Pruned | TrialState::Failed => {
                    points.extend(u);
                    values.push(f64::NAN);
                    objectives.extend(std::iter::repeat_n(f64::NAN, count));
                    margins.extend_from_slice(&unreported);
                }
            }
        }
        let history = History {
            points: &points,
            values: &values,
            pending: &pending,
        };
        let margins = Margins {
            values: &margins,
            count: self.constraints,
        };
        let seed = rng.random();
        let mut next = if self.objectives.is_some() {
            let history = ParetoHistory {
                points: &points,
                count,
                objectives: &objectives,
                pending: &pending,
            };
            self.engine.suggest_pareto(&history, &margins, 1, seed)
        } else {
            self.engine.suggest_constrained(&history, &margins, 1, seed)
        }
        .map_err(failed)?;
        let candidate = self.encoding.decode(&next.pop().unwrap_or_default());
        Ok(ensure_new(&self.space, &self.visited, candidate, &mut rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use crate::trial::TrialRecord;
    use crate::{StudyConfig, make_sampler};

    fn config(space: &str, trials: u64) -> StudyConfig {
        let text = format!(
            "[study]\nmetric = \"loss\"\n[objective]\ncommand = \"train.sh\"\n[search]\nalgorithm = \"bayes\"\ntrials = {trials}\nseed = 3\nn_startup_trials = 5\n[search.space]\n{space}"
        );
        StudyConfig::from_toml_str(&text, "bayes.toml").unwrap()
    }

    fn record(number: u64, params: Params, state: TrialState, value: Option<f64>) -> TrialRecord {
        TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number,
            params,
            state,
            value,
            intermediate: vec![],
        }
    }

    fn sphere(p: &Params) -> f64 {
        p.values()
            .filter_map(|v| v.as_f64())
            .map(|v| (v - 0.3) * (v - 0.3))
            .sum()
    }

    #[test]
    fn minimizes_a_mixed_space_with_eight_pending_trials() {
        let cfg = config(
            "x = { float = [-1.0, 1.0] }\ny = { float = [0.01, 10.0], log = true }\nn = { int = [0, 6] }\nc = { choice = [\"a\", \"b\", \"c\"] }\n",
            30,
        );
        let mut sampler = make_sampler(&cfg).unwrap();
        let mut trials: Vec<TrialRecord> = Vec::new();
        for number in 0..30 {
            let Suggestion::Params(p) = sampler
                .suggest(&SampleContext::new(number, &trials))
                .unwrap()
            else {
                panic!("continuous space")
            };
            assert!(cfg.space.validate(&p).is_ok(), "{p:?}");
            let penalty = if p
                .get("c")
                .is_some_and(|c| c.same_as(&crate::params::ParamValue::Str("b".into())))
            {
                0.0
            } else {
                1.0
            };
            let v = sphere(&p) + penalty;
            trials.push(record(number, p, TrialState::Complete, Some(v)));
        }
        let best = trials
            .iter()
            .filter_map(|t| t.value)
            .fold(f64::INFINITY, f64::min);
        assert!(best < 0.5, "best {best}");
        // Eight running trials: eight different points, none equal to a finished one.
        let mut keys: std::collections::HashSet<String> = trials
            .iter()
            .map(|t| SearchSpace::point_key(&t.params))
            .collect();
        for number in 30..38 {
            let Suggestion::Params(p) = sampler
                .suggest(&SampleContext::new(number, &trials))
                .unwrap()
            else {
                panic!("continuous space")
            };
            assert!(keys.insert(SearchSpace::point_key(&p)), "repeated {p:?}");
            trials.push(record(number, p, TrialState::Running, None));
        }
    }

    #[test]
    fn fresh_samplers_agree_and_maximize_flips_the_sign() {
        let cfg = config(
            "x = { float = [-1.0, 1.0] }\ny = { float = [-1.0, 1.0] }\n",
            12,
        );
        let mut trials = Vec::new();
        let mut sampler = BayesSampler::new(&cfg).unwrap();
        for number in 0..12 {
            let Ok(Suggestion::Params(p)) = sampler.suggest(&SampleContext::new(number, &trials))
            else {
                panic!("continuous space")
            };
            let v = sphere(&p);
            trials.push(record(number, p, TrialState::Complete, Some(v)));
        }
        trials.push(record(
            12,
            trials[3].params.clone(),
            TrialState::Failed,
            None,
        ));
        let ctx = SampleContext::new(13, &trials);
        let a = BayesSampler::new(&cfg).unwrap().suggest(&ctx).unwrap();
        let b = BayesSampler::new(&cfg).unwrap().suggest(&ctx).unwrap();
        assert_eq!(a, b);
        let mut max_cfg = cfg.clone();
        max_cfg.direction = Direction::Maximize;
        let c = BayesSampler::new(&max_cfg).unwrap().suggest(&ctx).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn a_small_discrete_space_is_exhausted_without_repeats() {
        let cfg = config("n = { int = [0, 2] }\nc = { choice = [true, false] }\n", 8);
        let mut sampler = make_sampler(&cfg).unwrap();
        let mut trials: Vec<TrialRecord> = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for number in 0..8 {
            match sampler
                .suggest(&SampleContext::new(number, &trials))
                .unwrap()
            {
                Suggestion::Params(p) => {
                    assert!(keys.insert(SearchSpace::point_key(&p)), "repeated {p:?}");
                    let v = p.get("n").and_then(|v| v.as_f64()).unwrap();
                    trials.push(record(number, p, TrialState::Complete, Some(v)));
                }
                Suggestion::Exhausted => {
                    assert_eq!(number, 6);
                    return;
                }
            }
        }
        panic!("6 points, never exhausted");
    }

    /// One `[search.space]` entry: a float (linear or log), a stepped int or a choice.
    fn param_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            (-5.0f64..5.0, 0.5f64..20.0)
                .prop_map(|(lo, w)| format!("{{ float = [{lo:?}, {:?}] }}", lo + w)),
            (0.01f64..1.0, 2.0f64..100.0)
                .prop_map(|(lo, f)| format!("{{ float = [{lo:?}, {:?}], log = true }}", lo * f)),
            (-3i64..3, 2i64..30).prop_map(|(lo, w)| format!("{{ int = [{lo}, {}] }}", lo + w)),
            Just("{ choice = [\"a\", \"b\", \"c\"] }".to_string()),
        ]
    }

    proptest::proptest! {
        // Each case fits several GPs: few cases.
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 6, ..Default::default() })]

        /// The contract of `sampler/mod.rs`: fresh samplers given the same history (finished
        /// and running trials) and seed agree; a long-lived one (warm-started fit) may
        /// differ but still proposes a valid new point.
        #[test]
        fn fresh_samplers_given_the_same_history_agree(
            lines in proptest::collection::vec(param_line(), 1..4),
            trials_run in 8u64..16,
        ) {
            let space: String = lines.iter().enumerate().map(|(i, l)| format!("p{i} = {l}\n")).collect();
            let cfg = config(&space, 40);
            let mut long_lived = BayesSampler::new(&cfg).unwrap();
            let mut trials: Vec<TrialRecord> = Vec::new();
            for number in 0..trials_run {
                let Suggestion::Params(p) = long_lived
                    .suggest(&SampleContext::new(number, &trials))
                    .unwrap()
                else {
                    break;
                };
                let running = number % 4 == 3;
                let v = p.values().filter_map(|v| v.as_f64()).map(|v| (v - 0.7).abs()).sum::<f64>();
                let state = if running { TrialState::Running } else { TrialState::Complete };
                trials.push(record(number, p, state, (!running).then_some(v)));
            }
            let ctx = SampleContext::new(trials.len() as u64, &trials);
            let a = BayesSampler::new(&cfg).unwrap().suggest(&ctx).unwrap();
            let b = BayesSampler::new(&cfg).unwrap().suggest(&ctx).unwrap();
            proptest::prop_assert_eq!(&a, &b);
            let keys: std::collections::HashSet<String> =
                trials.iter().map(|t| SearchSpace::point_key(&t.params)).collect();
            for s in [a, long_lived.suggest(&ctx).unwrap()] {
                if let Suggestion::Params(p) = s {
                    proptest::prop_assert!(cfg.space.validate(&p).is_ok(), "{:?}", p);
                    proptest::prop_assert!(!keys.contains(&SearchSpace::point_key(&p)), "repeated {:?}", p);
                }
            }
        }
    }
}

#[cfg(test)]
mod constrained_tests;

#[cfg(test)]
mod pareto_tests;
