//! The evolution sampler over an architecture space: children are one change away from a
//! parent of the population, the warm-up is random and counts running trials, and the same
//! seed and history give the same suggestion.

use super::*;
use crate::params::{ParamValue, Params};
use crate::sampler::RandomSampler;
use crate::space::architecture::{LAYERS, per_layer_name};
use crate::trial::{TrialRecord, TrialState};

/// An architecture space with every kind of parameter, no conditions of its own.
const STUDY: &str = r#"
[objective]
command = "./train"
[study]
metric = "loss"
[search]
algorithm = "evolution"
trials = 100
seed = 11
[search.evolution]
population = 5
sample_size = 5
[search.space]
lr = { float = [1e-4, 1e-1], log = true }
batch = { int = [16, 128], step = 16 }
opt = { choice = ["sgd", "adam"] }
[search.architecture]
layers = { int = [0, 4] }
units = { int = [16, 256], log = true }
dropout = { float = [0.0, 0.5] }
activation = { choice = ["relu", "elu", "gelu"] }
batch_norm = { choice = [true, false] }
"#;

/// The same with parameters that exist only under conditions, on an ordinary parameter and
/// on the depth.
const CONDITIONAL: &str = r#"
momentum = { float = [0.5, 0.99], when = { opt = "sgd" } }
wide_head = { choice = [true, false], when = { "arch.layers" = [3, 4] } }
"#;

fn config(extra_space: &str) -> StudyConfig {
    let text = STUDY.replace(
        "[search.architecture]",
        &format!("{extra_space}[search.architecture]"),
    );
    StudyConfig::from_toml_str(&text, "evolution.toml").unwrap()
}

/// The point's per-layer `kind` values, layer 1 first.
fn column(point: &Params, kind: &str) -> Vec<ParamValue> {
    let depth = point[LAYERS].as_i64().unwrap() as usize;
    (1..=depth)
        .map(|k| point[&per_layer_name(kind, k)].clone())
        .collect()
}

/// Whether `long` is `short` with one contiguous block of values inserted, each a copy of
/// the block's neighbour when `copies`.
fn one_block_more(short: &[ParamValue], long: &[ParamValue], copies: bool) -> bool {
    let n = long.len() - short.len();
    (0..=short.len()).any(|at| {
        let neighbour = if at > 0 {
            short.get(at - 1)
        } else {
            short.first()
        };
        long[..at] == short[..at]
            && long[at + n..] == short[at..]
            && (!copies
                || long[at..at + n]
                    .iter()
                    .all(|v| neighbour.is_none_or(|w| v == w)))
    })
}

