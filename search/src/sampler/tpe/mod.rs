//! Tree-structured Parzen estimator with Optuna's constants and semantics: the finished
//! trials split into "good" (the best γ(n) = min(⌈0.1·n⌉, 25)) and "bad"; running trials
//! join "bad" (constant liar); pruned trials fill "good" by depth when too few completed;
//! 24 candidates drawn from l(x), the one maximizing ln l(x) − ln g(x) wins.
//! Conditional spaces are modelled group-wise: parameters that exist together (the same
//! condition) form one multivariate group, fitted on the trials where they exist.
//!
//! The history is indexed incrementally (`book`), and the "bad" side holds at most the newest
//! 1,024 trials, so a suggestion costs the same at the 100,000th trial as at the 1,000th.
//!
//! Layout: `book` (the indexed history), `split` (good / bad), `parzen` (the estimator),
//! `normal` (truncated normals).

mod book;
mod normal;
mod parzen;
mod split;

use rand::Rng;

use super::history::{Visited, ensure_new};
use super::{SampleContext, Sampler, Suggestion, trial_rng};
use crate::config::{StudyConfig, TpeSettings};
use crate::error::SearchError;
use crate::params::{ParamValue, Params};
use crate::space::{Condition, Domain, SearchSpace};
use crate::trial::{Direction, TrialRecord};
use book::{Book, Split};
use parzen::{Options, ParamKind, Parzen};

/// Redraws of the candidate set before falling back to a random new point.
const DUPLICATE_RETRIES: usize = 16;

/// Parameters modelled jointly.
#[derive(Debug, Clone)]
struct Group {
    /// Indices into the space's parameters (same condition).
    params: Vec<usize>,
    kinds: Vec<ParamKind>,
}

/// The TPE sampler.
#[derive(Debug, Clone)]
pub struct TpeSampler {
    space: SearchSpace,
    seed: u64,
    direction: Direction,
    settings: TpeSettings,
    n_startup_trials: usize,
    groups: Vec<Group>,
    visited: Visited,
    /// The history as the split and the estimators read it.
    book: Book,
}

impl TpeSampler {
    /// A TPE sampler with the study's space, seed, direction and `[search.tpe]` settings.
    pub fn new(config: &StudyConfig) -> Self {
        Self::with_settings(
            config.space.clone(),
            config.search.seed,
            config.direction,
            config.search.tpe.clone(),
            config.search.n_startup_trials as usize,
        )
    }

    /// A TPE sampler from its parts.
    pub fn with_settings(
        space: SearchSpace,
        seed: u64,
        direction: Direction,
        settings: TpeSettings,
        n_startup_trials: usize,
    ) -> Self {
        let groups = make_groups(&space, &settings);
        let book = Book::new(space.params().len());
        TpeSampler {
            space,
            seed,
            direction,
            settings,
            n_startup_trials,
            groups,
            visited: Visited::default(),
            book,
        }
    }

    fn options(&self) -> Options {
        Options {
            prior_weight: self.settings.prior_weight,
            bandwidth: self.settings.bandwidth,
            consider_endpoints: self.settings.consider_endpoints,
            bandwidth_floor: self.settings.bandwidth_floor,
        }
    }

    /// Fits l and g for `group` on the good and bad trials where the group exists.
    fn fit(&self, group: &Group, trials: &[TrialRecord], split: &Split) -> (Parzen, Parzen) {
        let rows = |numbers: &[u64]| -> Vec<Vec<f64>> {
            numbers
                .iter()
                .filter_map(|&number| {
                    let encoded = self.book.encoded(index_of(trials, number)?);
                    group
                        .params
                        .iter()
                        .map(|&j| Some(encoded[j]).filter(|v| !v.is_nan()))
                        .collect()
                })
                .collect()
        };
        let options = self.options();
        (
            Parzen::new(&rows(&split.below), &group.kinds, options),
            Parzen::new(&rows(&split.above), &group.kinds, options),
        )
    }

    /// One point: each active group sampled from its own l/g pair (fitted on first use).
    fn sample_point<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        fitted: &mut [Option<(Parzen, Parzen)>],
        trials: &[TrialRecord],
        split: &Split,
    ) -> Params {
        let mut point = Params::new();
        for (g, group) in self.groups.iter().enumerate() {
            let first = &self.space.params()[group.params[0]];
            if !self.space.is_active(first, &point) {
                continue;
            }
            let (l, gx) = fitted[g].get_or_insert_with(|| self.fit(group, trials, split));
            let candidates = l.sample(rng, self.settings.n_ei_candidates as usize);
            let (ll, lg) = (l.log_pdf(&candidates), gx.log_pdf(&candidates));
            let mut best = 0;
            let mut best_score = f64::NEG_INFINITY;
            for (i, (a, b)) in ll.iter().zip(&lg).enumerate() {
                let score = a - b;
                if score > best_score {
                    best = i;
                    best_score = score;
                }
            }
            for (k, &j) in group.params.iter().enumerate() {
                let spec = &self.space.params()[j];
                let x = candidates[best][k];
                let value = match &spec.domain {
                    Domain::Categorical(choices) => {
                        choices[(x as usize).min(choices.len() - 1)].clone()
                    }
                    Domain::Int(_) => ParamValue::Int(x.round() as i64),
                    Domain::Float(_) => ParamValue::Float(x),
                };
                point.insert(spec.name.clone(), value);
            }
        }
        point
    }
}

