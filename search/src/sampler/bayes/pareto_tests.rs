//! The bayes sampler on several objectives: one GP per objective and the expected
//! hypervolume improvement, against ParEGO's scalarization.

use crate::multi::hypervolume::{hypervolume, hypervolume_2d};
use crate::multi::pareto::on_front;
use crate::params::Params;
use crate::sampler::{ConstraintHandling, SampleContext, Suggestion, make_sampler_with};
use crate::trial::{TrialRecord, TrialState};
use crate::{StudyConfig, make_sampler};

fn config(seed: u64) -> StudyConfig {
    let text = format!(
        "[objective]\nfunction = \"branin_currin\"\n[search]\nalgorithm = \"bayes\"\ntrials = 40\nseed = {seed}\n[search.space]\nx1 = {{ float = [0, 1] }}\nx2 = {{ float = [0, 1] }}\n"
    );
    StudyConfig::from_toml_str(&text, "bc.toml").unwrap()
}

fn suggest(sampler: &mut dyn crate::Sampler, number: u64, trials: &[TrialRecord]) -> Params {
    match sampler
        .suggest(&SampleContext::new(number, trials))
        .unwrap()
    {
        Suggestion::Params(p) => p,
        Suggestion::Exhausted => panic!("a continuous space is never exhausted"),
    }
}

fn complete(config: &StudyConfig, number: u64, params: Params) -> TrialRecord {
    let inputs: Vec<(&str, f64)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_f64().unwrap()))
        .collect();
    let function = match inputs.len() {
        2 => "branin_currin",
        _ => "dtlz2_3",
    };
    let metrics = hypersearch_testfns::evaluate_metrics(function, &inputs)
        .unwrap()
        .into_iter()
        .map(|(m, v)| (m.to_string(), v))
        .collect();
    let judged = config.objectives.judge(&metrics).unwrap();
    TrialRecord {
        number,
        params,
        state: TrialState::Complete,
        value: Some(judged.values[0]),
        intermediate: vec![],
        intermediate_objectives: Vec::new(),
        judged: Some(judged),
    }
}

/// The trials' objective values of a sequential study of `trials`.
fn study(config: &StudyConfig, handling: ConstraintHandling, trials: u64) -> Vec<Vec<f64>> {
    let mut sampler = make_sampler_with(config, handling).unwrap();
    let mut done = Vec::new();
    for number in 0..trials {
        let p = suggest(sampler.as_mut(), number, &done);
        done.push(complete(config, number, p));
    }
    done.iter()
        .map(|t| t.judged.as_ref().unwrap().values.clone())
        .collect()
}

/// The hypervolume (reference (18, 6)) of a sequential 40-trial study.
fn hypervolume_bc(config: &StudyConfig, handling: ConstraintHandling) -> f64 {
    let values = study(config, handling, 40);
    let front: Vec<[f64; 2]> = values
        .iter()
        .zip(on_front(&values))
        .filter(|(_, on)| *on)
        .map(|(v, _)| [v[0], v[1]])
        .collect();
    hypervolume_2d(&front, [18.0, 6.0])
}

#[test]
fn modelling_each_objective_covers_more_hypervolume_than_parego() {
    // The maximum is 59.36; over three seeds each, the expected hypervolume improvement
    // must come closer than ParEGO's random scalarizations.
    let (mut ehvi, mut parego) = (0.0, 0.0);
    for seed in 0..3 {
        let config = config(seed);
        ehvi += hypervolume_bc(&config, ConstraintHandling::Feasibility);
        parego += hypervolume_bc(&config, ConstraintHandling::Penalty);
    }
    assert!(ehvi > parego, "EHVI {ehvi} vs ParEGO {parego}");
    assert!(ehvi / 3.0 > 55.0, "EHVI mean hypervolume {}", ehvi / 3.0);
}

/// DTLZ2 with three objectives on 4 inputs, 40 trials of `algorithm`.
fn dtlz2_3(algorithm: &str, seed: u64) -> StudyConfig {
    let space: String = (1..=4)
        .map(|i| format!("x{i} = {{ float = [0, 1] }}\n"))
        .collect();
    let text = format!(
        "[objective]\nfunction = \"dtlz2_3\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = 40\nseed = {seed}\n[search.space]\n{space}"
    );
    StudyConfig::from_toml_str(&text, "dtlz2_3.toml").unwrap()
}

#[test]
fn three_objectives_are_modelled_each_and_cover_more_hypervolume_than_parego() {
    // The maximum hypervolume below (1.1, 1.1, 1.1) is 1.1³ − π/6 ≈ 0.807. Mean over three
    // seeds: EHVI about 0.56, ParEGO 0.45, random 0.40.
    let reference = [1.1, 1.1, 1.1];
    let mean = |algorithm: &str, handling: ConstraintHandling| {
        (0..3)
            .map(|seed| {
                let values = study(&dtlz2_3(algorithm, seed), handling, 40);
                assert!(values.iter().all(|v| v.len() == 3), "{values:?}");
                hypervolume(&values, &reference) / 3.0
            })
            .sum::<f64>()
    };
    let ehvi = mean("bayes", ConstraintHandling::Feasibility);
    let parego = mean("bayes", ConstraintHandling::Penalty);
    let random = mean("random", ConstraintHandling::Feasibility);
    assert!(
        ehvi > parego && ehvi > random + 0.1,
        "EHVI {ehvi} vs ParEGO {parego} and random {random}"
    );
}

#[test]
fn eight_pending_trials_get_eight_distinct_points_and_fresh_samplers_agree() {
    let config = config(2);
    let mut sampler = make_sampler(&config).unwrap();
    let mut trials = Vec::new();
    for number in 0..15 {
        let p = suggest(sampler.as_mut(), number, &trials);
        trials.push(complete(&config, number, p));
    }
    let first = suggest(make_sampler(&config).unwrap().as_mut(), 15, &trials);
    assert_eq!(
        first,
        suggest(make_sampler(&config).unwrap().as_mut(), 15, &trials)
    );
    for number in 15..23 {
        let p = suggest(sampler.as_mut(), number, &trials);
        assert!(trials.iter().all(|t| t.params != p), "{p:?} repeated");
        trials.push(TrialRecord {
            number,
            params: p,
            state: TrialState::Running,
            value: None,
            intermediate: vec![],
            intermediate_objectives: Vec::new(),
            judged: None,
        });
    }
}
