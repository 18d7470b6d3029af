//! Samplers driving real searches on the built-in test functions.

use hypersearch_search::{
    Direction, SampleContext, StudyConfig, Suggestion, TrialRecord, TrialState, make_sampler,
};

/// A study on a test function with `algorithm`, `trials` and `seed`.
pub fn function_study(
    function: &str,
    dims: usize,
    algorithm: &str,
    trials: u64,
    seed: u64,
) -> StudyConfig {
    let f = hypersearch_testfns::find(function).unwrap();
    let space: String = f
        .bounds(dims)
        .iter()
        .enumerate()
        .map(|(i, (lo, hi))| format!("x{} = {{ float = [{lo:?}, {hi:?}] }}\n", i + 1))
        .collect();
    let text = format!(
        "[objective]\nfunction = \"{function}\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = {trials}\nseed = {seed}\n[search.space]\n{space}"
    );
    StudyConfig::from_toml_str(&text, "test.toml").unwrap()
}

/// Runs the study sequentially; returns the best value found.
pub fn run(config: &StudyConfig) -> f64 {
    let Hypersearch::Objective::Function(name) = &config.objective else {
        panic!("function objective")
    };
    let mut sampler = make_sampler(config).unwrap();
    let mut trials: Vec<TrialRecord> = Vec::new();
    for number in 0..config.search.trials {
        let Suggestion::Params(params) = sampler
            .suggest(&SampleContext {
                trial_number: number,
                trials: &trials,
            })
            .unwrap()
        else {
            break;
        };
        let named: Vec<(String, f64)> = params
            .iter()
            .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
            .collect();
        let refs: Vec<(&str, f64)> = named.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let value = hypersearch_testfns::evaluate_named(name, &refs).unwrap();
        trials.push(TrialRecord {
            number,
            params,
            state: TrialState::Complete,
            value: Some(value),
            intermediate: vec![],
        });
    }
    assert_eq!(config.direction, Direction::Minimize);
    trials
        .iter()
        .filter_map(|t| t.value)
        .fold(f64::INFINITY, f64::min)
}

use hypersearch_search as Hypersearch;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn tpe_beats_random_on_branin_and_hartmann6() {
    for (function, dims, budget) in [("branin", 2, 60), ("hartmann6", 6, 80)] {
        let minimum = hypersearch_testfns::find(function).unwrap().minimum(dims);
        let regret = |algorithm: &str| {
            median(
                (0..5)
                    .map(|seed| {
                        run(&function_study(function, dims, algorithm, budget, seed)) - minimum
                    })
                    .collect(),
            )
        };
        let (tpe, random) = (regret("tpe"), regret("random"));
        eprintln!("{function}: tpe {tpe:.4}, random {random:.4}");
        assert!(tpe < random, "{function}: tpe {tpe} vs random {random}");
    }
}
