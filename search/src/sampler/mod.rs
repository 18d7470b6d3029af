//! Samplers: propose the next trial's params from the history.
//!
//! The reproducibility contract: a **fresh** sampler given the same space, history
//! (finished and running trials) and study seed proposes the same point, because every
//! random choice flows from an RNG seeded from the study seed and the trial number. A
//! **long-lived** sampler may keep state between calls that changes its answer: `bayes`
//! warm-starts its hyperparameter fit from the previous call's (as Optuna's GP sampler
//! does) and reuses hyperparameters between scheduled refits, so after a coordinator
//! restart its next suggestion may differ from the one the old process would have made
//! (it is still a valid, new point). `random`, `grid`, `tpe` and `evolution` only cache work
//! that never changes the answer, so for them a long-lived sampler and a fresh one agree. None
//! proposes a point equal to a running or finished one unless the space is exhausted
//! ([`Suggestion::Exhausted`]).
//!
//! Layout: `random`, `grid`, `tpe`, `bayes` (the GP adapter over `hypersearch-bo`),
//! `evolution` (regularized evolution), `scalarized` (several objectives and constraints
//! through any of them), `enqueue` (user configurations first), `history`
//! (duplicate avoidance).

pub mod bayes;
mod enqueue;
mod evolution;
mod grid;
pub mod history;
mod random;
pub mod scalarized;
mod tpe;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use enqueue::Enqueued;
pub use evolution::EvolutionSampler;
pub use grid::GridSampler;
pub use random::RandomSampler;
use scalarized::{Scalarization, Scalarized};
pub use tpe::TpeSampler;

use crate::config::{Algorithm, StudyConfig};
use crate::error::SearchError;
use crate::params::Params;
use crate::trial::TrialRecord;

/// What a sampler sees when asked for trial `trial_number`.
///
/// The history only grows: trials are appended, and a trial already in it changes only its
/// state, value and curve (when it ends). Samplers keep what they derived from it between
/// calls and look only at what is new, so a suggestion costs the same late in a large study
/// as early: the trials past the ones seen at the previous call, and those `changed` names.
#[derive(Debug, Clone, Copy)]
pub struct SampleContext<'a> {
    /// The number of the trial being created.
    pub trial_number: u64,
    /// Every trial of the study so far, finished and running (all states), ordered by
    /// number. A suggestion must be recorded as running before the next `suggest` call.
    /// Samplers read a trial's state, value and last report (how deep a pruned trial got);
    /// the coordinator keeps only that last report of each curve.
    pub trials: &'a [TrialRecord],
    /// The numbers of the trials that ended since this sampler's previous call, or `None`
    /// when that is not known (then any trial may have changed, and a sampler re-reads
    /// every state: correct, but in time linear in the history).
    pub changed: Option<&'a [u64]>,
}

impl<'a> SampleContext<'a> {
    /// A context where any trial may have changed since the previous call.
    pub fn new(trial_number: u64, trials: &'a [TrialRecord]) -> Self {
        SampleContext {
            trial_number,
            trials,
            changed: None,
        }
    }

    /// A context naming the trials that ended since the previous call.
    pub fn with_changes(trial_number: u64, trials: &'a [TrialRecord], changed: &'a [u64]) -> Self {
        SampleContext {
            trial_number,
            trials,
            changed: Some(changed),
        }
    }
}

/// A sampler's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Suggestion {
    /// Run these params.
    Params(Params),
    /// Every point of the (finite) space has been proposed: start no more trials.
    Exhausted,
}

/// Proposes the next configuration. Synchronous CPU work: run it off the async runtime.
pub trait Sampler: Send {
    /// The algorithm's name (`random`, `grid`, `tpe`, `bayes`, `evolution`).
    fn name(&self) -> &'static str;

    /// The params for trial `ctx.trial_number`.
    ///
    /// # Errors
    /// [`SearchError`] when the history does not fit the space or a model fails.
    fn suggest(&mut self, ctx: &SampleContext<'_>) -> Result<Suggestion, SearchError>;
}

/// The RNG of trial `trial_number` in a study seeded `seed`: the only randomness a sampler
/// may use.
pub fn trial_rng(seed: u64, trial_number: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(trial_number);
    rng
}

/// The configured algorithm for one objective.
fn single_objective(config: &StudyConfig) -> Result<Box<dyn Sampler>, SearchError> {
    Ok(match config.search.algorithm {
        Algorithm::Random => Box::new(RandomSampler::new(config)),
        Algorithm::Grid => Box::new(GridSampler::new(config)),
        Algorithm::Tpe => Box::new(TpeSampler::new(config)),
        Algorithm::Bayes => Box::new(bayes::BayesSampler::new(config)?),
        Algorithm::Evolution => Box::new(EvolutionSampler::new(config)),
    })
}

/// How a learning sampler takes constraints into account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintHandling {
    /// `bayes` models each constraint and multiplies its acquisition by the probability of
    /// feasibility, and models each of several objectives (expected hypervolume improvement);
    /// the other samplers rank infeasible trials behind feasible ones. The default.
    Feasibility,
    /// Every learning sampler sees infeasible trials as worse than every feasible one, by
    /// their violation (a penalty in the scalarized history), and `bayes` scalarizes
    /// several objectives by ParEGO; for comparisons.
    Penalty,
}

/// The sampler the study asks for (wrapped by [`scalarized`] when it learns from several
/// objectives or constraints), serving enqueued configurations first.
///
/// # Errors
/// [`SearchError::Unavailable`] when the algorithm is not built in.
pub fn make_sampler(config: &StudyConfig) -> Result<Box<dyn Sampler>, SearchError> {
    make_sampler_with(config, ConstraintHandling::Feasibility)
}

/// [`make_sampler`] with an explicit [`ConstraintHandling`].
///
/// # Errors
/// [`SearchError::Unavailable`] when the algorithm is not built in.
pub fn make_sampler_with(
    config: &StudyConfig,
    handling: ConstraintHandling,
) -> Result<Box<dyn Sampler>, SearchError> {
    let learns = !matches!(config.search.algorithm, Algorithm::Random | Algorithm::Grid);
    let bayes_models =
        config.search.algorithm == Algorithm::Bayes && handling == ConstraintHandling::Feasibility;
    let constraints = config.objectives.constraints.len();
    let inner: Box<dyn Sampler> = if bayes_models && config.objectives.is_multi() {
        Box::new(
            bayes::BayesSampler::new(config)?
                .learning_constraints(constraints)
                .with_objectives(config.objectives.directions()),
        )
    } else if bayes_models && constraints > 0 {
        Box::new(bayes::BayesSampler::new(config)?.learning_constraints(constraints))
    } else if learns && config.objectives.needs_metrics() {
        // The single-objective sampler minimizes the scalarized losses.
        let mut minimizing = config.clone();
        minimizing.direction = crate::trial::Direction::Minimize;
        let (method, inner): (_, Box<dyn Sampler>) = match config.search.algorithm {
            Algorithm::Bayes => (Scalarization::ParEgo, single_objective(&minimizing)?),
            _ => (Scalarization::Rank, single_objective(&minimizing)?),
        };
        Box::new(Scalarized::new(
            inner,
            config.objectives.clone(),
            method,
            config.search.seed,
        ))
    } else {
        single_objective(config)?
    };
    Ok(if config.enqueued.is_empty() {
        inner
    } else {
        Box::new(Enqueued::new(config, inner))
    })
}
