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
            .suggest(&SampleContext::new(number, &trials))
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
            judged: None,
            intermediate_objectives: Vec::new(),
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

/// A made-up architecture objective: best at 3 layers of 128 units with dropout 0.2 and elu.
fn architecture_loss(params: &hypersearch_search::Params) -> f64 {
    let layers = params["arch.layers"].as_i64().unwrap();
    let mut loss = (layers - 3).pow(2) as f64;
    for k in 1..=layers {
        let units = params[&format!("arch.units_{k}")].as_f64().unwrap();
        let dropout = params[&format!("arch.dropout_{k}")].as_f64().unwrap();
        loss += ((units.log2() - 7.0).powi(2) + 10.0 * (dropout - 0.2).powi(2)) / layers as f64;
    }
    if params["arch.activation"] != hypersearch_search::ParamValue::Str("elu".into()) {
        loss += 0.5;
    }
    loss
}

#[test]
fn tpe_beats_random_on_a_conditional_architecture_space() {
    let best = |algorithm: &str, seed: u64| {
        let text = format!(
            "[objective]\ncommand = \"./train\"\n[study]\nmetric = \"loss\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = 60\nseed = {seed}\n[search.architecture]\nlayers = {{ int = [1, 5] }}\nunits = {{ int = [16, 1024], log = true }}\ndropout = {{ float = [0.0, 0.5] }}\nactivation = {{ choice = [\"relu\", \"elu\", \"tanh\"] }}\n"
        );
        let config = StudyConfig::from_toml_str(&text, "arch.toml").unwrap();
        let mut sampler = make_sampler(&config).unwrap();
        let mut trials: Vec<TrialRecord> = Vec::new();
        for number in 0..60 {
            let Suggestion::Params(params) = sampler
                .suggest(&SampleContext::new(number, &trials))
                .unwrap()
            else {
                panic!("a continuous space is never exhausted")
            };
            config.space.validate(&params).unwrap();
            let value = architecture_loss(&params);
            trials.push(TrialRecord {
                judged: None,
                intermediate_objectives: Vec::new(),
                number,
                params,
                state: TrialState::Complete,
                value: Some(value),
                intermediate: vec![],
            });
        }
        trials
            .iter()
            .filter_map(|t| t.value)
            .fold(f64::INFINITY, f64::min)
    };
    let tpe = median((0..7).map(|s| best("tpe", s)).collect());
    let random = median((0..7).map(|s| best("random", s)).collect());
    eprintln!("architecture: tpe {tpe:.4}, random {random:.4}");
    assert!(tpe < random, "tpe {tpe} vs random {random}");
}