/// Describes how `child` differs from `parent`, failing unless it is exactly one change.
fn the_one_change(parent: &Params, child: &Params) -> String {
    let (p, c) = (column(parent, "units").len(), column(child, "units").len());
    if p != c {
        let others = |point: &Params| -> Params {
            point
                .iter()
                .filter(|(k, _)| !k.contains("units_") && !k.contains("dropout_") && *k != LAYERS)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        assert_eq!(others(parent), others(child), "a depth change touched more");
        for kind in ["units", "dropout"] {
            let (a, b) = (column(parent, kind), column(child, kind));
            let ok = if c > p {
                one_block_more(&a, &b, true)
            } else {
                one_block_more(&b, &a, false)
            };
            assert!(
                ok,
                "{kind}: {a:?} -> {b:?} is not one block of layers added or removed"
            );
        }
        return if c > p { "add".into() } else { "remove".into() };
    }
    assert_eq!(
        parent.keys().collect::<Vec<_>>(),
        child.keys().collect::<Vec<_>>()
    );
    let changed: Vec<&String> = parent.keys().filter(|k| parent[*k] != child[*k]).collect();
    assert_eq!(changed.len(), 1, "{parent:?} -> {child:?}");
    changed[0].split('_').next().unwrap_or_default().to_string()
}

#[test]
fn a_child_differs_from_its_parent_in_exactly_one_thing_and_fits_the_space() {
    let config = config("");
    let mut kinds = std::collections::BTreeSet::new();
    for n in 0..2_000 {
        let mut rng = trial_rng(1, n);
        let parent = config.space.sample(&mut rng);
        let child = mutation::mutate(&config.space, &parent, &mut rng).unwrap();
        assert_eq!(config.space.validate(&child).as_ref(), Ok(&child));
        kinds.insert(the_one_change(&parent, &child));
    }
    let every: Vec<&str> = vec![
        "add",
        "arch.activation",
        "arch.batch",
        "arch.dropout",
        "arch.units",
        "batch",
        "lr",
        "opt",
        "remove",
    ];
    assert_eq!(kinds.iter().map(String::as_str).collect::<Vec<_>>(), every);
}

#[test]
fn children_of_a_conditional_space_always_fit_it() {
    let config = config(CONDITIONAL);
    for n in 0..2_000 {
        let mut rng = trial_rng(2, n);
        let parent = config.space.sample(&mut rng);
        let child = mutation::mutate(&config.space, &parent, &mut rng).unwrap();
        assert_eq!(config.space.validate(&child).as_ref(), Ok(&child));
        assert_ne!(child, parent);
    }
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

/// Trials 0..n, completed, each valued by `value(number)`.
fn completed_history(config: &StudyConfig, n: u64, value: impl Fn(u64) -> f64) -> Vec<TrialRecord> {
    (0..n)
        .map(|number| {
            let params = config.space.sample(&mut trial_rng(99, number));
            record(number, params, TrialState::Complete, Some(value(number)))
        })
        .collect()
}

fn suggest(config: &StudyConfig, trials: &[TrialRecord]) -> Params {
    let mut sampler = EvolutionSampler::new(config);
    let number = trials.len() as u64;
    match sampler
        .suggest(&SampleContext::new(number, trials))
        .unwrap()
    {
        Suggestion::Params(p) => p,
        Suggestion::Exhausted => panic!("an architecture space with floats is never exhausted"),
    }
}

#[test]
fn the_warm_up_is_random_and_counts_running_trials() {
    let config = config("");
    let mut random = RandomSampler::new(&config);
    let mut trials = Vec::new();
    // Five workers at the start: five random trials, none finished.
    for number in 0..5 {
        let ours = suggest(&config, &trials);
        let theirs = random
            .suggest(&SampleContext::new(number, &trials))
            .unwrap();
        assert_eq!(Suggestion::Params(ours.clone()), theirs);
        trials.push(record(number, ours, TrialState::Running, None));
    }
    // Still random while fewer than `sample_size` have completed.
    trials[0].state = TrialState::Complete;
    trials[0].value = Some(1.0);
    let sixth = suggest(&config, &trials);
    assert_eq!(
        Suggestion::Params(sixth),
        random.suggest(&SampleContext::new(5, &trials)).unwrap()
    );
}

#[test]
fn after_the_warm_up_each_child_is_one_change_from_the_best_of_the_newest_population() {
    let config = config("");
    // Trial 2 is the best ever, but five newer trials have completed since: it has died.
    // Of the newest five (5..=9), trial 7 is the best; with sample_size = population the
    // tournament always finds it.
    let value = |n: u64| match n {
        2 => 0.0,
        7 => 1.0,
        _ => 10.0 + n as f64,
    };
    let mut trials = completed_history(&config, 10, value);
    trials[6].state = TrialState::Failed;
    trials[6].value = None;
    trials.insert(
        10,
        record(
            10,
            config.space.sample(&mut trial_rng(98, 0)),
            TrialState::Pruned,
            None,
        ),
    );
    let parent = trials[7].params.clone();
    for seed in 0..20 {
        let mut seeded = config.clone();
        seeded.search.seed = seed;
        let child = suggest(&seeded, &trials);
        the_one_change(&parent, &child);
    }
}

#[test]
fn the_same_seed_and_history_give_the_same_suggestions() {
    let config = config("");
    let trials = completed_history(&config, 30, |n| ((n * 37) % 11) as f64);
    let mut long_lived = EvolutionSampler::new(&config);
    for n in 5..=30 {
        let history = &trials[..n];
        let again = long_lived
            .suggest(&SampleContext::new(n as u64, history))
            .unwrap();
        assert_eq!(Suggestion::Params(suggest(&config, history)), again);
    }
    let mut other = config.clone();
    other.search.seed += 1;
    assert_ne!(suggest(&config, &trials), suggest(&other, &trials));
}

#[test]
fn a_child_is_never_a_running_or_finished_trial() {
    // A space so small that most mutations of the parent land on a trial already made.
    let text = STUDY
        .replace("lr = { float = [1e-4, 1e-1], log = true }\n", "")
        .replace("batch = { int = [16, 128], step = 16 }\n", "")
        .replace(
            "[search.architecture]\nlayers = { int = [0, 4] }\nunits = { int = [16, 256], log = true }\ndropout = { float = [0.0, 0.5] }\n",
            "[search.architecture]\nlayers = { int = [1, 2] }\nunits = { choice = [8, 16] }\n",
        );
    let config = StudyConfig::from_toml_str(&text, "small.toml").unwrap();
    let size = config.space.size().unwrap();
    let mut trials: Vec<TrialRecord> = Vec::new();
    let mut sampler = EvolutionSampler::new(&config);
    for number in 0.. {
        match sampler
            .suggest(&SampleContext::new(number, &trials))
            .unwrap()
        {
            Suggestion::Params(p) => {
                assert!(trials.iter().all(|t| t.params != p), "{p:?} again");
                let state = if number % 2 == 0 {
                    TrialState::Running
                } else {
                    TrialState::Complete
                };
                trials.push(record(number, p, state, Some(number as f64)));
            }
            Suggestion::Exhausted => break,
        }
    }
    assert_eq!(trials.len() as u128, size);
}