/// Every parameter's value in `params` as an estimator input (the choice index for a
/// categorical), NaN where absent.
fn encode_all(space: &SearchSpace, params: &Params) -> Vec<f64> {
    space
        .params()
        .iter()
        .map(|spec| {
            let value = params.get(&spec.name).and_then(|v| match &spec.domain {
                Domain::Categorical(choices) => {
                    choices.iter().position(|c| c.same_as(v)).map(|i| i as f64)
                }
                _ => v.as_f64(),
            });
            value.unwrap_or(f64::NAN)
        })
        .collect()
}

fn make_groups(space: &SearchSpace, settings: &TpeSettings) -> Vec<Group> {
    let kind = |j: usize| match &space.params()[j].domain {
        Domain::Float(d) => ParamKind::Numeric {
            low: d.low,
            high: d.effective_high(),
            log: d.log,
            step: d.step,
        },
        Domain::Int(d) => ParamKind::Numeric {
            low: d.low as f64,
            high: d.effective_high() as f64,
            log: d.log,
            step: Some(d.step as f64),
        },
        Domain::Categorical(c) => ParamKind::Categorical { n: c.len() },
    };
    let group = |params: Vec<usize>| Group {
        kinds: params.iter().map(|&j| kind(j)).collect(),
        params,
    };
    let n = space.params().len();
    if !settings.multivariate {
        return (0..n).map(|j| group(vec![j])).collect();
    }
    // Conditions, in order of first appearance (None first): a parameter's parents come
    // before it in the space, so a group's parents are in groups sampled before it.
    let mut keys: Vec<Option<&Condition>> = vec![None];
    for p in space.params() {
        let key = p.condition.as_ref();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut out = Vec::new();
    for key in keys {
        let members: Vec<usize> = (0..n)
            .filter(|&j| space.params()[j].condition.as_ref() == key)
            .collect();
        if members.is_empty() {
            continue;
        }
        if key.is_none() || settings.group {
            out.push(group(members));
        } else {
            out.extend(members.into_iter().map(|j| group(vec![j])));
        }
    }
    out
}

impl Sampler for TpeSampler {
    fn name(&self) -> &'static str {
        "tpe"
    }

    fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError> {
        let mut rng = trial_rng(self.seed, ctx.trial_number);
        self.take_in(ctx);
        if self.book.finished() < self.n_startup_trials {
            let candidate = self.space.sample(&mut rng);
            return Ok(ensure_new(&self.space, &self.visited, candidate, &mut rng));
        }
        let split = self.book.split();
        let mut fitted: Vec<Option<(Parzen, Parzen)>> = vec![None; self.groups.len()];
        let mut candidate = Params::new();
        for _ in 0..DUPLICATE_RETRIES {
            candidate = self.sample_point(&mut rng, &mut fitted, ctx.trials, &split);
            if !self.visited.contains(&candidate) {
                return Ok(Suggestion::Params(candidate));
            }
        }
        Ok(ensure_new(&self.space, &self.visited, candidate, &mut rng))
    }
}

impl TpeSampler {
    /// Brings the book up to date: the trials that ended since the last call (every known
    /// trial when that is not known), then the new ones.
    fn take_in(&mut self, ctx: &SampleContext<'_>) {
        let (direction, liar) = (self.direction, self.settings.constant_liar);
        if self.book.len() > ctx.trials.len() {
            self.book.clear();
            self.visited = Visited::default();
        }
        let known = self.book.len();
        match ctx.changed {
            Some(numbers) => {
                for &number in numbers {
                    if let Some(index) = index_of(ctx.trials, number).filter(|&i| i < known) {
                        self.book
                            .refresh(index, &ctx.trials[index], direction, liar);
                    }
                }
            }
            None => {
                for (index, trial) in ctx.trials[..known].iter().enumerate() {
                    self.book.refresh(index, trial, direction, liar);
                }
            }
        }
        let (space, book) = (&self.space, &mut self.book);
        self.visited
            .update_with(&self.space, ctx.trials, |index, canonical| {
                let encoded = canonical.map(|p| encode_all(space, p));
                book.push(&ctx.trials[index], encoded, direction, liar);
            });
    }
}

/// The index of trial `number` in a history ordered by number (usually `number` itself).
fn index_of(trials: &[TrialRecord], number: u64) -> Option<usize> {
    let guess = usize::try_from(number).ok()?;
    if trials.get(guess).is_some_and(|t| t.number == number) {
        return Some(guess);
    }
    trials.binary_search_by_key(&number, |t| t.number).ok()
}
