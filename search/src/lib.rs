//! The search library: study configs, search spaces, samplers and early-stopping rules.
//! Pure (no async runtime, network or database): the coordinator calls it with the history
//! it keeps and records what it answers.
//!
//! Layout:
//! - [`config`]: the study file, parsed and checked once into a [`StudyConfig`];
//! - [`space`]: the [`SearchSpace`] (domains, conditions, params → training overrides);
//! - [`params`]: a trial's [`Params`] (name → number / string / boolean);
//! - [`trial`]: the [`TrialRecord`] history samplers and pruners read;
//! - [`sampler`]: the [`Sampler`] trait, [`make_sampler`], grid / random / TPE / bayes /
//!   evolution;
//! - [`pruner`]: the [`Pruner`] trait, [`make_pruner`], median / percentile / ASHA / Hyperband;
//! - [`multi`]: several objectives and constraints ([`Objectives`]): Pareto ranking,
//!   hypervolume, and the scalarizations the samplers learn from;
//! - [`error`]: [`ConfigError`] and [`SearchError`].
//!
//! ```
//! use hypersearch_search::{make_sampler, SampleContext, StudyConfig, Suggestion};
//!
//! let text = r#"
//! [objective]
//! function = "branin"
//! [search]
//! algorithm = "random"
//! trials = 10
//! seed = 7
//! [search.space]
//! x1 = { float = [-5, 10] }
//! x2 = { float = [0, 15] }
//! "#;
//! let config = StudyConfig::from_toml_str(text, "branin.toml").unwrap();
//! let mut sampler = make_sampler(&config).unwrap();
//! let Suggestion::Params(params) = sampler.suggest(&SampleContext::new(0, &[])).unwrap()
//! else { panic!("a continuous space is never exhausted") };
//! assert!(config.space.validate(&params).is_ok());
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod error;
pub mod multi;
pub mod order;
pub mod params;
pub mod pruner;
pub mod sampler;
pub mod space;
pub mod trial;

pub use config::{Algorithm, EarlyStopping, Objective, StudyConfig};
pub use error::{ConfigError, ConfigErrorKind, SearchError};
pub use multi::{Constraint, Goal, Judged, Objectives, Operator};
pub use params::{ParamValue, Params};
pub use pruner::{Decision, Pruner, StopReason, make_pruner};
pub use sampler::{
    ConstraintHandling, SampleContext, Sampler, Suggestion, make_sampler, make_sampler_with,
    trial_rng,
};
pub use space::{Condition, Domain, ParamSpec, SearchSpace};
pub use trial::{Direction, EpochObjectives, TrialRecord, TrialState};
